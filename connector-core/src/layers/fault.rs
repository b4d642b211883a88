//! Fault injection, for tests and drills: fail the Nth call or a fraction of calls, add latency,
//! lose the answer of a call that did take effect, keep new VMs invisible for a while, and make
//! group scale-ups half succeed.

use crate::capability::Capabilities;
use crate::connector::{CloudConnector, CloudInfo};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::*;
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The kind of error an injected failure has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedFault {
    /// `Transient` (a 5xx or a reset connection).
    #[default]
    Transient,
    /// `Throttled` with a Retry-After of 1 s.
    Throttled,
    /// `Timeout`.
    Timeout,
}

/// What to inject. Everything is off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Fail every Nth call (before it reaches the cloud).
    pub fail_every: Option<u64>,
    /// Fail this fraction of calls (before they reach the cloud).
    pub fail_fraction: f64,
    /// Make the call, then lose its answer, for this fraction of mutating calls: the effect
    /// happened but the caller sees an error (the case idempotent creates exist for).
    pub lost_response_fraction: f64,
    /// Error kind of injected failures.
    pub kind: InjectedFault,
    /// Added to every call.
    #[serde(with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// New VMs are `NotYetVisible` to get and missing from lists for this long.
    #[serde(with = "humantime_serde")]
    pub invisible_for: Option<Duration>,
    /// This fraction of group scale-ups make only half the new members and report `Partial`.
    pub partial_batch_fraction: f64,
    /// Seed, for reproducible runs.
    pub seed: u64,
}

/// The fault-injection layer.
#[derive(Debug)]
pub struct FaultInjector {
    inner: Arc<dyn CloudConnector>,
    cfg: FaultConfig,
    calls: AtomicU64,
    injected: AtomicU64,
    rng: Mutex<StdRng>,
    born: Mutex<HashMap<VmId, Instant>>,
}

impl FaultInjector {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn CloudConnector>, cfg: FaultConfig) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(cfg.seed));
        Self {
            inner,
            cfg,
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            rng,
            born: Mutex::new(HashMap::new()),
        }
    }

    /// How many faults were injected so far (tests assert it is not zero).
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().expect("fault rng").random_bool(p.min(1.0))
    }

    fn fault(&self, op: Operation, what: &str) -> Error {
        self.injected.fetch_add(1, Ordering::Relaxed);
        let kind = match self.cfg.kind {
            InjectedFault::Transient => ErrorKind::Transient,
            InjectedFault::Throttled => ErrorKind::Throttled {
                retry_after: Some(Duration::from_secs(1)),
            },
            InjectedFault::Timeout => ErrorKind::Timeout,
        };
        Error::new(kind, op, format!("injected fault: {what}"))
            .with_cloud(self.inner.info().kind)
            .with_vendor("InjectedFault", what, None)
    }

    /// Latency, then maybe a failure before the call.
    async fn before(&self, op: Operation) -> Result<()> {
        if let Some(l) = self.cfg.latency {
            tokio::time::sleep(l).await;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self
            .cfg
            .fail_every
            .is_some_and(|every| every > 0 && n.is_multiple_of(every))
        {
            return Err(self.fault(op, &format!("call {n} fails")));
        }
        if self.roll(self.cfg.fail_fraction) {
            return Err(self.fault(op, "random failure"));
        }
        Ok(())
    }

    /// Maybe loses the answer of a mutating call that took effect.
    fn after<T>(&self, op: Operation, r: Result<T>) -> Result<T> {
        if r.is_ok() && op.is_mutating() && self.roll(self.cfg.lost_response_fraction) {
            return Err(self.fault(op, "answer lost after the call took effect"));
        }
        r
    }

    fn invisible(&self, id: &VmId) -> bool {
        let Some(d) = self.cfg.invisible_for else {
            return false;
        };
        self.born
            .lock()
            .expect("born")
            .get(id)
            .is_some_and(|t| t.elapsed() < d)
    }

    fn note_born(&self, vm: &Vm) {
        if self.cfg.invisible_for.is_some() {
            self.born
                .lock()
                .expect("born")
                .entry(vm.id.clone())
                .or_insert_with(Instant::now);
        }
    }
}

