//! What the SEs' proxies report of the backend servers reaches the virtual service's status
//! and `/metrics`; a configuration the proxy refused shows in the SE's status; the balancing
//! algorithm of the model reaches the SEs' configurations.

use crate::common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_agent::protocol::{Algorithm, ServerHealth};
use strato_controller::controller::ServerState;
use strato_controller::model::{Server, VirtualService};
use strato_controller::se_protocol::{ReportedHealth, SeReport};

const MIN: Duration = Duration::from_secs(60);

fn server(last: u8) -> Server {
    Server {
        address: format!("192.168.1.{last}").parse().unwrap(),
        port: 8080,
        weight: 1,
    }
}

/// A report of `se`'s proxy: servers .10 and .11 of shop up or down.
fn report(version: u64, ten: bool, eleven: bool, error: Option<&str>) -> SeReport {
    let mut r = SeReport::new(0.0, 0, ReportedHealth::Up);
    r.config_version = version;
    let s = |last: u8, up: bool| ServerHealth {
        address: format!("192.168.1.{last}").parse().unwrap(),
        port: 8080,
        up,
    };
    r.server_health = BTreeMap::from([("shop".to_owned(), vec![s(10, ten), s(11, eleven)])]);
    r.config_error = error.map(str::to_owned);
    r
}

fn servers(h: &Harness) -> Vec<(String, ServerState, Vec<String>)> {
    h.status()
        .vs("shop")
        .unwrap()
        .servers
        .iter()
        .map(|s| (s.address.to_string(), s.health, s.down_on.clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn server_health_reaches_the_status_and_metrics_and_a_refused_config_the_se() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    h.setup(group("web", 2, 2), Some(pool())).await;
    h.ctl
        .apply_virtual_service(VirtualService {
            min_ses: 2,
            servers: vec![server(10), server(11)],
            algorithm: Algorithm::LeastConnections,
            ..vs("shop", "web")
        })
        .await
        .unwrap();
    h.wait_for("shop on two healthy SEs", 3 * MIN, || async {
        h.healthy("web") == 2 && h.status().vs("shop").unwrap().placement.len() == 2
    })
    .await;
    let ses = h.status().vs("shop").unwrap().placement.clone();
    for se in &ses {
        let cfg = h.fleet.plane(se).unwrap().config().unwrap();
        assert_eq!(
            cfg.virtual_services[0].algorithm,
            Algorithm::LeastConnections,
            "the model's algorithm reaches {se}'s configuration"
        );
    }
    let unknown = ServerState::Unknown;
    assert_eq!(
        servers(&h),
        [
            ("192.168.1.10".into(), unknown, vec![]),
            ("192.168.1.11".into(), unknown, vec![])
        ],
        "no proxy reported checks yet"
    );

    // The tests speak for the two SEs' agents from now on.
    let versions: Vec<u64> = ses
        .iter()
        .map(|se| h.fleet.plane(se).unwrap().config().unwrap().version)
        .collect();
    for se in &ses {
        h.fleet.kill(se);
    }
    let (a, b) = (&ses[0], &ses[1]);
    // .11 fails its checks on a only.
    h.ctl
        .report(a, report(versions[0], true, false, None))
        .unwrap();
    h.ctl
        .report(b, report(versions[1], true, true, None))
        .unwrap();
    assert_eq!(
        servers(&h),
        [
            ("192.168.1.10".into(), ServerState::Up, vec![]),
            ("192.168.1.11".into(), ServerState::Mixed, vec![a.clone()])
        ]
    );
    // Then on both: it is down, and a's proxy refused a configuration.
    h.ctl
        .report(
            a,
            report(
                versions[0],
                true,
                false,
                Some("haproxy -c: line 12: unknown keyword"),
            ),
        )
        .unwrap();
    h.ctl
        .report(b, report(versions[1], true, false, None))
        .unwrap();
    assert_eq!(
        servers(&h),
        [
            ("192.168.1.10".into(), ServerState::Up, vec![]),
            (
                "192.168.1.11".into(),
                ServerState::Down,
                vec![a.clone(), b.clone()]
            )
        ]
    );
    let s = h.status();
    let se_status = |name: &str| {
        s.group("web")
            .unwrap()
            .ses
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        se_status(a).config_error.as_deref(),
        Some("haproxy -c: line 12: unknown keyword")
    );
    assert_eq!(se_status(b).config_error, None);
    let metrics = strato_controller::state_metrics::render(&h.ctl);
    for (state, n) in [("up", 1), ("down", 1), ("mixed", 0), ("unknown", 0)] {
        let line = format!(
            "strato_controller_vs_servers{{vs=\"shop\",se_group=\"web\",state=\"{state}\"}} {n}"
        );
        assert!(metrics.contains(&line), "no {line} in:\n{metrics}");
    }
    // Reports go stale (the agents are gone): unknown again, not up or down.
    tokio::time::sleep(2 * MIN).await;
    assert!(
        servers(&h)
            .iter()
            .all(|(_, s, _)| *s == ServerState::Unknown),
        "{:?}",
        servers(&h)
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_added_reaches_every_se_though_nothing_moves() {
    let h = Harness::start(Arc::new(memory_cloud(&owner())), memory_store()).await;
    h.setup(group("web", 2, 2), Some(pool())).await;
    let shop = VirtualService {
        min_ses: 2,
        servers: vec![server(10)],
        ..vs("shop", "web")
    };
    h.ctl.apply_virtual_service(shop.clone()).await.unwrap();
    h.wait_for("shop on two healthy SEs", 3 * MIN, || async {
        h.healthy("web") == 2 && h.status().vs("shop").unwrap().placement.len() == 2
    })
    .await;
    // Settled: a few passes with nothing to do.
    tokio::time::sleep(MIN).await;
    h.ctl
        .apply_virtual_service(VirtualService {
            servers: vec![server(10), server(11)],
            ..shop
        })
        .await
        .unwrap();
    let ses = h.status().vs("shop").unwrap().placement.clone();
    h.wait_for("both SEs configured with two servers", MIN, || async {
        ses.iter().all(|se| {
            h.fleet
                .plane(se)
                .and_then(|p| p.config())
                .is_some_and(|c| c.virtual_services[0].servers.len() == 2)
        })
    })
    .await;
}
