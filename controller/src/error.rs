//! The controller's error type.

use thiserror::Error;

/// Result with the controller's error.
pub type Result<T, E = ControllerError> = std::result::Result<T, E>;

/// What went wrong in the controller.
#[derive(Debug, Error, Clone)]
pub enum ControllerError {
    /// Bad input; `field` names what was wrong.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field (dotted path).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A compare-and-swap lost, or an object is in use.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(String),
    /// A cloud call failed.
    #[error("cloud: {0}")]
    Cloud(#[from] strato_core::Error),
    /// The cloud's current state could not be read; nothing is decided on it.
    #[error("cloud state unknown: {0}")]
    Unknown(String),
    /// A pool ran out of addresses, or similar.
    #[error("exhausted: {0}")]
    Exhausted(String),
    /// Configuration problem.
    #[error("config: {0}")]
    Config(String),
}

impl ControllerError {
    /// An invalid-input error naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The field, for invalid input.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Short stable name for metrics and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Store(_) => "store",
            Self::Cloud(_) => "cloud",
            Self::Unknown(_) => "unknown",
            Self::Exhausted(_) => "exhausted",
            Self::Config(_) => "config",
        }
    }
}

impl From<strato_agent::protocol::InvalidField> for ControllerError {
    fn from(e: strato_agent::protocol::InvalidField) -> Self {
        Self::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// The agent's errors, as the controller's: a refused credential is a configuration error.
impl From<strato_agent::AgentError> for ControllerError {
    fn from(e: strato_agent::AgentError) -> Self {
        use strato_agent::AgentError as A;
        match e {
            A::Refused(m) => Self::Config(m),
            A::NotFound(m) => Self::NotFound(m),
            A::Unavailable(m) => Self::Unknown(format!("agent http: {m}")),
        }
    }
}

/// The controller's errors as an agent sees them (an in-process agent's reports).
impl From<ControllerError> for strato_agent::AgentError {
    fn from(e: ControllerError) -> Self {
        match e {
            ControllerError::NotFound(m) => Self::NotFound(m),
            e => Self::Unavailable(e.to_string()),
        }
    }
}
