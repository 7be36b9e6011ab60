//! CNI network configuration lists: discovery and parsing.
//!
//! As libcni does, files in the conf dir ending in `.conflist`, `.conf` or `.json` are taken
//! in lexical order and the first one that parses wins; a single-plugin `.conf` is wrapped
//! into a one-entry list. Only the fields berth needs are typed; each plugin's full JSON is
//! kept so the invoker can pass it through untouched.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// A network configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfList {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name`.
    pub name: String,
    /// The plugins, in chain order.
    pub plugins: Vec<PluginConf>,
    /// Where it came from.
    pub source: ConfSource,
}

/// One plugin entry of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConf {
    /// `type`: the binary name.
    pub kind: String,
    /// The whole entry as written.
    pub raw: Map<String, Value>,
}

/// The origin of a configuration list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfSource {
    /// A file of the conf dir.
    File(PathBuf),
    /// berth's built-in default (the conf dir had no usable file).
    BuiltIn,
}

impl std::fmt::Display for ConfSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfSource::File(p) => write!(f, "{}", p.display()),
            ConfSource::BuiltIn => f.write_str("built-in default"),
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The conf dir exists but cannot be listed.
    #[error("cannot read CNI conf dir {dir}: {source}")]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A config file is not a valid CNI configuration.
    #[error("invalid CNI config {path}: {reason}")]
    Invalid {
        /// The file (`<built-in>` for berth's built-in default).
        path: PathBuf,
        /// What is wrong: the read or parse error, or the rule the config breaks.
        reason: String,
    },
}

#[derive(Deserialize)]
struct RawList {
    #[serde(rename = "cniVersion", default)]
    cni_version: String,
    name: String,
    plugins: Vec<Map<String, Value>>,
}

/// The name of the bridge of the built-in default network.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// The subnet of the built-in default network.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";

/// berth's default network, used when the conf dir holds no configuration: a bridge with
/// host-local IPAM and portmap for hostPort. (The loopback plugin is run on `lo` apart.)
pub fn builtin_default() -> ConfList {
    let text = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "berth",
        "plugins": [
            {
                "type": "bridge",
                "bridge": DEFAULT_BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "ranges": [[{ "subnet": DEFAULT_SUBNET }]]
                }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    });
    parse(&text.to_string(), ConfSource::BuiltIn).expect("built-in CNI config is valid")
}

/// Loads the first usable configuration of `dir`; `Ok(None)` when it has none (or does
/// not exist). A file that exists but is invalid is an error naming it: silently skipping
/// the operator's config would put pods on the wrong network.
pub fn load_first(dir: &Path) -> Result<Option<ConfList>, ConfError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfError::ReadDir {
                dir: dir.to_owned(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("conflist" | "conf" | "json")
                )
        })
        .collect();
    files.sort();
    let Some(path) = files.into_iter().next() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    parse(&text, ConfSource::File(path.clone())).map(Some)
}

impl ConfList {
    /// Every plugin binary the chain runs: each plugin's `type` and its IPAM's `type`.
    pub fn required_binaries(&self) -> Vec<&str> {
        let mut kinds = Vec::new();
        for p in &self.plugins {
            kinds.push(p.kind.as_str());
            if let Some(ipam) = p
                .raw
                .get("ipam")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str)
            {
                kinds.push(ipam);
            }
        }
        kinds
    }
}

pub(crate) fn parse(text: &str, source: ConfSource) -> Result<ConfList, ConfError> {
    let invalid = |reason: String| ConfError::Invalid {
        path: match &source {
            ConfSource::File(p) => p.clone(),
            ConfSource::BuiltIn => PathBuf::from("<built-in>"),
        },
        reason,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let raw: RawList = if value.get("plugins").is_some() {
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?
    } else {
        // A single-plugin `.conf`: its name and version belong to the list.
        let Value::Object(plugin) = value else {
            return Err(invalid("not a JSON object".into()));
        };
        RawList {
            cni_version: str_field(&plugin, "cniVersion"),
            name: str_field(&plugin, "name"),
            plugins: vec![plugin],
        }
    };
    if raw.name.is_empty() {
        return Err(invalid("the network has no name".into()));
    }
    // The spec's rule for network names. The name is also part of the result cache's file
    // name (`<network>-<id>-<ifname>.json`): a `/` or `..` there would put it elsewhere.
    if !valid_network_name(&raw.name) {
        return Err(invalid(format!(
            "network name {:?} must be a letter or digit followed by letters, digits, '_', '.' or '-'",
            raw.name
        )));
    }
    if raw.plugins.is_empty() {
        return Err(invalid("the plugin list is empty".into()));
    }
    let plugins = raw
        .plugins
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let kind = str_field(&raw, "type");
            if kind.is_empty() || kind.contains('/') {
                return Err(invalid(format!("plugin {i} has no valid \"type\"")));
            }
            Ok(PluginConf { kind, raw })
        })
        .collect::<Result<_, _>>()?;
    Ok(ConfList {
        cni_version: raw.cni_version,
        name: raw.name,
        plugins,
        source,
    })
}

/// The CNI spec's `name`: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
pub(crate) fn valid_network_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn str_field(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_default_is_bridge_then_portmap() {
        let c = builtin_default();
        let kinds: Vec<_> = c.plugins.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["bridge", "portmap"]);
        assert_eq!(c.source, ConfSource::BuiltIn);
    }

    #[test]
    fn missing_or_empty_dir_has_no_config() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_first(&dir.path().join("nope")).unwrap(), None);
        std::fs::write(dir.path().join("README"), "not a config").unwrap();
        assert_eq!(load_first(dir.path()).unwrap(), None);
    }

    #[test]
    fn first_file_by_name_wins_and_conf_is_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("20-b.conflist"),
            r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("10-a.conf"),
            r#"{"cniVersion":"0.4.0","name":"a","type":"ptp"}"#,
        )
        .unwrap();
        let c = load_first(dir.path()).unwrap().unwrap();
        assert_eq!(c.name, "a");
        assert_eq!(c.cni_version, "0.4.0");
        assert_eq!(c.plugins[0].kind, "ptp");
        assert_eq!(c.source, ConfSource::File(dir.path().join("10-a.conf")));
    }

    #[test]
    fn invalid_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10-x.conflist"), "{ not json").unwrap();
        let e = load_first(dir.path()).unwrap_err();
        assert!(e.to_string().contains("10-x.conflist"), "{e}");
        std::fs::write(
            dir.path().join("10-x.conflist"),
            r#"{"name":"x","plugins":[{"type":"../evil"}]}"#,
        )
        .unwrap();
        assert!(load_first(dir.path()).is_err());
    }
}
