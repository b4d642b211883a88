//! The HAProxy data plane with a real HAProxy: traffic, stats, reloads, refusals, restarts,
//! health checks.

use crate::common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strato_agent::DataPlane;
use strato_agent::protocol::ReportedHealth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_serves_http_through_the_vip_and_its_load_comes_back_in_stats() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let (b, _hb) = backend("127.0.0.1", "b").await;
    let port = free_port("127.0.3.1");
    let cfg = se_config(1, vec![http_vs("shop", "127.0.3.1", port, vec![a, b])]);
    plane.apply(&cfg).await.unwrap();

    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        seen.insert(get_fresh(&url("127.0.3.1", port)).await.unwrap());
    }
    assert_eq!(
        seen,
        BTreeSet::from(["a".to_string(), "b".to_string()]),
        "round robin over both"
    );

    // A client holding a connection open shows in current sessions; the requests in the
    // frontend's request rate (HAProxy's rate is over the last second).
    let held = tokio::net::TcpStream::connect(("127.0.3.1", port))
        .await
        .unwrap();
    let r = plane.sample().await;
    drop(held);
    assert_eq!(r.health, ReportedHealth::Up, "{r:?}");
    let shop = r.virtual_services["shop"];
    assert!(shop.rps >= 1.0, "{r:?}");
    assert!(shop.connections >= 1, "{r:?}");
    assert_eq!(r.rps, shop.rps);
    let health = &r.server_health["shop"];
    assert_eq!(health.len(), 2, "{r:?}");
    assert!(health.iter().all(|h| h.up), "{r:?}");

    // The next report's rate is over the interval since this one: 30 requests in ~1.5 s.
    for _ in 0..30 {
        get_fresh(&url("127.0.3.1", port)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rps = plane.sample().await.virtual_services["shop"].rps;
    assert!(
        (5.0..=60.0).contains(&rps),
        "30 requests over the interval: {rps}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_reload_haproxy_without_a_failed_request() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let (b, _hb) = backend("127.0.0.1", "b").await;
    let (c, _hc) = backend("127.0.0.1", "c").await;
    let port = free_port("127.0.3.2");
    let vs = |servers| se_config(1, vec![http_vs("shop", "127.0.3.2", port, servers)]);
    plane.apply(&vs(vec![a.clone()])).await.unwrap();

    // Clients loop meanwhile: two on kept-alive connections, two on a new one each time.
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..4 {
        let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
        let target = url("127.0.3.2", port);
        clients.push(tokio::spawn(async move {
            let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5));
            if i % 2 == 1 {
                b = b.pool_max_idle_per_host(0);
            }
            let client = b.build().unwrap();
            while !stop.load(Ordering::Relaxed) {
                match client
                    .get(&target)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("failed request: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let mut configs = vec![
        vec![a.clone(), b.clone()],
        vec![b.clone()],
        vec![a.clone(), b.clone(), c.clone()],
        vec![c.clone()],
        vec![a.clone(), c.clone()],
    ];
    for (i, servers) in configs.drain(..).enumerate() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut cfg = vs(servers);
        cfg.version = 2 + i as u64;
        plane.apply(&cfg).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("{ok} requests through 5 reloads, {failed} failed");
    assert!(
        ok > 100,
        "the clients sent too little to mean anything: {ok}"
    );
    assert_eq!(failed, 0, "requests failed during reloads ({ok} succeeded)");
    // The last configuration serves: only a and c answer.
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        seen.insert(get_fresh(&url("127.0.3.2", port)).await.unwrap());
    }
    assert_eq!(seen, BTreeSet::from(["a".to_string(), "c".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_haproxy_refuses_is_reported_and_the_last_good_one_serves() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let port = free_port("127.0.3.3");
    let good = se_config(1, vec![http_vs("shop", "127.0.3.3", port, vec![a.clone()])]);
    plane.apply(&good).await.unwrap();
    // The same service twice: two frontends of one name, which HAProxy refuses.
    let bad = se_config(
        2,
        vec![
            http_vs("shop", "127.0.3.3", port, vec![a.clone()]),
            http_vs("shop", "127.0.3.3", port, vec![a.clone()]),
        ],
    );
    let e = plane.apply(&bad).await.unwrap_err();
    assert!(
        e.contains("[ALERT]") && e.contains("same name"),
        "HAProxy's own message: {e}"
    );
    assert!(plane.serving_config().await.contains("version 1"));
    assert_eq!(get_fresh(&url("127.0.3.3", port)).await.unwrap(), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_haproxy_is_reported_down_then_restarted_serving_the_same_config() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let port = free_port("127.0.3.4");
    plane
        .apply(&se_config(
            1,
            vec![http_vs("shop", "127.0.3.4", port, vec![a])],
        ))
        .await
        .unwrap();
    assert_eq!(get_fresh(&url("127.0.3.4", port)).await.unwrap(), "a");
    let pid = plane.pid().await.unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The worker follows its master out; then the plane notices.
    until("the master is gone", 5, || async {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    })
    .await;
    assert_eq!(plane.sample().await.health, ReportedHealth::Down);
    let r = plane.sample().await;
    assert_eq!(r.health, ReportedHealth::Up, "restarted: {r:?}");
    assert_ne!(plane.pid().await, Some(pid));
    until("the restarted HAProxy serves", 5, || async {
        get_fresh(&url("127.0.3.4", port))
            .await
            .is_ok_and(|b| b == "a")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_fails_its_check_is_down_in_server_health() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let (b, hb) = backend("127.0.0.1", "b").await;
    let port = free_port("127.0.3.5");
    plane
        .apply(&se_config(
            1,
            vec![http_vs(
                "shop",
                "127.0.3.5",
                port,
                vec![a.clone(), b.clone()],
            )],
        ))
        .await
        .unwrap();
    hb.abort(); // b stops listening: its checks fail (2 in a row, 1 s apart)
    until("b is DOWN and a UP", 10, || async {
        let r = plane.sample().await;
        r.server_health.get("shop").is_some_and(|h| {
            h.iter().any(|s| s.port == b.port && !s.up)
                && h.iter().any(|s| s.port == a.port && s.up)
        })
    })
    .await;
    // And HAProxy sends it nothing.
    for _ in 0..10 {
        assert_eq!(get_fresh(&url("127.0.3.5", port)).await.unwrap(), "a");
    }
    assert_eq!(plane.sample().await.health, ReportedHealth::Up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_haproxy_left_running_by_a_crashed_agent_is_stopped_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let opts = strato_agent::haproxy::HaproxyOptions {
        bin: haproxy_bin(),
        run_dir: dir.path().to_owned(),
        vip_interface: None,
        listen: None,
    };
    let first = strato_agent::haproxy::HaproxyPlane::start(opts.clone())
        .await
        .unwrap();
    let old = first.pid().await.unwrap();
    std::mem::forget(first); // as if the agent died: nothing kills its HAProxy
    let second = strato_agent::haproxy::HaproxyPlane::start(opts)
        .await
        .unwrap();
    until("the leftover master is gone", 5, || async {
        std::fs::read_to_string(format!("/proc/{old}/stat")).map_or(true, |s| s.contains(") Z"))
    })
    .await;
    assert_ne!(second.pid().await, Some(old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_config_haproxy_cannot_load_is_reported_and_the_old_one_serves_on() {
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let port = free_port("127.0.3.7");
    let good = http_vs("shop", "127.0.3.7", port, vec![a.clone()]);
    plane
        .apply(&se_config(1, vec![good.clone()]))
        .await
        .unwrap();
    // `haproxy -c` passes it, but no interface has this VIP: the new worker cannot bind.
    let unbindable = http_vs("away", "192.0.2.77", 18081, vec![a.clone()]);
    let e = plane
        .apply(&se_config(2, vec![good.clone(), unbindable]))
        .await
        .unwrap_err();
    assert!(e.contains("cannot bind") && e.contains("192.0.2.77"), "{e}");
    assert_eq!(get_fresh(&url("127.0.3.7", port)).await.unwrap(), "a");
    // And the next good configuration applies as usual.
    let (b, _hb) = backend("127.0.0.1", "b").await;
    let mut next = good;
    next.servers = vec![b];
    plane.apply(&se_config(3, vec![next])).await.unwrap();
    assert_eq!(get_fresh(&url("127.0.3.7", port)).await.unwrap(), "b");
}
