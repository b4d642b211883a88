//! The conformance suite: one set of checks every connector passes against its backend.
//!
//! Each check is a `pub async fn` taking a [`Target`]; [`run_all`] picks the checks the
//! connector's declared capabilities call for. A connector's test file builds a `Target` on its
//! mocked backend (with an owner id unique to the run, so tests can share a backend) and calls
//! `run_all` (or [`run_concurrently`], which runs the independent checks at the same time).
//!
//! Checks panic with a message naming the check and the step that failed. Each check uses names
//! of its own (with a per-process random suffix), deletes what it made, and asserts it is gone,
//! so checks may run in parallel on one target. Reads that may lag behind writes on an
//! eventually consistent cloud are polled until they settle (with `tokio::time` sleeps, so a
//! test on a paused clock takes no real time).

#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use strato_core::{
    CloudConnector, CloudConnectorExt, Error, ErrorKind, GroupSpec, GroupSupport, HostId,
    NetworkId, NetworkQuery, NetworkSpec, NicSpec, OWNER_TAG, Operation, Size, VipId, VipQuery,
    VipSpec, VipSupport, Vm, VmId, VmQuery, VmSpec, VmState, WaitOptions, member_ordinal,
};

/// Makes the spec of a network to create from a name and an index that keeps CIDRs apart.
pub type NetworkSpecFn = dyn Fn(&str, u8) -> NetworkSpec + Send + Sync;

/// A connector under test and what it needs to make resources on its backend.
#[derive(Clone)]
pub struct Target {
    /// The connector under test, owned by a run-unique owner.
    pub connector: Arc<dyn CloudConnector>,
    /// The same backend seen by another owner: its resources must stay invisible and untouched.
    pub foreign: Arc<dyn CloudConnector>,
    /// Size of test VMs.
    pub size: Size,
    /// Image of test VMs.
    pub image: String,
    /// Network test VMs join (the connector's default when `None`).
    pub network: Option<NetworkId>,
    /// Makes the spec of a network to create (`index` keeps CIDRs apart); `None` when the cloud
    /// cannot create networks.
    pub network_spec: Option<Arc<NetworkSpecFn>>,
    /// An existing second network for NIC and VIP checks when networks cannot be created.
    pub extra_network: Option<NetworkId>,
}

impl Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("connector", &self.connector.info())
            .field("foreign", &self.foreign.info())
            .field("size", &self.size)
            .field("image", &self.image)
            .field("network", &self.network)
            .field("network_spec", &self.network_spec.is_some())
            .field("extra_network", &self.extra_network)
            .finish()
    }
}

/// How long a read may lag behind a write before a check fails.
const SETTLE: Duration = Duration::from_secs(180);
/// Poll interval while waiting for a read to settle.
const POLL: Duration = Duration::from_millis(250);

/// How long VMs may take to boot, stop and start.
fn wait_opts() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(900),
        interval: Duration::from_millis(250),
        max_interval: Duration::from_secs(5),
    }
}

/// Unwraps a result or panics naming the step.
trait Must<T> {
    fn must(self, step: &str) -> T;
}

impl<T> Must<T> for Result<T, Error> {
    #[track_caller]
    fn must(self, step: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("conformance: {step}: unexpected error: {e}\n{e:?}"),
        }
    }
}

/// Asserts an error of `kind`.
#[track_caller]
fn expect_kind<T: Debug>(step: &str, r: Result<T, Error>, kind: &ErrorKind) -> Error {
    match r {
        Err(e) if std::mem::discriminant(e.kind()) == std::mem::discriminant(kind) => e,
        Err(e) => panic!(
            "conformance: {step}: expected {} but got {}: {e}",
            kind.name(),
            e.kind().name()
        ),
        Ok(v) => panic!(
            "conformance: {step}: expected {} but the call succeeded with {v:?}",
            kind.name()
        ),
    }
}

/// Asserts `Unsupported` naming the operation.
#[track_caller]
fn expect_unsupported<T: Debug>(r: Result<T, Error>, op: Operation) {
    let e = expect_kind(
        &format!("{op} on a cloud that lacks it"),
        r,
        &ErrorKind::Unsupported,
    );
    assert!(
        e.operation() == op || e.to_string().contains(op.name()),
        "conformance: Unsupported error for {op} does not name the operation: {e}"
    );
}

/// Polls `$body` (an expression yielding `Result<Option<T>, Error>`) until it is `Ok(Some(_))`.
/// Retryable errors are polled through; others fail the check.
macro_rules! eventually {
    ($what:expr, $body:expr) => {{
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let r: Result<Option<_>, Error> = async { $body }.await;
            match r {
                Ok(Some(v)) => break v,
                Ok(None) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => panic!("conformance: {}: unexpected error: {e}", $what),
            }
            if tokio::time::Instant::now() > deadline {
                panic!("conformance: {}: still not true after {:?}", $what, SETTLE);
            }
            tokio::time::sleep(POLL).await;
        }
    }};
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `PREFIX-RANDOM`, a valid label on every cloud.
fn unique(prefix: &str) -> String {
    static RUN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| rand::random::<u32>() & 0xffff);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{run:04x}{seq:02x}")
}

