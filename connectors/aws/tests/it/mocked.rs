//! In-process EC2 behaviour moto does not reproduce (aws-smithy-mocks answers each SDK call,
//! errors as real EC2 XML bodies through the SDK's own deserializer): ClientToken dedupe on a
//! retried RunInstances, RequestLimitExceeded bursts absorbed by the core retry layer, and
//! eventual consistency right after a create. Time is paused, so backoffs take no real time.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::run_instances::{RunInstancesError, RunInstancesOutput};
use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, InstanceType, Reservation};
use aws_smithy_mocks::{
    MockResponse, MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, Mutex};
use strato_aws::{AwsConfig, AwsConnector};
use strato_core::layers::{LayerConfig, stack};
use strato_core::{
    CloudConnector, ErrorKind, GroupSpec, NAME_TAG, OwnerId, Size, Tags, VmId, VmSpec,
};

const AMI: &str = "ami-12c6146b";

fn owner() -> OwnerId {
    OwnerId::new("mocked").unwrap()
}

fn bare(rules: &[&Rule]) -> AwsConnector {
    bare_with(rules, AwsConfig::default())
}

fn bare_with(rules: &[&Rule], settings: AwsConfig) -> AwsConnector {
    let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        mocks = mocks.with_rule(r);
    }
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .http_client(create_mock_http_client())
        .interceptor(mocks);
    AwsConnector::from_conf(conf, owner(), settings)
}

/// The connector inside the core layers (retry with a fixed seed).
fn layered(rules: &[&Rule]) -> Arc<dyn CloudConnector> {
    let mut cfg = LayerConfig::default();
    cfg.retry.seed = Some(7);
    stack(Arc::new(bare(rules)), &cfg)
}

/// An EC2 error answer, as EC2 sends it.
fn ec2_error(status: u16, code: &str, request_id: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{code} (mocked)</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn spec() -> VmSpec {
    VmSpec::new("edge", Size::Native("t3.micro".into()), AMI)
}

/// The instance EC2 holds for `spec` (its tags are what the connector applied).
fn instance(id: &str, spec: &VmSpec) -> Instance {
    let mut tags = Tags::new();
    spec.ownership(&owner()).apply(&mut tags);
    tags.insert(NAME_TAG.into(), spec.name.clone());
    Instance::builder()
        .instance_id(id)
        .image_id(AMI)
        .instance_type(InstanceType::T3Micro)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .set_tags(Some(strato_aws::convert::ec2_tags(&tags)))
        .build()
}

/// RunInstances' answer: the instance of [`spec`] under `id`.
fn launched_one(id: &str) -> RunInstancesOutput {
    RunInstancesOutput::builder()
        .instances(instance(id, &spec()))
        .build()
}

/// RunInstances' answer: these instances (a batch).
fn launched(insts: Vec<Instance>) -> MockResponse<RunInstancesOutput, RunInstancesError> {
    MockResponse::Output(
        RunInstancesOutput::builder()
            .set_instances(Some(insts))
            .build(),
    )
}

/// DescribeInstances' answer: the instance of [`spec`] under `id`.
fn described(id: &str) -> DescribeInstancesOutput {
    DescribeInstancesOutput::builder()
        .reservations(
            Reservation::builder()
                .instances(instance(id, &spec()))
                .build(),
        )
        .build()
}

/// The group the batch tests scale.
fn web_group() -> GroupSpec {
    GroupSpec {
        name: "web".into(),
        size: Size::Native("t3.micro".into()),
        image: AMI.into(),
        network: None,
        tags: Default::default(),
    }
}

fn no_instances() -> Rule {
    mock!(Client::describe_instances)
        .match_requests(|r| r.instance_ids().is_empty())
        .then_output(|| DescribeInstancesOutput::builder().build())
}

#[tokio::test(start_paused = true)]
async fn a_retried_run_instances_carries_the_same_token_and_gets_the_same_instance() {
    // EC2 made the instance but the answer was lost (500); the name lookup does not see it yet.
    let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = tokens.clone();
    let run = mock!(Client::run_instances).then_compute_response(move |req| {
        let mut t = seen.lock().unwrap();
        t.push(req.client_token().unwrap_or_default().to_owned());
        if t.len() == 1 {
            MockResponse::Http(ec2_error(500, "InternalError", "req-lost"))
        } else {
            // EC2's dedupe: the same token answers with the instance of the first call.
            MockResponse::Output(launched_one("i-0first"))
        }
    });
    let lookup = no_instances();
    let c = layered(&[&run, &lookup]);
    let vm = c
        .create_vm(&spec())
        .await
        .expect("the retry layer absorbs the lost answer");
    assert_eq!(vm.id, VmId::new("i-0first"));
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[0], tokens[1], "a retry must reuse the client token");
    assert_eq!(tokens[0], spec().client_token(&owner()));
    assert_eq!(
        lookup.num_calls(),
        2,
        "each attempt looks the VM up by its tags first"
    );
}

