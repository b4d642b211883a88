//! The controller: desired state in the store, a cache of it in memory, the runner that calls
//! the reconciles, and the handles the API, the agents and the DNS server use.
//!
//! One runner task reconciles due objects in passes. A pass reads each cloud once (a list of
//! every owned VM, like a kube-rs reflector) and reconciles every due object against that
//! snapshot, so 10,000 virtual services do not cost 10,000 cloud reads. Reconciles never wait
//! for a VM to boot: a create is recorded with its client token before the call and found
//! again by that token on a later pass (or after a restart).

mod group;
mod orphans;
mod rebalance;
mod records;
mod scaling;
mod vs;

pub use group::{SeHealth, TEMPLATE_TAG, se_spec, template_hash};
pub use orphans::Orphan;
pub use records::{GroupRuntime, SePhase, SeRecord, VsRuntime};
pub use scaling::ServiceLoad;

use crate::autoscale::{Autoscaler, Recommendation};
use crate::dns::DnsTable;
use crate::engines::{EngineHub, EngineReport};
use crate::error::{ControllerError, Result};
use crate::model::{DesiredState, DnsZone, IpamPool, SeGroup, VirtualService};
use crate::runtime::{Action, Backoff, ObjectRef, Scheduler};
use crate::store::{Precondition, StateStore, StateStoreExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_core::{CloudConnector, CloudConnectorExt, Host, Vm, VmQuery};
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
        }
    }
}

/// One cloud read of one pass, shared by every reconcile of that pass (a failed read too, so
/// it is not repeated by each object).
#[derive(Debug)]
pub(crate) struct PassRead<T> {
    pass: u64,
    value: std::result::Result<Arc<T>, String>,
}