impl Target {
    fn vm_spec(&self, name: &str) -> VmSpec {
        let mut spec = VmSpec::new(name, self.size.clone(), self.image.clone());
        spec.network = self.network.clone();
        spec
    }

    fn owner(&self) -> &strato_core::OwnerId {
        &self.connector.info().owner
    }

    /// Owned live VMs whose names start with `prefix`.
    async fn vms_named(&self, prefix: &str) -> Result<Vec<Vm>, Error> {
        let all = self.connector.list_all_vms(&VmQuery::default()).await?;
        Ok(all
            .into_iter()
            .filter(|v| v.name.starts_with(prefix))
            .collect())
    }

    /// Creates a VM and waits until it runs.
    async fn running_vm(&self, name: &str) -> Vm {
        let vm = self
            .connector
            .create_vm(&self.vm_spec(name))
            .await
            .must(&format!("create vm {name}"));
        self.connector
            .wait_running(&vm.id, wait_opts())
            .await
            .must(&format!("wait for vm {name} to run"))
    }

    /// Deletes VMs and waits until reads no longer show them alive.
    async fn delete_vms(&self, ids: &[VmId]) {
        for id in ids {
            self.connector
                .delete_vm(id)
                .await
                .must(&format!("delete vm {id}"));
        }
        for id in ids {
            eventually!(
                format!("vm {id} gone after delete"),
                match self.connector.get_vm(id).await {
                    Err(e) if e.is_not_found() => Ok(Some(())),
                    Ok(vm) if !vm.state.is_live() => Ok(Some(())),
                    Ok(_) => Ok(None),
                    Err(e) => Err(e),
                }
            );
        }
    }

    /// A network for NIC and VIP checks: created (returned as `Some` for deletion) when the
    /// cloud can, else the target's extra network.
    async fn second_network(&self, name: &str, index: u8) -> Option<(NetworkId, bool)> {
        match (
            &self.network_spec,
            self.connector.capabilities().network_create,
        ) {
            (Some(make), true) => {
                let spec = make(name, index);
                let net = self
                    .connector
                    .create_network(&spec)
                    .await
                    .must(&format!("create network {name}"));
                Some((net.id, true))
            }
            _ => self.extra_network.clone().map(|id| (id, false)),
        }
    }

    /// Deletes a network, waiting out dependencies that are still being torn down.
    async fn delete_network(&self, id: &NetworkId) {
        eventually!(
            format!("delete network {id}"),
            match self.connector.delete_network(id).await {
                Ok(()) => Ok(Some(())),
                Err(e) if *e.kind() == ErrorKind::Conflict => Ok(None),
                Err(e) => Err(e),
            }
        );
        eventually!(
            format!("network {id} gone after delete"),
            match self.connector.get_network(id).await {
                Err(e) if e.is_not_found() => Ok(Some(())),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            }
        );
    }
}

/// Create -> running -> stop -> stopped -> start -> running -> delete -> gone. On a cloud
/// without stop/start, those calls must answer `Unsupported`.
pub async fn vm_lifecycle(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-life");
    let spec = t.vm_spec(&name);
    let vm = c.create_vm(&spec).await.must("create vm");
    assert_eq!(vm.name, name, "conformance: created vm has another name");
    assert_eq!(
        &vm.ownership.owner,
        t.owner(),
        "conformance: created vm is not owned by the connector's owner"
    );
    assert_eq!(
        vm.tags.get(OWNER_TAG),
        Some(&t.owner().to_string()),
        "conformance: created vm lacks the owner tag"
    );
    assert_eq!(
        vm.ownership.token,
        spec.client_token(t.owner()),
        "conformance: created vm lacks its client token"
    );
    assert!(
        matches!(vm.state, VmState::Pending | VmState::Running),
        "conformance: a new vm is {} (expected pending or running)",
        vm.state
    );
    let vm = c
        .wait_running(&vm.id, wait_opts())
        .await
        .must("wait for the vm to run");
    assert_eq!(vm.state, VmState::Running);

    if c.capabilities().vm_stop_start {
        c.stop_vm(&vm.id).await.must("stop vm");
        let stopped = c
            .wait_vm(&vm.id, wait_opts(), &|v| v.state == VmState::Stopped)
            .await
            .must("wait for the vm to stop");
        assert_eq!(stopped.state, VmState::Stopped);
        let listed = c
            .list_all_vms(&VmQuery {
                name: Some(name.clone()),
                state: Some(VmState::Stopped),
                ..Default::default()
            })
            .await
            .must("list stopped vms");
        assert!(
            listed.iter().any(|v| v.id == vm.id),
            "conformance: the stopped vm is not listed as stopped"
        );
        c.start_vm(&vm.id).await.must("start vm");
        c.wait_running(&vm.id, wait_opts())
            .await
            .must("wait for the vm to run again");
    } else {
        expect_unsupported(c.stop_vm(&vm.id).await, Operation::StopVm);
        expect_unsupported(c.start_vm(&vm.id).await, Operation::StartVm);
    }

    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    c.delete_vm(&vm.id)
        .await
        .must("delete an already deleted vm");
    eventually!("the deleted vm leaves the list", {
        let left = c
            .list_all_vms(&VmQuery {
                name: Some(name.clone()),
                ..Default::default()
            })
            .await?;
        Ok(left.is_empty().then_some(()))
    });
}

