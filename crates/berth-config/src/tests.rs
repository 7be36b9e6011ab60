use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let c = Config::parse(text, Path::new("/etc/berth/config.toml"))?;
    c.validate()?;
    Ok(c)
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.root, Path::new("/var/lib/berth"));
    assert_eq!(c.state, Path::new("/run/berth"));
    assert_eq!(c.socket_path(), Path::new("/run/berth/berth.sock"));
    assert_eq!(c.network.conf_dir, Path::new("/etc/cni/net.d"));
    assert_eq!(
        c.network.bin_dirs,
        [Path::new("/opt/cni/bin"), Path::new("/usr/lib/cni")]
    );
    assert_eq!(c.streaming.address.to_string(), "127.0.0.1:0");
    assert_eq!(c.metrics.address, MetricsAddress(None));
    assert_eq!(c.default_runtime, None);
    assert_eq!(c.pods.infra, InfraMode::WhenNeeded);
}

#[test]
fn full_file_is_read() {
    let c = parse(
        r#"
root = "/srv/berth"
state = "/run/b"
default_runtime = "kata"
cgroup_driver = "systemd"

[runtimes.kata]
path = "/opt/kata/bin/kata-runtime"
type = "oci"

[runtimes.runc]
path = "runc"

[network]
conf_dir = "/etc/cni/other"
bin_dirs = ["/usr/lib/cni"]

[registries."docker.io"]
mirrors = ["http://127.0.0.1:5000", "https://mirror.example"]

[registries."127.0.0.1:5000"]
insecure = true

[streaming]
address = "0.0.0.0:10010"

[metrics]
address = "127.0.0.1:9090"

[pods]
infra = "always"
"#,
    )
    .unwrap();
    assert_eq!(c.root, Path::new("/srv/berth"));
    assert_eq!(c.socket_path(), Path::new("/run/b/berth.sock"));
    assert_eq!(c.default_runtime.as_deref(), Some("kata"));
    assert_eq!(c.cgroup_driver, Some(CgroupDriver::Systemd));
    assert_eq!(c.runtimes["runc"].kind, RuntimeType::Oci);
    assert_eq!(c.registries["docker.io"].mirrors.len(), 2);
    assert!(c.registries["127.0.0.1:5000"].insecure);
    assert_eq!(c.streaming.address.port(), 10010);
    assert_eq!(c.metrics.address.0.unwrap().port(), 9090);
    assert_eq!(c.pods.infra, InfraMode::Always);
}

#[test]
fn overrides_win_over_the_file() {
    let mut c = parse("root = \"/a\"\nstate = \"/b\"\nsocket = \"/c.sock\"\n").unwrap();
    c.apply(&Overrides {
        root: Some("/x".into()),
        state: Some("/y".into()),
        socket: None,
    });
    assert_eq!(c.root, Path::new("/x"));
    assert_eq!(c.state, Path::new("/y"));
    assert_eq!(c.socket_path(), Path::new("/c.sock"));
    c.apply(&Overrides {
        socket: Some("/z.sock".into()),
        ..Default::default()
    });
    assert_eq!(c.socket_path(), Path::new("/z.sock"));
}

