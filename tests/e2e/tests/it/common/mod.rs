//! Harness of the AWS end-to-end tests: the real controller on the real AWS connector against
//! moto, with simulated agents, in real time.
//!
//! Real time, not tokio's paused clock: the connector talks HTTP to moto, and a paused clock
//! auto-advances while a task waits on a socket, firing timeouts that never happened. The
//! controller runs with second-scale options instead ([`options`]), and every wait is bounded
//! and prints the controller's status when it gives up.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_aws::{AwsConnector, AwsSettings, static_ec2_config};
use strato_controller::agent::{LoadModel, LocalTransport, SimFleet};
use strato_controller::model::*;
use strato_controller::store::{MemoryStore, StateStore};
use strato_controller::{Controller, ControllerOptions, ControllerStatus};
use strato_core::layers::{Around, Call, LayerConfig, Layered};
use strato_core::{
    CloudConnector, CloudConnectorExt, CloudInfo, OWNER_TAG, Operation, OwnerId, Size, Vip,
    VipQuery, Vm, VmQuery,
};
use tokio::task::JoinHandle;

/// The cloud profile name the SE groups use.
pub const CLOUD: &str = "aws";
/// A default AMI moto ships.
pub const AMI: &str = "ami-12c6146b";
/// The test subnet; instances get their primary addresses from its bottom up (moto allocates
/// them sequentially), IPAM-backed VIPs come from [`pool`] at its top.
pub const SUBNET_CIDR: &str = "10.0.0.0/24";

/// Each test has its own moto region: moto keeps one state per region, and every call costs
/// time in proportion to the instances a region holds, so tests sharing one would slow each
/// other down. None of these is used by the connector's own moto tests.
pub mod region {
    /// VS creation, VIP, DNS, agent config, teardown.
    pub const CREATE: &str = "us-west-2";
    /// Scale out and in.
    pub const SCALE: &str = "eu-central-1";
    /// Dead SE replacement.
    pub const FAILOVER: &str = "ap-northeast-1";
    /// Restart mid-scale and adoption by tags.
    pub const RESTART: &str = "ap-southeast-1";
    /// Lost responses and failed calls.
    pub const FAULTS: &str = "sa-east-1";
    /// A VIP adopted from an earlier process.
    pub const ADOPT_VIP: &str = "ap-northeast-2";
}

/// The moto endpoint from `fixtures/moto/up`, or a failure telling how to get one.
pub fn moto_url() -> String {
    match std::env::var("STRATO_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "STRATO_TEST_MOTO_URL is not set: the AWS end-to-end tests need the moto EC2 emulator. \
             Run ./scripts/test (it starts fixtures/moto/up), or \
             `fixtures/moto/up /tmp/motostate && . /tmp/motostate/env`."
        ),
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// An owner unique to this process and call (tests run in parallel on one moto).
pub fn owner(prefix: &str) -> OwnerId {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    OwnerId::new(format!("e2e-{prefix}-p{}-{n}", std::process::id())).expect("valid owner")
}

/// One test's place in moto: an endpoint, a region and a fresh VPC with one subnet.
#[derive(Clone, Debug)]
pub struct Moto {
    pub url: String,
    pub region: &'static str,
    pub vpc: String,
    pub subnet: String,
}

impl Moto {
    /// A fresh VPC (10.0.0.0/16) and subnet ([`SUBNET_CIDR`]) in `region`, made with the raw SDK.
    pub async fn new(region: &'static str) -> Self {
        let url = moto_url();
        let ec2 = raw_client(&url, region);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("create vpc");
        let vpc = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_owned();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(SUBNET_CIDR)
            .send()
            .await
            .expect("create subnet");
        let subnet = subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_owned();
        Self {
            url,
            region,
            vpc,
            subnet,
        }
    }

    /// The bare AWS connector of `owner` (what the assertions read the cloud with).
    pub fn connector(&self, owner: &OwnerId) -> Arc<AwsConnector> {
        let settings = AwsSettings {
            subnet: Some(self.subnet.clone()),
            vpc: Some(self.vpc.clone()),
            ..Default::default()
        };
        let conf = static_ec2_config(&self.url, self.region, "testing", "testing");
        Arc::new(AwsConnector::from_conf(conf, owner.clone(), settings))
    }

    /// The raw EC2 client (for reads strato does not make, and for sabotage).
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        raw_client(&self.url, self.region)
    }

    /// Live (pending or running) instances carrying `owner`'s tag, counted with the raw SDK, so
    /// that an instance the connector would not show (a missing name tag, say) still counts.
    pub async fn raw_live_instances(&self, owner: &OwnerId) -> Vec<String> {
        let out = self
            .ec2()
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{OWNER_TAG}"))
                    .values(owner.as_str())
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-state-name")
                    .values("running")
                    .values("pending")
                    .build(),
            )
            .send()
            .await
            .expect("describe instances");
        let mut ids: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The private addresses of an instance's primary ENI (device index 0), read raw.
    pub async fn primary_eni_ips(&self, instance: &str) -> Vec<IpAddr> {
        let out = self
            .ec2()
            .describe_network_interfaces()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .values(instance)
                    .build(),
            )
            .send()
            .await
            .expect("describe network interfaces");
        out.network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| n.private_ip_addresses())
            .filter_map(|a| a.private_ip_address()?.parse().ok())
            .collect()
    }

    /// Terminates an instance behind the controller's back.
    pub async fn terminate(&self, instance: &str) {
        self.ec2()
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .expect("terminate instances");
    }
}

