//! What Compute Engine does natively.

use crate::config::GcpConfig;
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// Compute's default API rate quotas per project ("Rate quotas",
/// <https://cloud.google.com/compute/api-quota>): 1,500 read and 1,500 write (mutating) requests
/// per minute per region by default (25/s each), in one-minute windows; instances created by
/// one bulkInsert count as one request. A profile overrides these in
/// `[profiles.X.rate_limit]`.
const RATE_LIMITS: RateLimits = RateLimits {
    mutating_per_sec: 25.0,
    mutating_burst: 100,
    read_per_sec: 25.0,
    read_burst: 100,
    vm_creates_per_sec: 25.0,
    vm_create_burst: 1000,
};

/// A metadata value (`user-data`) is at most 256 KiB
/// (<https://cloud.google.com/compute/docs/metadata/setting-custom-metadata#limitations>).
pub const USER_DATA_MAX_BYTES: u32 = 256 * 1024;

/// The capabilities of a `gcp` connector with these settings: batches are the profile's
/// `batch_size`.
pub fn capabilities(config: &GcpConfig) -> Capabilities {
    Capabilities {
        vm_stop_start: true,
        size_shape: true,
        size_native: true,
        network_create: true,
        // NICs are set when an instance is created (see `nics.rs`).
        hot_nic_attach: false,
        nic_attach: false,
        nic_attach_replaces_vm: false,
        // Instances with at most 2 vCPUs (every E2 type a small shape maps to) take 2 NICs,
        // larger ones one per vCPU up to 8; each NIC in its own VPC network.
        max_nics_per_vm: 2,
        // insert takes every network interface of the instance.
        nics_at_create: true,
        bootstrap_max_bytes: USER_DATA_MAX_BYTES,
        vip: VipSupport::Cloud,
        vip_move: true,
        vip_public: false,
        group: GroupSupport::Tagged,
        max_batch_create: config.batch_size(),
        max_batch_delete: 1,
        native_client_token: true,
        eventually_consistent: false,
        max_page_size: crate::vms::MAX_PAGE,
        host_pinning: false,
        rate_limits: RATE_LIMITS,
    }
}