/// What an agent last said.
#[derive(Clone, Debug)]
pub(crate) struct EngineRuntime {
    pub last_report: Option<(Instant, EngineReport)>,
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
    pub engines: HashMap<String, EngineRuntime>,
    pub autoscalers: HashMap<String, Autoscaler>,
    /// Virtual service -> its span's scaling state.
    pub vs_scale: HashMap<String, scaling::VsScale>,
    pub group_status: BTreeMap<String, group::GroupStatusInner>,
    pub vs_errors: BTreeMap<String, String>,
    pub status: BTreeMap<ObjectRef, ObjectStatus>,
    /// Groups whose placement or SE configurations must be recomputed.
    pub dirty: HashSet<String>,
    pub scheduler: Scheduler,
    pub backoff: Option<Backoff>,
    /// Cloud -> its owned VMs by group, read once a pass.
    pub views: HashMap<String, PassRead<HashMap<String, Vec<Vm>>>>,
    /// Cloud -> its hosts, read once a pass (only for groups of one SE per host).
    pub host_views: HashMap<String, PassRead<Vec<Host>>>,
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
    pub hub: EngineHub,
    pub dns: Arc<DnsTable>,
    pub pass: std::sync::atomic::AtomicU64,
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

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PassStats {
    /// Objects reconciled.
    pub reconciled: usize,
    /// Of which failed.
    pub failed: usize,
}

impl Controller {
    /// Builds a controller over a store and the clouds by profile name, loading the state the
    /// store holds (a restart finds its records, SEs and VIPs again).
    pub async fn new(
        store: Arc<dyn StateStore>,
        clouds: BTreeMap<String, Arc<dyn CloudConnector>>,
        opts: ControllerOptions,
    ) -> Result<Self> {
        let mut st = State {
            backoff: Some(Backoff::new(opts.backoff_base, opts.backoff_max)),
            ..State::default()
        };
        for (_, g, _) in store.list_json::<SeGroup>(keys::SEGROUP).await? {
            st.groups.insert(g.name.clone(), g);
        }
        for (_, v, _) in store.list_json::<VirtualService>(keys::VS).await? {
            st.insert_vs(v);
        }
        for (_, p, _) in store.list_json::<IpamPool>(keys::POOL).await? {
            st.pools.insert(p.name.clone(), p);
        }
        for (_, z, _) in store.list_json::<DnsZone>(keys::ZONE).await? {
            st.zones.insert(z.key(), z);
        }
        for (_, r, _) in store.list_json::<SeRecord>(keys::SE).await? {
            st.ses
                .entry(r.group.clone())
                .or_default()
                .insert(r.name.clone(), Arc::new(r));
        }
        for (_, r, _) in store.list_json::<VsRuntime>(keys::VSRT).await? {
            st.vsrt.insert(r.name.clone(), r);
        }
        for (k, r, _) in store.list_json::<GroupRuntime>(keys::SEGRT).await? {
            st.group_rt.insert(k[keys::SEGRT.len()..].to_owned(), r);
        }
        for (k, vs, _) in store.list_json::<String>(keys::IPAM).await? {
            let rest = &k[keys::IPAM.len()..];
            if let Some((pool, addr)) = rest.split_once('/')
                && let Ok(a) = addr.parse::<IpAddr>()
            {
                st.ipam.entry(pool.to_owned()).or_default().insert(a, vs);
            }
        }
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
                    .map(|v| ObjectRef::VirtualService(v.clone())),
            )
            .collect();
        for o in objs {
            st.scheduler.schedule(o, now);
        }
        st.dirty.extend(st.groups.keys().cloned());
        let hub = EngineHub::new(opts.report_interval);
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
    pub fn hub(&self) -> &EngineHub {
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

    // ----- desired state -----

    /// Creates or replaces an SE group.
    pub async fn apply_se_group(&self, g: SeGroup) -> Result<()> {
        g.validate()?;
        if let HaMode::Elastic { buffer } = g.ha
            && buffer >= g.max_ses
        {
            return Err(ControllerError::invalid(
                "ha.buffer",
                format!(
                    "buffer {buffer} leaves no active SE under max_ses {}",
                    g.max_ses
                ),
            ));
        }
        if g.placement.se_per_host
            && let Some(c) = self.inner.clouds.get(&g.cloud)
            && !c.capabilities().host_pinning
        {
            return Err(ControllerError::invalid(
                "placement.se_per_host",
                format!(
                    "cloud profile {:?} ({}) does not show hosts, so SEs cannot be placed one per host",
                    g.cloud,
                    c.info().kind
                ),
            ));
        }
        if !self.inner.clouds.contains_key(&g.cloud) {
            let known: Vec<&str> = self.inner.clouds.keys().map(String::as_str).collect();
            return Err(ControllerError::invalid(
                "cloud",
                format!(
                    "cloud profile {:?} is not configured (known: {})",
                    g.cloud,
                    known.join(", ")
                ),
            ));
        }
        if let Some(old) = self.state().groups.get(&g.name)
            && old.cloud != g.cloud
        {
            return Err(ControllerError::invalid(
                "cloud",
                "the cloud of an existing SE group cannot change",
            ));
        }
        self.inner
            .store
            .put_json(
                &format!("{}{}", keys::SEGROUP, g.name),
                &g,
                Precondition::Any,
            )
            .await?;
        let name = g.name.clone();
        let vss: Vec<String> = {
            let mut st = self.state();
            st.groups.insert(name.clone(), g);
            st.dirty.insert(name.clone());
            st.vss_of_group(&name).map(|v| v.name.clone()).collect()
        };
        for v in vss {
            self.trigger(ObjectRef::VirtualService(v));
        }
        self.trigger(ObjectRef::SeGroup(name));
        Ok(())
    }

    /// Deletes an SE group (its SEs are deleted by the next reconcile). Refused while
    /// virtual services use it.
    pub async fn delete_se_group(&self, name: &str) -> Result<()> {
        {
            let st = self.state();
            if !st.groups.contains_key(name) {
                return Err(ControllerError::NotFound(format!("se group {name}")));
            }
            if let Some(v) = st.vss_of_group(name).next() {
                return Err(ControllerError::Conflict(format!(
                    "se group {name} is used by virtual service {}",
                    v.name
                )));
            }
        }
        self.inner
            .store
            .delete(&format!("{}{name}", keys::SEGROUP), Precondition::Any)
            .await?;
        self.state().groups.remove(name);
        self.trigger(ObjectRef::SeGroup(name.to_owned()));
        Ok(())
    }

    /// Creates or replaces a virtual service.
    pub async fn apply_virtual_service(&self, v: VirtualService) -> Result<()> {
        v.validate()?;
        {
            let st = self.state();
            let Some(g) = st.groups.get(&v.se_group) else {
                return Err(ControllerError::invalid(
                    "se_group",
                    format!("se group {:?} does not exist", v.se_group),
                ));
            };
            if v.min_ses > g.max_ses {
                return Err(ControllerError::invalid(
                    "min_ses",
                    format!(
                        "min_ses {} is above the max_ses {} of se group {}",
                        v.min_ses, g.max_ses, g.name
                    ),
                ));
            }
            if let Some(other) = st
                .fqdns
                .get(&crate::model::normalise_fqdn(&v.fqdn))
                .filter(|o| **o != v.name)
            {
                return Err(ControllerError::invalid(
                    "fqdn",
                    format!("fqdn {} is used by virtual service {other}", v.fqdn),
                ));
            }
            if let Some(addr) = v.vip {
                if let Some(other) = st
                    .vsrt
                    .values()
                    .find(|r| r.name != v.name && r.address == Some(addr))
                {
                    return Err(ControllerError::invalid(
                        "vip",
                        format!("vip {addr} is used by virtual service {}", other.name),
                    ));
                }
                if let Some(p) = st.pools.values().find(|p| p.cidr.contains(&addr))
                    && !p.usable(addr)
                {
                    return Err(ControllerError::invalid(
                        "vip",
                        format!("vip {addr} is reserved in pool {}", p.name),
                    ));
                }
            }
        }
        self.inner
            .store
            .put_json(&format!("{}{}", keys::VS, v.name), &v, Precondition::Any)
            .await?;
        let (name, group) = (v.name.clone(), v.se_group.clone());
        {
            let mut st = self.state();
            if let Some(old) = st.insert_vs(v)
                && old.se_group != group
            {
                st.dirty.insert(old.se_group.clone());
                st.scheduler
                    .schedule(ObjectRef::SeGroup(old.se_group), Instant::now());
            }
            st.dirty.insert(group.clone());
        }
        self.trigger(ObjectRef::VirtualService(name));
        self.trigger(ObjectRef::SeGroup(group));
        Ok(())
    }

    /// Deletes a virtual service (its VIP and address are released by the next reconcile).
    pub async fn delete_virtual_service(&self, name: &str) -> Result<()> {
        let group = self
            .state()
            .vss
            .get(name)
            .map(|v| v.se_group.clone())
            .ok_or_else(|| ControllerError::NotFound(format!("virtual service {name}")))?;
        self.inner
            .store
            .delete(&format!("{}{name}", keys::VS), Precondition::Any)
            .await?;
        {
            let mut st = self.state();
            st.remove_vs(name);
            st.dirty.insert(group.clone());
        }
        self.trigger(ObjectRef::VirtualService(name.to_owned()));
        self.trigger(ObjectRef::SeGroup(group));
        Ok(())
    }

    /// Creates or replaces an IPAM pool.
    pub async fn apply_ipam_pool(&self, p: IpamPool) -> Result<()> {
        p.validate()?;
        {
            let st = self.state();
            if let Some(o) = st
                .pools
                .values()
                .find(|o| o.name != p.name && o.network == p.network)
            {
                return Err(ControllerError::invalid(
                    "network",
                    format!("network {} already has pool {}", p.network, o.name),
                ));
            }
            if let Some(allocs) = st.ipam.get(&p.name)
                && let Some((a, vs)) = allocs.iter().find(|(a, _)| !p.usable(**a))
            {
                return Err(ControllerError::invalid(
                    "cidr",
                    format!("address {a} of virtual service {vs} would fall outside the pool"),
                ));
            }
        }
        self.inner
            .store
            .put_json(&format!("{}{}", keys::POOL, p.name), &p, Precondition::Any)
            .await?;
        let vss: Vec<String> = {
            let mut st = self.state();
            st.pools.insert(p.name.clone(), p);
            st.vss.keys().cloned().collect()
        };
        for v in vss {
            self.trigger(ObjectRef::VirtualService(v));
        }
        Ok(())
    }

    /// Deletes an IPAM pool; refused while addresses of it are allocated.
    pub async fn delete_ipam_pool(&self, name: &str) -> Result<()> {
        {
            let st = self.state();
            if !st.pools.contains_key(name) {
                return Err(ControllerError::NotFound(format!("ipam pool {name}")));
            }
            if let Some((a, vs)) = st.ipam.get(name).and_then(|m| m.iter().next()) {
                return Err(ControllerError::Conflict(format!(
                    "pool {name} has address {a} allocated to {vs}"
                )));
            }
        }
        self.inner
            .store
            .delete(&format!("{}{name}", keys::POOL), Precondition::Any)
            .await?;
        self.state().pools.remove(name);
        Ok(())
    }

    /// Creates or replaces a DNS zone.
    pub async fn apply_dns_zone(&self, z: DnsZone) -> Result<()> {
        z.validate()?;
        self.inner
            .store
            .put_json(&format!("{}{}", keys::ZONE, z.key()), &z, Precondition::Any)
            .await?;
        self.inner.dns.set_zone(&z.name, z.ttl);
        self.state().zones.insert(z.key(), z);
        Ok(())
    }

    /// Deletes a DNS zone.
    pub async fn delete_dns_zone(&self, name: &str) -> Result<()> {
        let key = crate::model::normalise_fqdn(name);
        if !self.state().zones.contains_key(&key) {
            return Err(ControllerError::NotFound(format!("dns zone {name}")));
        }
        self.inner
            .store
            .delete(&format!("{}{key}", keys::ZONE), Precondition::Any)
            .await?;
        self.inner.dns.remove_zone(&key);
        self.state().zones.remove(&key);
        Ok(())
    }

    /// Applies a whole desired state (a bootstrap file): pools and zones first, then groups,
    /// then services.
    pub async fn apply_desired(&self, d: &DesiredState) -> Result<()> {
        for p in &d.ipam_pools {
            self.apply_ipam_pool(p.clone())
                .await
                .map_err(|e| prefix(e, &format!("ipam_pools[{}]", p.name)))?;
        }
        for z in &d.dns_zones {
            self.apply_dns_zone(z.clone())
                .await
                .map_err(|e| prefix(e, &format!("dns_zones[{}]", z.name)))?;
        }
        for g in &d.se_groups {
            self.apply_se_group(g.clone())
                .await
                .map_err(|e| prefix(e, &format!("se_groups[{}]", g.name)))?;
        }
        for v in &d.virtual_services {
            self.apply_virtual_service(v.clone())
                .await
                .map_err(|e| prefix(e, &format!("virtual_services[{}]", v.name)))?;
        }
        Ok(())
    }

    /// The desired state as stored.
    pub fn desired(&self) -> DesiredState {
        let st = self.state();
        DesiredState {
            se_groups: st.groups.values().cloned().collect(),
            virtual_services: {
                let mut v: Vec<VirtualService> = st.vss.values().cloned().collect();
                v.sort_by(|a, b| a.name.cmp(&b.name));
                v
            },
            ipam_pools: st.pools.values().cloned().collect(),
            dns_zones: st.zones.values().cloned().collect(),
        }
    }

    // ----- agents -----

    /// Takes an agent's report. Unknown SE: `NotFound`.
    pub fn report(&self, engine: &str, report: EngineReport) -> Result<()> {
        report.validate()?;
        let group = {
            let mut st = self.state();
            // SEs are named GROUP-SERIAL: look in that group first, then in all of them.
            let named = engine
                .rsplit_once('-')
                .map(|(g, _)| g)
                .filter(|g| st.ses.get(*g).is_some_and(|m| m.contains_key(engine)));
            let group = named
                .map(str::to_owned)
                .or_else(|| {
                    st.ses
                        .iter()
                        .find(|(_, m)| m.contains_key(engine))
                        .map(|(g, _)| g.clone())
                })
                .ok_or_else(|| ControllerError::NotFound(format!("engine {engine}")))?;
            let rt = st
                .engines
                .entry(engine.to_owned())
                .or_insert(EngineRuntime {
                    last_report: None,
                    running_since: None,
                });
            let was = rt.last_report.as_ref().map(|(_, r)| r.health);
            let now_health = report.health;
            rt.last_report = Some((Instant::now(), report));
            // A first report or a change of health is worth a pass now.
            (was != Some(now_health)).then_some(group)
        };
        if let Some(g) = group {
            self.trigger(ObjectRef::SeGroup(g));
        }
        metrics::counter!("strato_controller_agent_reports_total").increment(1);
        Ok(())
    }

    // ----- the runner -----

    /// Runs passes until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.run_pass().await;
            let next = self.state().scheduler.next();
            let sleep = match next {
                Some(t) => tokio::time::sleep_until(t),
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.notify.notified() => {}
                _ = sleep => {}
            }
        }
    }

