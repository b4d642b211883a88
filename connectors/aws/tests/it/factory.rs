//! The `aws` kind through the registry: profiles are validated without network, errors name the
//! profile and field, and a valid profile builds a connector (no AWS call is made to build it).

use std::sync::Arc;
use strato_aws::AwsFactory;
use strato_core::config::Config;
use strato_core::registry::{ConnectContext, Registry};
use strato_core::{CloudConnector, ErrorKind, GroupSupport, VipSupport};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(AwsFactory));
    r
}

#[tokio::test]
async fn a_valid_profile_builds_an_aws_connector() {
    let c = Config::parse(
        r#"
        [profiles.lab]
        kind = "aws"
        owner = "team-a"
        region = "eu-west-1"
        endpoint_url = "http://127.0.0.1:9"
        vpc = "vpc-1"
        subnet = "subnet-1"
        security_groups = ["sg-1"]
        batch_size = 100
        "#,
        None,
    )
    .unwrap();
    let r = registry();
    r.validate(&c).unwrap();
    let conn: Arc<dyn CloudConnector> = r
        .connect(c.profile(Some("lab")).unwrap(), &ConnectContext::default())
        .await
        .unwrap();
    let info = conn.info();
    assert_eq!(
        (info.kind, info.region.as_str(), info.owner.as_str()),
        ("aws", "eu-west-1", "team-a")
    );
    let caps = conn.capabilities();
    assert_eq!(
        (caps.vip, caps.group, caps.max_batch_create),
        (VipSupport::Cloud, GroupSupport::Tagged, 100)
    );
    // Debug never shows credentials (there are none in the profile, and the SDK config is hidden).
    let dbg = format!("{conn:?}");
    assert!(!dbg.to_lowercase().contains("secret"), "{dbg}");
}

#[test]
fn bad_profiles_name_the_profile_and_field() {
    let cases = [
        ("regoin = \"eu-west-1\"", "regoin"),
        ("vpc = \"subnet-1\"", "vpc"),
        ("endpoint_url = \"localhost:5000\"", "endpoint_url"),
        ("batch_size = 0", "batch_size"),
        ("security_groups = \"sg-1\"", "security_groups"),
    ];
    for (line, field) in cases {
        let text = format!("[profiles.lab]\nkind = \"aws\"\n{line}\n");
        let c = Config::parse(&text, None).unwrap();
        let e = registry().validate(&c).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{line}: {e}");
        let s = e.to_string();
        assert!(s.contains("lab") && s.contains(field), "{line}: {s}");
    }
}
