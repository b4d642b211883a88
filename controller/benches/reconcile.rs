//! One reconcile pass over 10,000 virtual services and 2,000 SEs on the memory cloud.
//!
//! Prints the time per steady-state pass and the peak memory (targets: < 50 ms, < 256 MB), and
//! ratios against two baselines measured in the same run: the floor (the one cloud read a pass
//! needs: listing every VM once) and the naive design (one cloud list per SE group, as a
//! reconciler without a shared snapshot would make).
//!
//! `cargo bench -p strato-controller --bench reconcile` (env `BENCH_GROUPS`, `BENCH_SES_PER_GROUP`,
//! `BENCH_VS_PER_GROUP`, `BENCH_PASSES` override the sizes; `BENCH_STORE` = `memory` (default),
//! `redb` or `etcd` (at `STRATO_TEST_ETCD_ENDPOINTS`, fixtures/etcd/up) picks the store). Every
//! run checks that the steady passes write nothing to the store, and prints the time a new
//! controller on the same store takes from its start to the end of its first pass (what a
//! failover costs once the new leader is elected). On etcd, the controller leads (fenced on an
//! etcd lease), and the bench also measures a real failover: the leader stops renewing, and the
//! time from then to the end of the first pass of a standby that campaigned meanwhile.

#[path = "counting_store.rs"]
mod counting_store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strato_controller::leader::campaign;
use strato_controller::model::*;
use strato_controller::runtime::ObjectRef;
use strato_controller::se_protocol::{ReportedHealth, SeReport, VsLoad};
use strato_controller::store::EtcdStore;
use strato_controller::{Controller, ControllerOptions};
use strato_core::{CloudConnector, CloudConnectorExt, OwnerId, Size, VmQuery};
use strato_memory::{MemoryConfig, MemoryConnector};

