//! Running CNI plugins, as the CNI spec asks of a runtime.
//!
//! ADD runs the list's plugins in order, each given the previous one's result as
//! `prevResult`; DEL runs them in reverse. The configuration and result of every successful
//! ADD are cached under `cache_dir`, so DEL uses exactly what ADD used even if the conf dir
//! changed since, and so a restarted daemon can still tear an attachment down.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use crate::conf::{ConfList, ConfSource, PluginConf};
use crate::find_plugin;

/// The pod an attachment belongs to, for `CNI_ARGS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PodArgs {
    /// `K8S_POD_NAMESPACE`.
    pub namespace: String,
    /// `K8S_POD_NAME`.
    pub name: String,
    /// `K8S_POD_UID`.
    pub uid: String,
}

/// A hostPort mapping, passed to plugins that declare the `portMappings` capability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port on the node that forwards to the pod.
    pub host_port: u16,
    /// The port in the pod it forwards to.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Host IP to bind, empty for all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// One interface of one sandbox in one network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    /// `CNI_CONTAINERID`: the sandbox ID.
    pub container_id: String,
    /// `CNI_NETNS`: the pinned namespace.
    pub netns: PathBuf,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The pod, for `CNI_ARGS`.
    pub pod: PodArgs,
    /// hostPort mappings.
    pub port_mappings: Vec<PortMapping>,
}

/// Why a CNI operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// A plugin binary is not in any bin dir.
    #[error("CNI plugin {kind:?} not found in {dirs}")]
    PluginNotFound {
        /// The plugin type.
        kind: String,
        /// The searched dirs.
        dirs: String,
    },
    /// A plugin ran and failed.
    #[error("CNI plugin {kind} {command} failed: {message}")]
    Plugin {
        /// The plugin type.
        kind: String,
        /// ADD or DEL.
        command: &'static str,
        /// The plugin's error message (and details), or its stderr.
        message: String,
    },
    /// A plugin did not finish in time.
    #[error("CNI plugin {kind} {command} did not finish in {seconds} s")]
    Timeout {
        /// The plugin type.
        kind: String,
        /// ADD or DEL.
        command: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// Local I/O (the cache, spawning).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What DEL needs, kept from ADD.
#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    cni_version: String,
    name: String,
    plugins: Vec<Map<String, Value>>,
    result: Value,
    attachment: Attachment,
}

/// Runs CNI plugins.
#[derive(Debug, Clone)]
pub struct Invoker {
    bin_dirs: Vec<PathBuf>,
    cache_dir: PathBuf,
    timeout: Duration,
}

impl Invoker {
    /// Plugins from `bin_dirs`; results cached in `cache_dir`; each plugin call bounded by
    /// `timeout`.
    pub fn new(bin_dirs: Vec<PathBuf>, cache_dir: PathBuf, timeout: Duration) -> Self {
        Self {
            bin_dirs,
            cache_dir,
            timeout,
        }
    }

    fn cache_path(&self, network: &str, att: &Attachment) -> PathBuf {
        self.cache_dir.join(format!(
            "{network}-{}-{}.json",
            att.container_id, att.ifname
        ))
    }

    /// Attaches: runs every plugin's ADD in order and returns the last result. If a plugin
    /// fails, DEL runs for the whole list (best effort) so that nothing is left, and the
    /// first error is returned.
    pub async fn add(&self, list: &ConfList, att: &Attachment) -> Result<Value, CniError> {
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let conf = plugin_conf(
                &list.cni_version,
                &list.name,
                &plugin.raw,
                prev.as_ref(),
                att,
            );
            match self.exec(&plugin.kind, "ADD", &conf, att).await {
                Ok(result) => prev = Some(result),
                Err(e) => {
                    if let Err(undo) = self.del_with(list, prev.as_ref(), att).await {
                        tracing::warn!(error = %undo, container_id = %att.container_id, "CNI DEL after a failed ADD failed too");
                    }
                    return Err(e);
                }
            }
        }
        let result = prev.unwrap_or_else(|| json!({"cniVersion": list.cni_version}));
        let entry = CacheEntry {
            cni_version: list.cni_version.clone(),
            name: list.name.clone(),
            plugins: list.plugins.iter().map(|p| p.raw.clone()).collect(),
            result: result.clone(),
            attachment: att.clone(),
        };
        let path = self.cache_path(&list.name, att);
        let write = async {
            tokio::fs::create_dir_all(&self.cache_dir).await?;
            let tmp = path.with_extension("tmp");
            tokio::fs::write(&tmp, serde_json::to_vec(&entry)?).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(source) = write.await {
            let _ = self.del_with(list, Some(&result), att).await;
            return Err(CniError::Io {
                what: format!("caching the CNI result at {}", path.display()),
                source,
            });
        }
        Ok(result)
    }

