//! The execution defaults of an image (the `config` object of an OCI image config): what a
//! container of the image runs, as whom and where, unless the request says otherwise.
//!
//! Parsed once, when the image's details are read, and leniently: a field that is missing,
//! `null` or of the wrong type is empty, and a non-string item of a list is skipped, so an
//! odd config never makes an image unusable (CreateContainer then decides whether what is
//! left can run).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The parts of an image's `config` object berth uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RunConfig {
    /// `Entrypoint`: the command line's head.
    #[serde(rename = "Entrypoint", default, deserialize_with = "strings")]
    pub entrypoint: Vec<String>,
    /// `Cmd`: the default arguments (the whole command line without an entrypoint).
    #[serde(rename = "Cmd", default, deserialize_with = "strings")]
    pub cmd: Vec<String>,
    /// `Env`: `KEY=value` entries.
    #[serde(rename = "Env", default, deserialize_with = "strings")]
    pub env: Vec<String>,
    /// `WorkingDir`; empty means the root.
    #[serde(rename = "WorkingDir", default, deserialize_with = "string")]
    pub working_dir: String,
    /// `User`: `name`, `uid`, `name:group` or `uid:gid`; empty means root.
    #[serde(rename = "User", default, deserialize_with = "string")]
    pub user: String,
    /// `StopSignal`: a signal name or number; empty means SIGTERM.
    #[serde(rename = "StopSignal", default, deserialize_with = "string")]
    pub stop_signal: String,
}

impl RunConfig {
    /// The `config` object of a whole image config; all empty when it has none.
    pub fn of_image_config(image_config: &Value) -> Self {
        image_config
            .get("config")
            .filter(|c| c.is_object())
            .and_then(|c| RunConfig::deserialize(c).ok())
            .unwrap_or_default()
    }

    /// `User` as ImageStatus reports it: a numeric UID, or else the user name (the group
    /// part is dropped).
    pub fn user_id(&self) -> (Option<i64>, String) {
        let name = self.user.split(':').next().unwrap_or("");
        match name.parse::<i64>() {
            Ok(uid) => (Some(uid), String::new()),
            Err(_) => (None, name.to_owned()),
        }
    }
}

/// A list of strings; anything else is empty, and non-string items are skipped.
fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A string; anything else is empty.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_config_object() {
        let image = json!({
            "architecture": "amd64",
            "config": {
                "Entrypoint": ["/entry"],
                "Cmd": ["--x", "y"],
                "Env": ["PATH=/bin"],
                "WorkingDir": "/srv",
                "User": "app:extra",
                "StopSignal": "SIGUSR1",
                "Labels": {"a": "b"}
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        });
        let run = RunConfig::of_image_config(&image);
        assert_eq!(
            run,
            RunConfig {
                entrypoint: vec!["/entry".into()],
                cmd: vec!["--x".into(), "y".into()],
                env: vec!["PATH=/bin".into()],
                working_dir: "/srv".into(),
                user: "app:extra".into(),
                stop_signal: "SIGUSR1".into(),
            }
        );
        assert_eq!(run.user_id(), (None, "app".into()));
    }

    #[test]
    fn odd_fields_are_empty_not_errors() {
        let image = json!({"config": {
            "Entrypoint": null,
            "Cmd": ["sh", 7, null, "-c"],
            "Env": "PATH=/bin",
            "WorkingDir": 3,
            "User": "1000:1000"
        }});
        let run = RunConfig::of_image_config(&image);
        assert!(run.entrypoint.is_empty() && run.env.is_empty());
        assert_eq!(run.cmd, ["sh", "-c"]);
        assert_eq!(run.working_dir, "");
        assert_eq!(run.user_id(), (Some(1000), String::new()));
        for image in [
            json!({}),
            json!({"config": null}),
            json!({"config": [["/entry"]]}),
            json!(7),
        ] {
            assert_eq!(RunConfig::of_image_config(&image), RunConfig::default());
        }
        assert_eq!(RunConfig::default().user_id(), (None, String::new()));
    }
}