macro_rules! inject {
    ($self:ident, $op:ident, $call:expr) => {{
        $self.before(Operation::$op).await?;
        let r = $call.await;
        $self.after(Operation::$op, r)
    }};
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl CloudConnector for FaultInjector {
    fn info(&self) -> &CloudInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn create_vm(&self, spec: &VmSpec) -> Result<Vm> {
        self.before(Operation::CreateVm).await?;
        let r = self.inner.create_vm(spec).await;
        if let Ok(vm) = &r {
            self.note_born(vm);
        }
        self.after(Operation::CreateVm, r)
    }
    async fn get_vm(&self, id: &VmId) -> Result<Vm> {
        self.before(Operation::GetVm).await?;
        if self.invisible(id) {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(Error::new(
                ErrorKind::NotYetVisible,
                Operation::GetVm,
                format!("vm {id} not yet visible (injected)"),
            )
            .with_cloud(self.inner.info().kind)
            .with_resource(id));
        }
        self.inner.get_vm(id).await
    }
    async fn list_vms(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let mut page = inject!(self, ListVms, self.inner.list_vms(query))?;
        page.items.retain(|vm| !self.invisible(&vm.id));
        Ok(page)
    }
    async fn delete_vm(&self, id: &VmId) -> Result<()> {
        inject!(self, DeleteVm, self.inner.delete_vm(id))
    }
    async fn start_vm(&self, id: &VmId) -> Result<Vm> {
        inject!(self, StartVm, self.inner.start_vm(id))
    }
    async fn stop_vm(&self, id: &VmId) -> Result<Vm> {
        inject!(self, StopVm, self.inner.stop_vm(id))
    }
    async fn create_network(&self, spec: &NetworkSpec) -> Result<Network> {
        inject!(self, CreateNetwork, self.inner.create_network(spec))
    }
    async fn get_network(&self, id: &NetworkId) -> Result<Network> {
        inject!(self, GetNetwork, self.inner.get_network(id))
    }
    async fn list_networks(&self, query: &NetworkQuery) -> Result<Page<Network>> {
        inject!(self, ListNetworks, self.inner.list_networks(query))
    }
    async fn delete_network(&self, id: &NetworkId) -> Result<()> {
        inject!(self, DeleteNetwork, self.inner.delete_network(id))
    }
    async fn attach_nic(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        inject!(self, AttachNic, self.inner.attach_nic(vm, spec))
    }
    async fn detach_nic(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        inject!(self, DetachNic, self.inner.detach_nic(vm, nic))
    }
    async fn allocate_vip(&self, spec: &VipSpec) -> Result<Vip> {
        inject!(self, AllocateVip, self.inner.allocate_vip(spec))
    }
    async fn get_vip(&self, id: &VipId) -> Result<Vip> {
        inject!(self, GetVip, self.inner.get_vip(id))
    }
    async fn list_vips(&self, query: &VipQuery) -> Result<Vec<Vip>> {
        inject!(self, ListVips, self.inner.list_vips(query))
    }
    async fn move_vip(&self, id: &VipId, to: &VmId) -> Result<Vip> {
        inject!(self, MoveVip, self.inner.move_vip(id, to))
    }
    async fn release_vip(&self, id: &VipId) -> Result<()> {
        inject!(self, ReleaseVip, self.inner.release_vip(id))
    }
    async fn scale_group(&self, spec: &GroupSpec, size: u32) -> Result<Group> {
        self.before(Operation::ScaleGroup).await?;
        if self.cfg.partial_batch_fraction > 0.0 {
            let current = self.inner.get_group(&spec.name).await?;
            let have = current.members.len() as u32;
            if size > have + 1 && self.roll(self.cfg.partial_batch_fraction) {
                let half = have + (size - have) / 2;
                let group = self.inner.scale_group(spec, half).await?;
                let before: Vec<&VmId> = current.members.iter().map(|m| &m.id).collect();
                let succeeded: Vec<String> = group
                    .members
                    .iter()
                    .filter(|m| !before.contains(&&m.id))
                    .map(|m| m.id.to_string())
                    .collect();
                let failed = (half..size)
                    .map(|i| self.fault(Operation::ScaleGroup, &format!("member {i} not created")))
                    .collect();
                return Err(Error::new(
                    ErrorKind::Partial { succeeded, failed },
                    Operation::ScaleGroup,
                    format!(
                        "group {} reached {half} of {size} members (injected)",
                        spec.name
                    ),
                )
                .with_cloud(self.inner.info().kind));
            }
        }
        let r = self.inner.scale_group(spec, size).await;
        self.after(Operation::ScaleGroup, r)
    }
    async fn get_group(&self, name: &str) -> Result<Group> {
        inject!(self, GetGroup, self.inner.get_group(name))
    }

    async fn list_hosts(&self) -> Result<Vec<Host>> {
        inject!(self, ListHosts, self.inner.list_hosts())
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
