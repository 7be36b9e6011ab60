//! A listen address where the empty string means "off".

use std::fmt;
use std::net::SocketAddr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `host:port` to listen on, or nothing (written as `""`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsAddress(pub Option<SocketAddr>);

impl Serialize for MetricsAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(addr) => s.collect_str(&addr),
            None => s.serialize_str(""),
        }
    }
}

impl<'de> Deserialize<'de> for MetricsAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MetricsAddress;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"\" (off) or an IP:port such as \"127.0.0.1:9090\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MetricsAddress, E> {
                if v.is_empty() {
                    return Ok(MetricsAddress(None));
                }
                v.parse()
                    .map(|a| MetricsAddress(Some(a)))
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(V)
    }
}
