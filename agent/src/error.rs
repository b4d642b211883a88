//! What can go wrong between an agent and its controllers.

use std::fmt;

/// Why an agent's exchange with its controllers failed. No variant ever holds the SE's
/// credential: messages name URLs and statuses only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentError {
    /// The controller refused this agent's credential (revoked, or another SE's): retrying
    /// will not help, the agent's settings are wrong.
    Refused(String),
    /// The controller does not know this SE.
    NotFound(String),
    /// No controller answered usefully (connection errors, standbys only, odd statuses).
    Unavailable(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(m) => write!(f, "credential refused: {m}"),
            Self::NotFound(m) => write!(f, "{m} not found"),
            Self::Unavailable(m) => write!(f, "no controller available: {m}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// A secret string (the SE's credential) whose `Debug` never shows it; reading it is always
/// the explicit [`Credential::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The credential itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
