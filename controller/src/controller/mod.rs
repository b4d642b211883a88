//! The controller: desired state in the store, a cache of it in memory, the runner that calls
//! the reconciles, and the handles the API, the agents and the DNS server use.
//!
//! One runner task reconciles due objects in passes. A pass reads each cloud once (a list of
//! every owned VM, like a kube-rs reflector) and reconciles every due object against that
//! snapshot, so 10,000 virtual services do not cost 10,000 cloud reads. Reconciles never wait
//! for a VM to boot: a create is recorded with its client token before the call and found
//! again by that token on a later pass (or after a restart).

// Files: `desired` (the API's writes), `runner` (passes), `reads` (each cloud read once a
// pass), `vs` (the virtual service reconcile), `group` (the SE group reconcile: its phases
// `observe`, `judge`, `size`, `drain`, `create`, `place`, `teardown`, `publish` run in that
// order over one `pass::GroupPass`; `networks` and `nics` join SEs to their services'
// networks), `scaling` and `rebalance` (called by phases, never
// calling back), `records`, `template` and `reads` (what every phase shares), `status`,
// `orphans`, `load` (reading the store at start, moving aside what does not decode). Only
// the runner calls into `group`, and no phase calls another phase.
mod create;
mod desired;
mod drain;
mod group;
mod judge;
mod load;
mod networks;
mod nics;
mod observe;
mod orphans;
mod pass;
mod place;
mod predict;
mod publish;
mod reads;
mod rebalance;
mod records;
mod runner;
mod scaling;
mod se_bootstrap;
mod server_health;
mod size;
mod status;
mod teardown;
mod template;
mod vs;

pub use load::QuarantinedRecord;
pub use orphans::Orphan;
pub use pass::SeHealth;
pub use records::{AgentCredential, GroupRuntime, SePhase, SeRecord, VsRuntime};
pub use runner::{PassStats, error_policy};
pub use scaling::ServiceLoad;
pub use se_bootstrap::AgentEndpoint;
pub use server_health::{ServerState, ServerStatus};
pub use status::{ControllerStatus, GroupStatus, SeNicStatus, SeStatus, VsStatus};
pub use template::{TEMPLATE_TAG, se_spec, template_hash};

use crate::autoscale::Autoscaler;
use crate::dns::DnsTable;
use crate::error::{ControllerError, Result};
use crate::model::{DnsZone, IpamPool, SeGroup, VirtualService};
use crate::runtime::{Backoff, ObjectRef, Scheduler};
use crate::se_protocol::{SeHub, SeReport};
use crate::store::StateStore;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_core::{CloudConnector, Host, Vm};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Store key prefixes.
pub(crate) mod keys {
    pub const SEGROUP: &str = "segroup/";
    pub const VS: &str = "vs/";
    pub const POOL: &str = "pool/";
    pub const ZONE: &str = "zone/";
    pub const SE: &str = "se/";
    pub const VSRT: &str = "vsrt/";
    pub const IPAM: &str = "ipam/";
    pub const SEGRT: &str = "segrt/";
    /// A virtual service's forecaster: its bounded load history.
    pub const FORECAST: &str = "forecast/";
    /// Records that no longer decode, moved aside under their own key.
    pub const QUARANTINE: &str = "quarantine/";
}

/// Tuning of the controller.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// How often agents report (10 s).
    pub report_interval: Duration,
    /// Reports an SE may miss before it is declared down (6).
    pub missed_reports: u32,
    /// How often a group is reconciled without a change (defaults to the report interval).
    pub resync: Duration,
    /// How long a create that is not visible yet is waited for before it is issued again
    /// (with the same client token, so at most one VM results).
    pub inflight_grace: Duration,
    /// First error backoff.
    pub backoff_base: Duration,
    /// Longest error backoff.
    pub backoff_max: Duration,
    /// Longest long poll of an agent.
    pub long_poll: Duration,
    /// A VM still pending after this long is replaced.
    pub boot_timeout: Duration,
    /// Most SEs one group may have ([`crate::model::DEFAULT_MAX_SES_PER_GROUP`]): a group
    /// whose `max_ses` is above it is refused.
    pub max_ses_per_group: u32,
    /// Most SE creates one reconcile of one group issues (10). A group that wants more gets
    /// them in the passes that follow at once, each after every other due object had its
    /// turn: one group scaling to hundreds of SEs does not keep the others waiting behind its
    /// creates.
    pub creates_per_pass: u32,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            report_interval: Duration::from_secs(10),
            missed_reports: 6,
            resync: Duration::from_secs(10),
            inflight_grace: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            long_poll: Duration::from_secs(30),
            boot_timeout: Duration::from_secs(600),
            max_ses_per_group: crate::model::DEFAULT_MAX_SES_PER_GROUP,
            creates_per_pass: 10,
        }
    }
}

