//! End-to-end tests of every command on the embedded memory cloud, each in its own sandbox (a
//! temporary data dir and config), run as separate processes so state persists through the
//! state file exactly as it does for a user.

use crate::common::{Sandbox, bytes, names};
use predicates::prelude::*;

#[test]
fn vm_lifecycle_by_name_and_id_with_json_output() {
    let s = Sandbox::new();
    let vm = s.json(&[
        "vm", "create", "web-1", "--size", "2x4g", "--tag", "role=se", "--wait",
    ]);
    assert_eq!(vm["name"], "web-1");
    assert_eq!(vm["size"], "2x4096m");
    // Defaults of the local profile fill what the command left out.
    assert_eq!(vm["image"], "strato-se");
    assert_eq!(vm["nics"][0]["network"], "default");
    assert_eq!(vm["tags"]["role"], "se");
    assert_eq!(vm["ownership"]["owner"], "strato");
    let id = vm["id"].as_str().unwrap().to_owned();

    // The same request again is the same VM (idempotent), in another process.
    let again = s.json(&[
        "vm", "create", "web-1", "--size", "2x4g", "--tag", "role=se",
    ]);
    assert_eq!(again["id"], id.as_str());

    assert_eq!(s.json(&["vm", "get", &id])["name"], "web-1");
    let by_name = s.json(&["vm", "get", "web-1"]);
    assert_eq!(by_name["id"], id.as_str());

    let stopped = s.json(&["vm", "stop", "web-1", "--wait"]);
    assert_eq!(stopped["state"], "stopped");
    let running = s.json(&["vm", "start", &id, "--wait"]);
    assert_eq!(running["state"], "running");

    let list = s.json(&["vm", "list"]);
    assert_eq!(
        names(&list),
        ["web-1"],
        "the cloud's own gateway VM is not listed"
    );
    let listed = s.json(&["vm", "list", "--state", "running"]);
    assert_eq!(names(&listed), ["web-1"]);

    let table = s.ok(&["vm", "list"]);
    assert!(
        table.contains("web-1") && table.contains("running"),
        "{table}"
    );
    assert!(s.ok(&["vm", "get", "web-1"]).contains(&id));

    let gone = s.json(&["vm", "delete", "web-1"]);
    assert_eq!(
        (gone["deleted"].as_str(), gone["id"].as_str()),
        (Some("vm"), Some(id.as_str()))
    );
    assert_eq!(names(&s.json(&["vm", "list"])), Vec::<String>::new());
}

#[test]
fn create_with_wait_returns_a_running_vm() {
    let s = Sandbox::new();
    let vm = s.json(&["vm", "create", "db-1", "--wait"]);
    assert_eq!(vm["state"], "running");
    // Without --wait the memory cloud's boot latency shows: a new VM is pending.
    assert_eq!(s.json(&["vm", "create", "db-2"])["state"], "pending");
}

#[test]
fn state_persists_across_invocations_in_the_data_dir() {
    let s = Sandbox::new();
    s.ok(&["vm", "create", "keep-1"]);
    assert!(s.state_file().exists(), "state file in STRATO_DATA_DIR");
    assert_eq!(names(&s.json(&["vm", "list"])), ["keep-1"]);
    // Another data dir is another cloud.
    let other = Sandbox::new();
    assert_eq!(names(&other.json(&["vm", "list"])), Vec::<String>::new());
}

