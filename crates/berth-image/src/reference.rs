//! Image references, normalised Docker-style: `busybox` is `docker.io/library/busybox:latest`.

use oci_client::Reference;

use crate::ImageError;

/// Longest repository name (distribution's `NAME_TOTAL_LENGTH_MAX`).
const NAME_MAX: usize = 255;
/// Longest tag.
const TAG_MAX: usize = 128;

/// Parses and normalises a reference. A tag, a digest or both may be given; with neither,
/// the tag is `latest`.
///
/// The grammar is distribution's (`[domain[:port]/]path[:tag][@digest]`, Docker Hub's
/// `library/` for one-component names), checked by hand: the `Reference` parser of
/// oci-spec compiles a Unicode-aware regex whose automaton keeps about 4 MiB resident in
/// the daemon for good after the first pull.
pub fn parse(reference: &str) -> Result<Reference, ImageError> {
    let invalid = |reason: &str| ImageError::InvalidReference {
        reference: reference.to_owned(),
        reason: reason.to_owned(),
    };
    if reference.trim().is_empty() {
        return Err(invalid("it is empty"));
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    // A tag follows the last ':' that comes after the last '/' (before it, ':' is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            (first, path.to_owned())
        }
        _ => ("docker.io", name.to_owned()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    check_domain(domain).map_err(|r| invalid(&r))?;
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid("repository names must be lowercase"));
    }
    if !path.split('/').all(path_component) {
        return Err(invalid(
            "a repository path component is lowercase letters and digits, joined by '.', '_', '__' or dashes",
        ));
    }
    if path.len() > NAME_MAX {
        return Err(invalid("the repository name is longer than 255 characters"));
    }
    if let Some(tag) = tag {
        check_tag(tag).map_err(|r| invalid(&r))?;
    }
    if let Some(digest) = digest {
        check_digest(digest).map_err(|r| invalid(&r))?;
    }
    let (domain, tag, digest) = (
        domain.to_owned(),
        tag.map(str::to_owned),
        digest.map(str::to_owned),
    );
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(domain, path, tag, digest),
        (None, Some(digest)) => Reference::with_digest(domain, path, digest),
        (tag, None) => Reference::with_tag(domain, path, tag.unwrap_or_else(|| "latest".into())),
    })
}

/// `host[:port]`: dot-separated labels of letters, digits and inner dashes.
fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.split('.').all(label) {
        return Err(format!("{domain:?} is not a registry host"));
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        // Over 65535 the HTTP client cannot even build a request (it answered Internal,
        // "could not clone request builder").
        return Err(format!(
            "{domain:?} has a bad port: a port is at most 65535"
        ));
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between alphanumeric runs: one '.', one '_', '__', or any number of '-'.
    component
        .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-'))
        && bytes.iter().all(|b| alnum(b) || b"._-".contains(b))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err("the tag after ':' is empty".into()),
        [first, rest @ ..]
            if word(*first)
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
                && tag.len() <= TAG_MAX =>
        {
            Ok(())
        }
        _ => Err(format!(
            "tag {tag:?} is not 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')"
        )),
    }
}

/// `registry/repository` without tag or digest.
pub fn repository(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// The normalised `registry/repository:tag`, when the reference has a tag.
pub fn tag_name(reference: &Reference) -> Option<String> {
    reference
        .tag()
        .map(|tag| format!("{}:{tag}", repository(reference)))
}

/// `registry/repository@digest`.
pub fn digest_name(reference: &Reference, digest: &str) -> String {
    format!("{}@{digest}", repository(reference))
}

/// Checks `sha256:<64 lowercase hex>`, the only algorithm berth stores.
pub fn check_digest(digest: &str) -> Result<&str, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {digest:?} is not sha256"))?;
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(hex)
    } else {
        Err(format!("digest {digest:?} is not 64 lowercase hex digits"))
    }
}

#[cfg(test)]
#[path = "reference_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_normalised_docker_style() {
        let r = parse("busybox").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "docker.io/library/busybox:latest");
        let r = parse("ghcr.io/x/y").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "ghcr.io/x/y:latest");
        let r = parse("127.0.0.1:5000/app:v1").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "127.0.0.1:5000/app:v1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(
            digest_name(&r, &d),
            format!("docker.io/library/busybox@{d}")
        );
        let r = parse("index.docker.io/x").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "docker.io/library/x:latest");
        let r = parse("localhost/a/b-c__d.e:V_1.2-x").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "localhost/a/b-c__d.e:V_1.2-x");
        let r = parse("team/app").unwrap();
        assert_eq!(tag_name(&r).unwrap(), "docker.io/team/app:latest");
        let r = parse("my-reg.example.com:5000/a---b/c").unwrap();
        assert_eq!(r.registry(), "my-reg.example.com:5000");
        assert_eq!(r.repository(), "a---b/c");
        let r = parse(&format!("busybox:1.36@{d}")).unwrap();
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.digest(), Some(d.as_str()));
    }

    #[test]
    fn invalid_references_are_refused() {
        for bad in [
            "",
            "UPPER/case",
            "busybox@sha256:abc",
            "a b",
            "busybox:",
            "busybox:.x",
            "-x/y",
            "x..y",
            "x/y_-z",
            "bad-.host.io/x",
            "host.io:port/x",
            "localhost:99999/x",
            "localhost:65536/x",
            "x/y@",
            "x/:t",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, ImageError::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn agrees_with_the_distribution_grammar() {
        let d = format!("sha256:{}", "0".repeat(64));
        for r in [
            "busybox",
            "busybox:1.36",
            "library/busybox",
            "team/app:v1",
            "test.com:tag",
            "test.com:5000",
            "test.com/repo:tag",
            "test:5000/repo",
            "localhost/x",
            "localhost:5000/a/b/c:1",
            "127.0.0.1:5000/app:v1",
            "a.b-c.d/e_f.g__h---i/j:T.t-1_",
            &format!("busybox@{d}"),
            &format!("r.io/x:tag@{d}"),
        ] {
            let theirs: Reference = r.parse().unwrap();
            assert_eq!(parse(r).unwrap().whole(), theirs.whole(), "{r}");
        }
    }
}
