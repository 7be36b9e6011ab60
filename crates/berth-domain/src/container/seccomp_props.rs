//! Property tests of Localhost seccomp profiles, a file on the node in the OCI or Docker
//! format: any text is a profile or an error, never a panic; unknown actions, architectures,
//! operators and flags are errors; unknown syscall names pass through (runc skips them, as
//! the module doc says); Docker's `includes`/`excludes` keep exactly the entries they match.

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Host architectures (`std::env::consts::ARCH` values), known to berth and not.
const HOSTS: &[&str] = &["x86_64", "aarch64", "s390x", "riscv64", "mips"];

/// Parses and converts as [`localhost_profile`] does, without the file.
fn load(text: &str, caps: &[String], arch: &str) -> Result<LinuxSeccomp, ProfileError> {
    parse_profile(text, caps, arch)
}

fn name_of<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("enum serialises")
}

fn action() -> impl Strategy<Value = LinuxSeccompAction> {
    use LinuxSeccompAction::*;
    prop::sample::select(vec![
        ScmpActKill,
        ScmpActKillThread,
        ScmpActKillProcess,
        ScmpActTrap,
        ScmpActErrno,
        ScmpActNotify,
        ScmpActTrace,
        ScmpActLog,
        ScmpActAllow,
    ])
}

fn arch() -> impl Strategy<Value = Arch> {
    use Arch::*;
    prop::sample::select(vec![
        ScmpArchNative,
        ScmpArchX86,
        ScmpArchX86_64,
        ScmpArchX32,
        ScmpArchArm,
        ScmpArchAarch64,
        ScmpArchMips,
        ScmpArchPpc64le,
        ScmpArchS390,
        ScmpArchS390x,
        ScmpArchRiscv64,
        ScmpArchLoongarch64,
    ])
}

fn operator() -> impl Strategy<Value = LinuxSeccompOperator> {
    use LinuxSeccompOperator::*;
    prop::sample::select(vec![
        ScmpCmpNe,
        ScmpCmpLt,
        ScmpCmpLe,
        ScmpCmpEq,
        ScmpCmpGe,
        ScmpCmpGt,
        ScmpCmpMaskedEq,
    ])
}

fn flag() -> impl Strategy<Value = LinuxSeccompFilterFlag> {
    use LinuxSeccompFilterFlag::*;
    prop::sample::select(vec![
        SeccompFilterFlagLog,
        SeccompFilterFlagTsync,
        SeccompFilterFlagSpecAllow,
        SeccompFilterFlagWaitKillableRecv,
    ])
}

/// Syscall names: real ones, and ones no kernel has (which pass through).
fn syscall_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["read", "write", "mount", "clone", "ptrace", "chroot"])
            .prop_map(str::to_owned),
        1 => "[a-z_0-9]{1,12}",
        1 => "\\PC{0,8}",
    ]
}

/// Capabilities in the three spellings profiles and CRI use.
fn capability() -> impl Strategy<Value = (String, &'static str)> {
    (
        prop::sample::select(vec!["SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "CHOWN"]),
        0..3,
    )
        .prop_map(|(cap, spelling)| {
            let spelt = match spelling {
                0 => format!("CAP_{cap}"),
                1 => cap.to_owned(),
                _ => cap.to_ascii_lowercase(),
            };
            (spelt, cap)
        })
}

/// Docker's architecture names and the kernel's, for `includes`/`excludes`.
fn arch_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "amd64", "x86_64", "arm64", "aarch64", "s390x", "riscv64", "ppc64le", "x32", "mips",
    ])
}

/// What a Docker arch name means, the other way round from the code: the hosts it names.
fn names_host(name: &str, host: &str) -> bool {
    match name {
        "amd64" | "x86_64" => host == "x86_64",
        "arm64" | "aarch64" => host == "aarch64",
        other => other == host,
    }
}

