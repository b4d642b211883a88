//! Settings of the simulated cloud, as read from a `kind = "memory"` profile.

use crate::error::bad_setting;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use strato_core::Error;

/// A feature the simulated cloud can be told to lack, so callers (and the conformance suite)
/// can exercise the `Unsupported` paths of a cloud that does not have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryFeature {
    /// `stop_vm` / `start_vm` (like a pod).
    StopStart,
    /// `create_network` / `delete_network` (like a cloud with fixed networks).
    NetworkCreate,
    /// `attach_nic` / `detach_nic`.
    NicAttach,
    /// VIPs altogether.
    Vip,
    /// `move_vip` only.
    VipMove,
    /// Groups (`scale_group` / `get_group`).
    Groups,
}

/// How the simulated cloud behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Keep the cloud in this JSON file so successive processes (CLI invocations) share it.
    /// `None` keeps it in this process only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
    /// How long a VM stays `pending` after it is created or started.
    #[serde(with = "humantime_serde")]
    pub boot_latency: Duration,
    /// Boot times spread over `boot_latency * (1 ± boot_jitter)`, each VM's fixed by its id
    /// (a real cloud's boots vary; the autoscaling replays need the spread). Zero for none.
    pub boot_jitter: f64,
    /// How long a new VM stays invisible to reads (`NotYetVisible` from get, absent from lists),
    /// like EC2's eventual consistency. Zero for none.
    #[serde(with = "humantime_serde")]
    pub visibility_delay: Duration,
    /// Most VMs strato may have in the account (all owners together); `None` for no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_vms: Option<u32>,
    /// Most networks strato may create in the account (all owners together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_networks: Option<u32>,
    /// Mutating calls per second before the cloud answers `Throttled`; `None` for no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutating_per_sec: Option<f64>,
    /// Burst of mutating calls allowed above `mutating_per_sec`.
    pub mutating_burst: u32,
    /// Account name reported in [`strato_core::CloudInfo`].
    pub account: String,
    /// Region name reported in [`strato_core::CloudInfo`].
    pub region: String,
    /// Features this cloud pretends not to have.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub disable: BTreeSet<MemoryFeature>,
    /// Simulated hosts VMs run on (`host-1`, `host-2`, ...); VMs can be pinned to one. Zero:
    /// the cloud shows no hosts, like EC2.
    pub hosts: u32,
    /// The CIDR of the `default` network, when the account is made (10.0.0.0/16 when absent).
    /// A range of 127.0.0.0/8 puts every VM and VIP on its own loopback address, where local
    /// processes can serve them (the controller's process mode of SE agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_cidr: Option<ipnet::IpNet>,
    /// Most NICs a VM may have, the primary included (1 to 8; `None`: 8), to show what a
    /// caller does on a cloud with a lower limit (GCP's 2-vCPU VMs take 2, small EC2 types 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_nics: Option<u32>,
}

impl MemoryConfig {
    /// How long the VM `id` stays `pending` after a start: `boot_latency`, spread by
    /// `boot_jitter` with a factor fixed by the id (hashed), so every read agrees.
    pub fn boot_of(&self, id: &str) -> Duration {
        if self.boot_jitter <= 0.0 {
            return self.boot_latency;
        }
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        // FNV's high bits barely move between ids that differ in their last characters: a
        // splitmix64 finaliser spreads them.
        let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let h = h ^ (h >> 31);
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        self.boot_latency
            .mul_f64(1.0 + self.boot_jitter.min(0.99) * (2.0 * u - 1.0))
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            state_file: None,
            // Small but not zero, so callers see `pending` and must wait like on a real cloud.
            boot_latency: Duration::from_millis(500),
            boot_jitter: 0.0,
            visibility_delay: Duration::ZERO,
            quota_vms: None,
            quota_networks: None,
            mutating_per_sec: None,
            mutating_burst: 10,
            account: "memory".into(),
            region: "local".into(),
            disable: BTreeSet::new(),
            hosts: 3,
            network_cidr: None,
            max_nics: None,
        }
    }
}