/// What an agent last said.
#[derive(Clone, Debug)]
pub(crate) struct SeRuntime {
    pub last_report: Option<(Instant, SeReport)>,
    pub running_since: Option<Instant>,
}

/// Per-object status kept for the API.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ObjectStatus {
    /// The last reconcile error, cleared by a success.
    pub last_error: Option<String>,
    /// Consecutive failures.
    pub failures: u32,
}

/// Everything in memory. Guarded by one mutex that is never held across an await.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub groups: BTreeMap<String, SeGroup>,
    pub vss: HashMap<String, VirtualService>,
    /// SE group -> names of its virtual services (an index over `vss`).
    pub vs_index: HashMap<String, BTreeSet<String>>,
    /// Normalised FQDN -> virtual service (an index over `vss`; FQDNs are unique).
    pub fqdns: HashMap<String, String>,
    pub pools: BTreeMap<String, IpamPool>,
    pub zones: BTreeMap<String, DnsZone>,
    /// group -> se name -> record.
    /// Shared records: a pass reads every SE of every group, and copies of 2,000 records (with
    /// their specs and tags) were a tenth of a pass.
    pub ses: BTreeMap<String, BTreeMap<String, Arc<SeRecord>>>,
    pub vsrt: HashMap<String, VsRuntime>,
    pub group_rt: BTreeMap<String, GroupRuntime>,
    /// pool -> address -> vs.
    pub ipam: BTreeMap<String, BTreeMap<IpAddr, String>>,
    pub se_runtime: HashMap<String, SeRuntime>,
    pub autoscalers: HashMap<String, Autoscaler>,
    /// Virtual service -> its span's scaling state.
    pub vs_scale: HashMap<String, scaling::VsScale>,
    pub group_status: BTreeMap<String, status::GroupStatusInner>,
    pub vs_errors: BTreeMap<String, String>,
    pub status: BTreeMap<ObjectRef, ObjectStatus>,
    /// Groups whose placement or SE configurations must be recomputed.
    pub dirty: HashSet<String>,
    pub scheduler: Scheduler,
    pub backoff: Option<Backoff>,
    /// Cloud -> its owned VMs by group, read once a pass.
    pub views: HashMap<String, reads::PassRead<HashMap<String, Vec<Vm>>>>,
    /// Cloud -> its hosts, read once a pass (only for groups of one SE per host).
    pub host_views: HashMap<String, reads::PassRead<Vec<Host>>>,
    /// Key -> why: records moved aside because they do not decode ([`load`]).
    pub quarantined: BTreeMap<String, String>,
    /// Service -> (pool, address) claims no runtime record holds (the record was lost or
    /// moved aside): the service takes them back rather than claim new ones.
    pub unheld_claims: HashMap<String, Vec<(String, IpAddr)>>,
    /// Cloud -> the latest SE boot times measured on it (create seen to first report).
    pub boot_times: HashMap<String, std::collections::VecDeque<Duration>>,
    /// Services whose forecaster learned a bucket not yet in the store.
    pub forecast_dirty: HashSet<String>,
    /// (cloud, network key of a group's `networks`) -> the network's cloud id, once found or
    /// created ([`networks`]).
    pub net_ids: HashMap<(String, String), strato_core::NetworkId>,
}

impl State {
    pub(crate) fn vss_of_group<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = &'a VirtualService> + 'a {
        self.vs_index
            .get(group)
            .into_iter()
            .flatten()
            .filter_map(|n| self.vss.get(n))
    }

    /// Inserts or replaces a virtual service, keeping the group index; returns the old one.
    pub(crate) fn insert_vs(&mut self, v: VirtualService) -> Option<VirtualService> {
        self.vs_index
            .entry(v.se_group.clone())
            .or_default()
            .insert(v.name.clone());
        if let Some(o) = self.vss.get(&v.name) {
            self.fqdns.remove(&crate::model::normalise_fqdn(&o.fqdn));
        }
        self.fqdns
            .insert(crate::model::normalise_fqdn(&v.fqdn), v.name.clone());
        let old = self.vss.insert(v.name.clone(), v);
        if let Some(o) = &old
            && self
                .vss
                .get(&o.name)
                .is_some_and(|n| n.se_group != o.se_group)
            && let Some(set) = self.vs_index.get_mut(&o.se_group)
        {
            set.remove(&o.name);
        }
        old
    }

    /// Removes a virtual service, keeping the group index.
    pub(crate) fn remove_vs(&mut self, name: &str) -> Option<VirtualService> {
        let old = self.vss.remove(name);
        if let Some(o) = &old {
            self.fqdns.remove(&crate::model::normalise_fqdn(&o.fqdn));
        }
        if let Some(o) = &old
            && let Some(set) = self.vs_index.get_mut(&o.se_group)
        {
            set.remove(name);
        }
        old
    }
}