/// A Docker condition: capabilities (spelt any way, with their canonical form) and arches.
type Cond = (Vec<(String, &'static str)>, Vec<&'static str>);

fn condition() -> impl Strategy<Value = Option<Cond>> {
    prop::option::of((
        prop::collection::vec(capability(), 0..2),
        prop::collection::vec(arch_name(), 0..2),
    ))
}

fn cond_json(cond: &Option<Cond>) -> Value {
    match cond {
        None => json!({}),
        Some((caps, arches)) => json!({
            "caps": caps.iter().map(|(spelt, _)| spelt).collect::<Vec<_>>(),
            "arches": arches,
            "minKernel": "4.8",
        }),
    }
}

/// One generated syscall entry and what it should become.
#[derive(Debug, Clone)]
struct GenEntry {
    names: Vec<String>,
    name: Option<String>,
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<(usize, u64, Option<u64>, LinuxSeccompOperator)>,
    includes: Option<Cond>,
    excludes: Option<Cond>,
}

impl GenEntry {
    fn json(&self) -> Value {
        let mut v = json!({"names": self.names, "action": name_of(self.action), "comment": "x"});
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(e) = self.errno {
            v["errnoRet"] = json!(e);
        }
        if !self.args.is_empty() {
            v["args"] = self
                .args
                .iter()
                .map(|(index, value, two, op)| {
                    let mut a = json!({"index": index, "value": value, "op": name_of(op)});
                    if let Some(two) = two {
                        a["valueTwo"] = json!(two);
                    }
                    a
                })
                .collect();
        }
        v["includes"] = cond_json(&self.includes);
        v["excludes"] = cond_json(&self.excludes);
        v
    }

    /// Whether the entry is kept for a container holding `held` (canonical names) on `host`.
    fn kept(&self, held: &[&str], host: &str) -> bool {
        let (caps_in, arches_in) = self.includes.clone().unwrap_or_default();
        let (caps_out, arches_out) = self.excludes.clone().unwrap_or_default();
        caps_in.iter().all(|(_, c)| held.contains(c))
            && (arches_in.is_empty() || arches_in.iter().any(|a| names_host(a, host)))
            && !caps_out.iter().any(|(_, c)| held.contains(c))
            && !arches_out.iter().any(|a| names_host(a, host))
            && (!self.names.is_empty() || self.name.is_some())
    }
}

fn gen_entry() -> impl Strategy<Value = GenEntry> {
    (
        prop::collection::vec(syscall_name(), 0..4),
        prop::option::of(syscall_name()),
        action(),
        prop::option::of(any::<u32>()),
        prop::collection::vec(
            (
                0usize..=5,
                any::<u64>(),
                prop::option::of(any::<u64>()),
                operator(),
            ),
            0..3,
        ),
        condition(),
        condition(),
    )
        .prop_map(
            |(names, name, action, errno, args, includes, excludes)| GenEntry {
                names,
                name,
                action,
                errno,
                args,
                includes,
                excludes,
            },
        )
}

/// Any JSON, nested, with the profile's own keys and enum names turning up often.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
        action().prop_map(name_of),
        arch().prop_map(name_of),
        operator().prop_map(name_of),
        Just(Value::from("SCMP_ACT_NOPE")),
        Just(Value::from("SCMP_ARCH_VAX")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop::sample::select(vec![
            "defaultAction",
            "defaultErrnoRet",
            "architectures",
            "archMap",
            "architecture",
            "subArchitectures",
            "flags",
            "listenerPath",
            "listenerMetadata",
            "syscalls",
            "names",
            "name",
            "action",
            "errnoRet",
            "args",
            "index",
            "value",
            "valueTwo",
            "op",
            "includes",
            "excludes",
            "caps",
            "arches",
            "other",
        ])
        .prop_map(str::to_owned);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn any_caps() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(capability().prop_map(|(spelt, _)| spelt), 0..3)
}

proptest! {
    #![proptest_config(config())]

    /// Any text: a profile or an error.
    #[test]
    fn any_text_is_a_profile_or_an_error(
        text in "\\PC{0,120}|[\\x00-\\x7f]{0,120}",
        caps in any_caps(),
        host in prop::sample::select(HOSTS),
    ) {
        let _ = load(&text, &caps, host);
    }

    /// Any JSON, including ones shaped like profiles with wrong types and unknown names:
    /// a profile or an error.
    #[test]
    fn any_json_is_a_profile_or_an_error(
        value in any_json(),
        caps in any_caps(),
        host in prop::sample::select(HOSTS),
    ) {
        let _ = load(&value.to_string(), &caps, host);
        // And as the rules, and as one rule, of an otherwise valid profile.
        let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": value.clone()});
        let _ = load(&profile.to_string(), &caps, host);
        let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [value]});
        let _ = load(&profile.to_string(), &caps, host);
    }

    /// A valid OCI or Docker profile converts: default action, errno, flags and listener as
    /// written; the OCI architectures first, then the host's `archMap` entry (or every
    /// entry when none is the host's), without repeats; and exactly the rules whose
    /// conditions hold, in order, names (unknown ones too) and arguments as written.
    #[test]
    fn valid_profiles_convert_as_written(
        default_action in action(),
        default_errno in prop::option::of(any::<u32>()),
        architectures in prop::collection::vec(arch(), 0..3),
        arch_map in prop::collection::vec((arch(), prop::collection::vec(arch(), 0..3)), 0..3),
        flags in prop::collection::vec(flag(), 0..3),
        listener in prop::option::of("/[a-z]{1,8}"),
        entries in prop::collection::vec(gen_entry(), 0..6),
        held in prop::collection::vec(capability(), 0..3),
        host in prop::sample::select(HOSTS),
    ) {
        let mut profile = json!({
            "defaultAction": name_of(default_action),
            "architectures": architectures.iter().copied().map(name_of).collect::<Vec<_>>(),
            "archMap": arch_map.iter().map(|(a, subs)| json!({
                "architecture": name_of(a),
                "subArchitectures": subs.iter().copied().map(name_of).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "flags": flags.iter().copied().map(name_of).collect::<Vec<_>>(),
            "syscalls": entries.iter().map(GenEntry::json).collect::<Vec<_>>(),
        });
        if let Some(e) = default_errno {
            profile["defaultErrnoRet"] = json!(e);
        }
        if let Some(l) = &listener {
            profile["listenerPath"] = json!(l);
        }
        let caps: Vec<String> = held.iter().map(|(spelt, _)| spelt.clone()).collect();
        let canonical: Vec<&str> = held.iter().map(|(_, c)| *c).collect();
        let s = load(&profile.to_string(), &caps, host)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{profile}")))?;

        prop_assert_eq!(s.default_action(), default_action);
        prop_assert_eq!(s.default_errno_ret(), default_errno);
        let want_flags = (!flags.is_empty()).then(|| flags.clone());
        prop_assert_eq!(s.flags().clone(), want_flags);
        prop_assert_eq!(
            s.listener_path().as_ref().map(|p| p.to_string_lossy().into_owned()),
            listener
        );

        let native = native_arches(host).and_then(|a| a.first().copied());
        let mapped: Vec<&(Arch, Vec<Arch>)> = match arch_map.iter().find(|(a, _)| Some(*a) == native) {
            Some(entry) => vec![entry],
            None => arch_map.iter().collect(),
        };
        let mut want_arches: Vec<Arch> = Vec::new();
        let listed = architectures.iter().copied();
        let from_map = mapped.iter().flat_map(|(a, subs)| std::iter::once(*a).chain(subs.iter().copied()));
        for a in listed.chain(from_map) {
            if !want_arches.contains(&a) {
                want_arches.push(a);
            }
        }
        let got_arches = s.architectures().clone().unwrap_or_default();
        prop_assert_eq!(got_arches, want_arches);

        let kept: Vec<&GenEntry> = entries.iter().filter(|e| e.kept(&canonical, host)).collect();
        let rules = s.syscalls().clone().unwrap_or_default();
        prop_assert_eq!(rules.len(), kept.len(), "{}", profile);
        for (rule, entry) in rules.iter().zip(kept) {
            let mut names = entry.names.clone();
            names.extend(entry.name.clone());
            prop_assert_eq!(rule.names(), &names);
            prop_assert_eq!(rule.action(), entry.action);
            prop_assert_eq!(rule.errno_ret(), entry.errno);
            let args: Vec<_> = rule
                .args()
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.index(), a.value(), a.value_two(), a.op()))
                .collect();
            prop_assert_eq!(args, entry.args.clone());
        }
    }

    /// Unknown actions, architectures, operators and flags, wherever they stand, are errors
    /// that say what is wrong.
    #[test]
    fn unknown_enum_names_are_errors(
        bad in "SCMP_[A-Z_]{1,10}|[a-z]{1,8}|\\PC{0,6}",
        place in 0..6usize,
        host in prop::sample::select(HOSTS),
    ) {
        let known = [
            name_of(LinuxSeccompAction::ScmpActAllow),
            name_of(Arch::ScmpArchX86_64),
            name_of(LinuxSeccompOperator::ScmpCmpEq),
            name_of(LinuxSeccompFilterFlag::SeccompFilterFlagLog),
        ];
        prop_assume!(!known.iter().any(|k| k == &json!(bad)));
        prop_assume!(serde_json::from_value::<LinuxSeccompAction>(json!(bad)).is_err());
        prop_assume!(serde_json::from_value::<Arch>(json!(bad)).is_err());
        prop_assume!(serde_json::from_value::<LinuxSeccompOperator>(json!(bad)).is_err());
        prop_assume!(serde_json::from_value::<LinuxSeccompFilterFlag>(json!(bad)).is_err());
        let rule = |action: &str, op: &str| json!({
            "names": ["read"], "action": action,
            "args": [{"index": 0, "value": 1, "op": op}],
        });
        let profile = match place {
            0 => json!({"defaultAction": bad}),
            1 => json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [bad]}),
            2 => json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": [bad]}]}),
            3 => json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [bad]}),
            4 => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule(&bad, "SCMP_CMP_EQ")]}),
            _ => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("SCMP_ACT_ERRNO", &bad)]}),
        };
        let e = load(&profile.to_string(), &[], host).unwrap_err();
        prop_assert!(matches!(e, ProfileError::Json(_)), "{:?}", e);
        prop_assert!(e.to_string().contains("unknown variant"), "{}", e);
    }

    /// An argument index past the sixth is refused here rather than by runc at start.
    #[test]
    fn argument_indexes_past_five_are_errors(index in 6usize.., host in prop::sample::select(HOSTS)) {
        let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": index, "value": 8, "op": "SCMP_CMP_EQ"}]},
        ]});
        let e = load(&profile.to_string(), &[], host).unwrap_err();
        prop_assert!(
            matches!(e, ProfileError::ArgumentIndex { index: i, .. } if i == index),
            "{:?}",
            e
        );
        prop_assert!(e.to_string().contains(&format!("argument {index}")), "{}", e);
    }
}

/// Through the file, as the kubelet's Localhost profile arrives: the error names the path
/// and what is wrong.
#[test]
fn file_errors_name_the_path_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    for (text, cause) in [
        (r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#, "unknown variant"),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
            "unknown variant",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
            "argument 6",
        ),
        ("\u{0}\u{ffff}", "invalid JSON"),
    ] {
        let path = dir.path().join("p.json");
        std::fs::write(&path, text).unwrap();
        let e = seccomp_for(&SeccompProfile::Localhost(path.clone()), &[], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains(cause),
            "{text}: {e}"
        );
    }
}
