//! A three-member etcd cluster on loopback (started here from the fixture's binary,
//! `STRATO_TEST_ETCD_BIN`) losing its quorum under a leader that runs the real controller on the
//! memory cloud: with two of three members stopped (SIGSTOP) the leader loses its lease within
//! its TTL, and no call that changes the cloud reaches it while the quorum is gone, even with a
//! SE VM to replace; once the members return, a controller is elected again (as a supervisor
//! restarts a fail-stopped one) and replaces the SE.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strato_controller::ControllerOptions;
use strato_controller::agent::LoadModel;
use strato_controller::leader::{LeaseGate, campaign};
use strato_controller::store::{EtcdOptions, EtcdStore, Precondition, StateStore};
use strato_core::layers::Layered;
use strato_core::{CloudConnector, Operation};
use strato_memory::{MemoryConfig, MemoryConnector};
use strato_testkit::{CallLog, HarnessConfig, vms};

/// One etcd member; stopped and its data removed when dropped.
struct Member(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Member {
    fn drop(&mut self) {
        signal(&self.0, "-CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(c: &Child, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, &c.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three members on loopback, one cluster; their client URLs.
fn cluster() -> (Vec<Member>, Vec<String>) {
    let bin = std::env::var("STRATO_TEST_ETCD_BIN").unwrap_or_else(|_| {
        panic!(
            "STRATO_TEST_ETCD_BIN is not set: start etcd with `fixtures/etcd/up DIR && . DIR/env` \
             (scripts/test does)"
        )
    });
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let peers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("q{i}=http://127.0.0.1:{p}"))
        .collect();
    let token = format!("quorum-{}-{}", std::process::id(), ports[0].0);
    let mut members = Vec::new();
    let mut urls = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(&bin)
            .args(["--name", &format!("q{i}"), "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &peers.join(",")])
            .args(["--initial-cluster-token", &token])
            .args(["--initial-cluster-state", "new"])
            // Loopback: a short heartbeat and election, so the quorum's return is quick.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        members.push(Member(child, dir));
        urls.push(url);
    }
    (members, urls)
}

fn options() -> ControllerOptions {
    ControllerOptions {
        report_interval: Duration::from_secs(1),
        missed_reports: 3,
        resync: Duration::from_secs(1),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        long_poll: Duration::from_secs(2),
        ..ControllerOptions::default()
    }
}

fn mutations(log: &CallLog) -> Vec<Operation> {
    log.calls().into_iter().map(|(op, _)| op).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_of_three_members_down_no_cloud_change_and_recovery_when_quorum_returns() {
    let (members, endpoints) = cluster();
    let opts = EtcdOptions {
        endpoints,
        prefix: "/quorum".into(),
        timeout: Duration::from_secs(1),
        ..EtcdOptions::default()
    };
    // Every member answers (the client spreads its requests over all of them).
    let t = Instant::now();
    for e in &opts.endpoints {
        let one = EtcdOptions {
            endpoints: vec![e.clone()],
            ..opts.clone()
        };
        loop {
            if let Ok(s) = EtcdStore::connect(&one).await
                && s.put("probe", vec![], Precondition::Any).await.is_ok()
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "the cluster did not form"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
    let ttl = Duration::from_secs(2);
    let lead = campaign(&store, "http://a", ttl).await.unwrap();
    let cloud: Arc<dyn CloudConnector> = Arc::new(
        MemoryConnector::from_settings(
            MemoryConfig {
                boot_latency: Duration::from_millis(200),
                ..MemoryConfig::default()
            },
            strato_testkit::unique_owner("quorum"),
        )
        .unwrap(),
    );
    // What reaches the cloud: the log sits inside the gate, so it sees only the calls let through.
    let log = CallLog::default();
    log.on.store(true, Ordering::SeqCst);
    let gated = |l| Layered::wrap(Layered::wrap(cloud.clone(), log.clone()), LeaseGate(l));
    let harness = HarnessConfig {
        options: options(),
        fleet_sync: Duration::from_millis(200),
        poll: Duration::from_millis(100),
        ..HarnessConfig::new("lab")
    };
    let h = harness
        .start_with_view(
            cloud.clone(),
            gated(lead.clone()),
            store.clone(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.setup(
        strato_testkit::group("lab", "se-1", "web", 2, 2),
        Some(strato_testkit::pool("10.0.200.0/24", &[])),
    )
    .await;
    h.wait_for("two healthy SEs", Duration::from_secs(15), || async {
        h.healthy("web") == 2
    })
    .await;

    // Two of three members stop: no quorum. The lease is lost within its TTL (and a bit).
    assert!(signal(&members[1].0, "-STOP") && signal(&members[2].0, "-STOP"));
    let cut = Instant::now();
    tokio::time::timeout(ttl * 3, lead.lost())
        .await
        .expect("the leadership is lost when the quorum is");
    eprintln!("leadership lost {:?} after the quorum", cut.elapsed());
    let before = mutations(&log);
    // One SE's VM disappears: a leader would replace it. Without quorum, nothing is done.
    let gone = vms(&*cloud, "web").await.remove(0);
    cloud.delete_vm(&gone.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        mutations(&log),
        before,
        "a call that changes the cloud reached it without quorum"
    );
    assert_eq!(vms(&*cloud, "web").await.len(), 1);
    assert!(
        h.ctl
            .apply_virtual_service(strato_testkit::vs("cart", "web"))
            .await
            .is_err(),
        "no write without quorum"
    );

    // The quorum returns: a controller is elected again (the old one fail-stops; its
    // supervisor starts it anew) and replaces the SE.
    h.crash().await;
    assert!(signal(&members[1].0, "-CONT") && signal(&members[2].0, "-CONT"));
    let back = Instant::now();
    let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
    let lead = tokio::time::timeout(Duration::from_secs(15), campaign(&store, "http://b", ttl))
        .await
        .expect("elected again once the quorum returns")
        .unwrap();
    eprintln!(
        "elected again {:?} after the quorum returned",
        back.elapsed()
    );
    let h = harness
        .start_with_view(
            cloud.clone(),
            gated(lead.clone()),
            store.clone(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.wait_for("the SE replaced", Duration::from_secs(15), || async {
        h.healthy("web") == 2
    })
    .await;
    assert!(
        mutations(&log)[before.len()..].contains(&Operation::CreateVm),
        "{:?}",
        mutations(&log)
    );
    assert_eq!(vms(&*cloud, "web").await.len(), 2, "replaced once");
    h.crash().await;
}
