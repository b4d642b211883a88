//! All of this crate's integration tests, in one binary: each test binary links the whole
//! dependency tree (cloud SDKs included), so one binary per crate keeps the build's disk and
//! link time small.

mod commands;
mod common;
mod errors;
mod ha;
#[cfg(feature = "aws")]
mod moto;
