//! End-to-end tests of strato's controller on real connectors against their backends.
//!
//! The tests live in `tests/`:
//! - `aws_moto.rs`: the real controller (`strato-controller`) on the real AWS connector
//!   (`strato-aws`, on aws-sdk-ec2) against moto, with simulated agents: a virtual service gets
//!   SEs (tagged EC2 instances), a cloud VIP (a secondary private IP on the primary's ENI)
//!   answered by DNS, and agent configurations; load scales the group out and, after the
//!   window, back in; a dead SE is replaced after its VIP moved; a restart mid-scale (same
//!   store, then an empty one adopting by tags) makes no duplicate and leaks nothing; a VIP
//!   adopted from an earlier process ends up on the primary the new one chose; failed calls
//!   and lost answers make no duplicate either. Needs `STRATO_TEST_MOTO_URL` (`./scripts/test`).
//!
//! - `kubernetes_fake.rs`: one SE per node on the real Kubernetes connector against the
//!   in-process API fake (`strato-kube-fake`): an SE pod on each node with a VIP Service, DNS
//!   and agent configurations; a new node gets an SE and an image upgrade rolls node by node; a
//!   node that goes not-ready loses its SE after the VIP moved, and gets one back.
//!
//! The harness (controller with simulated agents, builders, waits, DNS query, test layers, moto
//! helpers) is `strato-testkit` (`tests/support/`), shared with the controller's own suite;
//! `tests/it/common/mod.rs` sets this suite's real-time pace, the AWS profile and its pool.
//! The memory-cloud versions of these scenarios are in `controller/tests/it/e2e.rs`.

#![deny(missing_docs)]
