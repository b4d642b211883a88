//! The SE agent. An SE image carries this crate's binary and nothing of a cloud SDK: it pulls
//! its configuration from the controller, drives the proxy, and reports load and health.
//!
//! [`protocol`] holds the messages it exchanges with the controller (the controller uses the
//! same types); [`bootstrap`] the first-boot document through which a new SE learns where its
//! controllers are; [`transport`] how it reaches them; [`run`] its loop, over a
//! [`DataPlane`]; [`haproxy`] the real data plane.

#![deny(missing_docs)]

pub mod bootstrap;
pub mod error;
pub mod haproxy;
pub mod protocol;
pub mod run;
pub mod transport;

pub use error::{AgentError, Credential};
pub use run::{DataPlane, run_agent};
pub use transport::{AgentTransport, HttpTransport};
