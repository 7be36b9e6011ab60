//! Sandbox and container IDs (and exec tags): 64 hex digits from the kernel's CSPRNG, the
//! shape containerd and CRI-O use, so tools that expect it keep working.

use std::io::Read;

/// The kernel's random source could not be read: a fault of the node, never of the request.
#[derive(Debug, thiserror::Error)]
#[error("cannot read /dev/urandom for a new ID: {0}")]
pub struct EntropyError(#[source] pub std::io::Error);

/// A fresh ID: 64 hex digits.
pub fn new_id() -> Result<String, EntropyError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(EntropyError)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let (a, b) = (super::new_id().unwrap(), super::new_id().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