#[test]
fn unknown_key_names_key_and_line() {
    let e = parse("root = \"/a\"\n\n[network]\nconf_dirr = \"/x\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("conf_dirr"), "{msg}");
    assert!(msg.contains("line 4"), "{msg}");
}

#[test]
fn bad_value_names_key_and_line() {
    let e = parse("[streaming]\naddress = \"nowhere\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains("address"), "{msg}");

    let e = parse("[metrics]\naddress = \"localhost\"\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");

    let e = parse("[runtimes.x]\npath = \"/x\"\ntype = \"vm\"\n").unwrap_err();
    assert!(e.to_string().contains("line 3"), "{e}");

    let e = parse("cgroup_driver = \"nope\"\n").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");

    let e = parse("[pods]\ninfra = \"never\"\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    assert!(e.to_string().contains("when-needed"), "{e}");
}

#[test]
fn semantic_errors_name_the_key() {
    let e = parse("root = \"relative\"\n").unwrap_err();
    assert!(e.to_string().contains("root"), "{e}");
    let e = parse("default_runtime = \"kata\"\n").unwrap_err();
    assert!(e.to_string().contains("default_runtime"), "{e}");
    let e = parse("[registries.\"docker.io\"]\nmirrors = [\"ftp://x\"]\n").unwrap_err();
    assert!(
        e.to_string().contains("registries.\"docker.io\".mirrors"),
        "{e}"
    );
    let e = parse("[network]\nbin_dirs = [\"cni\"]\n").unwrap_err();
    assert!(e.to_string().contains("network.bin_dirs"), "{e}");
    // Monitor sockets live under the state dir: a long one would fail every pod.
    let e = parse(&format!("state = \"/{}\"\n", "s".repeat(40))).unwrap_err();
    assert!(e.to_string().contains("too long"), "{e}");
    parse(&format!("state = \"/{}\"\n", "s".repeat(26))).unwrap();
}

#[test]
fn default_runtime_may_name_a_builtin_candidate() {
    assert!(parse("default_runtime = \"runc\"\n").is_ok());
}

#[test]
fn missing_default_file_is_fine_but_a_named_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    let c = Config::load(&Source::Default(missing.clone()), &Overrides::default()).unwrap();
    assert_eq!(c, Config::default());
    let e = Config::load(&Source::Named(missing), &Overrides::default()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn load_applies_overrides_then_validates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "root = \"/from/file\"\n").unwrap();
    let o = Overrides {
        state: Some("relative".into()),
        ..Default::default()
    };
    assert!(Config::load(&Source::Named(file.clone()), &o).is_err());
    let o = Overrides {
        state: Some("/s".into()),
        ..Default::default()
    };
    let c = Config::load(&Source::Named(file), &o).unwrap();
    assert_eq!(c.root, Path::new("/from/file"));
    assert_eq!(c.socket_path(), Path::new("/s/berth.sock"));
}

#[test]
fn json_round_trips() {
    let c = Config::default();
    let back: Config = serde_json::from_str(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn an_invalid_value_in_the_file_names_its_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "# berth\n\n[network]\nconf_dir = \"relative/dir\"\n").unwrap();
    let err = Config::load(&Source::Named(path), &Overrides::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("network.conf_dir"), "{text}");
    assert!(text.contains("relative/dir"), "{text}");
}

#[test]
fn the_shipped_sample_parses_to_the_built_in_defaults() {
    let sample = include_str!("../../../docs/config.toml");
    let config = Config::parse(sample, Path::new("docs/config.toml")).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn streaming_timeouts_and_tls_are_read_and_checked() {
    let c = parse(
        "[streaming]\nstream_idle_timeout = \"1h\"\nstream_creation_timeout = \"10s\"\n\
         tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n",
    )
    .unwrap();
    assert_eq!(c.streaming.stream_idle_timeout.0, Duration::from_secs(3600));
    assert_eq!(
        c.streaming.stream_creation_timeout.0,
        Duration::from_secs(10)
    );
    assert_eq!(c.streaming.tls_key.as_deref(), Some(Path::new("/k.pem")));
    let d = parse("").unwrap();
    assert_eq!(
        d.streaming.stream_idle_timeout.0,
        Duration::from_secs(4 * 3600)
    );
    assert_eq!(
        d.streaming.stream_creation_timeout.0,
        Duration::from_secs(30)
    );

    let e = parse("[streaming]\ntls_cert = \"/c.pem\"\n").unwrap_err();
    assert!(e.to_string().contains("tls_key"), "{e}");
    let e = parse("[streaming]\nstream_creation_timeout = \"0s\"\n").unwrap_err();
    assert!(e.to_string().contains("stream_creation_timeout"), "{e}");
}