fn raw_client(url: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(static_ec2_config(url, region, "testing", "testing").build())
}

/// The connector the controller gets: the production layer stack (observe, retry, rate limit,
/// timeout) around `inner`.
pub fn controller_cloud(inner: Arc<dyn CloudConnector>) -> Arc<dyn CloudConnector> {
    strato_core::layers::stack(inner, &LayerConfig::default())
}

/// `inner` wrapped in one test layer.
pub fn with<A: Around>(inner: Arc<dyn CloudConnector>, layer: A) -> Arc<dyn CloudConnector> {
    Layered::wrap(inner, layer)
}

/// Second-scale controller options (the agents report at most once a second, so the report
/// interval cannot be shorter).
pub fn options() -> ControllerOptions {
    ControllerOptions {
        report_interval: Duration::from_secs(1),
        missed_reports: 3,
        resync: Duration::from_secs(1),
        inflight_grace: Duration::from_secs(10),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        long_poll: Duration::from_secs(2),
        boot_timeout: Duration::from_secs(60),
    }
}

/// An SE group on the AWS profile: 2 vCPU / 4 GiB (t3.medium), 100 rps per SE at a 50 % target.
pub fn group(name: &str, min: u32, max: u32) -> SeGroup {
    SeGroup {
        name: name.into(),
        cloud: CLOUD.into(),
        template: SeTemplate {
            size: Size::shape(2, 4096),
            image: AMI.into(),
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
            target_utilisation: 0.5,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(6),
        },
    }
}

pub fn vs(name: &str, group: &str) -> VirtualService {
    VirtualService {
        name: name.into(),
        fqdn: format!("{name}.apps.example.com"),
        ports: vec![ServicePort {
            port: 80,
            protocol: Protocol::Http,
        }],
        members: vec![Member {
            address: "192.168.1.10".parse().unwrap(),
            port: 8080,
            weight: 1,
        }],
        se_group: group.into(),
        min_ses: 1,
        max_ses: 10,
        vip: None,
    }
}

/// An IPAM pool at the top of the test subnet (moto hands out primary addresses from the
/// bottom), so pool addresses are valid secondary IPs of the SEs' ENIs.
pub fn pool() -> IpamPool {
    IpamPool {
        name: "vips".into(),
        network: DEFAULT_NETWORK.into(),
        cidr: SUBNET_CIDR.parse().unwrap(),
        reserved: vec![IpRange {
            start: "10.0.0.0".parse().unwrap(),
            end: "10.0.0.199".parse().unwrap(),
        }],
    }
}

pub fn zone() -> DnsZone {
    DnsZone {
        name: "apps.example.com".into(),
        ttl: 20,
    }
}

