//! The control plane's secrets (the API's admin token, the SE agents' credentials) in a type
//! whose `Debug` never shows them, with the minting, hashing and comparison the API uses.
//!
//! An agent credential is 32 random bytes, hex; the controller keeps only its SHA-256 (in the
//! SE's record). A plain digest is enough: the credential has 256 bits of entropy, so there is
//! nothing to guess that a slow hash would protect.

use sha2::{Digest, Sha256};
use std::fmt;

/// A secret string. `Debug` prints `<redacted>`, and there is no `Display`: reading it is
/// always the explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// A new credential: 32 bytes from the thread's CSPRNG, hex (64 characters).
    pub fn mint() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(hex::encode(bytes))
    }

    /// The secret itself, to send or compare.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hex SHA-256 of the secret: what the controller stores instead of it.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.0)
    }

    /// True when `presented` is this secret, compared without an early exit.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// For command-line flags (clap parses through `FromStr`).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The hex SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Equality that takes the same time wherever the first difference is, so that the time of a
/// refusal does not tell an attacker how much of a guess was right. (The length is not
/// hidden: tokens and digests have public lengths.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-the-token");
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn minted_credentials_are_64_hex_digits_and_differ() {
        let (a, b) = (Secret::mint(), Secret::mint());
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a.sha256_hex().len(), 64);
        assert_ne!(a.sha256_hex(), a.expose());
        assert!(a.matches(a.expose()));
        assert!(!a.matches(b.expose()));
        assert!(!a.matches(&a.expose()[..63]));
    }
}
