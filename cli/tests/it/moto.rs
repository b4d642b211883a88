//! The CLI against moto (an EC2 emulator): an `aws` profile with `endpoint_url` from
//! `STRATO_TEST_MOTO_URL` and static test credentials. Compiled only with `--features aws`.

use crate::common::{Sandbox, names};
use serde_json::Value;

/// A default AMI moto ships.
const AMI: &str = "ami-12c6146b";

fn moto_url() -> String {
    match std::env::var("STRATO_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "STRATO_TEST_MOTO_URL is not set: this test needs the moto EC2 emulator. Run ./scripts/test \
             (it starts fixtures/moto/up), or `fixtures/moto/up /tmp/moto && . /tmp/moto/env`."
        ),
    }
}

/// A sandbox whose default profile is moto, for an owner unique to this process.
fn moto_sandbox(url: &str) -> Sandbox {
    let owner = format!("cli-p{}", std::process::id());
    let mut s = Sandbox::with_config(&format!(
        r#"
default_profile = "moto"

[profiles.moto]
kind = "aws"
owner = "{owner}"
region = "us-east-1"
endpoint_url = "{url}"

[profiles.moto.defaults]
image = "{AMI}"
size = "t3.micro"

[profiles.moto.retry]
max_attempts = 3
"#
    ));
    // Static credentials from the environment, as a user would set them; never a shared
    // profile (a role-assuming AWS_PROFILE ignores the endpoint override).
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        s.env.push((k.into(), v.into()));
    }
    s
}

/// A subnet of moto's default VPC (the VMs go there).
fn default_subnet(s: &Sandbox) -> String {
    let nets = s.json(&["network", "list", "--all"]);
    let subnet: &Value = nets
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"].as_str().is_some_and(|id| id.starts_with("subnet-")))
        .unwrap_or_else(|| panic!("no subnet in {nets}"));
    subnet["id"].as_str().unwrap().to_owned()
}

#[test]
fn vm_create_wait_group_scale_and_vip_allocate_on_moto() {
    let url = moto_url();
    let s = moto_sandbox(&url);
    let owner = format!("cli-p{}", std::process::id());

    let subnet = default_subnet(&s);

    let vm = s.json(&["vm", "create", "cli-vm-1", "--network", &subnet, "--wait"]);
    assert_eq!(vm["state"], "running", "{vm}");
    assert_eq!(vm["ownership"]["owner"], owner.as_str());
    assert!(vm["id"].as_str().unwrap().starts_with("i-"), "{vm}");
    assert_eq!(names(&s.json(&["vm", "list"])), ["cli-vm-1"]);

    let g = s.json(&[
        "group",
        "scale",
        "cli-g",
        "--size",
        "3",
        "--network",
        &subnet,
        "--wait",
    ]);
    assert_eq!(
        names(&g["members"]),
        ["cli-g-0", "cli-g-1", "cli-g-2"],
        "{g}"
    );
    assert!(
        g["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "running")
    );
    assert_eq!(
        s.json(&["group", "show", "cli-g"])["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let vip = s.json(&["vip", "allocate", "cli-vip", "--vm", "cli-vm-1"]);
    assert_eq!(vip["name"], "cli-vip");
    assert_eq!(vip["vm"], vm["id"]);
    assert_eq!(names(&s.json(&["vip", "list"])), ["cli-vip"]);

    // A dry run against a real SDK connector makes no call that changes anything.
    let plan = s.json(&["--dry-run", "group", "scale", "cli-g", "--size", "0"]);
    assert_eq!(plan["changes"][0]["from"], 3);
    assert_eq!(
        s.json(&["group", "show", "cli-g"])["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    s.ok(&["vip", "release", "cli-vip"]);
    s.ok(&["group", "scale", "cli-g", "--size", "0"]);
    s.ok(&["vm", "delete", "cli-vm-1"]);
    assert_eq!(names(&s.json(&["vm", "list"])), Vec::<String>::new());
    assert_eq!(names(&s.json(&["vip", "list"])), Vec::<String>::new());
}

#[test]
fn aws_profile_errors_are_one_line() {
    let url = moto_url();
    let s = moto_sandbox(&url);
    let subnet = default_subnet(&s);
    // A size AWS has no type for is refused by the connector, naming the field.
    let e = s.fails(
        2,
        &[
            "vm",
            "create",
            "bad-1",
            "--size",
            "Standard_D2s_v5",
            "--network",
            &subnet,
        ],
    );
    assert!(e.contains("size"), "{e}");
    assert!(!e.contains("testing"), "credentials printed: {e}");
}
