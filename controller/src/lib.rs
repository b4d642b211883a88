//! strato's load-balancer controller.
//!
//! Service engines (SEs) are VMs on any cloud, made through one
//! [`strato_core::CloudConnector`]. The controller keeps SE groups at the size their load
//! needs, places virtual services on healthy SEs, binds and moves their VIPs, answers their
//! names over DNS, hands each SE agent its configuration, and replaces SEs that fail or run an
//! old image. See the crate README for the architecture, the configuration and the API.

#![deny(missing_docs)]

pub mod agent;
pub mod analytics;
pub mod api;
pub mod autoscale;
pub mod cli;
pub mod config;
pub mod console;
pub mod controller;
pub mod demo;
pub mod dns;
pub mod error;
pub mod eval;
pub mod fleet;
pub mod forecast;
pub mod leader;
pub mod model;
pub mod openapi;
pub mod runtime;
pub mod se_protocol;
pub mod secret;
pub mod standby;
pub mod state_metrics;
pub mod store;
pub mod tls;
pub mod trace;

pub use controller::{Controller, ControllerOptions, ControllerStatus};
pub use error::{ControllerError, Result};
