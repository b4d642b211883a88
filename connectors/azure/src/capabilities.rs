//! What Azure Resource Manager does natively.

use crate::config::AzureConfig;
use crate::vms::MAX_PAGE;
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// ARM's request limits per subscription and region ("Understand how Azure Resource Manager
/// throttles requests", token buckets since 2024): writes 10 per second with a bucket of 200,
/// reads 25 per second with a bucket of 250. Compute's own per-API limits (a PUT of a VM counts
/// against `PutVM3Min` and `PutVM30Min`) are lower for bursts of creates; the 429s they answer
/// carry Retry-After, which the retry layer honours.
const RATE_LIMITS: RateLimits = RateLimits {
    mutating_per_sec: 10.0,
    mutating_burst: 200,
    read_per_sec: 25.0,
    read_burst: 250,
    vm_creates_per_sec: 0.0,
    vm_create_burst: 0,
};

/// `userData` is at most 64 KiB as sent, base64 text, so 48 KiB of document
/// (<https://learn.microsoft.com/azure/virtual-machines/user-data>).
pub const USER_DATA_MAX_BYTES: u32 = 64 * 1024 / 4 * 3;

/// The capabilities of an `azure` connector.
pub fn capabilities(_config: &AzureConfig) -> Capabilities {
    Capabilities {
        vm_stop_start: true,
        size_shape: true,
        size_native: true,
        network_create: true,
        // Azure adds or removes a NIC only while the VM is deallocated.
        hot_nic_attach: false,
        nic_attach: true,
        nic_attach_replaces_vm: false,
        // The smallest sizes shapes map to (B1ls, B1s, B2s) take 2 NICs.
        max_nics_per_vm: 2,
        // The VM's PUT names every NIC, made just before it.
        nics_at_create: true,
        bootstrap_max_bytes: USER_DATA_MAX_BYTES,
        vip: VipSupport::Cloud,
        vip_move: true,
        vip_public: false,
        group: GroupSupport::Tagged,
        max_batch_create: 1,
        max_batch_delete: 1,
        // A VM's ARM name is derived from the client token, and a PUT by name is idempotent.
        native_client_token: true,
        eventually_consistent: false,
        host_pinning: false,
        max_page_size: MAX_PAGE,
        rate_limits: RATE_LIMITS,
    }
}
