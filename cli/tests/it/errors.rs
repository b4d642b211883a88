//! Bad input gets one line on stderr naming the field and the value, and exit code 2; the cloud
//! refusing gets exit code 1. Never a panic, a debug dump or a credential.

use crate::common;

use crate::common::{Sandbox, bytes};

#[test]
fn unknown_profile() {
    let s = Sandbox::new();
    let e = s.fails(2, &["--profile", "nope", "vm", "list"]);
    assert!(
        e.contains("\"nope\"") && e.contains("no such profile") && e.contains("local"),
        "{e}"
    );
}

#[test]
fn unknown_profile_from_the_environment() {
    let s = Sandbox::new();
    let out = s
        .cmd(&["vm", "list"])
        .env("STRATO_PROFILE", "ghost")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
}

#[test]
fn malformed_size() {
    let s = Sandbox::new();
    for (args, value) in [
        (vec!["vm", "create", "x-1", "--size", "2x"], "2x"),
        (vec!["vm", "create", "x-1", "--size", "0x1g"], "0x1g"),
        (vec!["group", "scale", "g", "--size", "three"], "three"),
        (
            vec!["group", "scale", "g", "--size", "3", "--vm-size", "4"],
            "4",
        ),
    ] {
        let e = s.fails(2, &args);
        assert!(e.contains("--size") || e.contains("--vm-size"), "{e}");
        assert!(e.contains(value), "{args:?}: {e}");
    }
}

#[test]
fn missing_network() {
    let s = Sandbox::new();
    let e = s.fails(2, &["vm", "create", "x-1", "--network", "nowhere"]);
    assert!(
        e.contains("--network") && e.contains("\"nowhere\"") && e.contains("not found"),
        "{e}"
    );
    s.ok(&["vm", "create", "x-1"]);
    let e = s.fails(2, &["network", "attach", "x-1", "nowhere"]);
    assert!(e.contains("network") && e.contains("nowhere"), "{e}");
    let e = s.fails(2, &["network", "detach", "x-1", "default"]);
    assert!(e.contains("primary"), "{e}");
    // A profile default naming a missing network names the profile key.
    let c = Sandbox::with_config(
        "[profiles.p]\nkind = \"memory\"\n[profiles.p.defaults]\nimage = \"i\"\nsize = \"1x1g\"\nnetwork = \"gone\"\n",
    );
    let e = c.fails(2, &["--profile", "p", "vm", "create", "y-1"]);
    assert!(e.contains("defaults.network") && e.contains("gone"), "{e}");
}

#[test]
fn names_that_break_a_clouds_rules() {
    let s = Sandbox::new();
    for (args, value) in [
        (vec!["vm", "create", "Web_1"], "Web_1"),
        (vec!["vm", "create", &*"a".repeat(64)], "64 characters"),
        (vec!["network", "create", "net.1"], "net.1"),
        (vec!["group", "scale", "Big", "--size", "1"], "Big"),
        (
            vec!["vm", "create", "ok-1", "--tag", "strato-owner=me"],
            "strato-owner",
        ),
    ] {
        let e = s.fails(2, &args);
        assert!(e.contains(value), "{args:?}: {e}");
    }
    let e = s.fails(2, &["vm", "create", "Web_1"]);
    assert!(
        e.contains("name \"Web_1\""),
        "names the field and the value: {e}"
    );
    // Nothing was created by any of them.
    assert!(common::names(&s.json(&["vm", "list"])).is_empty());
}

#[test]
fn unknown_resources_are_input_errors() {
    let s = Sandbox::new();
    for (args, what) in [
        (vec!["vm", "get", "ghost"], "vm \"ghost\""),
        (vec!["vm", "delete", "ghost"], "vm \"ghost\""),
        (vec!["vm", "start", "ghost"], "vm \"ghost\""),
        (vec!["network", "delete", "ghost"], "network \"ghost\""),
        (vec!["vip", "release", "ghost"], "vip \"ghost\""),
        (vec!["vip", "allocate", "v", "--vm", "ghost"], "--vm"),
    ] {
        let e = s.fails(2, &args);
        assert!(e.contains(what), "{args:?}: {e}");
    }
    // The memory cloud's own network is not strato's to delete.
    let e = s.fails(2, &["network", "delete", "default"]);
    assert!(e.contains("not created by owner strato"), "{e}");
}

