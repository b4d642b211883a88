//! vim25 faults and transport failures mapped to strato's [`ErrorKind`], in one place.

use crate::CLOUD;
use crate::soap::{Fault, ParseError};
use std::fmt;
use strato_core::{Error, ErrorKind, Operation};

/// What went wrong with one vim25 call, before it is given a strato meaning.
#[derive(Clone, Debug)]
pub enum CallError {
    /// The server answered with a SOAP fault (or a task ended in error).
    Fault(Box<Fault>),
    /// An HTTP status without a SOAP fault body.
    Http {
        /// Status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// No answer: connection refused or reset, TLS failure, timeout.
    Transport {
        /// What reqwest said.
        message: String,
        /// True when the request timed out (its effect is unknown).
        timeout: bool,
    },
    /// The server's TLS certificate is not trusted (a setting to fix, not a passing failure).
    Tls {
        /// What rustls said.
        message: String,
    },
    /// An answer strato cannot read.
    Parse(String),
    /// A task did not finish before the deadline.
    TaskTimeout {
        /// The task.
        task: String,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Fault(x) => write!(f, "{}: {}", x.code, x.message),
            CallError::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            CallError::Transport { message, .. } => write!(f, "{message}"),
            CallError::Tls { message } => write!(
                f,
                "{message} (trust the vCenter's CA with `ca_file`, or set `insecure = true` in a lab)"
            ),
            CallError::Parse(m) => write!(f, "{m}"),
            CallError::TaskTimeout { task, waited } => {
                write!(f, "task {task} not done after {waited:?}")
            }
        }
    }
}

impl From<ParseError> for CallError {
    fn from(e: ParseError) -> Self {
        CallError::Parse(e.0)
    }
}

impl CallError {
    /// The vim25 fault type, for faults.
    pub fn fault_code(&self) -> Option<&str> {
        match self {
            CallError::Fault(f) => Some(&f.code),
            _ => None,
        }
    }

    /// True for `NotAuthenticated` (the session expired: log in again and retry once).
    pub fn is_not_authenticated(&self) -> bool {
        self.fault_code() == Some("NotAuthenticated")
    }

    /// True for `ManagedObjectNotFound`: the object was deleted (or never existed), which a
    /// delete takes as done and a read as `NotFound`.
    pub fn is_gone(&self) -> bool {
        self.fault_code() == Some("ManagedObjectNotFound")
    }

    /// True for `DuplicateName`: another client (another strato process) made an object of
    /// that name meanwhile.
    pub fn is_duplicate_name(&self) -> bool {
        self.fault_code() == Some("DuplicateName")
    }

    /// True for `InvalidPowerState`: the VM is already in (or moving to) the power state asked
    /// for.
    pub fn is_invalid_power_state(&self) -> bool {
        self.fault_code() == Some("InvalidPowerState")
    }
}

/// The strato kind of a vim25 fault type. Faults not listed are `Internal` unless their name
/// says otherwise; the vendor code keeps the exact type either way.
pub fn kind_of_fault(code: &str) -> ErrorKind {
    match code {
        "InvalidLogin" | "NotAuthenticated" | "InvalidLocale" | "NoClientCertificate" => {
            ErrorKind::Unauthenticated
        }
        "NoPermission" | "RestrictedVersion" | "RestrictedByAdministrator" => {
            ErrorKind::PermissionDenied
        }
        "ManagedObjectNotFound" | "NotFound" | "FileNotFound" => ErrorKind::NotFound,
        "DuplicateName" | "AlreadyExists" | "FileAlreadyExists" => ErrorKind::AlreadyExists,
        "InsufficientResourcesFault"
        | "InsufficientMemoryResourcesFault"
        | "InsufficientCpuResourcesFault"
        | "InsufficientHostCapacityFault"
        | "InsufficientStorageSpace"
        | "InsufficientDisks"
        | "OutOfBounds"
        | "NumVirtualCpusExceedsLimit" => ErrorKind::NoCapacity,
        "InvalidState"
        | "InvalidPowerState"
        | "InvalidHostState"
        | "TaskInProgress"
        | "ConcurrentAccess"
        | "InvalidDatastoreState"
        | "VmConfigIncompatibleForFaultTolerance" => ErrorKind::Conflict,
        "InvalidArgument"
        | "InvalidRequest"
        | "InvalidType"
        | "InvalidName"
        | "InvalidDeviceSpec"
        | "InvalidPropertyValue"
        | "InvalidProperty"
        | "InvalidDatastorePath"
        | "NotSupportedHostForVmcp" => ErrorKind::InvalidSpec,
        "NotSupported" | "NotImplemented" => ErrorKind::Unsupported,
        "HostCommunication" | "HostNotConnected" | "HostNotReachable" | "SystemError"
        | "RequestCanceled" | "Timedout" => ErrorKind::Transient,
        c if c.starts_with("Insufficient") => ErrorKind::NoCapacity,
        c if c.starts_with("Invalid") && c.ends_with("State") => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    }
}