#[test]
fn networks_create_list_attach_detach_delete() {
    let s = Sandbox::new();
    let net = s.json(&["network", "create", "backend", "--cidr", "10.9.0.0/24"]);
    assert_eq!(
        (net["name"].as_str(), net["cidr"].as_str()),
        (Some("backend"), Some("10.9.0.0/24"))
    );
    let net_id = net["id"].as_str().unwrap().to_owned();
    assert_eq!(names(&s.json(&["network", "list"])), ["backend"]);
    let all = names(&s.json(&["network", "list", "--all"]));
    assert!(
        all.contains(&"default".to_owned()) && all.contains(&"backend".to_owned()),
        "{all:?}"
    );
    assert!(s.ok(&["network", "list", "--all"]).contains("10.9.0.0/24"));

    s.ok(&["vm", "create", "se-1"]);
    let nic = s.json(&["network", "attach", "se-1", "backend"]);
    assert_eq!(nic["network"], net_id.as_str());
    assert_eq!(nic["device_index"], 1);
    assert!(
        nic["address"].as_str().unwrap().starts_with("10.9.0."),
        "{nic}"
    );
    assert_eq!(
        s.json(&["vm", "get", "se-1"])["nics"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Attaching again is no change.
    assert_eq!(
        s.json(&["network", "attach", "se-1", &net_id])["id"],
        nic["id"]
    );

    let detached = s.json(&["network", "detach", "se-1", "backend"]);
    assert_eq!(detached["deleted"], "nic");
    assert_eq!(
        s.json(&["vm", "get", "se-1"])["nics"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    s.ok(&["vm", "delete", "se-1"]);
    assert!(
        s.ok(&["network", "delete", "backend"])
            .contains("deleted network backend")
    );
    assert_eq!(names(&s.json(&["network", "list"])), Vec::<String>::new());
}

#[test]
fn vips_allocate_list_move_release() {
    let s = Sandbox::new();
    let a = s.json(&["vm", "create", "lb-a"]);
    let b = s.json(&["vm", "create", "lb-b"]);
    let vip = s.json(&["vip", "allocate", "frontend", "--vm", "lb-a"]);
    assert_eq!(
        (vip["name"].as_str(), vip["vm"].as_str()),
        (Some("frontend"), a["id"].as_str())
    );
    let address = vip["address"].as_str().unwrap().to_owned();

    assert_eq!(names(&s.json(&["vip", "list"])), ["frontend"]);
    assert_eq!(
        names(&s.json(&["vip", "list", "--vm", "lb-b"])),
        Vec::<String>::new()
    );
    assert!(s.ok(&["vip", "list"]).contains(&address));

    let moved = s.json(&["vip", "move", "frontend", "--to", "lb-b"]);
    assert_eq!(moved["vm"], b["id"]);
    assert_eq!(
        moved["address"],
        address.as_str(),
        "a VIP keeps its address when it moves"
    );
    assert_eq!(
        names(&s.json(&["vip", "list", "--vm", "lb-b"])),
        ["frontend"]
    );

    let released = s.json(&["vip", "release", "frontend"]);
    assert_eq!(released["deleted"], "vip");
    assert_eq!(names(&s.json(&["vip", "list"])), Vec::<String>::new());
}

#[test]
fn group_scale_works_out_of_the_box_and_show_reports_members() {
    let s = Sandbox::new();
    // No config, no image, size or network given: the local profile's defaults.
    let g = s.json(&["group", "scale", "web", "--size", "3", "--wait"]);
    assert_eq!(g["name"], "web");
    let members = g["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| m["state"] == "running"), "{g}");
    assert_eq!(names(&g["members"]), ["web-0", "web-1", "web-2"]);

    let shown = s.json(&["group", "show", "web"]);
    assert_eq!(shown["members"].as_array().unwrap().len(), 3);
    let table = s.ok(&["group", "show", "web"]);
    assert!(
        table.contains("group web: 3 member(s), 3 running"),
        "{table}"
    );
    assert_eq!(names(&s.json(&["vm", "list", "--group", "web"])).len(), 3);

    // Scaling keeps the members' template (here an explicit size) instead of replacing them.
    let down = s.json(&["group", "scale", "web", "--size", "1"]);
    assert_eq!(names(&down["members"]), ["web-0"]);
    let up = s.json(&[
        "group",
        "scale",
        "web",
        "--size",
        "2",
        "--vm-size",
        "2x2g",
        "--wait",
    ]);
    assert_eq!(up["members"].as_array().unwrap().len(), 2);
    assert!(
        s.ok(&["group", "scale", "web", "--size", "2"])
            .contains("web-1")
    );
    s.ok(&["group", "scale", "web", "--size", "0"]);
    assert_eq!(
        s.json(&["group", "show", "web"])["members"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// Every mutating command with --dry-run: prints what it would do and leaves the state file
/// byte for byte as it was.
#[test]
fn dry_run_changes_nothing() {
    let s = Sandbox::new();
    s.ok(&["vm", "create", "a-1"]);
    s.ok(&["vm", "create", "a-2"]);
    s.ok(&["network", "create", "side", "--cidr", "10.8.0.0/24"]);
    s.ok(&["network", "attach", "a-2", "side"]);
    s.ok(&["vip", "allocate", "v", "--vm", "a-1"]);
    s.ok(&["group", "scale", "g", "--size", "1"]);
    let before = bytes(&s.state_file());
    assert!(!before.is_empty());

    let cases: &[&[&str]] = &[
        &["vm", "create", "new-1", "--wait"],
        &["vm", "delete", "a-1"],
        &["vm", "stop", "a-1"],
        &["network", "create", "other", "--cidr", "10.7.0.0/24"],
        &["network", "delete", "side"],
        &["network", "attach", "a-1", "side"],
        &["network", "detach", "a-2", "side"],
        &["vip", "allocate", "v2", "--vm", "a-2"],
        &["vip", "move", "v", "--to", "a-2"],
        &["vip", "release", "v"],
        &["group", "scale", "g", "--size", "3", "--wait"],
        &["group", "scale", "g", "--size", "0"],
    ];
    for args in cases {
        let mut a = vec!["--dry-run"];
        a.extend_from_slice(args);
        let out = s.ok(&a);
        assert!(out.starts_with("dry run: would "), "{args:?}: {out}");
        assert_eq!(bytes(&s.state_file()), before, "{args:?} changed the state");
    }
    // The plan says what would happen.
    let scale = s.ok(&["--dry-run", "group", "scale", "g", "--size", "3"]);
    assert!(
        scale.contains("from 1 to 3") && scale.contains("add 2 member(s)"),
        "{scale}"
    );
    // A start of a running VM is no change, and says so.
    assert!(
        s.ok(&["--dry-run", "vm", "start", "a-1"])
            .contains("no change")
    );

    let plan = s.json(&["--dry-run", "vm", "create", "new-1", "--size", "4x8g"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["changes"][0]["action"], "create_vm");
    assert_eq!(plan["changes"][0]["spec"]["size"], "4x8192m");
    let plan = s.json(&["--dry-run", "vm", "delete", "a-1"]);
    assert_eq!(plan["changes"][0]["vm"]["name"], "a-1");
    assert_eq!(bytes(&s.state_file()), before);

    // Nothing was created: the listing is what it was.
    assert_eq!(names(&s.json(&["vm", "list", "--group", "g"])), ["g-0"]);
    assert_eq!(names(&s.json(&["vip", "list"])), ["v"]);
}

#[test]
fn profile_list_shows_profiles_without_settings() {
    let s = Sandbox::with_config(
        r#"
default_profile = "lab"

[profiles.lab]
kind = "memory"
owner = "team-a"
boot_latency = "50ms"
[profiles.lab.defaults]
image = "lab-image"
size = "2x2g"
network = "default"
[profiles.lab.retry]
max_attempts = 2

[profiles.prod]
kind = "vsphere-not-compiled"
owner = "team-b"
password = "hunter2-secret"
"#,
    );
    let list = s.json(&["profile", "list"]);
    let by_name = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {list}"))
            .clone()
    };
    let lab = by_name("lab");
    assert_eq!(
        (lab["kind"].as_str(), lab["owner"].as_str()),
        (Some("memory"), Some("team-a"))
    );
    assert_eq!(lab["default"], true);
    assert_eq!(
        (lab["image"].as_str(), lab["size"].as_str()),
        (Some("lab-image"), Some("2x2048m"))
    );
    assert_eq!(lab["status"], "ok");
    let local = by_name("local");
    assert_eq!(
        (local["kind"].as_str(), local["default"].as_bool()),
        (Some("memory"), Some(false))
    );
    let prod = by_name("prod");
    assert!(
        prod["status"]
            .as_str()
            .unwrap()
            .contains("vsphere-not-compiled"),
        "{prod}"
    );

    let table = s.ok(&["profile", "list"]);
    assert!(table.contains("lab") && table.contains("team-b"), "{table}");
    for out in [table, list.to_string()] {
        assert!(!out.contains("hunter2"), "a credential was printed: {out}");
    }

    // The default profile of the config is used, with its owner and defaults.
    let vm = s.json(&["vm", "create", "x-1"]);
    assert_eq!(
        (vm["image"].as_str(), vm["ownership"]["owner"].as_str()),
        (Some("lab-image"), Some("team-a"))
    );
    // Another owner on the same account sees none of it.
    assert_eq!(
        names(&s.json(&["--profile", "local", "vm", "list"])),
        Vec::<String>::new()
    );
}

#[test]
fn profile_list_with_no_config_shows_the_local_cloud() {
    let s = Sandbox::new();
    let list = s.json(&["profile", "list"]);
    assert_eq!(names(&list), ["local"]);
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["network"], "default");
}

#[test]
fn demo_runs_on_a_temporary_cloud_and_cleans_up() {
    let s = Sandbox::new();
    let out = s.ok(&["demo"]);
    for want in [
        "create network demo-net",
        "demo-0",
        "demo-1",
        "demo-2",
        "demo-vip",
        "move vip",
        "0 resource(s) left",
        "demo done",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !s.state_file().exists(),
        "the demo must not touch the user's data dir"
    );
}

#[test]
fn demo_keep_leaves_the_resources_in_the_local_cloud() {
    let s = Sandbox::new();
    s.ok(&["demo", "--keep"]);
    assert_eq!(
        names(&s.json(&["vm", "list", "--group", "demo"])),
        ["demo-0", "demo-1", "demo-2"]
    );
    assert_eq!(names(&s.json(&["vip", "list"])), ["demo-vip"]);
    // Running it again is idempotent: nothing new.
    s.ok(&["demo", "--keep"]);
    assert_eq!(names(&s.json(&["vm", "list"])).len(), 3);
}

#[test]
fn logs_go_to_stderr_under_rust_log_only() {
    let s = Sandbox::new();
    s.cmd(&["vm", "list"]).assert().success().stderr("");
    s.cmd(&["vm", "create", "log-1"])
        .env("RUST_LOG", "strato=debug,info")
        .assert()
        .success()
        .stderr(predicate::str::contains("applying"));
}

#[test]
fn help_and_version_succeed() {
    let s = Sandbox::new();
    s.cmd(&["--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("demo"));
    s.cmd(&["vm", "create", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--size"));
    s.cmd(&["--version"]).assert().success();
}

#[test]
fn controller_demo_scales_out_and_in_and_writes_its_outputs() {
    let s = Sandbox::new();
    let out_dir = s.dir.path().join("demo-out");
    // Three days (the least the forecaster forecasts from) at a slow report rate: a debug
    // build replays them twice in seconds.
    let out = s.ok(&[
        "controller",
        "demo",
        "--days",
        "3",
        "--report-interval",
        "60s",
        "--out",
        out_dir.to_str().expect("utf-8 temp path"),
    ]);
    assert!(
        out.contains("predictive") && out.contains("reactive") && out.contains("morning ramp"),
        "{out}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("summary.json")).expect("summary.json written"),
    )
    .expect("summary is JSON");
    for run in ["predictive", "reactive"] {
        assert!(summary[run]["scale_outs"].as_u64() > Some(0), "{summary}");
        assert!(summary[run]["scale_ins"].as_u64() > Some(0), "{summary}");
        assert_eq!(summary[run]["leaked_vms"], 0, "{summary}");
    }
    assert!(out_dir.join("demo.svg").exists() && out_dir.join("demo.csv").exists());
}

#[test]
fn controller_commands_refuse_dry_run_in_one_line() {
    let s = Sandbox::new();
    let err = s.fails(2, &["--dry-run", "controller", "status"]);
    assert!(
        err.contains("--dry-run") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn autoscale_eval_prints_every_policy_and_names_a_bad_line() {
    let s = Sandbox::new();
    let csv = s.dir.path().join("t.csv");
    let mut text = String::from("timestamp,value\n");
    for i in 0..(3 * 48) {
        let v = if (16..36).contains(&(i % 48)) {
            100
        } else {
            10
        };
        text.push_str(&format!(
            "2001-01-{:02} {:02}:{:02}:00,{v}\n",
            1 + i / 48,
            (i % 48) / 2,
            (i % 2) * 30
        ));
    }
    std::fs::write(&csv, &text).unwrap();
    let plot = s.dir.path().join("p.svg");
    let out = s.ok(&[
        "autoscale",
        "eval",
        "--trace",
        csv.to_str().unwrap(),
        "--policy",
        "all",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    for p in [
        "predictive",
        "reactive",
        "seasonal-naive",
        "static",
        "oracle",
    ] {
        assert!(out.contains(p), "{out}");
    }
    assert!(out.contains("20 SEs") && out.contains("180s"), "{out}");
    assert!(plot.exists());
    std::fs::write(&csv, "timestamp,value\n2001-01-01 00:00:00,x\n").unwrap();
    s.cmd(&["autoscale", "eval", "--trace", csv.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 2"));
}