    /// Schedules every object now and runs one pass (the benchmark's unit).
    pub async fn reconcile_all(&self) -> PassStats {
        {
            let mut st = self.state();
            let now = Instant::now();
            let objs: Vec<ObjectRef> = st
                .groups
                .keys()
                .map(|g| ObjectRef::SeGroup(g.clone()))
                .chain(st.vss.keys().map(|v| ObjectRef::VirtualService(v.clone())))
                .collect();
            for o in objs {
                st.scheduler.schedule(o, now);
            }
        }
        self.run_pass().await
    }

    /// Reconciles every due object once.
    pub async fn run_pass(&self) -> PassStats {
        self.inner
            .pass
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let due = self.state().scheduler.take_due(Instant::now());
        let mut stats = PassStats::default();
        // Handles are looked up once a pass, not once per object (10,000 registry lookups
        // were a visible share of a pass).
        let meters = PassMeters::new();
        for obj in due {
            let started = std::time::Instant::now();
            let res = match &obj {
                ObjectRef::SeGroup(n) => self.reconcile_group(n).await,
                ObjectRef::VirtualService(n) => self.reconcile_vs(n).await,
            };
            stats.reconciled += 1;
            let m = meters.of(&obj);
            m.seconds.record(started.elapsed().as_secs_f64());
            let mut st = self.state();
            let next = match res {
                Ok(action) => {
                    st.backoff.as_mut().expect("backoff").success(&obj);
                    if !st.status.is_empty()
                        && let Some(s) = st.status.get_mut(&obj)
                    {
                        s.last_error = None;
                        s.failures = 0;
                    }
                    m.ok.increment(1);
                    action
                }
                Err(e) => {
                    stats.failed += 1;
                    let (n, delay) = st.backoff.as_mut().expect("backoff").failure(&obj);
                    tracing::warn!(object = %obj, error = %e, failures = n, "reconcile failed");
                    m.error.increment(1);
                    let s = st.status.entry(obj.clone()).or_default();
                    s.last_error = Some(e.to_string());
                    s.failures = n;
                    error_policy(&e, delay)
                }
            };
            let at = match next {
                Action::Requeue(d) => Some(Instant::now() + d),
                Action::AwaitChange => None,
            };
            // A trigger that arrived during the reconcile keeps its earlier time.
            if let Some(t) = at {
                st.scheduler.schedule(obj, t);
            }
        }
        stats
    }

