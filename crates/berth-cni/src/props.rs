//! Property tests of what berth reads from CNI: network configuration files and plugin
//! output. Anything is a value or an error, never a panic; what is accepted is what the spec
//! allows; the IPs of a valid result come back as they went in.

use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::conf::{ConfSource, parse, valid_network_name};
use crate::invoke::outcome;
use crate::{cached_result, result_ips};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with the keys CNI uses turning up often.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        Just(Value::from("10.88.0.5/16")),
        Just(Value::from("fd00::5/64")),
        Just(Value::from("../evil")),
        Just(Value::from("bridge")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("cniVersion".to_owned()),
            Just("name".to_owned()),
            Just("plugins".to_owned()),
            Just("type".to_owned()),
            Just("ipam".to_owned()),
            Just("ips".to_owned()),
            Just("address".to_owned()),
            Just("msg".to_owned()),
            Just("details".to_owned()),
            "\\PC{0,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An accepted list obeys the spec and berth's own rules.
fn check_accepted(text: &str) -> Result<(), TestCaseError> {
    if let Ok(list) = parse(text, ConfSource::BuiltIn) {
        prop_assert!(valid_network_name(&list.name), "{:?}", list.name);
        prop_assert!(!list.plugins.is_empty());
        for p in &list.plugins {
            prop_assert!(!p.kind.is_empty() && !p.kind.contains('/'), "{:?}", p.kind);
            prop_assert_eq!(p.raw.get("type"), Some(&Value::from(p.kind.clone())));
        }
    }
    Ok(())
}

fn network_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}"
}

fn plugin_type() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_.-]{0,12}"
}

/// `value` with its floats made integers: serde_json (without `float_roundtrip`) may read
/// a float back one ulp off, which is serde_json's business, not the parser's.
fn without_floats(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => Value::from(n.as_f64().unwrap_or(0.0) as i64),
        Value::Array(a) => Value::Array(a.into_iter().map(without_floats).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, without_floats(v))).collect())
        }
        v => v,
    }
}

