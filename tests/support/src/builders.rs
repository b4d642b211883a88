//! The desired-state values the suites apply: an SE group, a virtual service, an IPAM pool and
//! the DNS zone. What differs between suites (the cloud profile, the image, the pool's range)
//! is a parameter; a suite changes any other field on the returned value.

use std::time::Duration;
use strato_controller::model::*;
use strato_core::Size;

/// An elastic SE group on the profile `cloud` booting `image`: 2 vCPU / 4 GiB, 100 rps per SE
/// at a 50 % target (10 % tolerance), scaling in after a 60 s window.
pub fn group(cloud: &str, image: &str, name: &str, min: u32, max: u32) -> SeGroup {
    SeGroup {
        name: name.into(),
        cloud: cloud.into(),
        template: SeTemplate {
            size: Size::shape(2, 4096),
            image: image.into(),
            network: None,
        },
        min_ses: min,
        max_ses: max,
        capacity: SeCapacity {
            rps: 100.0,
            connections: 100_000,
        },
        ha: HaMode::Elastic { buffer: 0 },
        placement: Placement::default(),
        autoscale: AutoscalePolicy {
            predictive: None,
            target_utilisation: 0.5,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(60),
        },
        max_unavailable: 1,
        max_unhealthy: Share::default(),
        networks: Vec::new(),
    }
}

/// An HTTP service `name.apps.example.com` on port 80 of the group `group`, one server
/// (192.168.1.10:8080), on 1 to 10 SEs.
pub fn vs(name: &str, group: &str) -> VirtualService {
    VirtualService {
        name: name.into(),
        fqdn: format!("{name}.apps.example.com"),
        ports: vec![ServicePort {
            port: 80,
            protocol: Protocol::Http,
        }],
        servers: vec![Server {
            address: "192.168.1.10".parse().unwrap(),
            port: 8080,
            weight: 1,
        }],
        se_group: group.into(),
        min_ses: 1,
        max_ses: 10,
        vip: None,
        algorithm: Default::default(),
        network: None,
        server_networks: Vec::new(),
    }
}

/// The pool `vips` on the default network: `cidr` less the `reserved` ranges (first, last).
pub fn pool(cidr: &str, reserved: &[(&str, &str)]) -> IpamPool {
    IpamPool {
        name: "vips".into(),
        network: DEFAULT_NETWORK.into(),
        cidr: cidr.parse().expect("pool cidr"),
        reserved: reserved
            .iter()
            .map(|(start, end)| IpRange {
                start: start.parse().expect("reserved start"),
                end: end.parse().expect("reserved end"),
            })
            .collect(),
    }
}

/// The zone `apps.example.com` (where [`vs`] names its services), 20 s TTL.
pub fn zone() -> DnsZone {
    DnsZone {
        name: "apps.example.com".into(),
        ttl: 20,
    }
}
