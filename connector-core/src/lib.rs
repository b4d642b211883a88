//! strato's connector core: the [`CloudConnector`] trait every cloud implements, the typed model,
//! one error type, the capabilities each connector declares, and layers that wrap any connector
//! (retry, rate limit, timeout, observability, fault injection).
//!
//! No cloud SDK is a dependency of this crate.

#![deny(missing_docs)]

pub mod capability;
pub mod config;
mod connector;
pub mod error;
mod ext;
pub mod layers;
pub mod model;
pub mod registry;

pub use capability::{Capabilities, GroupSupport, RateLimits, VipSupport};
pub use connector::{CloudConnector, CloudInfo};
pub use error::{Error, ErrorKind, Operation, Result, RetryClass, VendorError};
pub use ext::{CloudConnectorExt, WaitOptions};
pub use model::*;

/// Re-exported so connectors implement the trait with the same macro version.
pub use async_trait::async_trait;