    /// The VMs of one cloud by group, read once per pass.
    pub(crate) async fn view(&self, cloud: &str) -> Result<Arc<HashMap<String, Vec<Vm>>>> {
        self.read_once(
            cloud,
            "VMs",
            |st| &mut st.views,
            |conn| async move {
                let mut by: HashMap<String, Vec<Vm>> = HashMap::new();
                for vm in conn.list_all_vms(&VmQuery::default()).await? {
                    if let Some(g) = vm.group() {
                        by.entry(g.to_owned()).or_default().push(vm);
                    }
                }
                Ok(by)
            },
        )
        .await
    }

    /// The hosts of one cloud, read once per pass.
    pub(crate) async fn hosts(&self, cloud: &str) -> Result<Arc<Vec<Host>>> {
        self.read_once(
            cloud,
            "hosts",
            |st| &mut st.host_views,
            |conn| async move { conn.list_hosts().await },
        )
        .await
    }

    /// Reads `what` of `cloud` with `fetch` unless this pass already did.
    async fn read_once<T, F, Fut>(
        &self,
        cloud: &str,
        what: &str,
        slot: fn(&mut State) -> &mut HashMap<String, PassRead<T>>,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce(Arc<dyn CloudConnector>) -> Fut,
        Fut: std::future::Future<Output = strato_core::Result<T>>,
    {
        let pass = self.inner.pass.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = slot(&mut self.state()).get(cloud)
            && r.pass == pass
        {
            return r.value.clone().map_err(ControllerError::Unknown);
        }
        let conn = self.inner.clouds.get(cloud).cloned().ok_or_else(|| {
            ControllerError::Config(format!("cloud profile {cloud:?} is not configured"))
        })?;
        let value = fetch(conn)
            .await
            .map(Arc::new)
            .map_err(|e| format!("listing the {what} of cloud {cloud} failed: {e}"));
        slot(&mut self.state()).insert(
            cloud.to_owned(),
            PassRead {
                pass,
                value: value.clone(),
            },
        );
        value.map_err(ControllerError::Unknown)
    }

    /// Forgets the cloud reads of this pass (after a change the next reader must see).
    pub(crate) fn invalidate_view(&self, cloud: &str) {
        self.state().views.remove(cloud);
    }

    // ----- status -----

    /// The status of everything.
    pub fn status(&self) -> ControllerStatus {
        let st = self.state();
        let now = Instant::now();
        let groups = st
            .groups
            .keys()
            .chain(st.ses.keys())
            .collect::<BTreeSet<_>>();
        let groups = groups
            .into_iter()
            .map(|g| group::group_status(&st, g, now, &self.inner.opts))
            .collect();
        let mut names: Vec<&String> = st.vss.keys().collect();
        names.sort();
        let virtual_services = names
            .into_iter()
            .filter_map(|n| st.vss.get(n))
            .map(|v| {
                let rt = st.vsrt.get(&v.name);
                VsStatus {
                    name: v.name.clone(),
                    fqdn: v.fqdn.clone(),
                    se_group: v.se_group.clone(),
                    address: rt.and_then(|r| r.address),
                    bound_to: rt.and_then(|r| r.bound_to.clone()),
                    placement: rt.map(|r| r.placement.clone()).unwrap_or_default(),
                    desired_ses: st.vs_scale.get(&v.name).map(|s| s.desired),
                    load: st.vs_scale.get(&v.name).and_then(|s| s.load),
                    scaling: st
                        .vs_scale
                        .get(&v.name)
                        .and_then(|s| s.last.as_ref())
                        .zip(st.groups.get(&v.se_group))
                        .map(|((obs, d), g)| crate::autoscale::explain(obs, &g.autoscale, *d)),
                    dns: self.inner.dns.get(&v.fqdn),
                    vip_error: st.vs_errors.get(&v.name).cloned(),
                    last_error: st
                        .status
                        .get(&ObjectRef::VirtualService(v.name.clone()))
                        .and_then(|s| s.last_error.clone()),
                }
            })
            .collect();
        ControllerStatus {
            groups,
            virtual_services,
        }
    }
}

/// The reconcile meters of one kind of object.
struct KindMeters {
    seconds: metrics::Histogram,
    ok: metrics::Counter,
    error: metrics::Counter,
}

impl KindMeters {
    fn new(kind: &'static str) -> Self {
        Self {
            seconds: metrics::histogram!("strato_controller_reconcile_seconds", "kind" => kind),
            ok: metrics::counter!("strato_controller_reconcile_total", "kind" => kind, "result" => "ok"),
            error: metrics::counter!("strato_controller_reconcile_total", "kind" => kind, "result" => "error"),
        }
    }
}

struct PassMeters {
    group: KindMeters,
    vs: KindMeters,
}

impl PassMeters {
    fn new() -> Self {
        Self {
            group: KindMeters::new("se_group"),
            vs: KindMeters::new("virtual_service"),
        }
    }

