//! API errors end to end: the fake answers real `Status` bodies, kube parses them, the
//! connector maps them once (error.rs), and the core retry layer absorbs what is retryable.

use crate::common::{connector, connector_with};
use axum::http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use std::sync::Arc;
use std::time::Duration;
use strato_core::layers::{LayerConfig, RetryConfig, stack};
use strato_core::{CloudConnector, ErrorKind, GroupSpec, Size, VipSpec, VmSpec};
use strato_kube_fake::Fault;
use strato_kubernetes::{KubernetesConfig, KubernetesConnector, from_status};

fn vm(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 256), "se:1")
}

fn kube_client(url: &str) -> kube::Client {
    strato_kubernetes::install_crypto_provider();
    kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

/// The connector under the core layers, retrying with a fixed seed from `initial_backoff`.
fn with_retries(bare: KubernetesConnector, initial_backoff: Duration) -> Arc<dyn CloudConnector> {
    stack(
        Arc::new(bare),
        &LayerConfig {
            retry: RetryConfig {
                seed: Some(7),
                initial_backoff,
                ..Default::default()
            },
            ..Default::default()
        },
    )
}

fn count(fake: &strato_kube_fake::FakeKube, prefix: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn a_422_keeps_the_status_message_and_names_the_field() {
    let (url, fake) = strato_kube_fake::start().await;
    // The server, not the connector, refuses this service account name.
    let c = connector_with(
        &url,
        KubernetesConfig {
            service_account: Some("Not_Valid".into()),
            ..Default::default()
        },
    )
    .await;
    let e = c.create_vm(&vm("bad-sa")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{e}");
    assert_eq!(e.field(), Some("spec.serviceAccountName"), "{e}");
    let v = e.vendor().expect("vendor error kept");
    assert_eq!(v.code, "422 Invalid");
    assert!(
        v.message.contains("spec.serviceAccountName") && v.message.contains("Not_Valid"),
        "{}",
        v.message
    );
    assert_eq!(e.cloud(), Some("kubernetes"));
    assert!(
        fake.object("pods", "default", "bad-sa").is_none(),
        "a refused create made a pod"
    );
}

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict_and_a_taken_name_already_exists() {
    let (url, _fake) = strato_kube_fake::start().await;
    let pods: Api<Pod> = Api::namespaced(kube_client(&url), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p1"},
        "spec": {"containers": [{"name": "c", "image": "i"}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.metadata.labels = Some([("a".to_owned(), "1".to_owned())].into());
    pods.replace("p1", &PostParams::default(), &fresh)
        .await
        .unwrap();
    stale.metadata.labels = Some([("a".to_owned(), "2".to_owned())].into());
    let kube::Error::Api(status) = pods
        .replace("p1", &PostParams::default(), &stale)
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    let e = from_status(strato_core::Operation::MoveVip, "pod \"p1\"", &status);
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert_eq!(e.vendor().unwrap().code, "409 Conflict");
    assert!(
        e.vendor()
            .unwrap()
            .message
            .contains("the object has been modified"),
        "{e}"
    );

    let kube::Error::Api(status) = pods.create(&PostParams::default(), &pod).await.unwrap_err()
    else {
        panic!("expected an API error")
    };
    let e = from_status(strato_core::Operation::CreateVm, "pod \"p1\"", &status);
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");
    assert_eq!(e.vendor().unwrap().message, "pods \"p1\" already exists");
}

#[tokio::test]
async fn a_conflicting_move_is_a_conflict_and_a_conflicting_scale_is_retried_inside() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    let a = c.create_vm(&vm("ca")).await.unwrap();
    let b = c.create_vm(&vm("cb")).await.unwrap();
    let vip = c
        .allocate_vip(&VipSpec::new("cvip", a.id.clone()))
        .await
        .unwrap();
    fake.inject(
        Fault::new(409, 1)
            .method(Method::PATCH)
            .path("/services/cvip"),
    );
    let e = c.move_vip(&vip.id, &b.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert_eq!(e.vendor().unwrap().code, "409 Conflict");
    assert_eq!(
        c.get_vip(&vip.id).await.unwrap().vm,
        Some(a.id.clone()),
        "a failed move moved the vip"
    );

    let spec = GroupSpec {
        name: "cg".into(),
        size: Size::shape(1, 256),
        image: "se:1".into(),
        network: None,
        tags: Default::default(),
    };
    c.scale_group(&spec, 1).await.unwrap();
    fake.inject(
        Fault::new(409, 2)
            .method(Method::PUT)
            .path("/deployments/cg"),
    );
    let g = c
        .scale_group(&spec, 2)
        .await
        .expect("conflicts are re-read and retried");
    assert_eq!(g.desired, 2);
    assert_eq!(
        count(&fake, "PUT /apis/apps/v1/namespaces/default/deployments/cg"),
        3,
        "two conflicts, one success"
    );
    // A writer that never stops is reported, not papered over.
    fake.inject(
        Fault::new(409, 5)
            .method(Method::PUT)
            .path("/deployments/cg"),
    );
    let e = c.scale_group(&spec, 3).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert_eq!(
        fake.object("deployments", "default", "cg").unwrap()["spec"]["replicas"],
        2
    );
}

// On a paused clock: the Retry-After waits take no real time, and tokio's clock measures them.
#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_is_absorbed_by_the_retry_layer() {
    let (url, fake) = strato_kube_fake::start().await;
    let bare = connector(&url).await;
    let created = bare.create_vm(&vm("r1")).await.unwrap();

    // Without the layer the caller sees the throttling, with the server's hint.
    fake.inject(
        Fault::new(429, 1)
            .retry_after(1)
            .method(Method::GET)
            .path("/pods/r1"),
    );
    let e = bare.get_vm(&created.id).await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(1))
        },
        "{e}"
    );
    assert_eq!(e.vendor().unwrap().code, "429 TooManyRequests");

    let layered = with_retries(bare, Duration::from_millis(10));
    fake.inject(
        Fault::new(429, 2)
            .retry_after(1)
            .method(Method::GET)
            .path("/pods/r1"),
    );
    let before = count(&fake, "GET /api/v1/namespaces/default/pods/r1");
    let started = tokio::time::Instant::now();
    let got = layered
        .get_vm(&created.id)
        .await
        .expect("the retry layer absorbs two 429s");
    let waited = started.elapsed();
    assert_eq!(got.id, created.id);
    assert_eq!(
        count(&fake, "GET /api/v1/namespaces/default/pods/r1") - before,
        3,
        "two throttled attempts and one success"
    );
    // Each retry waited at least the server's Retry-After (1 s), not the 10 ms backoff.
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, sooner than Retry-After"
    );
}

#[tokio::test]
async fn server_errors_are_transient_and_retried_without_duplicating_the_create() {
    let (url, fake) = strato_kube_fake::start().await;
    let bare = connector(&url).await;
    fake.inject(Fault::new(503, 1).method(Method::POST).path("/pods"));
    let e = bare.create_vm(&vm("t1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert_eq!(e.vendor().unwrap().code, "503 ServiceUnavailable");

    let layered = with_retries(bare, Duration::from_millis(5));
    fake.inject(Fault::new(500, 2).method(Method::POST).path("/pods"));
    let made = layered.create_vm(&vm("t1")).await.expect("5xx retried");
    // The same create again (a caller retrying after a lost answer) returns the same pod.
    let again = layered.create_vm(&vm("t1")).await.unwrap();
    assert_eq!(made.id, again.id);
    assert_eq!(
        fake.objects("pods")
            .iter()
            .filter(|p| p["metadata"]["name"] == "t1")
            .count(),
        1
    );
}

#[tokio::test]
async fn unauthorized_and_forbidden_map_to_their_kinds() {
    let (url, fake) = strato_kube_fake::start().await;
    let c = connector(&url).await;
    fake.inject(Fault::new(401, 1));
    assert_eq!(
        c.get_group("g").await.unwrap_err().kind(),
        &ErrorKind::Unauthenticated
    );
    fake.inject(Fault::new(403, 1));
    let e = c.list_vips(&Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    assert_eq!(e.vendor().unwrap().code, "403 Forbidden");
}
