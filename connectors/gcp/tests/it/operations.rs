//! Waiting for operations: to DONE over time, the operation's own error when it ends DONE with
//! one (which the client library's poller returns as success), the deadline, and requestId
//! replay.

use crate::common::{config, connector, owner};
use std::time::{Duration, Instant};
use strato_core::{CloudConnector, ErrorKind, GroupSpec, Size, VmSpec};
use strato_gcp::GcpConnector;
use strato_gcp_fake::Options;

const IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";

fn spec(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 512), IMAGE)
}

fn op_reads(fake: &strato_gcp_fake::FakeGce) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/operations/"))
        .count()
}

#[tokio::test]
async fn a_change_returns_once_its_operation_is_done() {
    let fake = strato_gcp_fake::start_with(Options {
        op_pending: Duration::from_millis(150),
        op_running: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let c = connector(&fake).await;
    let t = Instant::now();
    let vm = c.create_vm(&spec("op-wait")).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "returned before DONE: {:?}",
        t.elapsed()
    );
    assert_eq!(vm.name, "op-wait");
    assert!(
        op_reads(&fake) >= 2,
        "polled PENDING and RUNNING: {:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn an_operation_done_with_an_error_is_that_error() {
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    fake.fail_next_operation("insert", "ZONE_RESOURCE_POOL_EXHAUSTED", 503);
    let e = c.create_vm(&spec("op-fail")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NoCapacity, "{e}");
    assert_eq!(
        e.vendor().map(|v| v.code.as_str()),
        Some("ZONE_RESOURCE_POOL_EXHAUSTED")
    );
    assert!(fake.instance_names().is_empty());

    let vm = c.create_vm(&spec("op-stop")).await.unwrap();
    fake.fail_next_operation("stop", "QUOTA_EXCEEDED", 403);
    let e = c.stop_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::QuotaExceeded, "{e}");
}

/// The trap the connector avoids: the client library's own poller answers `Ok` for an
/// operation that ended DONE with an error.
#[tokio::test]
async fn the_client_librarys_poller_calls_a_failed_operation_success() {
    use google_cloud_compute_v1::client::Instances;
    use google_cloud_lro::Poller;
    strato_gcp::install_crypto_provider();
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    let vm = c.create_vm(&spec("op-poller")).await.unwrap();
    let client: Instances = Instances::builder()
        .with_endpoint(fake.url.clone())
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .unwrap();
    let (project, zone) = fake.project_zone();
    fake.fail_next_operation("start", "RESOURCE_NOT_READY", 400);
    let op = client
        .start()
        .set_project(project)
        .set_zone(zone)
        .set_instance(vm.name.clone())
        .poller()
        .until_done()
        .await
        .expect("the poller calls it success");
    assert!(op.error.is_some(), "yet the operation failed: {op:?}");
}

#[tokio::test]
async fn an_operation_past_its_deadline_is_a_timeout() {
    let fake = strato_gcp_fake::start_with(Options {
        op_running: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&fake);
    cfg.operation_timeout = Some(Duration::from_millis(200));
    let c = GcpConnector::connect(owner(), cfg).await.unwrap();
    let t = Instant::now();
    let e = c.create_vm(&spec("op-slow")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
    assert!(e.message().contains("RUNNING"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

/// The connector sends a requestId derived from the client token, and a replay of that id (a
/// retry after a lost answer) gets the first operation back and makes nothing new.
#[tokio::test]
async fn request_ids_come_from_the_token_and_replay_the_first_operation() {
    use google_cloud_compute_v1::client::Instances;
    strato_gcp::install_crypto_provider();
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    let s = spec("op-replay");
    c.create_vm(&s).await.unwrap();
    let rid = strato_gcp::operations::request_id(&s.client_token(&c.info().owner));
    let inserts: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("POST "))
        .collect();
    assert_eq!(inserts.len(), 1);
    assert!(
        inserts[0].contains(&format!("requestId={rid}")),
        "{inserts:?}"
    );

    let made = fake.operations_made();
    let client: Instances = Instances::builder()
        .with_endpoint(fake.url.clone())
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .unwrap();
    let (project, zone) = fake.project_zone();
    let mut body = google_cloud_compute_v1::model::Instance::default();
    body.name = Some("op-replay".into());
    let replay = client
        .insert()
        .set_project(project)
        .set_zone(zone)
        .set_request_id(rid)
        .set_body(body)
        .send()
        .await
        .expect("a replayed request id is not 'already exists'");
    assert_eq!(replay.operation_type.as_deref(), Some("insert"));
    assert_eq!(fake.operations_made(), made, "the replay made no operation");
    assert_eq!(fake.instance_names(), vec!["op-replay".to_owned()]);
}

/// A bulkInsert refused for quota is halved until it fits: the group still reaches its size.
#[tokio::test]
async fn a_refused_batch_is_halved() {
    let fake = strato_gcp_fake::start().await;
    let c = connector(&fake).await;
    fake.fail_next_operation("bulkInsert", "QUOTA_EXCEEDED", 403);
    let g = GroupSpec {
        name: "halved".into(),
        size: Size::shape(1, 512),
        image: IMAGE.into(),
        network: None,
        tags: Default::default(),
    };
    let group = c.scale_group(&g, 4).await.unwrap();
    assert_eq!(group.members.len(), 4);
    let bulk = fake
        .requests()
        .iter()
        .filter(|r| r.contains("/instances/bulkInsert"))
        .count();
    assert_eq!(bulk, 3, "one refused batch of 4, then 2 + 2");
}