/// The strato error of a failed call. The vim25 code and message stay in the vendor part.
pub fn map(op: Operation, e: CallError) -> Error {
    let (kind, code, message) = match &e {
        CallError::Fault(f) => (kind_of_fault(&f.code), f.code.clone(), f.message.clone()),
        CallError::Http { status, body } => {
            let kind = match status {
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::PermissionDenied,
                404 => ErrorKind::NotFound,
                429 => ErrorKind::Throttled { retry_after: None },
                500..=599 => ErrorKind::Transient,
                _ => ErrorKind::Internal,
            };
            (kind, format!("HTTP {status}"), body.clone())
        }
        CallError::Transport { message, timeout } => {
            let kind = if *timeout {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            (kind, "transport".to_owned(), message.clone())
        }
        CallError::Tls { message } => (ErrorKind::InvalidSpec, "tls".to_owned(), message.clone()),
        CallError::Parse(m) => (
            ErrorKind::Internal,
            "unreadable-answer".to_owned(),
            m.clone(),
        ),
        CallError::TaskTimeout { task, waited } => (
            ErrorKind::Timeout,
            "task-timeout".to_owned(),
            format!("task {task} not done after {waited:?}"),
        ),
    };
    let text = match &e {
        CallError::Fault(f) => format!("vCenter refused the call: {}", f.message),
        other => format!("vCenter call failed: {other}"),
    };
    let mut err = Error::new(kind, op, text)
        .with_cloud(CLOUD)
        .with_vendor(code, message, None);
    if matches!(e, CallError::Tls { .. }) {
        err = err.with_field("ca_file");
    }
    if let CallError::Fault(f) = &e
        && let Some(obj) = f.detail.as_ref().and_then(|d| d.child("obj"))
    {
        err = err.with_resource(&obj.text);
    }
    err
}

/// An `InvalidSpec` error of `op` naming the spec's `field`.
pub(crate) fn invalid(op: Operation, field: &str, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSpec, op, msg)
        .with_field(field)
        .with_cloud(CLOUD)
}

/// Shorthand for `map_err(|e| map(op, e))`.
pub trait MapCall<T> {
    /// Maps a call error to a strato error of `op`.
    fn op(self, op: Operation) -> strato_core::Result<T>;
}

impl<T> MapCall<T> for Result<T, CallError> {
    fn op(self, op: Operation) -> strato_core::Result<T> {
        self.map_err(|e| map(op, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../fixtures/vcsim/faults/{name}.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn fault(name: &str) -> Fault {
        soap::decode(&fixture(name)).unwrap().unwrap_err()
    }

    #[test]
    fn recorded_faults_map_to_kinds() {
        let cases = [
            ("invalid-login", "InvalidLogin", ErrorKind::Unauthenticated),
            (
                "not-authenticated",
                "NotAuthenticated",
                ErrorKind::Unauthenticated,
            ),
            ("no-permission", "NoPermission", ErrorKind::PermissionDenied),
            (
                "managed-object-not-found",
                "ManagedObjectNotFound",
                ErrorKind::NotFound,
            ),
            ("duplicate-name", "DuplicateName", ErrorKind::AlreadyExists),
            (
                "insufficient-resources",
                "InsufficientResourcesFault",
                ErrorKind::NoCapacity,
            ),
            (
                "invalid-power-state",
                "InvalidPowerState",
                ErrorKind::Conflict,
            ),
            ("invalid-state", "InvalidState", ErrorKind::Conflict),
        ];
        for (file, code, kind) in cases {
            let f = fault(file);
            assert_eq!(f.code, code, "{file}");
            let e = map(Operation::CreateVm, CallError::Fault(Box::new(f.clone())));
            assert_eq!(e.kind(), &kind, "{file}");
            assert_eq!(e.cloud(), Some(CLOUD));
            let v = e.vendor().unwrap();
            assert_eq!(v.code, code);
            assert_eq!(v.message, f.message, "{file}: the server's message is kept");
        }
        let nf = map(
            Operation::GetVm,
            CallError::Fault(Box::new(fault("managed-object-not-found"))),
        );
        assert_eq!(nf.resource(), Some("vm-4242"));
    }

    #[test]
    fn task_errors_keep_their_localized_message() {
        let info = soap::parse(&fixture("task-error-duplicate-name")).unwrap();
        let err = info
            .path(&[
                "Body",
                "RetrievePropertiesExResponse",
                "returnval",
                "objects",
                "propSet",
                "val",
                "error",
            ])
            .unwrap();
        let f = soap::localized_fault(err);
        assert_eq!(f.code, "DuplicateName");
        let e = map(Operation::CreateVm, CallError::Fault(Box::new(f)));
        assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
        assert_eq!(
            e.vendor().unwrap().message,
            "The name 'strato-web-1' already exists."
        );
    }

    #[test]
    fn http_and_transport_failures() {
        let e = map(
            Operation::ListVms,
            CallError::Http {
                status: 503,
                body: "busy".into(),
            },
        );
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert!(e.is_retryable());
        let e = map(
            Operation::ListVms,
            CallError::Transport {
                message: "connection refused".into(),
                timeout: false,
            },
        );
        assert_eq!(e.kind(), &ErrorKind::Transient);
        let e = map(
            Operation::CreateVm,
            CallError::Transport {
                message: "timed out".into(),
                timeout: true,
            },
        );
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert_eq!(
            kind_of_fault("InsufficientMemoryResourcesFault"),
            ErrorKind::NoCapacity
        );
        assert_eq!(kind_of_fault("SomethingNew"), ErrorKind::Internal);
    }
}
