//! A leader whose etcd stops answering (its own etcd process, paused with SIGSTOP): it loses the
//! leadership within the lease's TTL and calls no cloud; once etcd answers again, a campaign
//! elects a leader anew.

use super::*;
use crate::store::{EtcdOptions, Precondition, StateStore};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// The process, and its data directory, removed when it is dropped.
struct Etcd(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = signal(&self.0, "-CONT");
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

/// An etcd of this test's own (the fixture's binary), on two free ports.
fn start_etcd() -> (Etcd, String) {
    let bin = std::env::var("STRATO_TEST_ETCD_BIN").unwrap_or_else(|_| {
        panic!(
            "STRATO_TEST_ETCD_BIN is not set: start etcd with `fixtures/etcd/up DIR && . DIR/env` \
             (scripts/test does)"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new(bin)
        .args(["--name", "outage", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("outage={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Etcd(child, dir), url)
}

#[tokio::test]
async fn a_leader_cut_off_from_etcd_stops_within_its_ttl_and_a_leader_is_elected_once_it_returns() {
    let (etcd, url) = start_etcd();
    let opts = EtcdOptions {
        endpoints: vec![url],
        prefix: "/outage".into(),
        timeout: Duration::from_secs(1),
        ..EtcdOptions::default()
    };
    let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
    let t = Instant::now();
    while store.get("probe").await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "etcd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ttl = Duration::from_secs(2);
    let l = campaign(&store, "http://a", ttl).await.unwrap();
    store
        .put("k", b"1".to_vec(), Precondition::Any)
        .await
        .unwrap();

    assert!(signal(&etcd.0, "-STOP"));
    let cut = Instant::now();
    tokio::time::timeout(ttl * 2, l.lost())
        .await
        .expect("the leadership is lost within the TTL when etcd is away");
    assert!(
        cut.elapsed() <= ttl + Duration::from_millis(700),
        "{:?}",
        cut.elapsed()
    );
    assert!(!l.is_valid(), "no cloud call from now on");

    // etcd returns: the old lease has expired by etcd's clock or will; a campaign elects again
    // (here the same process, as its supervisor would restart it) and writes are fenced anew.
    assert!(signal(&etcd.0, "-CONT"));
    let again = tokio::time::timeout(ttl * 4, campaign(&store, "http://b", ttl))
        .await
        .expect("elected again once etcd answers")
        .unwrap();
    assert!(again.is_valid());
    store
        .put("k", b"2".to_vec(), Precondition::Any)
        .await
        .unwrap();
    assert_eq!(
        current_leader(&store).await.unwrap().as_deref(),
        Some("http://b")
    );
}
