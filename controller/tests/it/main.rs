//! All of this crate's integration tests, in one binary: each test binary links the whole
//! dependency tree (cloud SDKs included), so one binary per crate keeps the build's disk and
//! link time small.

mod analytics;
mod api;
mod browser;
mod common;
mod console;
mod demo;
mod e2e;
mod eval;
mod faults;
mod memory_agents;
mod networks;
mod predict;
mod quorum;
mod real_traffic;
mod rebalance;
mod run;
mod se_bootstrap;
mod server_health;
mod standby;
mod state;