#[test]
fn invalid_config_files() {
    let cases = [
        // TOML syntax: the offending line holds a secret, which must not be echoed.
        (
            "[profiles.a]\nkind = \"memory\"\npassword = \"hunter2\n",
            "line 3",
        ),
        ("[profiles.a]\nowner = \"x\"\n", "kind"),
        (
            "[profiles.a]\nkind = \"memory\"\nowner = \"Bad Owner\"\n",
            "owner",
        ),
        (
            "[profiles.a]\nkind = \"memory\"\n[profiles.a.defaults]\nsize = \"2x\"\n",
            "defaults",
        ),
        (
            "default_profile = \"b\"\n[profiles.a]\nkind = \"memory\"\n",
            "default_profile",
        ),
        (
            "[profiles.a]\nkind = \"memory\"\n[profiles.a.retry]\nmax_attempts = \"three\"\n",
            "retry",
        ),
        (
            "[profiles.a]\nkind = \"memory\"\nboot_latncy = \"1s\"\n",
            "boot_latncy",
        ),
        ("[profiles.a]\nkind = \"martian\"\n", "martian"),
    ];
    for (text, field) in cases {
        let s = Sandbox::with_config(text);
        let e = s.fails(2, &["--profile", "a", "vm", "list"]);
        assert!(e.contains(field), "{text:?}: {e}");
        assert!(!e.contains("hunter2"), "credential printed: {e}");
    }
    let s = Sandbox::new();
    let e = s.fails(2, &["--config", "/nonexistent/strato.toml", "vm", "list"]);
    assert!(e.contains("/nonexistent/strato.toml"), "{e}");
}

#[test]
fn usage_errors_are_one_line_with_code_2() {
    let s = Sandbox::new();
    for args in [
        vec!["vm", "frobnicate"],
        vec!["vm", "create"],
        vec!["--output", "yaml", "vm", "list"],
        vec!["network", "create", "n", "--cidr", "10.0.0.0/33"],
        vec!["--timeout", "soon", "vm", "list"],
        vec!["--dry-run", "demo"],
    ] {
        s.fails(2, &args);
    }
}

#[test]
fn cloud_refusals_exit_1() {
    let s = Sandbox::with_config(
        "default_profile = \"small\"\n[profiles.small]\nkind = \"memory\"\nquota_vms = 1\n[profiles.small.defaults]\nimage = \"i\"\nsize = \"1x1g\"\n",
    );
    // One VM fits, the next does not.
    s.ok(&["vm", "create", "q-1"]);
    let e = s.fails(1, &["vm", "create", "q-2"]);
    assert!(e.contains("quota"), "{e}");
    // Same name, different spec: already exists.
    let e = s.fails(1, &["vm", "create", "q-1", "--size", "2x2g"]);
    assert!(e.contains("already_exists") && e.contains("q-1"), "{e}");
    let e = s.fails(1, &["--dry-run", "vm", "create", "q-1", "--size", "2x2g"]);
    assert!(e.contains("already_exists"), "{e}");
}

#[test]
fn unsupported_operations_exit_1_before_any_call() {
    let s = Sandbox::with_config(
        "default_profile = \"pod\"\n[profiles.pod]\nkind = \"memory\"\ndisable = [\"stop_start\", \"vip\"]\n[profiles.pod.defaults]\nimage = \"i\"\nsize = \"1x1g\"\n",
    );
    s.ok(&["vm", "create", "p-1"]);
    let before = bytes(&s.state_file());
    let e = s.fails(1, &["vm", "stop", "p-1"]);
    assert!(e.contains("unsupported"), "{e}");
    let e = s.fails(1, &["vip", "allocate", "v", "--vm", "p-1"]);
    assert!(e.contains("unsupported"), "{e}");
    assert_eq!(bytes(&s.state_file()), before);
}