    /// Detaches: DEL with the configuration and result cached by ADD, or with `fallback`
    /// when there is no cache (ADD never finished). A namespace that is already gone is
    /// passed as empty, as the spec allows, so IPAM still releases the address. Removes the
    /// cache entry when every plugin succeeded.
    pub async fn del(&self, fallback: &ConfList, att: &Attachment) -> Result<(), CniError> {
        let path = self.cache_path(&fallback.name, att);
        let cached: Option<CacheEntry> = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        match cached {
            Some(entry) => {
                let list = ConfList {
                    cni_version: entry.cni_version,
                    name: entry.name,
                    plugins: entry
                        .plugins
                        .into_iter()
                        .map(|raw| PluginConf {
                            kind: raw
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            raw,
                        })
                        .collect(),
                    source: ConfSource::BuiltIn,
                };
                self.del_with(&list, Some(&entry.result), att).await?;
            }
            None => self.del_with(fallback, None, att).await?,
        }
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CniError::Io {
                what: format!("removing {}", path.display()),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    async fn del_with(
        &self,
        list: &ConfList,
        prev: Option<&Value>,
        att: &Attachment,
    ) -> Result<(), CniError> {
        let mut att = att.clone();
        if !att.netns.exists() {
            att.netns = PathBuf::new();
        }
        let mut first_error = None;
        for plugin in list.plugins.iter().rev() {
            let conf = plugin_conf(&list.cni_version, &list.name, &plugin.raw, prev, &att);
            match self.exec(&plugin.kind, "DEL", &conf, &att).await {
                Ok(_) => {}
                // A plugin that cannot run cannot have made anything to delete.
                Err(e @ CniError::PluginNotFound { .. }) => {
                    tracing::warn!(error = %e, container_id = %att.container_id, "CNI DEL skipped")
                }
                Err(e) => {
                    tracing::warn!(error = %e, container_id = %att.container_id, "CNI DEL failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs one plugin command; its stdout is the result (ADD) or an error object.
    async fn exec(
        &self,
        kind: &str,
        command: &'static str,
        conf: &Value,
        att: &Attachment,
    ) -> Result<Value, CniError> {
        let binary = find_plugin(kind, &self.bin_dirs).ok_or_else(|| CniError::PluginNotFound {
            kind: kind.to_owned(),
            dirs: self
                .bin_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        })?;
        let cni_path = std::env::join_paths(&self.bin_dirs).unwrap_or_default();
        let args = format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            att.pod.namespace, att.pod.name, att.container_id, att.pod.uid
        );
        let io = |what: &str| {
            let what = format!("{what} CNI plugin {}", binary.display());
            move |source| CniError::Io { what, source }
        };
        let mut child = tokio::process::Command::new(&binary)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &att.container_id)
            .env("CNI_NETNS", &att.netns)
            .env("CNI_IFNAME", &att.ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io("starting"))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = serde_json::to_vec(conf).expect("JSON");
        let run = async {
            stdin.write_all(&input).await?;
            drop(stdin);
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| CniError::Timeout {
                kind: kind.to_owned(),
                command,
                seconds: self.timeout.as_secs(),
            })?
            .map_err(io("running"))?;
        outcome(&output).map_err(|message| CniError::Plugin {
            kind: kind.to_owned(),
            command,
            message,
        })
    }
}

/// What a finished plugin answered: its result (`null` when stdout is not JSON, as after
/// a DEL), or, when it failed, the message of its error object or else its exit status
/// and stderr.
pub(crate) fn outcome(output: &std::process::Output) -> Result<Value, String> {
    let stdout: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    if output.status.success() {
        return Ok(stdout);
    }
    Err(
        match (
            stdout.get("msg").and_then(Value::as_str),
            stdout.get("details").and_then(Value::as_str),
        ) {
            (Some(msg), Some(details)) if !details.is_empty() => format!("{msg}: {details}"),
            (Some(msg), _) => msg.to_owned(),
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
                format!("{} {}", output.status, stderr)
            }
        },
    )
}

/// The stdin of one plugin: its entry plus the list's version and name, the previous
/// result, and the runtime config for capabilities it declares.
fn plugin_conf(
    version: &str,
    name: &str,
    raw: &Map<String, Value>,
    prev: Option<&Value>,
    att: &Attachment,
) -> Value {
    let mut conf = raw.clone();
    conf.insert("cniVersion".into(), json!(version));
    conf.insert("name".into(), json!(name));
    if let Some(prev) = prev {
        conf.insert("prevResult".into(), prev.clone());
    }
    let wants_ports = raw
        .get("capabilities")
        .and_then(|c| c.get("portMappings"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if wants_ports && !att.port_mappings.is_empty() {
        conf.insert(
            "runtimeConfig".into(),
            json!({ "portMappings": att.port_mappings }),
        );
    }
    Value::Object(conf)
}

/// The IPs (without prefix length) of a CNI result, in order. An address that is not an IP
/// is skipped: these strings end up in the pod's `/etc/hosts` and in the pod status.
pub fn result_ips(result: &Value) -> Vec<String> {
    result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.get("address").and_then(Value::as_str))
        .map(|a| a.split('/').next().unwrap_or(a))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
        .collect()
}

/// The result ADD cached for an attachment, if any.
pub fn cached_result(
    cache_dir: &Path,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> Option<Value> {
    let path = cache_dir.join(format!("{network}-{container_id}-{ifname}.json"));
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<CacheEntry>(&bytes)
        .ok()
        .map(|e| e.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_stdin_carries_version_name_prev_result_and_port_mappings() {
        let raw: Map<String, Value> = serde_json::from_value(
            json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        )
        .unwrap();
        let att = Attachment {
            container_id: "c1".into(),
            netns: "/run/netns/x".into(),
            ifname: "eth0".into(),
            pod: PodArgs::default(),
            port_mappings: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: String::new(),
            }],
        };
        let prev = json!({"ips": [{"address": "10.88.0.5/16"}]});
        let conf = plugin_conf("1.0.0", "berth", &raw, Some(&prev), &att);
        assert_eq!(conf["cniVersion"], "1.0.0");
        assert_eq!(conf["name"], "berth");
        assert_eq!(conf["prevResult"], prev);
        assert_eq!(conf["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(
            conf["runtimeConfig"]["portMappings"][0]["containerPort"],
            80
        );
        assert_eq!(result_ips(&prev), vec!["10.88.0.5"]);
        let bridge: Map<String, Value> = serde_json::from_value(json!({"type": "bridge"})).unwrap();
        assert!(
            plugin_conf("1.0.0", "berth", &bridge, None, &att)
                .get("runtimeConfig")
                .is_none()
        );
    }
}
