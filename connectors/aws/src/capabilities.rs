//! What EC2 does natively.

use crate::config::AwsConfig;
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// Most items one Describe* call returns (MaxResults of DescribeInstances, DescribeSubnets,
/// DescribeNetworkInterfaces), and so the largest strato page.
pub(crate) const MAX_PAGE: u32 = 1000;

/// EC2 user data: 16 KiB, counted on the raw document before its base64 encoding
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html>).
pub const USER_DATA_MAX_BYTES: u32 = 16 * 1024;

/// EC2's default per-account, per-region API throttling ("Request throttling for the Amazon EC2
/// API", <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>, token buckets):
/// - mutating actions (Create*, Modify*, Assign*, ...): bucket 200 tokens, refill 5 per second;
/// - non-mutating actions (Describe*): bucket 100, refill 20 per second;
/// - RunInstances resource tokens (one per instance launched): bucket 1,000, refill 2 per
///   second (TerminateInstances: 1,000 / 20 per second, so deletes are never the bottleneck).
///
/// Accounts can have raised limits; a profile overrides these in `[profiles.X.rate_limit]`.
const RATE_LIMITS: RateLimits = RateLimits {
    mutating_per_sec: 5.0,
    mutating_burst: 200,
    read_per_sec: 20.0,
    read_burst: 100,
    vm_creates_per_sec: 2.0,
    vm_create_burst: 1000,
};

/// The capabilities of an `aws` connector with these settings: batches are the profile's
/// `batch_size`.
pub fn capabilities(config: &AwsConfig) -> Capabilities {
    Capabilities {
        vm_stop_start: true,
        size_shape: true,
        size_native: true,
        network_create: true,
        hot_nic_attach: true,
        nic_attach: true,
        nic_attach_replaces_vm: false,
        // The smallest types shapes map to (t3.nano, t3.micro) take 2 ENIs; larger types take up to
        // 15 (see `sizes::TABLE`), and EC2 answers AttachmentLimitExceeded (QuotaExceeded) beyond.
        max_nics_per_vm: 2,
        // RunInstances takes every ENI of the instance (NetworkInterfaces, DeviceIndex 0..n).
        nics_at_create: true,
        bootstrap_max_bytes: USER_DATA_MAX_BYTES,
        vip: VipSupport::Cloud,
        vip_move: true,
        vip_public: true,
        group: GroupSupport::Tagged,
        max_batch_create: config.batch_size(),
        max_batch_delete: config.batch_size(),
        native_client_token: true,
        eventually_consistent: true,
        // EC2 places instances itself (see `hosts.rs`).
        host_pinning: false,
        max_page_size: MAX_PAGE,
        rate_limits: RATE_LIMITS,
    }
}
