//! What every fault-matrix scenario checks, on any backend: a group's SEs and a service's DNS
//! answer are taken before the fault ([`Baseline`]), and compared with the cloud, the
//! controller's records and a real DNS query during and after it ([`Tally`]). None of the
//! faults kills an SE, so the right count of deleted, leaked and duplicated VMs is zero.

use crate::dns::{dns_query, dns_query_within};
use crate::harness::Harness;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use strato_core::VmId;

/// A group's SE VMs and a service's DNS answer before a fault.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The group.
    pub group: String,
    /// Its live VMs before the fault, by name.
    pub vms: BTreeMap<String, VmId>,
    /// The service's FQDN (with the trailing dot), and the address DNS answered for it.
    pub answer: Option<(String, IpAddr)>,
    /// The controller's DNS server.
    pub dns: SocketAddr,
    /// How long a DNS query may take: `None` at tokio's paused clock (where a timeout around
    /// a socket fires at once), a bound in real time.
    pub dns_limit: Option<Duration>,
}

/// What a fault did to a group, counted against its [`Baseline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// VMs of the baseline that are no longer live.
    pub deleted: Vec<String>,
    /// Live VMs of the group the controller has no record of (nothing would ever delete them).
    pub leaked: Vec<String>,
    /// Live VMs beyond the baseline (replacements of SEs that were not dead) and second VMs
    /// under one name.
    pub duplicated: Vec<String>,
    /// What DNS answers for the service now, and whether that is the baseline's address.
    pub dns: Option<(Vec<IpAddr>, bool)>,
}

impl Baseline {
    /// Takes the live VMs of `group` and what DNS at `dns` answers for the service `vs` (if
    /// any); panics if DNS does not answer the service's VIP.
    pub async fn take(
        h: &Harness,
        group: &str,
        vs: Option<&str>,
        dns: SocketAddr,
        dns_limit: Option<Duration>,
    ) -> Self {
        let vms = h
            .vms(group)
            .await
            .into_iter()
            .map(|v| (v.name, v.id))
            .collect();
        let mut b = Self {
            group: group.to_owned(),
            vms,
            answer: None,
            dns,
            dns_limit,
        };
        if let Some(vs) = vs {
            let s = h.status();
            let v = s.vs(vs).unwrap_or_else(|| panic!("no service {vs}"));
            let addr = v.address.expect("the service has a VIP");
            let fqdn = format!("{}.", v.fqdn.trim_end_matches('.'));
            let got = b.query(&fqdn).await;
            assert_eq!(got, vec![addr], "DNS answers {vs}'s VIP before the fault");
            b.answer = Some((fqdn, addr));
        }
        b
    }

    async fn query(&self, fqdn: &str) -> Vec<IpAddr> {
        match self.dns_limit {
            None => dns_query(self.dns, fqdn).await,
            Some(limit) => dns_query_within(self.dns, fqdn, limit).await,
        }
    }

    /// Counts what the fault did so far.
    pub async fn tally(&self, h: &Harness) -> Tally {
        let live = h.vms(&self.group).await;
        let ids: BTreeSet<&VmId> = live.iter().map(|v| &v.id).collect();
        let deleted = self
            .vms
            .iter()
            .filter(|(_, id)| !ids.contains(id))
            .map(|(n, _)| n.clone())
            .collect();
        let records: BTreeSet<String> = h
            .status()
            .group(&self.group)
            .map(|g| g.ses.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        let leaked = live
            .iter()
            .filter(|v| !records.contains(&v.name))
            .map(|v| v.name.clone())
            .collect();
        let mut seen = BTreeSet::new();
        let duplicated = live
            .iter()
            .filter(|v| !seen.insert(v.name.as_str()) || !self.vms.contains_key(&v.name))
            .map(|v| v.name.clone())
            .collect();
        let dns = match &self.answer {
            Some((fqdn, addr)) => {
                let got = self.query(fqdn).await;
                let ok = got == vec![*addr];
                Some((got, ok))
            }
            None => None,
        };
        Tally {
            deleted,
            leaked,
            duplicated,
            dns,
        }
    }

    /// [`Baseline::tally`], asserting that nothing was deleted, leaked or duplicated and that
    /// DNS still answers the service's VIP; `when` names the moment for the failure message.
    pub async fn assert_safe(&self, h: &Harness, when: &str) -> Tally {
        let t = self.tally(h).await;
        assert!(
            t.deleted.is_empty()
                && t.leaked.is_empty()
                && t.duplicated.is_empty()
                && t.dns.as_ref().is_none_or(|(_, ok)| *ok),
            "{when}: {t}; baseline {:?}; controller status:{}",
            self.vms.keys().collect::<Vec<_>>(),
            h.describe()
        );
        t
    }
}

impl Tally {
    /// The scenario's line of the fault matrix: `fault-matrix: FAULT | BACKEND | RESULT`.
    pub fn line(&self, fault: &str, backend: &str, recovered: bool) -> String {
        format!(
            "fault-matrix: {fault} | {backend} | {self}, {}",
            if recovered {
                "recovered"
            } else {
                "not recovered"
            }
        )
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} deleted, {} leaked, {} duplicated, dns {}",
            self.deleted.len(),
            self.leaked.len(),
            self.duplicated.len(),
            match &self.dns {
                None => "not checked".to_owned(),
                Some((_, true)) => "ok".to_owned(),
                Some((got, false)) => format!("answers {got:?}"),
            }
        )?;
        for (what, names) in [
            ("deleted", &self.deleted),
            ("leaked", &self.leaked),
            ("duplicated", &self.duplicated),
        ] {
            if !names.is_empty() {
                write!(f, " ({what}: {names:?})")?;
            }
        }
        Ok(())
    }
}
