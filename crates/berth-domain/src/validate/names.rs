//! Names and text from a request: object names, the pod's hostname, argv and environment.

/// Kubernetes' longest object name (a DNS-1123 subdomain); pod namespaces and UIDs are
/// shorter still.
const NAME_MAX: usize = 253;
/// Linux's `HOST_NAME_MAX`: the UTS hostname holds at most 64 bytes.
const HOST_NAME_MAX: usize = 64;
/// Longest DNS label (RFC 1035).
const LABEL_MAX: usize = 63;

/// A pod's name, namespace or UID, or a container's name: set, at most 253 bytes, no
/// control characters (they end up in logs, records and the kubelet's status).
pub fn object_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!("is longer than {NAME_MAX} bytes"));
    }
    text_line(name)
}

/// A value that becomes one `KEY=VALUE` of `CNI_ARGS`: no `;` (the pair separator), `=` or
/// whitespace, which the CNI plugins' parser refuses ("invalid pair").
pub fn cni_arg(value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| c == ';' || c == '=' || c.is_whitespace())
    {
        return Err("must not contain ';', '=' or whitespace (it is passed in CNI_ARGS)".into());
    }
    Ok(())
}

/// The pod's hostname, RFC 1123: dot-separated labels of letters, digits and inner dashes,
/// each at most 63 bytes, 64 in all (`HOST_NAME_MAX`). The kubelet sends a DNS-1123 label,
/// or a FQDN with `setHostnameAsFQDN` (and refuses one longer than 64 itself). Whatever
/// passes cannot add a line to `/etc/hosts` or `/etc/hostname`.
pub fn hostname(name: &str) -> Result<(), String> {
    if name.len() > HOST_NAME_MAX {
        return Err(format!(
            "is longer than {HOST_NAME_MAX} bytes (the kernel's HOST_NAME_MAX)"
        ));
    }
    for label in name.split('.') {
        dns_label(label).map_err(|e| format!("is not an RFC 1123 hostname: {e}"))?;
    }
    Ok(())
}

/// One DNS label: 1 to 63 letters, digits or dashes, not starting or ending with a dash.
pub(super) fn dns_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("a label is empty".into());
    }
    if label.len() > LABEL_MAX {
        return Err(format!("a label is longer than {LABEL_MAX} bytes"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("a label holds only letters, digits and '-'".into());
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("a label must not start or end with '-'".into());
    }
    Ok(())
}

/// No NUL byte: argv and environment strings become C strings for `execve`.
pub fn no_nul(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain a NUL byte".into());
    }
    Ok(())
}

/// One line of text: no control characters (NUL, newline, escape, DEL ...).
pub fn text_line(text: &str) -> Result<(), String> {
    no_nul(text)?;
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An environment variable's name: set, no `=` (it would end the name), no control
/// characters. Kubernetes allows any other printable character since 1.30.
pub fn env_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("must not be empty".into());
    }
    if key.contains('=') {
        return Err("must not contain '='".into());
    }
    text_line(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        let label63 = "a".repeat(63);
        let fqdn64 = format!("{}.{}", "a".repeat(31), "b".repeat(32));
        for ok in [
            "web-0",
            "Node1",
            "a",
            "0abc",
            label63.as_str(),
            "web-0.svc.cluster.local",
            fqdn64.as_str(),
        ] {
            assert_eq!(hostname(ok), Ok(()), "{ok:?}");
        }
        let label64 = "a".repeat(64);
        let fqdn65 = format!("{}.{}", "a".repeat(32), "b".repeat(32));
        let long = "h".repeat(300);
        for bad in [
            "web\n127.0.0.1 evil",
            "web 0",
            "-web",
            "web-",
            "a..b",
            "a.",
            ".a",
            "web_0",
            "web\0",
            "wéb",
            label64.as_str(),
            fqdn65.as_str(),
            long.as_str(),
        ] {
            assert!(hostname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_and_text() {
        assert_eq!(object_name("web-0"), Ok(()));
        assert_eq!(object_name("any name: 9"), Ok(()));
        for bad in ["", "a\0b", "a\nb", "a\u{7f}"] {
            assert!(object_name(bad).is_err(), "{bad:?}");
        }
        assert!(object_name(&"n".repeat(254)).is_err());
        assert_eq!(no_nul("line\nbreak is fine in argv"), Ok(()));
        assert!(no_nul("a\0").is_err());
        assert!(text_line("a\tb").is_err());
    }

    #[test]
    fn env_keys() {
        for ok in ["PATH", "my.var", "a-b", "_X1"] {
            assert_eq!(env_key(ok), Ok(()), "{ok:?}");
        }
        for bad in ["", "A=B", "A\0", "A\nB"] {
            assert!(env_key(bad).is_err(), "{bad:?}");
        }
    }
}