/// Most simulated hosts.
pub const MAX_HOSTS: u32 = 1000;

/// Environment variable naming the state file (`from_env`).
pub const ENV_STATE_FILE: &str = "STRATO_MEMORY_STATE_FILE";
/// Environment variable with the boot latency, as `2s` or `500ms` (`from_env`).
pub const ENV_BOOT_LATENCY: &str = "STRATO_MEMORY_BOOT_LATENCY";

impl MemoryConfig {
    /// Defaults, with the state file and boot latency taken from `STRATO_MEMORY_STATE_FILE` and
    /// `STRATO_MEMORY_BOOT_LATENCY` when set.
    pub fn from_env() -> Result<Self, Error> {
        let mut s = Self::default();
        if let Some(path) = std::env::var_os(ENV_STATE_FILE).filter(|p| !p.is_empty()) {
            s.state_file = Some(path.into());
        }
        if let Ok(v) = std::env::var(ENV_BOOT_LATENCY) {
            s.boot_latency = humantime_serde::re::humantime::parse_duration(&v).map_err(|e| {
                bad_setting(
                    "boot_latency",
                    format!("{ENV_BOOT_LATENCY}={v:?} is not a duration like 2s or 500ms: {e}"),
                )
            })?;
        }
        s.validate()?;
        Ok(s)
    }

