//! What Kubernetes does natively, as strato's [`Capabilities`].

use crate::config::{KubernetesConfig, Multus};
use strato_core::{Capabilities, GroupSupport, RateLimits, VipSupport};

/// Most NICs a pod gets here: eth0 plus up to 7 Multus attachments (a limit of this connector,
/// not of Multus, so a runaway attach loop cannot grow an annotation without bound).
pub const MAX_NICS: u32 = 8;

/// Page size of lists (the API server has no hard limit; 500 is client-go's pager default).
pub const MAX_PAGE: u32 = 500;

/// The capabilities of a cluster with these settings. Networks and NICs need the Multus CRD:
/// whether a cluster serves it is only known once connected, and a connected
/// [`KubernetesConnector`](crate::KubernetesConnector) holds its settings with `multus` resolved
/// to what discovery found (`required` or `disabled`). Unconnected settings with
/// `multus = "auto"` answer as without Multus, the capabilities every cluster has.
pub fn capabilities(config: &KubernetesConfig) -> Capabilities {
    let multus = config.multus == Multus::Required;
    Capabilities {
        // A pod cannot be stopped and started again; it can only be deleted.
        vm_stop_start: false,
        size_shape: true,
        // No instance types: sizes are CPU/memory requests and limits.
        size_native: false,
        network_create: multus,
        // Multus reads the networks annotation only when the pod sandbox is created.
        hot_nic_attach: false,
        nic_attach: multus,
        nic_attach_replaces_vm: true,
        max_nics_per_vm: if multus { MAX_NICS } else { 1 },
        // Multus could name several networks in the pod's annotation at create; not wired yet.
        nics_at_create: false,
        // A Secret made with the pod and mounted into it (see `bootstrap.rs`).
        bootstrap_max_bytes: crate::bootstrap::BOOTSTRAP_MAX_BYTES,
        vip: VipSupport::Cloud,
        vip_move: true,
        // Whether a LoadBalancer address is public depends on the cluster's LB controller.
        vip_public: false,
        group: GroupSupport::Native,
        max_batch_create: 1,
        max_batch_delete: 1,
        // Names are unique per namespace: a repeated create answers 409 and the connector
        // compares the token label.
        native_client_token: false,
        // Reads go to etcd through the API server (quorum reads): a created object is visible.
        eventually_consistent: false,
        max_page_size: MAX_PAGE,
        // Hosts are nodes; a pinned pod gets `spec.nodeName` (bypassing the scheduler, as
        // DaemonSets did before Kubernetes 1.12).
        host_pinning: true,
        // kubectl's client-side limits since Kubernetes 1.27 (QPS 50, burst 300); the server
        // protects itself with API Priority and Fairness and answers 429 with Retry-After.
        rate_limits: RateLimits {
            mutating_per_sec: 50.0,
            mutating_burst: 300,
            read_per_sec: 50.0,
            read_burst: 300,
            vm_creates_per_sec: 0.0,
            vm_create_burst: 0,
        },
    }
}