/// The lease TTL of the failover measured on etcd: a takeover waits for it to run out.
const FAILOVER_TTL: Duration = Duration::from_secs(2);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn report_all(ctl: &Controller) {
    for g in ctl.status().groups {
        for se in g.ses {
            let config = ctl.hub().current(&se.name);
            let mut r = SeReport::new(10.0, 100, ReportedHealth::Up);
            r.config_version = config.as_ref().map_or(0, |c| c.version);
            // The per-service breakdown every span is scaled from.
            if let Some(c) = &config {
                let n = c.virtual_services.len().max(1) as f64;
                for v in &c.virtual_services {
                    let load = VsLoad {
                        rps: 10.0 / n,
                        connections: (100.0 / n) as u64,
                    };
                    r.virtual_services.insert(v.name.clone(), load);
                }
            }
            let _ = ctl.report(&se.name, r);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let groups = env("BENCH_GROUPS", 200);
    let per_group = env("BENCH_SES_PER_GROUP", 10);
    let vs_per_group = env("BENCH_VS_PER_GROUP", 50);
    let passes = env("BENCH_PASSES", 15);
    println!(
        "reconcile bench: {groups} SE groups x {per_group} SEs = {} SEs, {} virtual services",
        groups * per_group,
        groups * vs_per_group
    );

    let settings = MemoryConfig {
        boot_latency: Duration::ZERO,
        ..MemoryConfig::default()
    };
    let cloud: Arc<dyn CloudConnector> =
        Arc::new(MemoryConnector::from_settings(settings, OwnerId::new("bench").unwrap()).unwrap());
    let clouds = BTreeMap::from([("mem".to_owned(), cloud.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let (store, store_kind, etcd) = counting_store::open(dir.path()).await;
    println!("store: {store_kind}");
    // On etcd this controller leads (its writes fenced on its lease), as `controller run` does.
    let leader = match &etcd {
        Some((own, _)) => Some(campaign(own, "http://leader", FAILOVER_TTL).await.unwrap()),
        None => None,
    };
    let ctl = Controller::new(store.clone(), clouds.clone(), ControllerOptions::default())
        .await
        .unwrap();

    let t = Instant::now();
    ctl.apply_ipam_pool(IpamPool {
        name: "vips".into(),
        network: DEFAULT_NETWORK.into(),
        cidr: "10.0.64.0/18".parse().unwrap(),
        reserved: vec![],
    })
    .await
    .unwrap();
    for g in 0..groups {
        ctl.apply_se_group(SeGroup {
            name: format!("g{g}"),
            cloud: "mem".into(),
            template: SeTemplate {
                size: Size::shape(1, 1024),
                image: "se-1".into(),
                network: None,
            },
            min_ses: per_group as u32,
            max_ses: per_group as u32,
            capacity: SeCapacity {
                rps: 1000.0,
                connections: 100_000,
            },
            ha: HaMode::Elastic { buffer: 0 },
            placement: Placement::default(),
            autoscale: AutoscalePolicy::default(),
            max_unavailable: 1,
            max_unhealthy: Share::default(),
            networks: Vec::new(),
        })
        .await
        .unwrap();
        for v in 0..vs_per_group {
            ctl.apply_virtual_service(VirtualService {
                name: format!("vs-{g}-{v}"),
                fqdn: format!("vs-{g}-{v}.bench.example"),
                ports: vec![ServicePort {
                    port: 80,
                    protocol: Protocol::Http,
                }],
                servers: vec![],
                se_group: format!("g{g}"),
                min_ses: 1,
                max_ses: 2,
                vip: None,
                algorithm: Default::default(),
                network: None,
                server_networks: Vec::new(),
            })
            .await
            .unwrap();
        }
    }
    // Converge: create the SEs, let them report, bind every VIP.
    for round in 0..20 {
        ctl.reconcile_all().await;
        report_all(&ctl);
        let s = ctl.status();
        let healthy: usize = s.groups.iter().map(|g| g.healthy).sum();
        let bound = s
            .virtual_services
            .iter()
            .filter(|v| v.bound_to.is_some())
            .count();
        if healthy == groups * per_group && bound == groups * vs_per_group {
            println!(
                "converged in {round} rounds, {:.1}s: {healthy} healthy SEs, {bound} bound VIPs",
                t.elapsed().as_secs_f64()
            );
            break;
        }
        if round == 19 {
            panic!("did not converge: {healthy} healthy SEs, {bound} bound VIPs");
        }
    }
    let vms = cloud.list_all_vms(&VmQuery::default()).await.unwrap().len();
    assert_eq!(vms, groups * per_group, "VM count");

    // Steady-state passes: no cloud change, so a pass is the cloud read plus the decisions,
    // and no write to the store.
    let writes_before = store.writes();
    let mut pass_times = Vec::new();
    for _ in 0..passes {
        report_all(&ctl);
        let t = Instant::now();
        let stats = ctl.reconcile_all().await;
        pass_times.push(t.elapsed());
        assert_eq!(stats.failed, 0);
        assert_eq!(stats.reconciled, groups * (1 + vs_per_group));
    }
    let pass = median(pass_times.clone());
    let steady_writes = store.writes() - writes_before;
    assert_eq!(
        steady_writes, 0,
        "a steady pass writes nothing to the store"
    );

    // A new controller on the same store (a new leader): from its start to its first pass done.
    let t = Instant::now();
    let next = Controller::new(store.clone(), clouds.clone(), ControllerOptions::default())
        .await
        .unwrap();
    let start = t.elapsed();
    report_all(&next);
    let stats = next.reconcile_all().await;
    let takeover = t.elapsed();
    assert_eq!(stats.failed, 0);
    drop(next);

    // On etcd, a real failover: a standby (its own connection) campaigns; the leader dies (stops
    // renewing); measured from its death to the end of the new leader's first pass.
    let failover = match (&etcd, &leader) {
        (Some((leader_store, opts)), Some(leader)) => {
            // This bench runs on one thread: the long converging passes above can starve the
            // renewal past the TTL, and then there is nobody to fail over from. Lead afresh.
            let leader = if leader.is_valid() {
                leader.clone()
            } else {
                println!("(the leader's lease ran out while converging on one thread: led again)");
                campaign(leader_store, "http://leader", FAILOVER_TTL)
                    .await
                    .unwrap()
            };
            let own = Arc::new(EtcdStore::connect(opts).await.unwrap());
            let standby = {
                let own = own.clone();
                tokio::spawn(async move { campaign(&own, "http://standby", FAILOVER_TTL).await })
            };
            // Idle for a while: the standby finds a leader and waits; the leader renews.
            tokio::time::sleep(FAILOVER_TTL).await;
            assert!(!standby.is_finished() && leader.is_valid(), "one leader");
            let died = Instant::now();
            leader.stop_renewing();
            let _new = standby.await.unwrap().unwrap();
            let elected = died.elapsed();
            let next = Controller::new(own, clouds, ControllerOptions::default())
                .await
                .unwrap();
            report_all(&next);
            let stats = next.reconcile_all().await;
            assert_eq!(stats.failed, 0);
            Some((elected, died.elapsed()))
        }
        _ => None,
    };

    // Breakdown: the virtual services alone, then the SE groups alone (which include the read).
    let mut vs_only = Vec::new();
    let mut groups_only = Vec::new();
    for _ in 0..5 {
        report_all(&ctl);
        for g in 0..groups {
            for v in 0..vs_per_group {
                ctl.trigger(ObjectRef::VirtualService(format!("vs-{g}-{v}")));
            }
        }
        let t = Instant::now();
        ctl.run_pass().await;
        vs_only.push(t.elapsed());
        for g in 0..groups {
            ctl.trigger(ObjectRef::SeGroup(format!("g{g}")));
        }
        let t = Instant::now();
        ctl.run_pass().await;
        groups_only.push(t.elapsed());
    }

    // Baseline 1: the one read a pass needs.
    let mut floor = Vec::new();
    for _ in 0..passes {
        let t = Instant::now();
        let all = cloud.list_all_vms(&VmQuery::default()).await.unwrap();
        floor.push(t.elapsed());
        assert_eq!(all.len(), vms);
    }
    let floor = median(floor);
    // Baseline 2: one list per group (a reconciler without a shared snapshot).
    let mut naive = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        for g in 0..groups {
            let q = VmQuery {
                group: Some(format!("g{g}")),
                ..Default::default()
            };
            let n = cloud.list_all_vms(&q).await.unwrap().len();
            assert_eq!(n, per_group);
        }
        naive.push(t.elapsed());
    }
    let naive = median(naive);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "reconcile pass (median of {passes}): {:.2} ms  [target < 50 ms]",
        ms(pass)
    );
    println!(
        "  min {:.2} ms, max {:.2} ms",
        ms(*pass_times.iter().min().unwrap()),
        ms(*pass_times.iter().max().unwrap())
    );
    println!(
        "  of which {} virtual services: {:.2} ms; {groups} SE groups (with the cloud read): {:.2} ms",
        groups * vs_per_group,
        ms(median(vs_only)),
        ms(median(groups_only))
    );
    println!(
        "baseline floor (one list of all {vms} VMs): {:.2} ms; pass/floor = {:.2}",
        ms(floor),
        ms(pass) / ms(floor)
    );
    println!(
        "baseline naive ({groups} per-group lists, cloud reads only): {:.2} ms; pass/naive = {:.3}",
        ms(naive),
        ms(pass) / ms(naive)
    );
    println!(
        "store {store_kind}: steady passes wrote {steady_writes} records; a new controller's start \
         (reading the store) {:.0} ms, start + first pass {:.0} ms",
        ms(start),
        ms(takeover)
    );
    if let Some((elected, first_pass)) = failover {
        println!(
            "failover on etcd (lease TTL {FAILOVER_TTL:?}): leader's death to the standby \
             elected {:.0} ms, to the end of its first pass {:.0} ms",
            ms(elected),
            ms(first_pass)
        );
    } else {
        println!(
            "failover on {store_kind}: no election (one controller per store); a restart costs \
             start + first pass above"
        );
    }
    println!(
        "peak memory (VmHWM): {:.1} MiB  [target < 256 MB]",
        peak_rss_mib()
    );
}