    fn of(&self, obj: &ObjectRef) -> &KindMeters {
        match obj {
            ObjectRef::SeGroup(_) => &self.group,
            ObjectRef::VirtualService(_) => &self.vs,
        }
    }
}

fn prefix(e: ControllerError, at: &str) -> ControllerError {
    match e {
        ControllerError::Invalid { field, message } => ControllerError::Invalid {
            field: format!("{at}.{field}"),
            message,
        },
        other => other,
    }
}

/// What to do after a failed reconcile: wait out the backoff, or longer when the cloud asked.
pub fn error_policy(e: &ControllerError, backoff: Duration) -> Action {
    match e {
        ControllerError::Cloud(c) => {
            Action::Requeue(c.retry_after().map_or(backoff, |r| r.max(backoff)))
        }
        _ => Action::Requeue(backoff),
    }
}

use crate::model::HaMode;

/// The status of one SE.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeStatus {
    /// SE name.
    pub name: String,
    /// Cloud VM id, once known.
    pub vm_id: Option<String>,
    /// Lifecycle phase.
    pub phase: SePhase,
    /// Health as the controller judges it.
    pub health: group::SeHealth,
    /// Built from the current template.
    pub current_template: bool,
    /// Image.
    pub image: String,
    /// The host it is pinned to (groups of one SE per host).
    pub host: Option<String>,
    /// Last reported requests per second.
    pub rps: Option<f64>,
    /// Virtual services placed on it.
    pub virtual_services: usize,
}

