//! Names and text from a request: object names, the pod's hostname, argv and environment.

/// Kubernetes' longest object name (a DNS-1123 subdomain); pod namespaces and UIDs are
/// shorter still.
const NAME_MAX: usize = 253;
/// Linux's `HOST_NAME_MAX`: the UTS hostname holds at most 64 bytes.
const HOST_NAME_MAX: usize = 64;
/// Longest DNS label (RFC 1035).
const LABEL_MAX: usize = 63;

/// Why a name or a line of text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameRefusal {
    /// An object name is empty: the kubelet always sets one.
    #[error("is required")]
    Required,
    /// An environment variable's name is empty.
    #[error("must not be empty")]
    Empty,
    /// An object name is longer than Kubernetes allows.
    #[error("is longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
        /// The value's length, in bytes.
        len: usize,
    },
    /// A value passed in `CNI_ARGS` holds a character its parser splits on.
    #[error("must not contain ';', '=' or whitespace (it is passed in CNI_ARGS)")]
    CniArg,
    /// A hostname longer than the UTS namespace holds.
    #[error("is longer than {max} bytes (the kernel's HOST_NAME_MAX)")]
    HostnameTooLong {
        /// The limit, in bytes.
        max: usize,
        /// The hostname's length, in bytes.
        len: usize,
    },
    /// A hostname with a label that is not an RFC 1123 label.
    #[error("is not an RFC 1123 hostname: {0}")]
    NotHostname(#[source] LabelRefusal),
    /// A NUL byte, which would cut a C string short.
    #[error("must not contain a NUL byte")]
    Nul,
    /// A control character (newline, escape, DEL ...).
    #[error("must not contain control characters")]
    Control,
    /// An `=` in an environment variable's name, which would end the name.
    #[error("must not contain '='")]
    EqualsInKey,
}

/// Why one label of a hostname is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelRefusal {
    /// Two dots in a row, or a dot at either end.
    #[error("a label is empty")]
    Empty,
    /// Longer than a DNS label may be.
    #[error("a label is longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// A character other than an ASCII letter, a digit or `-`.
    #[error("a label holds only letters, digits and '-'")]
    Characters,
    /// A `-` at the start or the end.
    #[error("a label must not start or end with '-'")]
    EdgeDash,
}

/// A pod's name, namespace or UID, or a container's name: set, at most 253 bytes, no
/// control characters (they end up in logs, records and the kubelet's status).
pub fn object_name(name: &str) -> Result<(), NameRefusal> {
    if name.is_empty() {
        return Err(NameRefusal::Required);
    }
    if name.len() > NAME_MAX {
        return Err(NameRefusal::TooLong {
            max: NAME_MAX,
            len: name.len(),
        });
    }
    text_line(name)
}

/// A value that becomes one `KEY=VALUE` of `CNI_ARGS`: no `;` (the pair separator), `=` or
/// whitespace, which the CNI plugins' parser refuses ("invalid pair").
pub fn cni_arg(value: &str) -> Result<(), NameRefusal> {
    if value
        .chars()
        .any(|c| c == ';' || c == '=' || c.is_whitespace())
    {
        return Err(NameRefusal::CniArg);
    }
    Ok(())
}

/// The pod's hostname, RFC 1123: dot-separated labels of letters, digits and inner dashes,
/// each at most 63 bytes, 64 in all (`HOST_NAME_MAX`). The kubelet sends a DNS-1123 label,
/// or a FQDN with `setHostnameAsFQDN` (and refuses one longer than 64 itself). Whatever
/// passes cannot add a line to `/etc/hosts` or `/etc/hostname`.
pub fn hostname(name: &str) -> Result<(), NameRefusal> {
    if name.len() > HOST_NAME_MAX {
        return Err(NameRefusal::HostnameTooLong {
            max: HOST_NAME_MAX,
            len: name.len(),
        });
    }
    for label in name.split('.') {
        dns_label(label).map_err(NameRefusal::NotHostname)?;
    }
    Ok(())
}

/// One DNS label: 1 to 63 letters, digits or dashes, not starting or ending with a dash.
fn dns_label(label: &str) -> Result<(), LabelRefusal> {
    if label.is_empty() {
        return Err(LabelRefusal::Empty);
    }
    if label.len() > LABEL_MAX {
        return Err(LabelRefusal::TooLong { max: LABEL_MAX });
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(LabelRefusal::Characters);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(LabelRefusal::EdgeDash);
    }
    Ok(())
}

/// No NUL byte: argv and environment strings become C strings for `execve`.
pub fn no_nul(text: &str) -> Result<(), NameRefusal> {
    if text.contains('\0') {
        return Err(NameRefusal::Nul);
    }
    Ok(())
}

/// One line of text: no control characters (NUL, newline, escape, DEL ...).
pub fn text_line(text: &str) -> Result<(), NameRefusal> {
    no_nul(text)?;
    if text.chars().any(char::is_control) {
        return Err(NameRefusal::Control);
    }
    Ok(())
}

/// An environment variable's name: set, no `=` (it would end the name), no control
/// characters. Kubernetes allows any other printable character since 1.30.
pub fn env_key(key: &str) -> Result<(), NameRefusal> {
    if key.is_empty() {
        return Err(NameRefusal::Empty);
    }
    if key.contains('=') {
        return Err(NameRefusal::EqualsInKey);
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