/// More VMs than one page: every page at most the page size, all VMs exactly once, and the
/// name, tag and state filters.
pub async fn list_paging(t: &Target) {
    let c = &t.connector;
    let base = unique("cf-page");
    let suite = base.clone();
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let spec = t
            .vm_spec(&format!("{base}-{i}"))
            .with_tag("suite", suite.clone())
            .with_tag("half", if i < 3 { "a" } else { "b" });
        ids.insert(c.create_vm(&spec).await.must("create vm").id);
    }
    let by_suite = VmQuery {
        tags: [("suite".to_owned(), suite.clone())].into(),
        ..Default::default()
    };
    eventually!("all 5 vms listed", {
        let n = c.list_all_vms(&by_suite).await?.len();
        Ok((n == 5).then_some(()))
    });

    let max_page = c.capabilities().max_page_size.max(1);
    let page_size = 2.min(max_page);
    let mut q = VmQuery {
        page_size: Some(page_size),
        ..by_suite.clone()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.list_vms(&q).await.must("list a page of vms");
        pages += 1;
        assert!(
            page.items.len() <= page_size as usize,
            "conformance: a page of size {page_size} has {} items",
            page.items.len()
        );
        seen.extend(page.items.into_iter().map(|v| v.id));
        match page.next {
            Some(token) => q.page_token = Some(token),
            None => break,
        }
        assert!(pages < 100, "conformance: paging never ends");
    }
    let unique_seen: BTreeSet<VmId> = seen.iter().cloned().collect();
    assert_eq!(
        unique_seen.len(),
        seen.len(),
        "conformance: paging returned duplicates: {seen:?}"
    );
    assert_eq!(unique_seen, ids, "conformance: paging lost or added vms");
    assert!(
        pages >= 3,
        "conformance: 5 vms in pages of {page_size} came in {pages} pages"
    );

    let one = c
        .list_all_vms(&VmQuery {
            name: Some(format!("{base}-3")),
            ..Default::default()
        })
        .await
        .must("list by name");
    assert_eq!(one.len(), 1, "conformance: listing by name found {one:?}");
    assert_eq!(one[0].name, format!("{base}-3"));

    let mut half = by_suite.clone();
    half.tags.insert("half".into(), "a".into());
    let a = c.list_all_vms(&half).await.must("list by tags");
    assert_eq!(
        a.len(),
        3,
        "conformance: listing by two tags found {} vms",
        a.len()
    );
    assert!(
        a.iter()
            .all(|v| v.tags.get("half").map(String::as_str) == Some("a"))
    );

    for id in &ids {
        c.wait_running(id, wait_opts())
            .await
            .must("wait for listed vms to run");
    }
    let running = c
        .list_all_vms(&VmQuery {
            state: Some(VmState::Running),
            ..by_suite.clone()
        })
        .await
        .must("list running vms");
    assert_eq!(
        running.len(),
        5,
        "conformance: listing running vms found {}",
        running.len()
    );
    let stopped = c
        .list_all_vms(&VmQuery {
            state: Some(VmState::Stopped),
            ..by_suite.clone()
        })
        .await
        .must("list stopped vms");
    assert!(
        stopped.is_empty(),
        "conformance: listing stopped vms found running ones: {stopped:?}"
    );

    t.delete_vms(&ids.into_iter().collect::<Vec<_>>()).await;
    eventually!(
        "paging vms leave the list",
        Ok(c.list_all_vms(&by_suite).await?.is_empty().then_some(()))
    );
}

/// The same spec twice gives the same VM; a different spec under the same name is
/// `AlreadyExists` and makes nothing.
pub async fn idempotent_create(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-idem");
    let spec = t.vm_spec(&name);
    let first = c.create_vm(&spec).await.must("create vm");
    let again = c.create_vm(&spec).await.must("create the same vm again");
    assert_eq!(
        first.id, again.id,
        "conformance: the same spec twice made two vms"
    );
    let changed = spec.clone().with_tag("changed", "yes");
    let e = expect_kind(
        "create a different vm under a taken name",
        c.create_vm(&changed).await,
        &ErrorKind::AlreadyExists,
    );
    eprintln!("conformance:   AlreadyExists reads: {e}");
    // A retry after a lost answer also finds the first VM, even while it is still invisible.
    let listed = eventually!("the vm is listed once", {
        let l = c
            .list_all_vms(&VmQuery {
                name: Some(name.clone()),
                ..Default::default()
            })
            .await?;
        Ok((!l.is_empty()).then_some(l))
    });
    assert_eq!(
        listed.len(),
        1,
        "conformance: {} vms named {name}",
        listed.len()
    );
    assert_eq!(listed[0].id, first.id);
    assert_eq!(
        listed[0].ownership.token,
        spec.client_token(t.owner()),
        "conformance: the changed spec replaced the vm"
    );
    t.delete_vms(&[first.id]).await;
}

