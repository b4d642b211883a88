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
    moto_sandbox_with(
        url,
        &format!(
            r#"
[profiles.moto.defaults]
image = "{AMI}"
size = "t3.micro"
"#
        ),
    )
}

/// [`moto_sandbox`] with `tables` (TOML after the profile's own keys) instead of its defaults.
fn moto_sandbox_with(url: &str, tables: &str) -> Sandbox {
    let owner = format!("cli-p{}", std::process::id());
    let mut s = Sandbox::with_config(&format!(
        r#"
default_profile = "moto"

[profiles.moto]
kind = "aws"
owner = "{owner}"
region = "us-east-1"
endpoint_url = "{url}"
{tables}
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

/// The profile's defaults table is where an AWS VM's instance type and AMI come from: a command
/// that names neither makes VMs of exactly those.
#[test]
fn the_profile_defaults_give_the_instance_type_and_ami_of_new_vms() {
    let url = moto_url();
    let s = moto_sandbox(&url);
    let subnet = default_subnet(&s);

    let vm = s.json(&["vm", "create", "cli-dflt-1", "--network", &subnet]);
    assert_eq!(
        (vm["size"].as_str(), vm["image"].as_str()),
        (Some("t3.micro"), Some(AMI)),
        "{vm}"
    );
    let g = s.json(&[
        "group",
        "scale",
        "cli-dflt-g",
        "--size",
        "1",
        "--network",
        &subnet,
    ]);
    let members = g["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{g}");
    assert_eq!(
        (members[0]["size"].as_str(), members[0]["image"].as_str()),
        (Some("t3.micro"), Some(AMI)),
        "{g}"
    );

    // A flag still wins over the profile's default.
    let vm2 = s.json(&[
        "vm",
        "create",
        "cli-dflt-2",
        "--size",
        "t3.small",
        "--network",
        &subnet,
    ]);
    assert_eq!(vm2["size"], "t3.small", "{vm2}");

    // The connector has no default of its own any more: "default" names no AMI or type.
    for (flag, value) in [("--image", "default"), ("--size", "default")] {
        let e = s.fails(
            2,
            &[
                "vm",
                "create",
                "cli-dflt-3",
                flag,
                value,
                "--network",
                &subnet,
            ],
        );
        let key = flag.trim_start_matches("--");
        assert!(
            e.contains(&format!("{key} \"default\""))
                && e.contains(&format!("[profiles.NAME.defaults] {key}")),
            "{flag} {value}: {e}"
        );
    }

    s.ok(&["group", "scale", "cli-dflt-g", "--size", "0"]);
    s.ok(&["vm", "delete", "cli-dflt-1"]);
    s.ok(&["vm", "delete", "cli-dflt-2"]);
}

/// The other side of the defaults: a profile without them makes the CLI ask for the flag, naming
/// the defaults key that would have given it.
#[test]
fn without_profile_defaults_the_cli_names_the_key_to_set() {
    let url = moto_url();
    let s = moto_sandbox_with(&url, "");
    let e = s.fails(2, &["vm", "create", "cli-nodflt-1"]);
    assert!(
        e.contains("--size is required") && e.contains("no defaults.size"),
        "{e}"
    );
    let e = s.fails(2, &["group", "scale", "cli-nodflt-g", "--size", "1"]);
    assert!(
        e.contains("--vm-size is required") && e.contains("no defaults.size"),
        "{e}"
    );
}

/// The old aws settings `image` and `instance_type` are refused, naming the key and where it
/// moved, rather than ignored (no AWS call is made: the profile is refused first).
#[test]
fn old_aws_image_and_instance_type_settings_say_where_they_moved() {
    for (line, old, moved) in [
        (
            format!("image = \"{AMI}\""),
            "image",
            format!("[profiles.NAME.defaults] as `image = \"{AMI}\"`"),
        ),
        (
            "instance_type = \"t3.micro\"".to_owned(),
            "instance_type",
            "[profiles.NAME.defaults] as `size = \"t3.micro\"`".to_owned(),
        ),
    ] {
        let s = moto_sandbox_with("http://127.0.0.1:9", &line);
        let e = s.fails(2, &["vm", "list"]);
        assert!(
            e.contains("profile \"moto\"")
                && e.contains(&format!("`{old}` is no longer an aws setting"))
                && e.contains(&moved),
            "{line}: {e}"
        );
    }
}