    /// Reads settings from a profile table, naming the offending key on error.
    pub fn from_table(table: &toml::Table) -> Result<Self, Error> {
        let s: Self = table.clone().try_into().map_err(|e: toml::de::Error| {
            bad_setting("memory", format!("memory settings: {}", e.message()))
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), Error> {
        if !(0.0..1.0).contains(&self.boot_jitter) {
            return Err(bad_setting(
                "boot_jitter",
                format!(
                    "boot_jitter {} must be at least 0 and below 1",
                    self.boot_jitter
                ),
            ));
        }
        if let Some(r) = self.mutating_per_sec
            && !(r.is_finite() && r > 0.0)
        {
            return Err(bad_setting(
                "mutating_per_sec",
                format!("mutating_per_sec {r} must be a positive number"),
            ));
        }
        if self.mutating_per_sec.is_some() && self.mutating_burst == 0 {
            return Err(bad_setting(
                "mutating_burst",
                "mutating_burst must be at least 1",
            ));
        }
        if let Some(c) = self.network_cidr
            && c.hosts().nth(16).is_none()
        {
            return Err(bad_setting(
                "network_cidr",
                format!("network_cidr {c} is too small: it needs room for VMs and VIPs"),
            ));
        }
        if self.hosts > MAX_HOSTS {
            return Err(bad_setting(
                "hosts",
                format!("hosts {} is more than {MAX_HOSTS}", self.hosts),
            ));
        }
        if let Some(n) = self.max_nics
            && !(1..=crate::world::MAX_NICS).contains(&n)
        {
            return Err(bad_setting(
                "max_nics",
                format!("max_nics {n} must be from 1 to {}", crate::world::MAX_NICS),
            ));
        }
        if let Some(p) = &self.state_file
            && p.as_os_str().is_empty()
        {
            return Err(bad_setting("state_file", "state_file must not be empty"));
        }
        Ok(())
    }

    /// The CIDR the `default` network is made with.
    pub(crate) fn default_cidr(&self) -> ipnet::IpNet {
        self.network_cidr
            .unwrap_or_else(|| crate::world::DEFAULT_CIDR.parse().expect("valid CIDR"))
    }

    pub(crate) fn has(&self, feature: MemoryFeature) -> bool {
        !self.disable.contains(&feature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strato_core::ErrorKind;

    #[test]
    fn reads_a_profile_table_and_refuses_unknown_keys() {
        let t: toml::Table = toml::from_str(
            "boot_latency = \"2s\"\nvisibility_delay = \"300ms\"\nquota_vms = 4\ndisable = [\"stop_start\"]",
        )
        .unwrap();
        let s = MemoryConfig::from_table(&t).unwrap();
        assert_eq!(s.boot_latency, Duration::from_secs(2));
        assert_eq!(s.visibility_delay, Duration::from_millis(300));
        assert_eq!(s.quota_vms, Some(4));
        assert!(!s.has(MemoryFeature::StopStart));
        assert_eq!(s.account, "memory");

        let t: toml::Table = toml::from_str("boot_latncy = \"2s\"").unwrap();
        let e = MemoryConfig::from_table(&t).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSpec);
        assert!(e.to_string().contains("boot_latncy"), "{e}");

        let t: toml::Table = toml::from_str("mutating_per_sec = -1.0").unwrap();
        let e = MemoryConfig::from_table(&t).unwrap_err();
        assert_eq!(e.field(), Some("mutating_per_sec"));
    }

    #[test]
    fn max_nics_lowers_the_nic_limit_within_the_clouds_own() {
        let t: toml::Table = toml::from_str("max_nics = 2").unwrap();
        let s = MemoryConfig::from_table(&t).unwrap();
        assert_eq!(crate::capabilities(&s).max_nics_per_vm, 2);
        assert_eq!(
            crate::capabilities(&MemoryConfig::default()).max_nics_per_vm,
            crate::MAX_NICS
        );
        for bad in ["max_nics = 0", "max_nics = 9"] {
            let t: toml::Table = toml::from_str(bad).unwrap();
            let e = MemoryConfig::from_table(&t).unwrap_err();
            assert_eq!(e.field(), Some("max_nics"), "{bad}: {e}");
        }
    }

    #[test]
    fn boot_jitter_spreads_each_vm_its_own_way() {
        let c = MemoryConfig {
            boot_latency: Duration::from_secs(100),
            boot_jitter: 0.2,
            ..MemoryConfig::default()
        };
        let boots: Vec<Duration> = (0..200).map(|i| c.boot_of(&format!("i-{i}"))).collect();
        assert!(boots.iter().all(|b| (80..=120).contains(&b.as_secs())));
        assert!(boots.iter().any(|b| b.as_secs() < 90) && boots.iter().any(|b| b.as_secs() > 110));
        assert_eq!(c.boot_of("i-7"), c.boot_of("i-7"), "every read agrees");
        assert_eq!(
            MemoryConfig::default().boot_of("x"),
            Duration::from_millis(500)
        );
        let bad = MemoryConfig {
            boot_jitter: 1.0,
            ..MemoryConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[tokio::test]
    async fn network_cidr_puts_vms_and_vips_in_it_and_a_tiny_one_is_refused() {
        use strato_core::{CloudConnector, Size, VipSpec, VmSpec};
        let c = MemoryConfig {
            network_cidr: Some("127.77.0.0/16".parse().unwrap()),
            boot_latency: Duration::ZERO,
            ..MemoryConfig::default()
        };
        let owner = strato_core::OwnerId::new("cidr").unwrap();
        let m = crate::MemoryConnector::from_settings(c, owner).unwrap();
        let vm = m
            .create_vm(&VmSpec::new("a", Size::shape(1, 512), "img"))
            .await
            .unwrap();
        let ip = vm.private_ip.expect("an address");
        assert!(ip.to_string().starts_with("127.77."), "{ip}");
        let vip = m
            .allocate_vip(&VipSpec {
                address: Some("127.77.9.9".parse().unwrap()),
                ..VipSpec::new("v", vm.id.clone())
            })
            .await
            .unwrap();
        assert_eq!(vip.address.to_string(), "127.77.9.9");
        let tiny = MemoryConfig {
            network_cidr: Some("127.0.0.0/30".parse().unwrap()),
            ..MemoryConfig::default()
        };
        let e = tiny.validate().unwrap_err().to_string();
        assert!(e.contains("network_cidr"), "{e}");
    }
}
