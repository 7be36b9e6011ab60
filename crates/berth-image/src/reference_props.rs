//! Property tests of [`parse`](super::parse): any string is a normalised reference or an
//! error; what is accepted is what distribution's grammar allows (checked against that
//! grammar written out as a regex below) and is stable under a second parse.

use std::sync::LazyLock;

use oci_client::Reference;
use proptest::prelude::*;
use regex::Regex;

use super::*;

/// distribution/reference's grammar (`regexp.go`), ASCII only as Go's `\w` is.
mod grammar {
    pub const ALNUM: &str = "[a-z0-9]+";
    pub const SEPARATOR: &str = "(?:[._]|__|[-]+)";
    pub const DOMAIN_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    pub const IPV6: &str = r"\[(?:[a-fA-F0-9:]+)\]";
    pub const TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    pub const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

    pub fn path_component() -> String {
        format!("{ALNUM}(?:{SEPARATOR}{ALNUM})*")
    }
    pub fn remote_name() -> String {
        let c = path_component();
        format!("{c}(?:/{c})*")
    }
    pub fn domain() -> String {
        let c = DOMAIN_COMPONENT;
        format!("(?:{c}(?:\\.{c})*|{IPV6})(?::[0-9]+)?")
    }
    pub fn reference() -> String {
        format!(
            "(?:{}/)?{}(?::{TAG})?(?:@{DIGEST})?",
            domain(),
            remote_name()
        )
    }
}

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("grammar regex")
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| anchored(&grammar::reference()));
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| anchored(&grammar::domain()));
static REMOTE_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(&grammar::remote_name()));
static TAG: LazyLock<Regex> = LazyLock::new(|| anchored(grammar::TAG));
/// The one digest form berth stores.
static SHA256: LazyLock<Regex> = LazyLock::new(|| anchored("sha256:[0-9a-f]{64}"));

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every part of an accepted reference obeys the grammar, and the input did too.
fn check_accepted(input: &str, r: &Reference) -> Result<(), TestCaseError> {
    prop_assert!(REFERENCE.is_match(input), "accepted {input:?}");
    prop_assert!(DOMAIN.is_match(r.registry()), "{input:?}: {r:?}");
    prop_assert!(REMOTE_NAME.is_match(r.repository()), "{input:?}: {r:?}");
    prop_assert!(r.repository().len() <= NAME_MAX, "{input:?}");
    prop_assert!(r.tag().is_some() || r.digest().is_some(), "{input:?}");
    if let Some(tag) = r.tag() {
        prop_assert!(TAG.is_match(tag), "{input:?}: {r:?}");
    }
    if let Some(digest) = r.digest() {
        prop_assert!(SHA256.is_match(digest), "{input:?}: {r:?}");
    }
    // Docker Hub is always spelt the same, and its one-component names are `library/`'s.
    prop_assert_ne!(r.registry(), "index.docker.io");
    if r.registry() == "docker.io" {
        prop_assert!(r.repository().contains('/'), "{input:?}: {r:?}");
    }
    // Normalising is idempotent: the printed form parses to the same reference.
    let again = parse(&r.whole()).map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
    prop_assert_eq!(&again, r, "{}", input);
    Ok(())
}

/// Strings made of the grammar's pieces and of things that break it, so that about half
/// are references.
fn reference_like() -> impl Strategy<Value = String> {
    let hex64 = "[0-9a-f]{64}";
    let token = prop_oneof![
        6 => "[a-z0-9]{1,4}",
        1 => "[A-Z]{1,2}",
        2 => Just(".".to_owned()),
        1 => Just("_".to_owned()),
        1 => Just("__".to_owned()),
        1 => "-{1,3}",
        3 => Just("/".to_owned()),
        2 => Just(":".to_owned()),
        1 => "[0-9]{1,6}",
        1 => Just("@".to_owned()),
        1 => hex64.prop_map(|h| format!("@sha256:{h}")),
        1 => Just("localhost".to_owned()),
        1 => Just("docker.io".to_owned()),
        1 => Just("index.docker.io".to_owned()),
        1 => Just("sha256:".to_owned()),
        1 => hex64,
        1 => Just("[::1]".to_owned()),
        1 => Just("\0".to_owned()),
        1 => "[ \t\n]",
        1 => "\\PC",
    ];
    prop::collection::vec(token, 1..14).prop_map(|t| t.concat())
}

/// `domain[:port]`, spelt so that the parser must take it as a domain.
fn domain() -> impl Strategy<Value = String> {
    let component = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
    let host = prop_oneof![
        prop::collection::vec(component, 2..4).prop_map(|c| c.join(".")),
        Just("localhost".to_owned()),
        Just("docker.io".to_owned()),
        Just("index.docker.io".to_owned()),
        // One label: a domain only with a port.
        component.prop_map(|c| format!("{c}:5000")),
    ];
    (host, prop::option::of(0u32..=65535)).prop_map(|(host, port)| match port {
        Some(port) if !host.contains(':') => format!("{host}:{port}"),
        _ => host,
    })
}

