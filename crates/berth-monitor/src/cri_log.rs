//! The CRI log format: `<RFC3339Nano> <stdout|stderr> <P|F> <text>\n`, one record per line of
//! output; a line longer than [`MAX_LINE`] is cut into `P` (partial) records ended by an `F`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest text in one record.
pub const MAX_LINE: usize = 16 * 1024;

/// Formats `t` as RFC 3339 with nanoseconds, in UTC.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Turns a byte stream into CRI records. Feed it what you read; it writes whole records.
pub struct LineSplitter {
    stream: &'static str,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// For `stdout` or `stderr`.
    pub fn new(stream: &'static str) -> Self {
        Self {
            stream,
            pending: Vec::with_capacity(4096),
        }
    }

    /// Writes the records that `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(n) if n <= MAX_LINE => {
                    // A terminal ends lines with CR LF; the record keeps the text only.
                    let text = rest[..n].strip_suffix(b"\r").unwrap_or(&rest[..n]);
                    record(out, self.stream, 'F', text)?;
                    start += n + 1;
                }
                _ if rest.len() > MAX_LINE => {
                    record(out, self.stream, 'P', &rest[..MAX_LINE])?;
                    start += MAX_LINE;
                }
                _ => break,
            }
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// At end of stream: what is left becomes a final record.
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            record(out, self.stream, 'F', &rest)?;
        }
        Ok(())
    }
}

fn record(out: &mut impl Write, stream: &str, tag: char, text: &[u8]) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(text.len() + 48);
    line.extend_from_slice(timestamp(SystemTime::now()).as_bytes());
    line.extend_from_slice(format!(" {stream} {tag} ").as_bytes());
    line.extend_from_slice(text);
    line.push(b'\n');
    // One write per record, so two streams never interleave inside a line.
    out.write_all(&line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_nano_utc() {
        let t = UNIX_EPOCH + Duration::new(1_475_713_029, 669_794_202);
        assert_eq!(timestamp(t), "2016-10-06T00:17:09.669794202Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..10], "2000-02-29");
    }

    #[test]
    fn lines_become_records_and_long_lines_are_split() {
        let mut out = Vec::new();
        let mut s = LineSplitter::new("stdout");
        s.feed(b"hel", &mut out).unwrap();
        assert!(out.is_empty(), "no record before the line ends");
        s.feed(b"lo\nworld\n", &mut out).unwrap();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        s.feed(&long, &mut out).unwrap();
        s.feed(b"\ncr\r\ntail", &mut out).unwrap();
        s.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records: Vec<(&str, &str, usize)> = text
            .lines()
            .map(|l| {
                let mut parts = l.splitn(4, ' ');
                let _ts = parts.next();
                let stream = parts.next().unwrap();
                let tag = parts.next().unwrap();
                (stream, tag, parts.next().unwrap_or("").len())
            })
            .collect();
        assert_eq!(
            records,
            vec![
                ("stdout", "F", 5),
                ("stdout", "F", 5),
                ("stdout", "P", MAX_LINE),
                ("stdout", "P", MAX_LINE),
                ("stdout", "F", 10),
                ("stdout", "F", 2),
                ("stdout", "F", 4),
            ]
        );
    }
}
