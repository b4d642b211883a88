//! What the simulated cloud does: everything, minus the features its settings disable.

use crate::config::{MemoryConfig, MemoryFeature};
use crate::world::{MAX_BATCH, MAX_NICS, MAX_PAGE};
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// The largest bootstrap document the simulated cloud takes: EC2's 16 KiB, the smallest limit
/// of the clouds strato runs on, so what works here fits everywhere.
pub const BOOTSTRAP_MAX_BYTES: u32 = 16 * 1024;

/// The capabilities of a memory cloud with these settings.
pub fn capabilities(settings: &MemoryConfig) -> Capabilities {
    let nic = settings.has(MemoryFeature::NicAttach);
    let vip = settings.has(MemoryFeature::Vip);
    let rate_limits = match settings.mutating_per_sec {
        None => RateLimits::UNLIMITED,
        Some(rate) => RateLimits {
            mutating_per_sec: rate,
            mutating_burst: settings.mutating_burst,
            ..RateLimits::UNLIMITED
        },
    };
    Capabilities {
        vm_stop_start: settings.has(MemoryFeature::StopStart),
        size_shape: true,
        size_native: true,
        network_create: settings.has(MemoryFeature::NetworkCreate),
        hot_nic_attach: nic,
        nic_attach: nic,
        nic_attach_replaces_vm: false,
        // NICs made with the VM need no attach, so the limit holds with attach disabled too.
        max_nics_per_vm: settings.max_nics.unwrap_or(MAX_NICS).min(MAX_NICS),
        nics_at_create: true,
        bootstrap_max_bytes: BOOTSTRAP_MAX_BYTES,
        vip: if vip {
            VipSupport::Cloud
        } else {
            VipSupport::None
        },
        vip_move: vip && settings.has(MemoryFeature::VipMove),
        vip_public: vip,
        group: if settings.has(MemoryFeature::Groups) {
            GroupSupport::Tagged
        } else {
            GroupSupport::None
        },
        host_pinning: settings.hosts > 0,
        max_batch_create: MAX_BATCH,
        max_batch_delete: MAX_BATCH,
        // The simulated cloud looks tokens up itself, in the same lock as the create.
        native_client_token: true,
        eventually_consistent: !settings.visibility_delay.is_zero(),
        max_page_size: MAX_PAGE,
        rate_limits,
    }
}