#[tokio::test(start_paused = true)]
async fn request_limit_exceeded_bursts_are_absorbed_by_the_retry_layer() {
    let describe = mock!(Client::describe_instances)
        .sequence()
        .http_response(|| ec2_error(503, "RequestLimitExceeded", "req-throttled"))
        .times(4)
        .output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-1", &spec()))
                        .build(),
                )
                .build()
        })
        .build();
    let c = layered(&[&describe]);
    let vm = c.get_vm(&VmId::new("i-1")).await.expect("absorbed");
    assert_eq!(vm.name, "edge");
    assert_eq!(describe.num_calls(), 5);

    // Without the layer, the throttle is typed and keeps EC2's code and request id.
    let describe = mock!(Client::describe_instances)
        .then_http_response(|| ec2_error(503, "RequestLimitExceeded", "req-9"));
    let e = bare(&[&describe])
        .get_vm(&VmId::new("i-1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Throttled { retry_after: None });
    let v = e.vendor().expect("vendor error kept");
    assert_eq!(
        (v.code.as_str(), v.request_id.as_deref()),
        ("RequestLimitExceeded", Some("req-9"))
    );
    assert_eq!(e.cloud(), Some("aws"));
}

#[tokio::test(start_paused = true)]
async fn a_new_instance_not_yet_visible_is_retried_not_treated_as_gone() {
    let run = mock!(Client::run_instances).then_output(|| launched_one("i-0new"));
    let lookup = no_instances();
    let get = mock!(Client::describe_instances)
        .match_requests(|r| !r.instance_ids().is_empty())
        .sequence()
        .http_response(|| ec2_error(400, "InvalidInstanceID.NotFound", "req-nyv"))
        .times(2)
        .output(|| described("i-0new"))
        .repeatedly()
        .build();

    // The bare connector says NotYetVisible (retryable) for the instance it just made...
    let c = bare(&[&run, &lookup, &get]);
    let vm = c.create_vm(&spec()).await.unwrap();
    let e = c.get_vm(&vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotYetVisible, "{e}");
    assert!(e.is_retryable());
    // ...but NotFound for an id it never made.
    let e = c.get_vm(&VmId::new("i-0other")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");

    // Through the layers, the read waits the lag out.
    let get = mock!(Client::describe_instances)
        .match_requests(|r| !r.instance_ids().is_empty())
        .sequence()
        .http_response(|| ec2_error(400, "InvalidInstanceID.NotFound", "req-nyv"))
        .times(3)
        .output(|| described("i-0new"))
        .build();
    let inner = Arc::new(bare(&[&run, &lookup, &get]));
    let vm = inner.create_vm(&spec()).await.unwrap();
    let c = stack(
        inner,
        &LayerConfig {
            retry: strato_core::layers::RetryConfig {
                seed: Some(3),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    assert_eq!(c.get_vm(&vm.id).await.unwrap().id, vm.id);
    assert_eq!(get.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn capacity_and_quota_errors_are_typed() {
    for (code, kind) in [
        ("InsufficientInstanceCapacity", ErrorKind::NoCapacity),
        ("VcpuLimitExceeded", ErrorKind::QuotaExceeded),
        ("UnauthorizedOperation", ErrorKind::PermissionDenied),
        ("AuthFailure", ErrorKind::Unauthenticated),
        ("IdempotentParameterMismatch", ErrorKind::Conflict),
    ] {
        let status = if code == "AuthFailure" { 401 } else { 400 };
        let run = mock!(Client::run_instances)
            .then_http_response(move || ec2_error(status, code, "req-x"));
        let lookup = no_instances();
        let e = bare(&[&run, &lookup]).create_vm(&spec()).await.unwrap_err();
        assert_eq!(e.kind(), &kind, "{code}: {e}");
        assert_eq!(e.vendor().map(|v| v.code.as_str()), Some(code));
    }
}

/// EC2 with room for at most 3 instances per call (a vCPU quota): a batch is halved until it
/// fits, so the group still reaches its size in few calls, with members named by ordinal.
#[tokio::test(start_paused = true)]
async fn a_group_batch_over_quota_is_halved_until_it_fits() {
    let sizes: Arc<Mutex<Vec<i32>>> = Arc::default();
    let seen = sizes.clone();
    let run = mock!(Client::run_instances).then_compute_response(move |req| {
        let n = req.max_count().unwrap_or(1);
        assert_eq!(req.min_count(), Some(n), "a batch is all or nothing");
        seen.lock().unwrap().push(n);
        if n > 3 {
            return MockResponse::Http(ec2_error(400, "VcpuLimitExceeded", "req-quota"));
        }
        let call = seen.lock().unwrap().len();
        let insts = (0..n)
            .map(|k| {
                Instance::builder()
                    .instance_id(format!("i-{call}-{k}"))
                    .ami_launch_index(k)
                    .state(
                        InstanceState::builder()
                            .name(InstanceStateName::Pending)
                            .build(),
                    )
                    .build()
            })
            .collect();
        launched(insts)
    });
    let members = no_instances();
    let c = bare(&[&run, &members]);
    let spec = web_group();
    let g = c
        .scale_group(&spec, 10)
        .await
        .expect("grows as far as the quota allows per call");
    let names: Vec<String> = g.members.iter().map(|m| m.name.clone()).collect();
    assert_eq!(
        names,
        (0..10).map(|i| format!("web-{i}")).collect::<Vec<_>>()
    );
    let sizes = sizes.lock().unwrap().clone();
    // 10 -> 5 -> 2 + 3, 5 -> 2 + 3: 7 calls instead of 10, and no instance asked for twice.
    assert_eq!(sizes, vec![10, 5, 2, 3, 5, 2, 3]);
}

/// When nothing fits, the quota error is typed; when some batches went through first, the
/// error is Partial and lists every instance made, so none is forgotten.
#[tokio::test(start_paused = true)]
async fn a_group_that_cannot_grow_further_reports_what_it_made() {
    let calls: Arc<Mutex<u32>> = Arc::default();
    let seen = calls.clone();
    let run = mock!(Client::run_instances).then_compute_response(move |req| {
        let mut c = seen.lock().unwrap();
        *c += 1;
        if *c > 1 {
            return MockResponse::Http(ec2_error(400, "InstanceLimitExceeded", "req-limit"));
        }
        let n = req.max_count().unwrap_or(1);
        let insts = (0..n)
            .map(|k| {
                Instance::builder()
                    .instance_id(format!("i-first-{k}"))
                    .ami_launch_index(k)
                    .build()
            })
            .collect();
        launched(insts)
    });
    let members = no_instances();
    let settings = AwsConfig {
        batch_size: Some(2),
        ..Default::default()
    };
    let c = bare_with(&[&run, &members], settings);
    let spec = web_group();
    let e = c.scale_group(&spec, 5).await.unwrap_err();
    match e.kind() {
        ErrorKind::Partial { succeeded, failed } => {
            assert_eq!(
                succeeded,
                &vec!["i-first-0".to_owned(), "i-first-1".to_owned()]
            );
            assert_eq!(failed[0].kind(), &ErrorKind::QuotaExceeded);
        }
        other => panic!("expected partial, got {other:?}: {e}"),
    }
    assert!(!e.is_retryable(), "a quota is not retried");
}
