//! The single-use tokens of the streaming URLs: `Exec`, `Attach` and `PortForward` store
//! their checked request under a random token and answer a URL naming it; the client's one
//! connection to that URL takes the request out. An unused token expires after
//! [`TOKEN_TTL`]; a taken or expired one is unknown (404). At most [`MAX_IN_FLIGHT`] wait at
//! once (the kubelet's limit), so a client that asks and never connects cannot grow memory.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Target;

/// How long an unused URL stays valid (the kubelet's, containerd's and CRI-O's minute).
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Most URLs handed out and not yet used.
pub const MAX_IN_FLIGHT: usize = 1000;

/// Why no token was made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// [`MAX_IN_FLIGHT`] URLs wait for their client already.
    #[error("too many streaming requests in flight ({MAX_IN_FLIGHT} unused URLs); retry later")]
    Full,
    /// The node's random source failed.
    #[error("cannot read /dev/urandom for a streaming token: {0}")]
    Entropy(#[source] std::io::Error),
}

/// The requests waiting for their client, by token.
#[derive(Debug, Default)]
pub struct Tokens {
    waiting: Mutex<HashMap<String, (Target, Instant)>>,
}

impl Tokens {
    /// Stores `target` and answers its new token (32 random bytes, URL-safe hex).
    pub fn insert(&self, target: Target) -> Result<String, TokenError> {
        self.insert_at(target, Instant::now())
    }

    /// Takes the request stored under `token`, if it is there and has not expired.
    pub fn take(&self, token: &str) -> Option<Target> {
        self.take_at(token, Instant::now())
    }

    fn insert_at(&self, target: Target, now: Instant) -> Result<String, TokenError> {
        let token = random_token()?;
        let mut waiting = self.waiting.lock().expect("tokens");
        waiting.retain(|_, (_, made)| now.duration_since(*made) < TOKEN_TTL);
        if waiting.len() >= MAX_IN_FLIGHT {
            return Err(TokenError::Full);
        }
        waiting.insert(token.clone(), (target, now));
        Ok(token)
    }

    fn take_at(&self, token: &str, now: Instant) -> Option<Target> {
        let (target, made) = self.waiting.lock().expect("tokens").remove(token)?;
        (now.duration_since(made) < TOKEN_TTL).then_some(target)
    }
}

fn random_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(TokenError::Entropy)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(id: &str) -> Target {
        Target::PortForward { pod: id.to_owned() }
    }

    #[test]
    fn a_token_is_used_once() {
        let tokens = Tokens::default();
        let t = tokens.insert(pod("p")).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(tokens.take(&t), Some(pod("p")));
        assert_eq!(tokens.take(&t), None);
        assert_eq!(tokens.take("nonsense"), None);
    }

    #[test]
    fn an_unused_token_expires_after_a_minute() {
        let tokens = Tokens::default();
        let start = Instant::now();
        let t = tokens.insert_at(pod("p"), start).unwrap();
        assert_eq!(
            tokens.take_at(&t, start + TOKEN_TTL + Duration::from_secs(1)),
            None
        );
        let u = tokens.insert_at(pod("q"), start).unwrap();
        assert_eq!(
            tokens.take_at(&u, start + Duration::from_secs(59)),
            Some(pod("q"))
        );
    }

    #[test]
    fn too_many_waiting_tokens_are_refused_until_they_expire() {
        let tokens = Tokens::default();
        let start = Instant::now();
        for _ in 0..MAX_IN_FLIGHT {
            tokens.insert_at(pod("p"), start).unwrap();
        }
        assert!(matches!(
            tokens.insert_at(pod("p"), start),
            Err(TokenError::Full)
        ));
        assert!(tokens.insert_at(pod("p"), start + TOKEN_TTL).is_ok());
    }
}