/// The status of one SE group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// False when the group was deleted and its SEs are being removed.
    pub exists: bool,
    /// SEs wanted.
    pub desired: Option<u32>,
    /// SEs serving.
    pub healthy: usize,
    /// SEs that exist (any phase).
    pub current: usize,
    /// The autoscaler's last word.
    pub recommendation: Option<Recommendation>,
    /// Progress of a rolling upgrade, or why it waits.
    pub upgrade: Option<String>,
    /// The last virtual service moved off an overloaded SE, and why.
    pub rebalanced: Option<String>,
    /// The SEs.
    pub ses: Vec<SeStatus>,
    /// Last reconcile error (cleared by the next success).
    pub last_error: Option<String>,
    /// Consecutive failed reconciles (reset by a success).
    pub failures: u32,
}

/// The status of one virtual service.
#[derive(Clone, Debug, Serialize)]
pub struct VsStatus {
    /// Name.
    pub name: String,
    /// FQDN.
    pub fqdn: String,
    /// SE group.
    pub se_group: String,
    /// VIP address.
    pub address: Option<IpAddr>,
    /// SE holding the VIP.
    pub bound_to: Option<String>,
    /// SEs serving it, primary first.
    pub placement: Vec<String>,
    /// SEs it should span (its autoscaled width).
    pub desired_ses: Option<u32>,
    /// Its load over the SEs carrying it, when all of them reported.
    pub load: Option<ServiceLoad>,
    /// Why its span is what it is.
    pub scaling: Option<String>,
    /// What DNS answers for the FQDN.
    pub dns: Option<std::net::Ipv4Addr>,
    /// Last VIP binding error.
    pub vip_error: Option<String>,
    /// Last reconcile error.
    pub last_error: Option<String>,
}

/// Everything the status endpoint shows.
#[derive(Clone, Debug, Serialize)]
pub struct ControllerStatus {
    /// SE groups.
    pub groups: Vec<GroupStatus>,
    /// Virtual services.
    pub virtual_services: Vec<VsStatus>,
}

impl ControllerStatus {
    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupStatus> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The virtual service named `name`.
    pub fn vs(&self, name: &str) -> Option<&VsStatus> {
        self.virtual_services.iter().find(|v| v.name == name)
    }
}
