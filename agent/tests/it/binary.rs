//! The `strato-agent` binary: its bootstrap, and a whole run against a stub controller and a
//! real HAProxy.

use crate::common::*;
use std::process::Command;
use strato_agent::bootstrap::AgentBootstrap;
use strato_agent::protocol::ReportedHealth;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strato-agent"))
}

#[test]
fn a_bad_bootstrap_stops_the_agent_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("agent.json");
    std::fs::write(
        &f,
        r#"{"se": "web-1", "controllers": [], "credential": "sekrit-1"}"#,
    )
    .unwrap();
    let out = agent().arg("--bootstrap").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no controller URL") && err.contains("agent.json"),
        "{err}"
    );
    assert!(!err.contains("sekrit"), "{err}");
    let out = agent()
        .arg("--bootstrap")
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_applies_its_config_serves_and_reports_from_haproxy() {
    let bin = haproxy_bin();
    let (stub, base) = Stub::start("cred-bin").await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let port = free_port("127.0.3.6");
    stub.config.send_replace(Some(se_config(
        5,
        vec![http_vs("shop", "127.0.3.6", port, vec![a])],
    )));
    let dir = tempfile::tempdir().unwrap();
    let doc = AgentBootstrap {
        se: "web-1".into(),
        controllers: vec![base],
        ca_pem: None,
        credential: "cred-bin".into(),
    }
    .to_user_data();
    std::fs::write(dir.path().join("user-data"), doc).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_strato-agent"))
        .arg("--bootstrap")
        .arg(dir.path().join("user-data"))
        .arg("--haproxy")
        .arg(&bin)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until("the agent reports version 5", 10, || async {
        stub.last().is_some_and(|r| r.config_version == 5)
    })
    .await;
    for _ in 0..5 {
        assert_eq!(get_fresh(&url("127.0.3.6", port)).await.unwrap(), "a");
    }
    until("the requests show in a report", 5, || async {
        stub.last()
            .is_some_and(|r| r.virtual_services.get("shop").is_some_and(|l| l.rps > 0.0))
    })
    .await;
    // A refused configuration: reported with HAProxy's message, version 5 still applied.
    let mut bad = se_config(6, vec![http_vs("shop", "127.0.3.6", port, vec![])]);
    bad.virtual_services.push(bad.virtual_services[0].clone());
    stub.config.send_replace(Some(bad));
    until("the refusal is reported", 10, || async {
        stub.last().is_some_and(|r| {
            r.config_version == 5
                && r.config_error
                    .as_deref()
                    .is_some_and(|e| e.contains("same name"))
        })
    })
    .await;
    assert_eq!(get_fresh(&url("127.0.3.6", port)).await.unwrap(), "a");

    // HAProxy killed: the controller hears `down`, then `up` again once the agent restarted it.
    let pid_file = dir.path().join("run/haproxy.pid");
    let killed = std::fs::read_to_string(&pid_file).unwrap();
    Command::new("kill")
        .args(["-KILL", killed.trim()])
        .status()
        .unwrap();
    until("a down report", 10, || async {
        stub.last()
            .is_some_and(|r| r.health == ReportedHealth::Down)
    })
    .await;
    until("an up report after the restart", 10, || async {
        stub.last().is_some_and(|r| r.health == ReportedHealth::Up)
    })
    .await;
    assert_eq!(get_fresh(&url("127.0.3.6", port)).await.unwrap(), "a");
    assert_ne!(std::fs::read_to_string(&pid_file).unwrap(), killed);

    // SIGTERM stops the agent and its HAProxy.
    let master = std::fs::read_to_string(dir.path().join("run/haproxy.pid")).unwrap();
    let pid = child.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("the agent stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    until("its HAProxy is gone", 5, || async {
        std::fs::read_to_string(format!("/proc/{}/stat", master.trim()))
            .map_or(true, |s| s.contains(") Z"))
    })
    .await;
}
