//! The agent against a real HAProxy (fixtures/haproxy) and a stub of the controller's agent
//! endpoints.

mod binary;
mod common;
mod haproxy;
mod transport;
mod vip;