/// A plugin entry: a type and any other fields.
fn plugin() -> impl Strategy<Value = Map<String, Value>> {
    (
        plugin_type(),
        prop::collection::vec(("[a-zA-Z]{1,8}", any_json()), 0..4),
    )
        .prop_map(|(kind, extra)| {
            let mut m: Map<String, Value> = extra
                .into_iter()
                .filter(|(k, _)| k != "type")
                .map(|(k, v)| (k, without_floats(v)))
                .collect();
            m.insert("type".into(), Value::from(kind));
            m
        })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    any::<IpAddr>()
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes as a config file: a list or an error.
    #[test]
    fn any_text_is_a_conf_or_an_error(text in "\\PC{0,120}|[\\x00-\\x7f]{0,120}") {
        check_accepted(&text)?;
    }

    /// Any JSON document: a list or an error, and an accepted one obeys the rules.
    #[test]
    fn any_json_is_a_conf_or_an_error(value in any_json()) {
        check_accepted(&value.to_string())?;
        // As a list's plugins, and as a single-plugin `.conf`.
        let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": value.clone()});
        check_accepted(&list.to_string())?;
        if let Value::Object(mut plugin) = value {
            plugin.insert("name".into(), json!("n"));
            check_accepted(&Value::Object(plugin).to_string())?;
        }
    }

    /// A valid list, or a valid single-plugin `.conf`, is read as written.
    #[test]
    fn valid_confs_are_read_as_written(
        name in network_name(),
        version in "[0-9]\\.[0-9]\\.[0-9]",
        plugins in prop::collection::vec(plugin(), 1..4),
    ) {
        let text = json!({"cniVersion": version, "name": name, "plugins": plugins}).to_string();
        let list = parse(&text, ConfSource::BuiltIn).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&list.name, &name);
        prop_assert_eq!(&list.cni_version, &version);
        prop_assert_eq!(list.plugins.len(), plugins.len());
        for (got, want) in list.plugins.iter().zip(&plugins) {
            prop_assert_eq!(&got.raw, want);
            prop_assert_eq!(Some(&Value::from(got.kind.clone())), want.get("type"));
        }
        let mut single = plugins[0].clone();
        single.insert("name".into(), json!(name));
        single.insert("cniVersion".into(), json!(version));
        let list = parse(&Value::Object(single.clone()).to_string(), ConfSource::BuiltIn)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&list.name, &name);
        prop_assert_eq!(list.plugins.len(), 1);
        prop_assert_eq!(&list.plugins[0].raw, &single);
    }

    /// A network name outside the spec's rule is refused: it names the result cache file.
    #[test]
    fn bad_network_names_are_refused(
        name in prop_oneof![
            "[._-][a-z0-9]{0,6}",
            "[a-z0-9]{0,4}[/ \\x00\n:@é][a-z0-9./]{0,6}",
            Just("..".to_owned()),
            Just("../../etc/x".to_owned()),
            Just(String::new()),
        ],
    ) {
        let text = json!({"cniVersion": "1.0.0", "name": name, "plugins": [{"type": "bridge"}]});
        prop_assert!(parse(&text.to_string(), ConfSource::BuiltIn).is_err(), "{:?}", name);
    }

    /// Whatever a plugin prints, `result_ips` answers only IPs.
    #[test]
    fn result_ips_of_anything_are_ips(value in any_json()) {
        for ip in result_ips(&value) {
            prop_assert!(ip.parse::<IpAddr>().is_ok(), "{:?}", ip);
        }
        let wrapped = json!({"ips": [{"address": value.clone()}, value]});
        for ip in result_ips(&wrapped) {
            prop_assert!(ip.parse::<IpAddr>().is_ok(), "{:?}", ip);
        }
    }

    /// A valid result's IPs come back in order, without their prefix lengths; addresses
    /// that are not IPs are dropped.
    #[test]
    fn valid_results_give_back_their_ips(
        ips in prop::collection::vec((ip(), 0u8..=128, prop::option::of(ip())), 0..5),
        junk in prop::collection::vec(prop_oneof![
            Just("not-an-ip"), Just(""), Just("10.0.0.1\n10.0.0.2 evil"), Just("/24"),
            Just("10.88.0.300/16"), Just("::g/64"),
        ], 0..3),
        version in prop_oneof![Just("0.4.0"), Just("1.0.0"), Just("1.1.0")],
    ) {
        let mut entries: Vec<Value> = ips
            .iter()
            .map(|(ip, prefix, gateway)| {
                let mut e = json!({"address": format!("{ip}/{prefix}"), "interface": 0});
                if let Some(g) = gateway {
                    e["gateway"] = json!(g.to_string());
                }
                e
            })
            .collect();
        entries.extend(junk.iter().map(|j| json!({"address": j})));
        let result = json!({
            "cniVersion": version,
            "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/run/netns/x"}],
            "ips": entries,
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {},
        });
        let want: Vec<String> = ips.iter().map(|(ip, _, _)| ip.to_string()).collect();
        prop_assert_eq!(result_ips(&result), want.clone());
        // And through a plugin's stdout, as `exec` reads it.
        let out = Output {
            status: ExitStatus::from_raw(0),
            stdout: serde_json::to_vec(&result).unwrap(),
            stderr: Vec::new(),
        };
        let read = outcome(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(result_ips(&read), want);
    }

    /// Any stdout, stderr and exit status: a result or a message, never a panic; a failing
    /// plugin's `msg` is in the message.
    #[test]
    fn any_plugin_output_is_a_result_or_a_message(
        stdout in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            ("\\PC{0,20}", "\\PC{0,20}")
                .prop_map(|(m, d)| serde_json::to_vec(&json!({"code": 7, "msg": m, "details": d})).unwrap()),
        ],
        stderr in prop::collection::vec(any::<u8>(), 0..128),
        // Raw wait statuses: exit codes (`code << 8`) and signals.
        status in prop_oneof![(0i32..256).prop_map(|c| c << 8), 1i32..32, any::<i32>()],
    ) {
        let out = Output { status: ExitStatus::from_raw(status), stdout, stderr };
        let parsed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
        match outcome(&out) {
            Ok(value) => {
                prop_assert!(out.status.success());
                prop_assert_eq!(value, parsed.unwrap_or(Value::Null));
            }
            Err(message) => {
                prop_assert!(!out.status.success());
                if let Some(msg) = parsed.as_ref().and_then(|v| v.get("msg")).and_then(Value::as_str) {
                    prop_assert!(message.contains(msg), "{message:?} lacks {msg:?}");
                }
            }
        }
    }

    /// A result cache file holding anything: a result or nothing, never a panic.
    #[test]
    fn any_cache_file_is_read_or_ignored(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("net-c1-eth0.json"), &bytes).unwrap();
        let got = cached_result(dir.path(), "net", "c1", "eth0");
        if serde_json::from_slice::<Value>(&bytes).is_err() {
            prop_assert!(got.is_none());
        }
    }
}

/// The case the name property found: a conflist's name went unchecked into the result
/// cache's file name, so `../../x` put the cache file outside the cache dir.
#[test]
fn a_network_name_cannot_climb_out_of_the_cache_dir() {
    let text = r#"{"cniVersion":"1.0.0","name":"../../x","plugins":[{"type":"bridge"}]}"#;
    let e = parse(text, ConfSource::BuiltIn).unwrap_err();
    assert!(e.to_string().contains("network name"), "{e}");
    for good in ["berth", "k8s-pod-network", "a_b.c-1", "0"] {
        assert!(valid_network_name(good), "{good}");
    }
}

/// An address with a newline would have gone into the pod's `/etc/hosts` as two lines.
#[test]
fn result_addresses_that_are_not_ips_are_dropped() {
    let result = json!({"ips": [
        {"address": "10.88.0.5/16"},
        {"address": "10.0.0.1\n6.6.6.6 evil.example/24"},
        {"address": "fd00::1/64"},
    ]});
    assert_eq!(result_ips(&result), ["10.88.0.5", "fd00::1"]);
}
