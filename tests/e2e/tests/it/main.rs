//! All of this crate's integration tests, in one binary: each test binary links the whole
//! dependency tree (cloud SDKs included), so one binary per crate keeps the build's disk and
//! link time small.

mod aws_moto;
mod aws_networks;
mod azure_fake;
mod common;
mod gcp_fake;
mod kubernetes_fake;
mod vsphere_vcsim;
