//! Property tests for what berthd reads from the operator: the TOML file and the Go-style
//! durations in it. Any text is either a config or an error that points at the line; a valid
//! config survives a write and a re-read; a duration survives a format and a re-parse.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const LABEL: &str = "/etc/berth/config.toml";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The message of a parse error, which must say where.
fn assert_points_at_a_line(text: &str, error: ConfigError) {
    match error {
        ConfigError::Parse { path, message } => {
            assert_eq!(path, Path::new(LABEL));
            assert!(
                message.contains("line "),
                "no line in {message:?} for {text:?}"
            );
        }
        other => panic!("parse gave {other:?} for {text:?}"),
    }
}

/// A line of a TOML file built from the config's own keys and tables, some misspelt, with
/// values of every TOML shape: half-valid files that reach the typed deserialisers.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("root"),
        Just("state"),
        Just("socket"),
        Just("default_runtime"),
        Just("cgroup_driver"),
        Just("shutdown_grace_seconds"),
        Just("shutdown_stops_pods"),
        Just("image_pull_progress_timeout"),
        Just("conf_dir"),
        Just("bin_dirs"),
        Just("mirrors"),
        Just("insecure"),
        Just("address"),
        Just("sample_period"),
        Just("path"),
        Just("type"),
        Just("rooot"),
        Just("\"quoted key\""),
    ];
    let value = prop_oneof![
        "\"[ -~]{0,12}\"",
        Just("\"/abs\"".to_owned()),
        Just("\"1h2m3s\"".to_owned()),
        Just("\"99999999999999999999h\"".to_owned()),
        Just("\"18446744073709551615h\"".to_owned()),
        Just("\"127.0.0.1:9090\"".to_owned()),
        Just("\"[::1]:0\"".to_owned()),
        Just("\"systemd\"".to_owned()),
        Just("\"oci\"".to_owned()),
        "-?[0-9]{1,22}",
        Just("true".to_owned()),
        Just("1.5e3".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        Just("[\"/a\", \"b\"]".to_owned()),
        Just("[1, \"x\"]".to_owned()),
        Just("{ path = \"/x\" }".to_owned()),
        Just("".to_owned()),
    ];
    let table = prop_oneof![
        Just("[network]"),
        Just("[streaming]"),
        Just("[metrics]"),
        Just("[runtimes.kata]"),
        Just("[runtimes.\"\"]"),
        Just("[registries.\"docker.io\"]"),
        Just("[[runtimes]]"),
        Just("[network.extra]"),
        Just("[nonsense]"),
    ];
    prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => table.prop_map(str::to_owned),
        1 => "[ -~]{0,20}",
    ]
}

/// An absolute UTF-8 path (serde writes paths as strings).
fn abs_path() -> impl Strategy<Value = PathBuf> {
    prop::collection::vec("[a-zA-Z0-9._ -]{1,8}", 0..4)
        .prop_map(|parts| PathBuf::from(format!("/{}", parts.join("/"))))
}

/// An absolute path short enough for monitor sockets under it.
fn state_path() -> impl Strategy<Value = PathBuf> {
    "[a-z]{1,20}".prop_map(|s| PathBuf::from(format!("/{s}")))
}

/// Any text, quotes and newlines included: TOML keys and values are arbitrary strings.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{1,10}",
        "\\PC{1,10}",
        "[\"'\\\\\n\t =.\\[\\]]{1,6}"
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    (any::<u64>(), 0u32..1000).prop_map(|(s, ms)| Duration::new(s, ms * 1_000_000))
}

/// IP and port (no IPv6 flow info or scope: the text form does not carry them).
fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<std::net::IpAddr>(), any::<u16>()).prop_map(SocketAddr::from)
}