/// A running controller with its simulated agents.
pub struct Harness {
    pub ctl: Controller,
    pub cloud: Arc<dyn CloudConnector>,
    pub store: Arc<dyn StateStore>,
    pub fleet: Arc<SimFleet>,
    pub load: Arc<LoadModel>,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    pub async fn start(
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Self {
        Self::start_on(CLOUD, cloud, store, load).await
    }

    /// [`Harness::start`] with `cloud` under the profile name `profile` (SE groups name it in
    /// their `cloud`).
    pub async fn start_on(
        profile: &str,
        cloud: Arc<dyn CloudConnector>,
        store: Arc<dyn StateStore>,
        load: Arc<LoadModel>,
    ) -> Self {
        let clouds = BTreeMap::from([(profile.to_owned(), cloud.clone())]);
        let ctl = Controller::new(store.clone(), clouds, options())
            .await
            .expect("controller");
        let runner = tokio::spawn(ctl.clone().run(std::future::pending()));
        let fleet = Arc::new(SimFleet::new(
            ctl.clone(),
            cloud.clone(),
            Arc::new(LocalTransport::new(ctl.clone())),
            load.clone(),
        ));
        let ft = fleet.spawn(Duration::from_millis(300));
        Self {
            ctl,
            cloud,
            store,
            fleet,
            load,
            tasks: vec![runner, ft],
        }
    }

    /// Applies the zone, optionally the pool, and the group.
    pub async fn setup(&self, g: SeGroup, with_pool: bool) {
        if with_pool {
            self.ctl.apply_ipam_pool(pool()).await.unwrap();
        }
        self.ctl.apply_dns_zone(zone()).await.unwrap();
        self.ctl.apply_se_group(g).await.unwrap();
    }

    /// Stops the controller and its agents (a crash: nothing is cleaned up).
    pub async fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fleet.stop();
        // Let the aborted tasks unwind (they hold the store and the controller).
        for t in &self.tasks {
            while !t.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    pub fn status(&self) -> ControllerStatus {
        self.ctl.status()
    }

    /// Healthy SEs of a group.
    pub fn healthy(&self, group: &str) -> usize {
        self.status().group(group).map_or(0, |g| g.healthy)
    }

    /// A short account of the controller's view, for failure messages.
    pub fn describe(&self) -> String {
        describe(&self.status())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fleet.stop();
    }
}

/// The status, one line per group, SE and virtual service.
pub fn describe(s: &ControllerStatus) -> String {
    let mut out = String::new();
    for g in &s.groups {
        out.push_str(&format!(
            "\n  group {} desired={:?} healthy={} current={} error={:?} rec={:?}",
            g.name,
            g.desired,
            g.healthy,
            g.current,
            g.last_error,
            g.recommendation.as_ref().map(|r| &r.reason)
        ));
        for se in &g.ses {
            out.push_str(&format!(
                "\n    se {} vm={:?} phase={:?} health={:?} rps={:?} vss={}",
                se.name, se.vm_id, se.phase, se.health, se.rps, se.virtual_services
            ));
        }
    }
    for v in &s.virtual_services {
        out.push_str(&format!(
            "\n  vs {} address={:?} bound_to={:?} placement={:?} dns={:?} vip_error={:?} error={:?}",
            v.name, v.address, v.bound_to, v.placement, v.dns, v.vip_error, v.last_error
        ));
    }
    out
}

/// Waits (real time) until `cond` holds, checking every 100 ms; after `limit` panics with
/// `what` and the controller's status.
pub async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(
    h: &Harness,
    what: &str,
    limit: Duration,
    mut cond: F,
) {
    let start = tokio::time::Instant::now();
    loop {
        if cond().await {
            return;
        }
        if start.elapsed() > limit {
            panic!(
                "timed out after {limit:?} waiting for {what}; controller status:{}",
                h.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live owned VMs of a group, as the connector lists them.
pub async fn vms(cloud: &dyn CloudConnector, group: &str) -> Vec<Vm> {
    let mut v = cloud
        .list_all_vms(&VmQuery {
            group: Some(group.into()),
            ..Default::default()
        })
        .await
        .expect("list vms");
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Every VIP of the connector's owner.
pub async fn vips(cloud: &dyn CloudConnector) -> Vec<Vip> {
    cloud
        .list_vips(&VipQuery::default())
        .await
        .expect("list vips")
}

/// Asks `server` for the A records of `name` over UDP.
pub async fn dns_query(server: SocketAddr, name: &str) -> Vec<IpAddr> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    use std::str::FromStr;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query);
    m.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("the DNS server answered within 5 s")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

pub fn memory_store() -> Arc<dyn StateStore> {
    Arc::new(MemoryStore::new())
}

/// Holds every VM create for `before` ahead of the call and `after` once it answered, while the
/// switch is on: creates are in flight long enough for a crash to land between recording an SE
/// and the cloud answering (or before the call went out at all).
#[derive(Debug, Clone)]
pub struct SlowCreates {
    pub on: Arc<AtomicBool>,
    pub before: Duration,
    pub after: Duration,
}

impl SlowCreates {
    pub fn new(before: Duration, after: Duration) -> Self {
        Self {
            on: Arc::new(AtomicBool::new(false)),
            before,
            after,
        }
    }
}

impl Around for SlowCreates {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> futures::future::BoxFuture<'a, strato_core::Result<T>> {
        Box::pin(async move {
            let slow = op == Operation::CreateVm && self.on.load(Ordering::Relaxed);
            if slow {
                tokio::time::sleep(self.before).await;
            }
            let r = call().await;
            if slow {
                tokio::time::sleep(self.after).await;
            }
            r
        })
    }
}

/// Records every mutating call that reaches the cloud, with its outcome, while switched on.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    pub on: Arc<AtomicBool>,
    pub calls: Arc<Mutex<Vec<(Operation, bool)>>>,
}

impl CallLog {
    /// The calls recorded so far.
    pub fn calls(&self) -> Vec<(Operation, bool)> {
        self.calls.lock().expect("call log").clone()
    }
}

impl Around for CallLog {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> futures::future::BoxFuture<'a, strato_core::Result<T>> {
        Box::pin(async move {
            let r = call().await;
            if op.is_mutating() && self.on.load(Ordering::Relaxed) {
                self.calls.lock().expect("call log").push((op, r.is_ok()));
            }
            r
        })
    }
}

/// EC2's eventual consistency, on demand: the named VMs are missing from lists and
/// `NotYetVisible` to reads while the test says so (DescribeInstances can lag RunInstances).
/// Everything else is forwarded unchanged.
#[derive(Debug)]
pub struct Hide {
    inner: Arc<dyn CloudConnector>,
    /// Names of the VMs to hide.
    pub names: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Hide {
    pub fn new(inner: Arc<dyn CloudConnector>) -> Self {
        Self {
            inner,
            names: Arc::default(),
        }
    }

    fn hidden(&self, vm: &Vm) -> bool {
        self.names.lock().expect("hide").contains(&vm.name)
    }
}

#[async_trait::async_trait]
impl CloudConnector for Hide {
    fn info(&self) -> &CloudInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> strato_core::Capabilities {
        self.inner.capabilities()
    }
    async fn create_vm(&self, spec: &strato_core::VmSpec) -> strato_core::Result<Vm> {
        self.inner.create_vm(spec).await
    }
    async fn get_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        let vm = self.inner.get_vm(id).await?;
        if self.hidden(&vm) {
            return Err(strato_core::Error::new(
                strato_core::ErrorKind::NotYetVisible,
                Operation::GetVm,
                format!("test: vm {id} is not visible yet"),
            ));
        }
        Ok(vm)
    }
    async fn list_vms(&self, query: &VmQuery) -> strato_core::Result<strato_core::Page<Vm>> {
        let mut page = self.inner.list_vms(query).await?;
        page.items.retain(|vm| !self.hidden(vm));
        Ok(page)
    }
    async fn delete_vm(&self, id: &strato_core::VmId) -> strato_core::Result<()> {
        self.inner.delete_vm(id).await
    }
    async fn start_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        self.inner.start_vm(id).await
    }
    async fn stop_vm(&self, id: &strato_core::VmId) -> strato_core::Result<Vm> {
        self.inner.stop_vm(id).await
    }
    async fn create_network(
        &self,
        spec: &strato_core::NetworkSpec,
    ) -> strato_core::Result<strato_core::Network> {
        self.inner.create_network(spec).await
    }
    async fn get_network(
        &self,
        id: &strato_core::NetworkId,
    ) -> strato_core::Result<strato_core::Network> {
        self.inner.get_network(id).await
    }
    async fn list_networks(
        &self,
        query: &strato_core::NetworkQuery,
    ) -> strato_core::Result<strato_core::Page<strato_core::Network>> {
        self.inner.list_networks(query).await
    }
    async fn delete_network(&self, id: &strato_core::NetworkId) -> strato_core::Result<()> {
        self.inner.delete_network(id).await
    }
    async fn attach_nic(
        &self,
        vm: &strato_core::VmId,
        spec: &strato_core::NicSpec,
    ) -> strato_core::Result<strato_core::Nic> {
        self.inner.attach_nic(vm, spec).await
    }
    async fn detach_nic(
        &self,
        vm: &strato_core::VmId,
        nic: &strato_core::NicId,
    ) -> strato_core::Result<()> {
        self.inner.detach_nic(vm, nic).await
    }
    async fn allocate_vip(&self, spec: &strato_core::VipSpec) -> strato_core::Result<Vip> {
        self.inner.allocate_vip(spec).await
    }
    async fn get_vip(&self, id: &strato_core::VipId) -> strato_core::Result<Vip> {
        self.inner.get_vip(id).await
    }
    async fn list_vips(&self, query: &VipQuery) -> strato_core::Result<Vec<Vip>> {
        self.inner.list_vips(query).await
    }
    async fn move_vip(
        &self,
        id: &strato_core::VipId,
        to: &strato_core::VmId,
    ) -> strato_core::Result<Vip> {
        self.inner.move_vip(id, to).await
    }
    async fn release_vip(&self, id: &strato_core::VipId) -> strato_core::Result<()> {
        self.inner.release_vip(id).await
    }
    async fn scale_group(
        &self,
        spec: &strato_core::GroupSpec,
        size: u32,
    ) -> strato_core::Result<strato_core::Group> {
        self.inner.scale_group(spec, size).await
    }
    async fn get_group(&self, name: &str) -> strato_core::Result<strato_core::Group> {
        self.inner.get_group(name).await
    }
    async fn list_hosts(&self) -> strato_core::Result<Vec<strato_core::Host>> {
        self.inner.list_hosts().await
    }
    async fn close(&self) -> strato_core::Result<()> {
        self.inner.close().await
    }
}