fn path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9]{1,5}(([._]|__|-{1,3})[a-z0-9]{1,5}){0,3}", 1..4)
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        "[A-Za-z0-9_][A-Za-z0-9_.-]{127}",
    ]
}

fn digest() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
}

/// distribution's `splitDockerDomain`: where the domain of a name without an explicit one
/// ends, and Docker Hub's spellings.
fn expected_split(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first, rest.to_owned())
        }
        _ => ("docker.io", name.to_owned()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    (domain.to_owned(), rest)
}

proptest! {
    #![proptest_config(config(512))]

    /// Any string at all: an answer, never a panic; and what is accepted obeys the grammar.
    #[test]
    fn any_string_is_a_reference_or_an_error(s in "\\PC{0,80}|[\\x00-\\x7f]{0,80}") {
        if let Ok(r) = parse(&s) {
            check_accepted(&s, &r)?;
        }
    }

    /// Near-references: accepted ones obey the grammar and normalise idempotently, and
    /// berth agrees with oci-spec's regex parser except where each documents otherwise.
    #[test]
    fn near_references_obey_the_grammar(s in reference_like()) {
        let ours = parse(&s);
        if let Ok(r) = &ours {
            check_accepted(&s, r)?;
        }
        let theirs: Result<Reference, _> = s.parse();
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs, "{}", s),
            (Ok(r), Err(e)) => prop_assert!(false, "{s:?}: berth {r:?}, oci-spec {e}"),
            (Err(e), Ok(r)) => {
                // berth stores sha256 only. oci-spec lets through an uppercase path, a
                // non-ASCII tag (its `\w` is Unicode) and a dotted first path component
                // that is no host name (`a_b.c/d`) as the registry.
                let digest_other = r.digest().is_some_and(|d| !SHA256.is_match(d));
                let upper = r.repository().bytes().any(|b| b.is_ascii_uppercase());
                let unicode_tag = r.tag().is_some_and(|t| !t.is_ascii());
                let bad_host = !DOMAIN.is_match(r.registry());
                // berth also refuses a port over 65535, which no client can reach.
                let big_port = r
                    .registry()
                    .rsplit_once(':')
                    .is_some_and(|(_, port)| port.parse::<u16>().is_err());
                prop_assert!(
                    digest_other || upper || unicode_tag || bad_host || big_port,
                    "{s:?}: berth {e}, oci-spec {r:?}"
                );
            }
            (Err(_), Err(_)) => {}
        }
    }

    /// `domain[:port]/path[:tag][@sha256:hex]` always parses, into exactly those parts.
    #[test]
    fn known_shapes_parse_into_their_parts(
        domain in prop::option::of(domain()),
        path in path(),
        tag in prop::option::of(tag()),
        digest in prop::option::of(digest()),
    ) {
        // Without a domain, a dotted first component is taken for one: undot it.
        let mut path = path;
        if domain.is_none() && path.len() > 1 {
            path[0] = path[0].replace('.', "_");
        }
        let path = path.join("/");
        let name = match &domain {
            Some(d) => format!("{d}/{path}"),
            None => path.clone(),
        };
        let mut s = name.clone();
        if let Some(t) = &tag {
            s = format!("{s}:{t}");
        }
        if let Some(d) = &digest {
            s = format!("{s}@{d}");
        }
        let r = parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
        let (want_domain, want_path) = expected_split(&name);
        prop_assert_eq!(r.registry(), want_domain.as_str(), "{}", s);
        prop_assert_eq!(r.repository(), want_path.as_str(), "{}", s);
        let want_tag = match (&tag, &digest) {
            (None, None) => Some("latest"),
            (t, _) => t.as_deref(),
        };
        prop_assert_eq!(r.tag(), want_tag, "{}", s);
        prop_assert_eq!(r.digest(), digest.as_deref(), "{}", s);
        check_accepted(&s, &r)?;
    }

    /// One character changed into something the grammar never allows is refused.
    #[test]
    fn a_foreign_character_is_refused(
        path in path(),
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![Just('\0'), Just(' '), Just('\n'), Just('é'), Just('!'), Just('\\')],
    ) {
        let mut s: Vec<char> = path.join("/").chars().collect();
        let i = at.index(s.len());
        s[i] = bad;
        let s: String = s.into_iter().collect();
        prop_assert!(parse(&s).is_err(), "{:?}", s);
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// Huge inputs are refused (names are at most 255 bytes) without panicking.
    #[test]
    fn huge_inputs_are_errors(unit in "[a-z/.:@_-]{1,3}", times in 20_000usize..200_000) {
        let s = unit.repeat(times);
        prop_assert!(parse(&s).is_err(), "{} bytes accepted", s.len());
    }
}

/// A capitalised first component: distribution's `splitDockerDomain` takes it for a registry
/// host (`MyRegistry/app`); berth, like oci-spec, for a Docker Hub path, which capitals make
/// invalid. Kept as it is: such hosts are rare, and the answer is a clear InvalidArgument.
#[test]
fn a_capitalised_first_component_is_refused() {
    for s in ["MyRegistry/app:1", "UPPER/case"] {
        let e = parse(s).unwrap_err();
        assert!(e.to_string().contains("lowercase"), "{s}: {e}");
    }
}
