//! Durations written the Go way, as containerd's config does: `"5m"`, `"1m30s"`, `"90s"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from and written as `"<n>h<n>m<n>s"` (any subset, in that order, or
/// `"<n>ms"`). `"0s"` is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

/// Parses `1h2m3s`, `5m`, `90s`, `250ms`, `0`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration like \"5m\" or \"1m30s\""
            ));
        }
        let too_large = || format!("{text:?}: number too large");
        let value: u64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        // Checked: `99999999999999999h` would overflow the multiplication or the sum, which
        // panics in debug builds and wraps to a wrong value in release ones.
        let secs = |per: u64| value.checked_mul(per).map(Duration::from_secs);
        let part = match unit {
            "h" => secs(3600),
            "m" => secs(60),
            "s" => secs(1),
            "ms" => Some(Duration::from_millis(value)),
            _ => return Err(format!("{text:?}: unit {unit:?} is not one of h, m, s, ms")),
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(too_large)?;
    }
    Ok(total)
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        match (d.subsec_millis(), u64::try_from(d.as_millis())) {
            (0, _) => s.collect_str(&format_args!("{}s", d.as_secs())),
            (_, Ok(millis)) => s.collect_str(&format_args!("{millis}ms")),
            // More milliseconds than `parse` reads in one number: seconds, then the rest.
            (millis, Err(_)) => s.collect_str(&format_args!("{}s{millis}ms", d.as_secs())),
        }
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"5m\", \"1m30s\" or \"90s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigDuration, E> {
                parse(v).map(ConfigDuration).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_durations_parse() {
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "m", "5 minutes", "5d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
