//! The SE agent. An SE image carries this crate's binary and nothing of a cloud SDK: it pulls
//! its configuration from the controller, drives the proxy, and reports load and health.
//!
//! [`protocol`] holds the messages it exchanges with the controller (the controller uses the
//! same types); [`bootstrap`] the first-boot document through which a new SE learns where its
//! controllers are.

#![deny(missing_docs)]

pub mod bootstrap;
pub mod protocol;