pub(crate) struct Inner {
    pub store: Arc<dyn StateStore>,
    pub clouds: BTreeMap<String, Arc<dyn CloudConnector>>,
    pub opts: ControllerOptions,
    pub state: Mutex<State>,
    pub notify: Notify,
    pub hub: SeHub,
    pub dns: Arc<DnsTable>,
    pub pass: std::sync::atomic::AtomicU64,
    pub credentials: records::SeCredentials,
    /// What new SEs boot with: their controllers' endpoint and the agent key.
    pub boot: se_bootstrap::SeBoot,
    /// The forecasters' clock: unix time at an instant (replays in virtual time set it).
    pub clock: Mutex<(Instant, i64)>,
    /// The history and the event log ([`crate::analytics`]).
    pub analytics: crate::analytics::Analytics,
}

/// The controller. Cheap to clone; every clone is the same controller.
#[derive(Clone)]
pub struct Controller {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("clouds", &self.inner.clouds.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Controller {
    /// Builds a controller over a store and the clouds by profile name, loading the state the
    /// store holds (a restart finds its records, SEs and VIPs again). A record that does not
    /// decode is moved aside and reported, not a reason to refuse to start.
    pub async fn new(
        store: Arc<dyn StateStore>,
        clouds: BTreeMap<String, Arc<dyn CloudConnector>>,
        opts: ControllerOptions,
    ) -> Result<Self> {
        let mut st = State {
            backoff: Some(Backoff::new(opts.backoff_base, opts.backoff_max)),
            ..State::default()
        };
        load::load(&*store, &mut st).await?;
        let dns = Arc::new(DnsTable::new());
        for z in st.zones.values() {
            dns.set_zone(&z.name, z.ttl);
        }
        let now = Instant::now();
        let objs: BTreeSet<ObjectRef> = st
            .groups
            .keys()
            .chain(st.ses.keys())
            .map(|g| ObjectRef::SeGroup(g.clone()))
            .chain(
                st.vss
                    .keys()
                    .chain(st.vsrt.keys())
                    .chain(st.unheld_claims.keys())
                    .map(|v| ObjectRef::VirtualService(v.clone())),
            )
            .collect();
        for o in objs {
            st.scheduler.schedule(o, now);
        }
        st.dirty.extend(st.groups.keys().cloned());
        let hub = SeHub::new(opts.report_interval);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clouds,
                opts,
                state: Mutex::new(st),
                notify: Notify::new(),
                hub,
                dns,
                pass: std::sync::atomic::AtomicU64::new(0),
                credentials: records::SeCredentials::default(),
                boot: se_bootstrap::SeBoot::default(),
                clock: Mutex::new((now, predict::system_unix())),
                analytics: Default::default(),
            }),
        })
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("controller state lock")
    }

    /// The options.
    pub fn options(&self) -> &ControllerOptions {
        &self.inner.opts
    }

    /// The DNS table (served by [`crate::dns::DnsServer`]).
    pub fn dns_table(&self) -> Arc<DnsTable> {
        self.inner.dns.clone()
    }

    /// The agent configuration hub.
    pub fn hub(&self) -> &SeHub {
        &self.inner.hub
    }

    /// The clouds by profile.
    pub fn clouds(&self) -> &BTreeMap<String, Arc<dyn CloudConnector>> {
        &self.inner.clouds
    }

    /// Asks for `obj` to be reconciled now.
    pub fn trigger(&self, obj: ObjectRef) {
        self.state().scheduler.schedule(obj, Instant::now());
        self.inner.notify.notify_one();
    }

    // ----- agents -----

    /// Takes an agent's report. Unknown SE: `NotFound`.
    pub fn report(&self, se: &str, report: SeReport) -> Result<()> {
        report.validate()?;
        let group = {
            let mut st = self.state();
            // SEs are named GROUP-SERIAL: look in that group first, then in all of them.
            let named = se
                .rsplit_once('-')
                .map(|(g, _)| g)
                .filter(|g| st.ses.get(*g).is_some_and(|m| m.contains_key(se)));
            let group = named
                .map(str::to_owned)
                .or_else(|| {
                    st.ses
                        .iter()
                        .find(|(_, m)| m.contains_key(se))
                        .map(|(g, _)| g.clone())
                })
                .ok_or_else(|| ControllerError::NotFound(format!("SE {se}")))?;
            let rt = st.se_runtime.entry(se.to_owned()).or_insert(SeRuntime {
                last_report: None,
                running_since: None,
            });
            let was = rt.last_report.as_ref().map(|(_, r)| r.health);
            let first = rt.last_report.is_none();
            let now_health = report.health;
            rt.last_report = Some((Instant::now(), report));
            if first {
                predict::record_boot(&mut st, &group, se, Instant::now());
            }
            // A first report or a change of health is worth a pass now.
            (was != Some(now_health)).then_some(group)
        };
        if let Some(g) = group {
            self.trigger(ObjectRef::SeGroup(g));
        }
        metrics::counter!("strato_controller_agent_reports_total").increment(1);
        Ok(())
    }
}