/// A configuration that `validate` accepts.
fn valid_config() -> impl Strategy<Value = Config> {
    let runtimes = prop::collection::btree_map(
        any_name(),
        abs_path().prop_map(|path| RuntimeHandler {
            path,
            kind: RuntimeType::Oci,
        }),
        0..3,
    );
    let registries = prop::collection::btree_map(
        "[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
        (
            prop::collection::vec("https?://[ -~]{1,16}", 0..3),
            any::<bool>(),
        )
            .prop_map(|(mirrors, insecure)| RegistryConfig { mirrors, insecure }),
        0..3,
    );
    (
        (abs_path(), state_path(), prop::option::of(abs_path())),
        (
            prop::option::of(prop_oneof![
                Just(CgroupDriver::Systemd),
                Just(CgroupDriver::Cgroupfs)
            ]),
            any::<u64>(),
            any::<bool>(),
            duration(),
        ),
        runtimes,
        (abs_path(), prop::collection::vec(abs_path(), 0..3)),
        registries,
        (socket_addr(), prop::option::of(socket_addr())),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (root, state, socket),
                (cgroup_driver, grace, stops, timeout),
                runtimes,
                (conf_dir, bin_dirs),
                registries,
                (streaming, metrics),
                (pick_runtime, always_infra),
            )| {
                let default_runtime = match runtimes.keys().next() {
                    Some(name) if pick_runtime => Some(name.clone()),
                    _ if pick_runtime => Some("runc".to_owned()),
                    _ => None,
                };
                Config {
                    root,
                    state,
                    socket,
                    default_runtime,
                    cgroup_driver,
                    shutdown_grace_seconds: grace,
                    shutdown_stops_pods: stops,
                    image_pull_progress_timeout: ConfigDuration(timeout),
                    runtimes,
                    network: NetworkConfig { conf_dir, bin_dirs },
                    registries,
                    streaming: StreamingConfig {
                        address: streaming,
                        ..StreamingConfig::default()
                    },
                    metrics: MetricsConfig {
                        address: MetricsAddress(metrics),
                    },
                    stats: crate::StatsConfig::default(),
                    pods: crate::PodsConfig {
                        infra: if always_infra {
                            crate::InfraMode::Always
                        } else {
                            crate::InfraMode::WhenNeeded
                        },
                    },
                }
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: a config or a parse error naming the line.
    #[test]
    fn any_text_parses_or_names_a_line(text in "\\PC{0,200}|[\\x00-\\x7f]{0,200}") {
        if let Err(e) = Config::parse(&text, Path::new(LABEL)) {
            assert_points_at_a_line(&text, e);
        }
    }

    /// Files made of the config's own keys with values of the wrong shape: same.
    #[test]
    fn keyed_garbage_parses_or_names_a_line(
        lines in prop::collection::vec(toml_line(), 0..12)
    ) {
        let text = lines.join("\n");
        match Config::parse(&text, Path::new(LABEL)) {
            // What parsed is then validated, which must not panic either.
            Ok(config) => drop(config.validate()),
            Err(e) => assert_points_at_a_line(&text, e),
        }
    }

    /// A valid config written as TOML reads back equal and still validates.
    #[test]
    fn valid_configs_round_trip_through_toml(config in valid_config()) {
        prop_assert!(config.validate().is_ok(), "{:?}", config.validate());
        let text = toml::to_string(&config).expect("serialises");
        let back = Config::parse(&text, Path::new(LABEL))
            .unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        prop_assert_eq!(&back, &config, "{}", text);
        prop_assert!(back.validate().is_ok());
        let json: Config = serde_json::from_str(&config.to_json()).expect("JSON reads back");
        prop_assert_eq!(json, config);
    }

    /// Every millisecond-granular duration formats to text that parses back to it.
    #[test]
    fn durations_format_then_parse_to_themselves(d in duration()) {
        let written = serde_json::to_string(&ConfigDuration(d)).expect("serialises");
        let text = written.trim_matches('"');
        prop_assert_eq!(duration::parse(text), Ok(d), "{}", text);
        let config: Config =
            toml::from_str(&format!("image_pull_progress_timeout = {written}")).unwrap();
        prop_assert_eq!(config.image_pull_progress_timeout, ConfigDuration(d));
    }

    /// `<h>h<m>m<s>s<ms>ms`, any parts present: the sum, or "too large" past what a
    /// `Duration` holds.
    #[test]
    fn go_style_parts_add_up(
        h in prop::option::of(any::<u64>()),
        m in prop::option::of(any::<u64>()),
        s in prop::option::of(any::<u64>()),
        ms in prop::option::of(any::<u64>()),
        small in any::<bool>(),
    ) {
        let shrink = |v: Option<u64>| v.map(|v| if small { v % 100_000 } else { v });
        let (h, m, s, ms) = (shrink(h), shrink(m), shrink(s), shrink(ms));
        prop_assume!(h.is_some() || m.is_some() || s.is_some() || ms.is_some());
        let mut text = String::new();
        for (v, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
            if let Some(v) = v {
                text += &format!("{v}{unit}");
            }
        }
        let millis = u128::from(h.unwrap_or(0)) * 3_600_000
            + u128::from(m.unwrap_or(0)) * 60_000
            + u128::from(s.unwrap_or(0)) * 1000
            + u128::from(ms.unwrap_or(0));
        // Each part is at most the whole, so the whole fitting is enough.
        let fits = millis / 1000 <= u128::from(u64::MAX);
        match duration::parse(&text) {
            Ok(d) => {
                prop_assert!(fits, "{text} parsed to {d:?}");
                prop_assert_eq!(d.as_millis(), millis, "{}", text);
            }
            Err(e) => {
                prop_assert!(!fits, "{text}: {e}");
                prop_assert!(e.contains("too large"), "{}", e);
            }
        }
    }

    /// Garbage is an error, never a panic.
    #[test]
    fn garbage_durations_are_errors(text in "[0-9hms .+-]{0,30}|\\PC{0,30}") {
        if let Ok(d) = duration::parse(&text) {
            // Only what the grammar allows parses: digits and units, or "0".
            let t = text.trim();
            prop_assert!(
                t == "0" || (t.bytes().all(|b| b.is_ascii_alphanumeric()) && !t.is_empty()),
                "{text:?} parsed to {d:?}"
            );
        }
    }
}

/// Regressions the properties found: these panicked (debug) or wrapped (release).
#[test]
fn overflowing_durations_are_errors() {
    for text in [
        "18446744073709551615h",
        "5124095576030432h",
        "307445734561825861m",
        "18446744073709551615s1s",
        "18446744073709551615s1000ms",
    ] {
        let e = duration::parse(text).unwrap_err();
        assert!(e.contains("too large"), "{text}: {e}");
    }
    assert_eq!(
        duration::parse("18446744073709551615s999ms"),
        Ok(Duration::new(u64::MAX, 999_000_000))
    );
}

/// A value near the top of the range formats as seconds and milliseconds, since its
/// milliseconds alone are more than `parse` reads in one number.
#[test]
fn huge_durations_with_milliseconds_format_readably() {
    let d = ConfigDuration(Duration::new(u64::MAX, 500_000_000));
    let text = serde_json::to_string(&d).unwrap();
    assert_eq!(text, "\"18446744073709551615s500ms\"");
    assert_eq!(
        serde_json::to_string(&ConfigDuration(Duration::from_millis(1500))).unwrap(),
        "\"1500ms\""
    );
}

/// Handler names are TOML keys: quotes and newlines in them survive a write and a read.
#[test]
fn odd_handler_names_round_trip() {
    let config = Config {
        runtimes: BTreeMap::from([(
            "we\"ird\n name".to_owned(),
            RuntimeHandler {
                path: "/x".into(),
                kind: RuntimeType::Oci,
            },
        )]),
        ..Config::default()
    };
    let text = toml::to_string(&config).unwrap();
    assert_eq!(Config::parse(&text, Path::new(LABEL)).unwrap(), config);
}
