//! Image references, normalised Docker-style: `busybox` is `docker.io/library/busybox:latest`.

use oci_client::Reference;

use crate::ImageError;

/// Parses and normalises a reference. A tag, a digest or both may be given; with neither,
/// the tag is `latest`.
pub fn parse(reference: &str) -> Result<Reference, ImageError> {
    let invalid = |reason: String| ImageError::InvalidReference {
        reference: reference.to_owned(),
        reason,
    };
    if reference.trim().is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let parsed: Reference = reference.parse().map_err(|e| invalid(format!("{e}")))?;
    if parsed.repository().bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid("repository names must be lowercase".into()));
    }
    if let Some(digest) = parsed.digest() {
        check_digest(digest).map_err(invalid)?;
    }
    Ok(parsed)
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
        let r = parse(&format!("busybox:1.36@{d}")).unwrap();
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.digest(), Some(d.as_str()));
    }

    #[test]
    fn invalid_references_are_refused() {
        for bad in ["", "UPPER/case", "busybox@sha256:abc", "a b", "busybox:"] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, ImageError::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }
}