/// A NIC on a second network, then detached again.
pub async fn nic_attach_detach(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    if !caps.nic_attach {
        let net = t
            .network
            .clone()
            .unwrap_or_else(|| NetworkId::new("default"));
        let r = c
            .attach_nic(
                &VmId::new("vm-conformance"),
                &NicSpec {
                    network: net,
                    address: None,
                },
            )
            .await;
        expect_unsupported(r, Operation::AttachNic);
        return;
    }
    let name = unique("cf-nic");
    let Some((net, created)) = t.second_network(&name, 1).await else {
        eprintln!("conformance:   skipped: no second network (set network_spec or extra_network)");
        return;
    };
    let vm = t.running_vm(&name).await;
    let restart = !caps.hot_nic_attach && caps.vm_stop_start;
    if restart {
        c.stop_vm(&vm.id).await.must("stop before attaching");
        c.wait_vm(&vm.id, wait_opts(), &|v| v.state == VmState::Stopped)
            .await
            .must("wait for stop");
    }
    let nic = c
        .attach_nic(
            &vm.id,
            &NicSpec {
                network: net.clone(),
                address: None,
            },
        )
        .await
        .must("attach nic");
    assert_eq!(
        nic.network, net,
        "conformance: the nic is on another network"
    );
    assert!(
        nic.device_index > 0,
        "conformance: an attached nic claims to be the primary"
    );
    let reread = |vm: Vm| async move {
        if caps.nic_attach_replaces_vm {
            eventually!(
                "find the replaced vm by name",
                match c.find_vm(&vm.name).await {
                    Ok(v) if v.state.is_live() => Ok(Some(v)),
                    Ok(_) => Ok(None),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            )
        } else {
            c.get_vm(&vm.id).await.must("read the vm")
        }
    };
    let vm = reread(vm).await;
    assert!(
        vm.nics.iter().any(|n| n.network == net),
        "conformance: the vm does not show the attached nic: {:?}",
        vm.nics
    );
    let addresses: BTreeSet<_> = vm.nics.iter().filter_map(|n| n.address).collect();
    assert_eq!(
        addresses.len(),
        vm.nics.iter().filter(|n| n.address.is_some()).count(),
        "conformance: two nics share an address"
    );
    let nic_id = vm
        .nics
        .iter()
        .find(|n| n.network == net)
        .map(|n| n.id.clone())
        .expect("checked");
    c.detach_nic(&vm.id, &nic_id).await.must("detach nic");
    let vm = reread(vm).await;
    assert!(
        !vm.nics.iter().any(|n| n.network == net),
        "conformance: the nic is still there after detach: {:?}",
        vm.nics
    );
    if restart {
        c.start_vm(&vm.id).await.must("start after detaching");
    }
    t.delete_vms(&[vm.id]).await;
    if created {
        t.delete_network(&net).await;
    }
}

/// Networks: create, idempotent create, AlreadyExists, get, list, delete; or `Unsupported`.
pub async fn networks(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-net");
    let (true, Some(make)) = (c.capabilities().network_create, &t.network_spec) else {
        if !c.capabilities().network_create {
            let spec = t
                .network_spec
                .as_ref()
                .map_or_else(|| NetworkSpec::new(&name, None), |m| m(&name, 2));
            expect_unsupported(c.create_network(&spec).await, Operation::CreateNetwork);
        }
        return;
    };
    let spec = make(&name, 2);
    let net = c.create_network(&spec).await.must("create network");
    assert_eq!(net.name, name);
    assert_eq!(
        net.ownership.as_ref().map(|o| &o.owner),
        Some(t.owner()),
        "conformance: a created network is not owned"
    );
    let again = c
        .create_network(&spec)
        .await
        .must("create the same network again");
    assert_eq!(
        again.id, net.id,
        "conformance: the same network spec twice made two networks"
    );
    let other = make(&name, 3);
    if other != spec {
        expect_kind(
            "create another network under a taken name",
            c.create_network(&other).await,
            &ErrorKind::AlreadyExists,
        );
    }
    let got = eventually!(
        "get the new network",
        match c.get_network(&net.id).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    );
    assert_eq!(got.id, net.id);
    let listed = c
        .list_all_networks(&NetworkQuery::default())
        .await
        .must("list networks");
    assert!(
        listed.iter().any(|n| n.id == net.id),
        "conformance: the new network is not listed"
    );
    assert!(
        listed
            .iter()
            .all(|n| n.ownership.as_ref().map(|o| &o.owner) == Some(t.owner())),
        "conformance: listing owned networks shows others"
    );
    let by_name = c
        .list_all_networks(&NetworkQuery {
            name: Some(name.clone()),
            ..Default::default()
        })
        .await
        .must("list networks by name");
    assert_eq!(
        by_name.iter().map(|n| &n.id).collect::<Vec<_>>(),
        vec![&net.id]
    );
    t.delete_network(&net.id).await;
    c.delete_network(&net.id)
        .await
        .must("delete an already deleted network");
    let listed = c
        .list_all_networks(&NetworkQuery::default())
        .await
        .must("list networks");
    assert!(
        !listed.iter().any(|n| n.id == net.id),
        "conformance: the deleted network is still listed"
    );
}

/// VIPs: allocate, idempotent allocate, get, list, move, release; or `Unsupported`.
pub async fn vips(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    let name = unique("cf-vip");
    if caps.vip == VipSupport::None {
        expect_unsupported(
            c.allocate_vip(&VipSpec::new(&name, "vm-conformance")).await,
            Operation::AllocateVip,
        );
        expect_unsupported(c.list_vips(&VipQuery::default()).await, Operation::ListVips);
        return;
    }
    let a = t.running_vm(&format!("{name}-a")).await;
    let b = t.running_vm(&format!("{name}-b")).await;
    let spec = VipSpec::new(&name, a.id.clone());
    let vip = c.allocate_vip(&spec).await.must("allocate vip");
    assert_eq!(vip.name, name);
    assert_eq!(
        vip.vm.as_ref(),
        Some(&a.id),
        "conformance: the vip is not bound to the vm asked for"
    );
    assert_eq!(&vip.ownership.owner, t.owner());
    let vm_addresses: BTreeSet<_> = [&a, &b]
        .iter()
        .flat_map(|v| v.nics.iter().filter_map(|n| n.address))
        .collect();
    assert!(
        !vm_addresses.contains(&vip.address),
        "conformance: the vip {} is a vm's own address",
        vip.address
    );
    let again = c
        .allocate_vip(&spec)
        .await
        .must("allocate the same vip again");
    assert_eq!(
        again.id, vip.id,
        "conformance: the same vip spec twice made two vips"
    );
    assert_eq!(
        c.get_vip(&vip.id).await.must("get vip").address,
        vip.address
    );
    let listed = c.list_vips(&VipQuery::default()).await.must("list vips");
    assert!(
        listed.iter().any(|v| v.id == vip.id),
        "conformance: the vip is not listed"
    );
    let on_a = c
        .list_vips(&VipQuery {
            vm: Some(a.id.clone()),
            ..Default::default()
        })
        .await
        .must("list vips by vm");
    assert_eq!(
        on_a.iter().map(|v| &v.id).collect::<Vec<_>>(),
        vec![&vip.id]
    );

    if caps.vip_move {
        let moved = c.move_vip(&vip.id, &b.id).await.must("move vip");
        assert_eq!(
            moved.vm.as_ref(),
            Some(&b.id),
            "conformance: the moved vip is not on the new vm"
        );
        assert_eq!(
            moved.address, vip.address,
            "conformance: moving a vip changed its address"
        );
        let got = c.get_vip(&vip.id).await.must("get moved vip");
        assert_eq!(got.vm.as_ref(), Some(&b.id));
        let on_b = c
            .list_vips(&VipQuery {
                vm: Some(b.id.clone()),
                ..Default::default()
            })
            .await
            .must("list vips on b");
        assert!(
            on_b.iter().any(|v| v.id == vip.id),
            "conformance: the moved vip is not listed on its new vm"
        );
        c.move_vip(&vip.id, &b.id)
            .await
            .must("move vip to where it is");
    } else {
        expect_unsupported(c.move_vip(&vip.id, &b.id).await, Operation::MoveVip);
    }

    c.release_vip(&vip.id).await.must("release vip");
    expect_kind(
        "get a released vip",
        c.get_vip(&vip.id).await,
        &ErrorKind::NotFound,
    );
    let listed = c.list_vips(&VipQuery::default()).await.must("list vips");
    assert!(
        !listed.iter().any(|v| v.id == vip.id),
        "conformance: the released vip is still listed"
    );
    c.release_vip(&vip.id)
        .await
        .must("release an already released vip");
    t.delete_vms(&[a.id, b.id]).await;
}

/// A tag-defined or native group: 0 -> 3 -> 1 -> 0, members named by ordinal.
pub async fn groups(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-grp");
    let spec = GroupSpec {
        name: name.clone(),
        size: t.size.clone(),
        image: t.image.clone(),
        network: t.network.clone(),
        tags: [("suite".to_owned(), "conformance".to_owned())].into(),
    };
    if c.capabilities().group == GroupSupport::None {
        expect_unsupported(c.scale_group(&spec, 1).await, Operation::ScaleGroup);
        return;
    }
    let empty = c
        .get_group(&name)
        .await
        .must("get a group that has no members yet");
    assert!(
        empty.members.is_empty(),
        "conformance: a new group has members: {:?}",
        empty.members
    );

    // Tag-defined groups name members GROUP-ORDINAL; a native group (ASG, Deployment) names
    // them itself, so there only the count is checked.
    let tagged = c.capabilities().group == GroupSupport::Tagged;
    let ordinals = |g: &strato_core::Group| -> Vec<u32> {
        let live = g.members.iter().filter(|m| m.state.is_live());
        if !tagged {
            return (0..live.count() as u32).collect();
        }
        let mut o: Vec<u32> = live
            .filter_map(|m| member_ordinal(&name, &m.name))
            .collect();
        o.sort();
        o
    };
    let group = c
        .scale_group_and_wait(&spec, 3, wait_opts())
        .await
        .must("scale group to 3");
    assert_eq!(
        ordinals(&group),
        vec![0, 1, 2],
        "conformance: members are not named by ordinal"
    );
    // A repeated scale is a no-op.
    c.scale_group(&spec, 3).await.must("scale group to 3 again");
    let group = eventually!("group has exactly 3 members", {
        let g = c.get_group(&name).await?;
        Ok((g.members.len() == 3).then_some(g))
    });
    assert_eq!(
        ordinals(&group),
        vec![0, 1, 2],
        "conformance: scaling to the same size changed members"
    );
    assert!(
        group
            .members
            .iter()
            .all(|m| m.group() == Some(name.as_str())),
        "conformance: a member lacks its group"
    );
    let by_group = c
        .list_all_vms(&VmQuery {
            group: Some(name.clone()),
            ..Default::default()
        })
        .await
        .must("list vms by group");
    assert_eq!(
        by_group.len(),
        3,
        "conformance: listing by group found {} vms",
        by_group.len()
    );

    c.scale_group(&spec, 1).await.must("scale group to 1");
    let group = eventually!("group shrinks to 1", {
        let g = c.get_group(&name).await?;
        Ok((g.members.iter().filter(|m| m.state.is_live()).count() == 1).then_some(g))
    });
    assert_eq!(
        ordinals(&group),
        vec![0],
        "conformance: scale-down did not remove the highest ordinals"
    );

    c.scale_group(&spec, 0).await.must("scale group to 0");
    eventually!("group is empty", {
        let g = c.get_group(&name).await?;
        Ok(g.members.iter().all(|m| !m.state.is_live()).then_some(()))
    });
    eventually!("group members leave the list", {
        let l = c
            .list_all_vms(&VmQuery {
                group: Some(name.clone()),
                ..Default::default()
            })
            .await?;
        Ok(l.is_empty().then_some(()))
    });
}

/// Error kinds: `NotFound` for missing resources, `InvalidSpec` naming the field for bad specs.
pub async fn error_kinds(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    let name = unique("cf-err");

    // Bad specs are refused and make nothing.
    let mut bad = t.vm_spec("Bad_Name");
    let e = expect_kind(
        "create a vm named Bad_Name",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.field() == Some("name") || e.to_string().contains("name"),
        "conformance: error does not name the field: {e}"
    );
    assert!(
        e.to_string().contains("Bad_Name"),
        "conformance: error does not name the value: {e}"
    );
    bad = t.vm_spec(&name).with_tag(OWNER_TAG, "someone-else");
    let e = expect_kind(
        "create a vm with a reserved tag",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.to_string().contains(OWNER_TAG),
        "conformance: error does not name the reserved tag: {e}"
    );
    bad = t.vm_spec(&name).with_network("no-such-network-0");
    let e = expect_kind(
        "create a vm on a missing network",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.field() == Some("network") || e.to_string().contains("network"),
        "conformance: error does not name the field: {e}"
    );
    assert!(
        e.to_string().contains("no-such-network-0"),
        "conformance: error does not name the value: {e}"
    );
    let mut made = t.vms_named(&name).await.must("list vms");
    made.extend(t.vms_named("Bad_Name").await.must("list vms"));
    assert!(
        made.is_empty(),
        "conformance: refused creates made vms: {made:?}"
    );

    // A VM id that looked valid a moment ago.
    let vm = t.running_vm(&name).await;
    if caps.vip != VipSupport::None {
        let vip = c
            .allocate_vip(&VipSpec::new(&name, vm.id.clone()))
            .await
            .must("allocate vip");
        c.release_vip(&vip.id).await.must("release vip");
        expect_kind(
            "get a released vip",
            c.get_vip(&vip.id).await,
            &ErrorKind::NotFound,
        );
    }
    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    // Clouds that keep deleted VMs visible for a while (EC2) report them as deleted instead.
    let gone = match c.get_vm(&vm.id).await {
        Err(e) if e.is_not_found() => true,
        Ok(v) if v.state == VmState::Deleted => false,
        other => panic!("conformance: get of a deleted vm: expected not_found, got {other:?}"),
    };
    if gone && caps.vm_stop_start {
        expect_kind(
            "stop a deleted vm",
            c.stop_vm(&vm.id).await,
            &ErrorKind::NotFound,
        );
    }

    if let (true, Some(make)) = (caps.network_create, &t.network_spec) {
        let net = c
            .create_network(&make(&name, 4))
            .await
            .must("create network");
        t.delete_network(&net.id).await;
        expect_kind(
            "get a deleted network",
            c.get_network(&net.id).await,
            &ErrorKind::NotFound,
        );
    }
    if caps.vip != VipSupport::None {
        expect_kind(
            "get a vip that never was",
            c.get_vip(&VipId::new("vip-0000dead")).await,
            &ErrorKind::NotFound,
        );
    }
}

/// Another owner's resources are invisible and untouchable.
pub async fn ownership(t: &Target) {
    let c = &t.connector;
    let f = &t.foreign;
    assert_ne!(
        c.info().owner,
        f.info().owner,
        "conformance: target and foreign have the same owner"
    );
    let caps = c.capabilities();
    let name = unique("cf-own");
    let mut spec = VmSpec::new(format!("{name}-f"), t.size.clone(), t.image.clone());
    spec.network = t.network.clone();
    let theirs = f.create_vm(&spec).await.must("foreign creates a vm");
    f.wait_running(&theirs.id, wait_opts())
        .await
        .must("foreign vm runs");
    let mine = t.running_vm(&format!("{name}-m")).await;

    let listed = c.list_all_vms(&VmQuery::default()).await.must("list vms");
    assert!(
        !listed.iter().any(|v| v.id == theirs.id),
        "conformance: another owner's vm is listed"
    );
    assert!(
        listed.iter().all(|v| &v.ownership.owner == t.owner()),
        "conformance: list_vms shows vms of other owners"
    );
    let deleted_too = c
        .list_all_vms(&VmQuery {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .must("list vms");
    assert!(
        !deleted_too.iter().any(|v| v.id == theirs.id),
        "conformance: another owner's vm is listed"
    );
    expect_kind(
        "get another owner's vm",
        c.get_vm(&theirs.id).await,
        &ErrorKind::NotFound,
    );
    expect_kind(
        "delete another owner's vm",
        c.delete_vm(&theirs.id).await,
        &ErrorKind::NotFound,
    );
    if caps.vm_stop_start {
        expect_kind(
            "stop another owner's vm",
            c.stop_vm(&theirs.id).await,
            &ErrorKind::NotFound,
        );
    }
    let still = f.get_vm(&theirs.id).await.must("foreign reads its vm");
    assert_eq!(
        still.state,
        VmState::Running,
        "conformance: another owner's vm was touched"
    );

    if caps.vip != VipSupport::None {
        let vip = f
            .allocate_vip(&VipSpec::new(format!("{name}-f"), theirs.id.clone()))
            .await
            .must("foreign allocates a vip");
        let listed = c.list_vips(&VipQuery::default()).await.must("list vips");
        assert!(
            !listed.iter().any(|v| v.id == vip.id),
            "conformance: another owner's vip is listed"
        );
        expect_kind(
            "get another owner's vip",
            c.get_vip(&vip.id).await,
            &ErrorKind::NotFound,
        );
        expect_kind(
            "release another owner's vip",
            c.release_vip(&vip.id).await,
            &ErrorKind::NotFound,
        );
        if caps.vip_move {
            expect_kind(
                "move another owner's vip",
                c.move_vip(&vip.id, &mine.id).await,
                &ErrorKind::NotFound,
            );
        }
        let still = f.get_vip(&vip.id).await.must("foreign reads its vip");
        assert_eq!(
            still.vm.as_ref(),
            Some(&theirs.id),
            "conformance: another owner's vip was moved"
        );
        f.release_vip(&vip.id)
            .await
            .must("foreign releases its vip");
    }

    if let (true, Some(make)) = (caps.network_create, &t.network_spec) {
        let net = f
            .create_network(&make(&format!("{name}-f"), 5))
            .await
            .must("foreign creates a network");
        let listed = c
            .list_all_networks(&NetworkQuery::default())
            .await
            .must("list networks");
        assert!(
            !listed.iter().any(|n| n.id == net.id),
            "conformance: another owner's network is listed"
        );
        expect_kind(
            "delete another owner's network",
            c.delete_network(&net.id).await,
            &ErrorKind::NotFound,
        );
        f.get_network(&net.id)
            .await
            .must("foreign reads its network");
        f.delete_network(&net.id)
            .await
            .must("foreign deletes its network");
    }

    f.delete_vm(&theirs.id).await.must("foreign deletes its vm");
    t.delete_vms(&[mine.id]).await;
}

/// Nothing owned remains: no VM, VIP or network (run after the other checks).
pub async fn nothing_leaked(t: &Target) {
    let c = &t.connector;
    let vms = eventually!("no owned vm remains", {
        let l = c.list_all_vms(&VmQuery::default()).await?;
        Ok(Some(l))
    });
    assert!(
        vms.is_empty(),
        "conformance: vms leaked: {:?}",
        vms.iter().map(|v| (&v.id, &v.name)).collect::<Vec<_>>()
    );
    if c.capabilities().vip != VipSupport::None {
        let vips = c.list_vips(&VipQuery::default()).await.must("list vips");
        assert!(vips.is_empty(), "conformance: vips leaked: {vips:?}");
    }
    let nets = c
        .list_all_networks(&NetworkQuery::default())
        .await
        .must("list networks");
    assert!(nets.is_empty(), "conformance: networks leaked: {nets:?}");
}

/// Hosts: clouds that show them list them and pin a VM to the one asked for (idempotently, and
/// an unknown host is a spec error naming `host`); the others refuse both as unsupported.
pub async fn hosts(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-host");
    let mut spec = t.vm_spec(&name);
    if !c.capabilities().host_pinning {
        expect_unsupported(c.list_hosts().await, Operation::ListHosts);
        spec.host = Some(HostId::new("no-such-host"));
        let e = expect_kind(
            "create a vm pinned to a host on a cloud without hosts",
            c.create_vm(&spec).await,
            &ErrorKind::Unsupported,
        );
        assert_eq!(e.field(), Some("host"), "conformance: {e}");
        return;
    }
    let hosts = c.list_hosts().await.must("list hosts");
    let ready: Vec<_> = hosts.iter().filter(|h| h.ready).collect();
    assert!(
        !ready.is_empty(),
        "conformance: a cloud with host pinning lists no ready host: {hosts:?}"
    );
    // A host other than the one the cloud picks by itself, so that a connector ignoring the
    // pin cannot pass by accident.
    let probe = c
        .create_vm(&t.vm_spec(&unique("cf-host")))
        .await
        .must("create an unpinned vm");
    let probe = c
        .wait_running(&probe.id, wait_opts())
        .await
        .must("wait for the unpinned vm to run");
    let host = ready
        .iter()
        .find(|h| Some(&h.id) != probe.host.as_ref())
        .unwrap_or(&ready[0])
        .id
        .clone();
    c.delete_vm(&probe.id).await.must("delete the unpinned vm");
    spec.host = Some(host.clone());
    let vm = c
        .create_vm(&spec)
        .await
        .must("create a vm pinned to a host");
    let again = c.create_vm(&spec).await.must("create the pinned vm again");
    assert_eq!(
        again.id, vm.id,
        "conformance: a pinned create is not idempotent"
    );
    let vm = c
        .wait_running(&vm.id, wait_opts())
        .await
        .must("wait for the pinned vm to run");
    assert_eq!(
        vm.host.as_ref(),
        Some(&host),
        "conformance: the vm pinned to {host} runs on {:?}",
        vm.host
    );

    let mut bad = t.vm_spec(&unique("cf-host"));
    bad.host = Some(HostId::new("strato-no-such-host"));
    let e = expect_kind(
        "create a vm pinned to a host that does not exist",
        c.create_vm(&bad).await,
        &ErrorKind::InvalidSpec,
    );
    assert_eq!(e.field(), Some("host"), "conformance: {e}");

    c.delete_vm(&vm.id).await.must("delete the pinned vm");
    eventually!("the host check's vms are gone", {
        Ok(t.vms_named("cf-host").await?.is_empty().then_some(()))
    });
}

/// Closing ends the session and is not an error the second time (run last: on clouds with
/// sessions, a later call has to log in again).
pub async fn close(t: &Target) {
    t.connector.close().await.must("close the connector");
    t.connector.close().await.must("close the connector again");
}

/// Runs every check the target's capabilities call for, one after the other, then checks that
/// nothing leaked. Panics at the first failure, naming the check.
pub async fn run_all(target: &Target) {
    let info = target.connector.info();
    eprintln!(
        "conformance: {} (account {:?}, region {:?}, owner {}): {:?}",
        info.kind,
        info.account,
        info.region,
        info.owner,
        target.connector.capabilities()
    );
    macro_rules! check {
        ($name:ident) => {
            eprintln!("conformance: check {}", stringify!($name));
            $name(target).await;
        };
    }
    check!(vm_lifecycle);
    check!(idempotent_create);
    check!(list_paging);
    check!(error_kinds);
    check!(ownership);
    check!(networks);
    check!(nic_attach_detach);
    check!(vips);
    check!(groups);
    check!(hosts);
    check!(nothing_leaked);
    check!(close);
    eprintln!("conformance: {} passed", info.kind);
}

/// Like [`run_all`], but runs the independent checks at the same time (faster on a slow
/// backend, and a test of the connector under concurrent use), then checks that nothing leaked.
pub async fn run_concurrently(target: &Target) {
    use futures::future::{LocalBoxFuture, join_all};
    let info = target.connector.info();
    eprintln!(
        "conformance: {} (owner {}): all checks at once",
        info.kind, info.owner
    );
    macro_rules! checks {
        ($($name:ident),*) => {
            vec![$(Box::pin(async move {
                eprintln!("conformance: check {} started", stringify!($name));
                $name(target).await;
                eprintln!("conformance: check {} passed", stringify!($name));
            }) as LocalBoxFuture<'_, ()>),*]
        };
    }
    join_all(checks!(
        vm_lifecycle,
        idempotent_create,
        list_paging,
        error_kinds,
        ownership,
        networks,
        nic_attach_detach,
        vips,
        groups,
        hosts
    ))
    .await;
    eprintln!("conformance: check nothing_leaked");
    nothing_leaked(target).await;
    eprintln!("conformance: check close");
    close(target).await;
    eprintln!("conformance: {} passed", info.kind);
}
