//! End-to-end: the real controller on the real AWS connector (aws-sdk-ec2) against moto, with
//! simulated agents, in real time. Needs `STRATO_TEST_MOTO_URL` (`./scripts/test` starts moto).
//!
//! Every assertion about what exists reads the cloud itself, through a bare connector of the
//! test's owner (no layers) or the raw SDK, never only the controller's own status.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use strato_controller::agent::LoadModel;
use strato_controller::model::SeGroup;
use strato_controller::store::{RedbStore, StateStore};
use strato_core::Operation;
use strato_core::layers::{FaultConfig, FaultInjector, InjectedFault, LayerConfig};
use strato_core::{CloudConnector, Size, TOKEN_TAG, VipBinding, VmId, VmSpec, VmState};

const SEC: Duration = Duration::from_secs(1);

/// The VM id of the SE named `se` in the cloud.
async fn vm_id_of(cloud: &dyn CloudConnector, group: &str, se: &str) -> VmId {
    vms(cloud, group)
        .await
        .into_iter()
        .find(|v| v.name == se)
        .unwrap_or_else(|| panic!("SE {se} has no live VM in the cloud"))
        .id
}

/// Asserts the cloud holds exactly one VIP, `name` at `addr`, bound to `se`'s instance and
/// present on that instance's primary ENI.
async fn assert_vip_on(m: &Moto, aws: &dyn CloudConnector, name: &str, addr: IpAddr, se: &str) {
    let vips = vips(aws).await;
    assert_eq!(vips.len(), 1, "exactly one VIP in EC2: {vips:?}");
    let v = &vips[0];
    assert_eq!((v.name.as_str(), v.address), (name, addr), "{v:?}");
    assert_eq!(v.binding, VipBinding::Cloud);
    let id = vm_id_of(aws, "web", se).await;
    assert_eq!(
        v.vm.as_ref(),
        Some(&id),
        "the VIP is on the primary SE {se}"
    );
    let ips = m.primary_eni_ips(id.as_str()).await;
    assert!(
        ips.contains(&addr),
        "{addr} is not a private IP of {se}'s primary ENI ({id}): {ips:?}"
    );
}

/// Asserts the instance `id` (`what`, for the message) is terminated or terminating in EC2.
async fn assert_terminated(aws: &dyn CloudConnector, id: &VmId, what: &str) {
    let st = aws.get_vm(id).await.map(|v| v.state);
    assert!(
        matches!(st, Ok(VmState::Deleted | VmState::Deleting)) || st.is_err(),
        "{what} ({id}) is not terminated: {st:?}"
    );
}

/// The names of the live SEs of group `web` in EC2.
async fn se_names_in_ec2(aws: &dyn CloudConnector) -> Vec<String> {
    vms(aws, "web").await.into_iter().map(|v| v.name).collect()
}

/// Sets up group `g` (named `web`) and the service `shop` on it, and waits (`what`) until
/// `healthy` SEs are healthy and the VIP is bound.
async fn serve_shop(h: &Harness, g: SeGroup, healthy: usize, what: &str) {
    h.setup(g, None).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for(what, 30 * SEC, || async {
        h.healthy("web") == healthy && h.vip_bound("shop")
    })
    .await;
}

#[tokio::test]
async fn a_vs_on_aws_gets_ses_a_cloud_vip_dns_and_agent_config_and_teardown_leaks_nothing() {
    let m = Moto::new(region::CREATE).await;
    let o = owner("create");
    let aws = m.connector(&o);
    let h = real_time()
        .start(
            controller_cloud(aws.clone()),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    h.setup(group("web", 2, 4), None).await;
    let v = shop_on_two_ses(&h, "web").await;
    let addr = v.address.expect("an address");
    let primary = v.bound_to.clone().unwrap();
    assert_eq!(v.placement[0], primary, "the primary is first");

    // EC2 holds two instances of our owner, tagged as SEs of the group, and nothing else.
    let ses = vms(&*aws, "web").await;
    let names: Vec<&str> = ses.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["web-1", "web-2"]);
    for vm in &ses {
        assert_eq!(vm.state, VmState::Running);
        assert_eq!(vm.ownership.owner, o);
        assert_eq!(vm.group(), Some("web"));
        assert!(!vm.ownership.token.is_empty(), "{vm:?}");
        assert!(vm.tags.contains_key(TOKEN_TAG), "{:?}", vm.tags);
        assert!(
            vm.tags
                .contains_key(strato_controller::controller::TEMPLATE_TAG),
            "{:?}",
            vm.tags
        );
        assert_eq!(vm.size, Size::shape(2, 4096));
    }
    let ids: Vec<String> = ses.iter().map(|v| v.id.to_string()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(m.raw_live_instances(&o).await, sorted);

    // The VIP is a secondary private IP that EC2 picked in the subnet, on the primary's ENI.
    assert!(
        match addr {
            IpAddr::V4(a) => a.octets()[..3] == [10, 0, 0],
            IpAddr::V6(_) => false,
        },
        "{addr} is outside the subnet {SUBNET_CIDR}"
    );
    // (Not checked: that it differs from every SE's primary address. moto draws secondary
    // addresses at random without looking at the instances' primaries, and collided once in
    // about 25 runs; EC2 never does.)
    assert_vip_on(&m, &*aws, "shop", addr, &primary).await;

    // Real DNS over UDP answers the VIP.
    let dns = h.serve_dns().await;
    assert_eq!(
        dns_query_within(dns.addr, "shop.apps.example.com.", 5 * SEC).await,
        vec![addr]
    );

    // The agents received their configuration: the primary and a secondary.
    assert_primary_and_secondary_configured(&h, &v, "web").await;

    // Teardown: the service releases its VIP and name, the group terminates every instance.
    h.ctl.delete_virtual_service("shop").await.unwrap();
    h.wait_for("the VIP released in EC2", 15 * SEC, || async {
        vips(&*aws).await.is_empty()
    })
    .await;
    let (ips0, ips1) = (
        m.primary_eni_ips(&ids[0]).await,
        m.primary_eni_ips(&ids[1]).await,
    );
    assert!(
        !ips0.contains(&addr) && !ips1.contains(&addr),
        "the address {addr} is still assigned to an ENI: {} {ips0:?}, {} {ips1:?}",
        ids[0],
        ids[1]
    );
    assert!(h.ctl.dns_table().get("shop.apps.example.com").is_none());
    assert!(
        dns_query_within(dns.addr, "shop.apps.example.com.", 5 * SEC)
            .await
            .is_empty()
    );
    h.ctl.delete_se_group("web").await.unwrap();
    h.wait_for("every instance terminated", 15 * SEC, || async {
        m.raw_live_instances(&o).await.is_empty()
    })
    .await;
    for id in &ids {
        assert_terminated(&*aws, &VmId::new(id.clone()), "an SE's instance").await;
    }
    h.wait_for("the group forgotten", 10 * SEC, || async {
        h.status().group("web").is_none()
    })
    .await;
    dns.shutdown().await;
}

#[tokio::test]
async fn load_scales_out_on_ec2_at_once_and_in_only_after_the_window() {
    let m = Moto::new(region::SCALE).await;
    let o = owner("scale");
    let aws = m.connector(&o);
    let load = Arc::new(LoadModel::new());
    let h = real_time()
        .start(controller_cloud(aws.clone()), memory_store(), load.clone())
        .await;
    let g = group("web", 1, 4);
    let window = g.autoscale.scale_down_window;
    serve_shop(&h, g, 1, "one healthy SE with the VIP").await;
    let addr = h.status().vs("shop").unwrap().address.unwrap();

    // 150 rps on SEs of 100 rps at a 50 % target: 3 SEs.
    load.set("shop", 150.0);
    h.wait_for("scale out to 3 healthy SEs", 30 * SEC, || async {
        h.healthy("web") == 3
    })
    .await;
    assert_eq!(h.status().group("web").unwrap().desired, Some(3));
    let out = vms(&*aws, "web").await;
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(m.raw_live_instances(&o).await.len(), 3);
    h.wait_for("the service spread over the 3 SEs", 10 * SEC, || async {
        h.status()
            .vs("shop")
            .is_some_and(|v| v.placement.len() == 3)
    })
    .await;

    // The load falls: nothing is terminated inside the window.
    load.set("shop", 10.0);
    let dropped = tokio::time::Instant::now();
    let mut first_in = None;
    while dropped.elapsed() < window + 20 * SEC {
        let n = m.raw_live_instances(&o).await.len();
        if n < 3 && first_in.is_none() {
            first_in = Some(dropped.elapsed());
        }
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_in = first_in.unwrap_or_else(|| panic!("no scale-in; status:{}", h.describe()));
    eprintln!("first scale-in {first_in:?} after the load fell (window {window:?})");
    // The window runs from the last high measurement, which can precede the change of load
    // here by up to a report interval and a pass (1.5 s); without a window the scale-in
    // follows the next report, within about 2 s.
    let earliest = window - Duration::from_millis(1500);
    assert!(
        first_in >= earliest,
        "an SE was terminated {first_in:?} after the load fell, inside the {window:?} window"
    );
    let left = vms(&*aws, "web").await;
    assert_eq!(
        left.len(),
        1,
        "scale in to 1; status:{}\n{left:?}",
        h.describe()
    );
    assert_eq!(m.raw_live_instances(&o).await.len(), 1);
    h.wait_for("desired 1 and the VIP bound", 10 * SEC, || async {
        let s = h.status();
        s.group("web").is_some_and(|g| g.desired == Some(1))
            && s.vs("shop")
                .is_some_and(|v| v.bound_to.as_deref() == Some(left[0].name.as_str()))
    })
    .await;
    // The scaled-in instances are terminated, not just forgotten; the VIP stayed on the survivor.
    for vm in out.iter().filter(|v| v.id != left[0].id) {
        assert_terminated(&*aws, &vm.id, &vm.name).await;
    }
    assert_vip_on(&m, &*aws, "shop", addr, &left[0].name).await;
    assert_eq!(
        h.status().vs("shop").unwrap().dns,
        match addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    );
}

#[tokio::test]
async fn a_dead_se_is_replaced_on_ec2_after_its_vip_moved() {
    let m = Moto::new(region::FAILOVER).await;
    let o = owner("failover");
    let aws = m.connector(&o);
    let log = CallLog::default();
    let h = real_time()
        .start(
            controller_cloud(with(aws.clone(), log.clone())),
            memory_store(),
            Arc::new(LoadModel::new()),
        )
        .await;
    // IPAM-backed: the address comes from the pool and is assigned on the ENI as asked.
    h.setup(group("web", 2, 4), Some(pool())).await;
    let mut shop = vs("shop", "web");
    shop.min_ses = 2;
    h.ctl.apply_virtual_service(shop).await.unwrap();
    h.wait_for("2 healthy SEs and a bound VIP", 30 * SEC, || async {
        h.healthy("web") == 2
            && h.status()
                .vs("shop")
                .is_some_and(|v| v.bound_to.is_some() && v.placement.len() == 2)
    })
    .await;
    let before = h.status().vs("shop").unwrap().clone();
    let addr = before.address.unwrap();
    assert!(pool().usable(addr), "{addr} is a usable pool address");
    let dead = before.bound_to.clone().unwrap();
    let dead_id = vm_id_of(&*aws, "web", &dead).await;
    assert_vip_on(&m, &*aws, "shop", addr, &dead).await;

    // Watch EC2 while the primary dies: the VIP must never be missing nor listed twice (moving
    // it first keeps it; deleting the dead SE first would take it down with the ENI until a new
    // allocate).
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let aws = aws.clone();
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                let v = aws
                    .list_vips(&Default::default())
                    .await
                    .map(|v| v.into_iter().map(|v| (v.address, v.vm)).collect::<Vec<_>>());
                samples.lock().unwrap().push(v);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The primary's agent stops reporting: after 3 missed reports (3 s) it is replaced.
    log.on.store(true, std::sync::atomic::Ordering::Relaxed);
    h.fleet.kill(&dead);
    h.wait_for(
        "a replacement healthy and the dead SE gone",
        30 * SEC,
        || async {
            let names = se_names_in_ec2(&*aws).await;
            h.healthy("web") == 2 && names.len() == 2 && !names.contains(&dead)
        },
    )
    .await;
    sampler.abort();
    let samples = samples.lock().unwrap().clone();
    assert!(samples.len() >= 5, "too few samples: {}", samples.len());
    eprintln!(
        "{} samples of EC2's VIPs during the failover",
        samples.len()
    );
    for s in &samples {
        let s = s.as_ref().expect("list_vips failed during the failover");
        assert!(
            s.len() == 1 && s[0].0 == addr && s[0].1.is_some(),
            "the VIP was missing or wrong during the failover: {s:?} (all samples: {samples:?})"
        );
    }
    // In the controller's calls: the VIP moved (successfully) before any SE was deleted, and
    // was never allocated anew.
    log.on.store(false, std::sync::atomic::Ordering::Relaxed);
    let calls = log.calls();
    let moved = calls
        .iter()
        .position(|c| *c == (Operation::MoveVip, true))
        .unwrap_or_else(|| panic!("the VIP was never moved: {calls:?}"));
    let deleted = calls
        .iter()
        .position(|c| c.0 == Operation::DeleteVm)
        .unwrap_or_else(|| panic!("the dead SE was never deleted: {calls:?}"));
    assert!(
        moved < deleted,
        "an SE was deleted before the VIP moved: {calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.0 == Operation::AllocateVip),
        "the VIP was allocated again instead of moved: {calls:?}"
    );
    let after = h.status().vs("shop").unwrap().clone();
    let new_primary = after.bound_to.clone().unwrap();
    assert_ne!(new_primary, dead);
    assert_eq!(after.address, Some(addr), "the VIP keeps its address");
    assert_eq!(after.dns, before.dns);
    assert_vip_on(&m, &*aws, "shop", addr, &new_primary).await;
    assert_terminated(&*aws, &dead_id, "the dead SE's instance").await;
    assert_eq!(m.raw_live_instances(&o).await.len(), 2);

    // Now the primary's instance is terminated behind the controller's back: its ENI goes
    // with it (and the VIP's address with it); the controller replaces the SE and puts the VIP
    // back, at the same address, on a live SE.
    let victim_id = vm_id_of(&*aws, "web", &new_primary).await;
    m.terminate(victim_id.as_str()).await;
    h.wait_for(
        "the VIP back on a live SE and a replacement healthy",
        30 * SEC,
        || async {
            let names = se_names_in_ec2(&*aws).await;
            h.healthy("web") == 2
                && names.len() == 2
                && !names.contains(&new_primary)
                && h.status().vs("shop").is_some_and(|v| {
                    v.bound_to.as_ref().is_some_and(|b| names.contains(b)) && v.dns.is_some()
                })
        },
    )
    .await;
    let last = h.status().vs("shop").unwrap().clone();
    assert_eq!(last.address, Some(addr));
    h.wait_for("the VIP on the new primary in EC2", 10 * SEC, || async {
        let bound = last.bound_to.clone().unwrap();
        let vips = vips(&*aws).await;
        let id = vm_id_of(&*aws, "web", &bound).await;
        vips.len() == 1 && vips[0].vm.as_ref() == Some(&id)
    })
    .await;
    assert_vip_on(&m, &*aws, "shop", addr, last.bound_to.as_ref().unwrap()).await;
    assert_eq!(m.raw_live_instances(&o).await.len(), 2);
}

#[tokio::test]
async fn a_restart_mid_scale_on_ec2_makes_no_duplicate_and_an_empty_store_adopts_by_tags() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("strato_aws=debug,strato_controller=info")
        .with_test_writer()
        .try_init();
    let m = Moto::new(region::RESTART).await;
    let o = owner("restart");
    let aws = m.connector(&o);
    // Another owner in the same VPC, with an instance named and grouped like one of our SEs.
    let foreign_owner = owner("foreign");
    let foreign = m.connector(&foreign_owner);
    let fvm = foreign
        .create_vm(&VmSpec {
            group: Some("web".into()),
            ..VmSpec::new("web-1", Size::Native("t3.micro".into()), AMI)
        })
        .await
        .unwrap();
    // Our own instance outside any SE group.
    let bastion = aws
        .create_vm(&VmSpec::new(
            "bastion",
            Size::Native("t3.micro".into()),
            AMI,
        ))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    // Creates are slow while the switch is on, so that a crash lands after EC2 ran an instance
    // but before its answer was recorded (the lost answer client tokens exist for).
    let slow = SlowCreates::new(Duration::from_millis(300), Duration::from_millis(1500));
    // DescribeInstances lags RunInstances on EC2; `hide` plays that for the in-flight instance
    // after the crash, so the new process cannot bind its record from a list and must issue the
    // create again: only the connector's lookup by tags then stands between that and a second
    // instance (moto ignores ClientToken).
    let hide = Arc::new(Hide::new(aws.clone()));
    let hidden = hide.names.clone();
    let log = CallLog::default();
    let cloud = controller_cloud(with(with(hide, slow.clone()), log.clone()));
    let load = Arc::new(LoadModel::new());
    let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&db).unwrap());
    let h = real_time().start(cloud.clone(), store, load.clone()).await;
    serve_shop(&h, group("web", 1, 6), 1, "one healthy SE with the VIP").await;
    let addr = h.status().vs("shop").unwrap().address.unwrap();

    // 250 rps: 5 SEs. Crash while a create has reached EC2 but its answer is not recorded yet
    // (the record says Creating, without an instance id, and EC2 has the instance).
    slow.on.store(true, std::sync::atomic::Ordering::Relaxed);
    load.set("shop", 250.0);
    let started = tokio::time::Instant::now();
    let inflight: Vec<String> = loop {
        let unanswered: Vec<String> = h
            .status()
            .group("web")
            .map(|g| {
                g.ses
                    .iter()
                    .filter(|s| {
                        s.phase == strato_controller::controller::SePhase::Creating
                            && s.vm_id.is_none()
                    })
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !unanswered.is_empty() {
            let in_ec2 = se_names_in_ec2(&*aws).await;
            let hit: Vec<String> = unanswered
                .into_iter()
                .filter(|n| in_ec2.contains(n))
                .collect();
            if !hit.is_empty() {
                break hit;
            }
        }
        assert!(
            started.elapsed() < 30 * SEC,
            "no create was caught in flight; status:{}",
            h.describe()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let before: BTreeMap<String, VmId> = vms(&*aws, "web")
        .await
        .into_iter()
        .map(|v| (v.name, v.id))
        .collect();
    println!("test: crash with {inflight:?} in flight, {before:?} in EC2");
    h.crash().await;
    slow.on.store(false, std::sync::atomic::Ordering::Relaxed);
    hidden.lock().unwrap().extend(inflight.iter().cloned());
    log.on.store(true, std::sync::atomic::Ordering::Relaxed);

    // The same store, reopened by a new process, which re-issues the create it cannot see.
    let store: Arc<dyn StateStore> = Arc::new(RedbStore::open(&db).unwrap());
    let h2 = real_time().start(cloud.clone(), store, load.clone()).await;
    h2.wait_for("the in-flight create re-issued", 15 * SEC, || async {
        log.calls().iter().any(|c| c.0 == Operation::CreateVm)
    })
    .await;
    hidden.lock().unwrap().clear();
    h2.wait_for("5 healthy SEs after the restart", 30 * SEC, || async {
        h2.healthy("web") == 5
    })
    .await;
    // Long enough for a wrongly re-issued create to show.
    tokio::time::sleep(3 * SEC).await;
    let ses = vms(&*aws, "web").await;
    let names: BTreeSet<String> = ses.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names.len(), ses.len(), "duplicate SE names in EC2: {ses:?}");
    assert_eq!(ses.len(), 5, "{names:?}");
    let now: BTreeMap<String, VmId> = ses.iter().map(|v| (v.name.clone(), v.id.clone())).collect();
    assert!(
        before.iter().all(|(n, id)| now.get(n) == Some(id)),
        "SEs from before the crash were lost or replaced: {before:?} vs {now:?}"
    );
    // The creates it still owed, plus the re-issued one(s).
    let creates = log
        .calls()
        .iter()
        .filter(|c| c.0 == Operation::CreateVm)
        .count();
    assert!(
        creates >= 5 - before.len() + inflight.len(),
        "{creates} creates after the restart, {} SEs were owed and {inflight:?} re-issued",
        5 - before.len()
    );
    log.on.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut expected: Vec<String> = ses
        .iter()
        .map(|v| v.id.to_string())
        .chain([bastion.id.to_string()])
        .collect();
    expected.sort();
    assert_eq!(
        m.raw_live_instances(&o).await,
        expected,
        "EC2 holds instances of ours the controller does not know"
    );
    assert_eq!(
        h2.se_names("web"),
        names,
        "every VM has a record and every record a VM"
    );
    h2.crash().await;
    // A new controller with an EMPTY store and the same desired state adopts the SEs by their
    // tags: nothing is created or deleted, the VIP is found again, the foreign VM is not ours.
    let h3 = real_time()
        .start(cloud.clone(), memory_store(), load.clone())
        .await;
    serve_shop(
        &h3,
        group("web", 1, 6),
        5,
        "5 healthy adopted SEs and the VIP bound",
    )
    .await;
    tokio::time::sleep(3 * SEC).await;
    let adopted = vms(&*aws, "web").await;
    assert_eq!(
        adopted.iter().map(|v| &v.id).collect::<Vec<_>>(),
        ses.iter().map(|v| &v.id).collect::<Vec<_>>(),
        "adopted, not recreated"
    );
    assert_eq!(m.raw_live_instances(&o).await, expected);
    let st = h3.status();
    let g = st.group("web").unwrap();
    let recorded: BTreeSet<String> = g.ses.iter().map(|s| s.name.clone()).collect();
    assert_eq!(recorded, names, "exactly our SEs were adopted");
    assert!(
        g.ses
            .iter()
            .all(|s| s.vm_id.as_deref() != Some(fvm.id.as_str())),
        "the foreign instance was adopted: {}",
        describe(&st)
    );
    let v = st.vs("shop").unwrap();
    assert_eq!(
        v.address,
        Some(addr),
        "the VIP was found again, not reallocated"
    );
    let in_ec2 = vips(&*aws).await;
    assert_eq!(
        in_ec2.iter().map(|v| v.address).collect::<Vec<_>>(),
        [addr],
        "one VIP in EC2, the one found again"
    );
    assert_eq!(
        foreign.get_vm(&fvm.id).await.unwrap().state,
        VmState::Running
    );
    assert_eq!(
        aws.get_vm(&bastion.id).await.unwrap().state,
        VmState::Running
    );

    // Teardown by the adopting controller: its SEs and VIP go, the others stay.
    h3.ctl.delete_virtual_service("shop").await.unwrap();
    h3.ctl.delete_se_group("web").await.unwrap();
    h3.wait_for("the group's instances terminated", 20 * SEC, || async {
        m.raw_live_instances(&o).await == [bastion.id.to_string()]
    })
    .await;
    assert!(vips(&*aws).await.is_empty());
    assert_eq!(
        foreign.get_vm(&fvm.id).await.unwrap().state,
        VmState::Running
    );
    drop(h3);
    aws.delete_vm(&bastion.id).await.unwrap();
    foreign.delete_vm(&fvm.id).await.unwrap();
}

#[tokio::test]
async fn an_adopting_controller_puts_the_vip_on_the_primary_it_chose() {
    let m = Moto::new(region::ADOPT_VIP).await;
    let o = owner("adoptvip");
    let aws = m.connector(&o);
    let cloud = controller_cloud(aws.clone());
    let h = real_time()
        .start(cloud.clone(), memory_store(), Arc::new(LoadModel::new()))
        .await;
    serve_shop(&h, group("web", 2, 4), 2, "2 healthy SEs and a bound VIP").await;
    let addr = h.status().vs("shop").unwrap().address.unwrap();
    h.crash().await;

    // The old process's VIP sits on the SE a fresh placement does not choose first (it takes
    // the SE with the fewest services, then the lowest serial): the second one.
    let ses = vms(&*aws, "web").await;
    assert_eq!(ses.len(), 2);
    let vip = vips(&*aws).await.remove(0);
    aws.move_vip(&vip.id, &ses[1].id).await.unwrap();

    // A new controller with an empty store finds the VIP through its allocate (same name and
    // spec, same client token), which returns it where it is.
    let h2 = real_time()
        .start(cloud, memory_store(), Arc::new(LoadModel::new()))
        .await;
    serve_shop(
        &h2,
        group("web", 2, 4),
        2,
        "2 healthy adopted SEs and the VIP bound",
    )
    .await;
    let v = h2.status().vs("shop").unwrap().clone();
    assert_eq!(
        v.address,
        Some(addr),
        "the VIP was found again, not reallocated"
    );
    let bound = v.bound_to.clone().unwrap();
    let bound_id = vm_id_of(&*aws, "web", &bound).await;
    // The VIP must come to sit where the controller says it is bound (DNS sends clients there).
    let started = tokio::time::Instant::now();
    loop {
        let in_ec2 = vips(&*aws).await.first().and_then(|v| v.vm.clone());
        if in_ec2.as_ref() == Some(&bound_id) {
            break;
        }
        assert!(
            started.elapsed() < 10 * SEC,
            "the controller says VIP shop is bound to {bound} ({bound_id}) but EC2 has it on \
             {in_ec2:?} ({}), 10 s on: the allocate found the earlier process's VIP and \
             returned it where it was, and nothing moved it; status:{}",
            ses[1].name,
            h2.describe()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_vip_on(&m, &*aws, "shop", addr, &bound).await;
    assert_eq!(
        vms(&*aws, "web")
            .await
            .iter()
            .map(|v| &v.id)
            .collect::<Vec<_>>(),
        ses.iter().map(|v| &v.id).collect::<Vec<_>>(),
        "adopted, not recreated"
    );
}

#[tokio::test]
async fn failed_calls_and_lost_answers_on_ec2_make_no_duplicate_and_leak_nothing() {
    let m = Moto::new(region::FAULTS).await;
    let o = owner("faults");
    let aws = m.connector(&o);
    let faults = Arc::new(FaultInjector::new(
        aws.clone(),
        FaultConfig {
            fail_fraction: 0.1,
            lost_response_fraction: 0.3,
            kind: InjectedFault::Transient,
            seed: 11,
            ..FaultConfig::default()
        },
    ));
    let layers = LayerConfig {
        retry: strato_core::layers::RetryConfig {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            seed: Some(3),
            ..Default::default()
        },
        ..LayerConfig::default()
    };
    let cloud = strato_core::layers::stack(faults.clone(), &layers);
    let h = real_time()
        .start(cloud, memory_store(), Arc::new(LoadModel::new()))
        .await;
    h.setup(group("web", 3, 6), None).await;
    for name in ["shop", "cart"] {
        h.ctl.apply_virtual_service(vs(name, "web")).await.unwrap();
    }
    h.wait_for("3 healthy SEs and both VIPs bound", 40 * SEC, || async {
        h.healthy("web") == 3 && ["shop", "cart"].iter().all(|n| h.vip_bound(n))
    })
    .await;
    tokio::time::sleep(3 * SEC).await;
    assert!(faults.injected() > 0, "no fault was injected");

    // The truth, read without the fault layer.
    let ses = vms(&*aws, "web").await;
    let names: BTreeSet<&str> = ses.iter().map(|v| v.name.as_str()).collect();
    assert_eq!((ses.len(), names.len()), (3, 3), "{names:?}");
    assert_eq!(m.raw_live_instances(&o).await.len(), 3, "leaked instances");
    let vips = vips(&*aws).await;
    assert_eq!(vips.len(), 2, "{vips:?}");
    let s = h.status();
    for v in &vips {
        let st = s.vs(&v.name).unwrap();
        assert_eq!(st.address, Some(v.address), "{v:?}");
        let bound = st.bound_to.clone().unwrap();
        let id = ses.iter().find(|s| s.name == bound).unwrap().id.clone();
        assert_eq!(v.vm.as_ref(), Some(&id), "{} is not on its primary", v.name);
        assert!(m.primary_eni_ips(id.as_str()).await.contains(&v.address));
    }
    assert_ne!(vips[0].address, vips[1].address);
}

/// The controller on EC2 (through `view`, its connector to `aws` with the layers), with agents
/// that see `aws` itself; the group `web` of `n` SEs serving `shop` with a VIP from the pool.
async fn serve_web(aws: Arc<dyn CloudConnector>, view: Arc<dyn CloudConnector>, n: u32) -> Harness {
    let h = real_time()
        .start_with_view(aws, view, memory_store(), Arc::new(LoadModel::new()))
        .await;
    h.setup(group("web", n, n + 2), Some(pool())).await;
    h.ctl
        .apply_virtual_service(vs("shop", "web"))
        .await
        .unwrap();
    h.wait_for(
        &format!("{n} healthy SEs and a bound VIP"),
        40 * SEC,
        || async {
            h.healthy("web") == n as usize && h.status().vs("shop").is_some_and(|v| v.dns.is_some())
        },
    )
    .await;
    h
}

#[tokio::test]
async fn an_se_missing_from_a_describe_on_ec2_is_held_not_replaced() {
    let m = Moto::new(region::MISSING_FROM_LIST).await;
    let aws: Arc<dyn CloudConnector> = m.connector(&owner("missing"));
    let hide = Arc::new(Hide::new(aws.clone()));
    let h = serve_web(aws, controller_cloud(hide.clone()), 2).await;
    let line = vm_missing_from_a_list(&h, &hide, "web", "shop", "aws-moto", 8 * SEC).await;
    println!("{line}");
}

#[tokio::test]
async fn when_every_agent_on_ec2_goes_silent_nothing_is_replaced() {
    let m = Moto::new(region::AGENTS_SILENT).await;
    let aws: Arc<dyn CloudConnector> = m.connector(&owner("silent"));
    let h = serve_web(aws.clone(), controller_cloud(aws), 3).await;
    let all: Vec<String> = h.se_names("web").into_iter().collect();
    // Three missed reports (3 s) would have replaced the fleet; hold for three times that.
    let line = agents_silent(
        &h,
        "web",
        "shop",
        &all,
        "all agents silent",
        "aws-moto",
        10 * SEC,
    )
    .await;
    println!("{line}");
}

#[tokio::test]
async fn when_half_the_agents_on_ec2_go_silent_their_vip_moves_and_nothing_is_replaced() {
    let m = Moto::new(region::HALF_SILENT).await;
    let aws: Arc<dyn CloudConnector> = m.connector(&owner("half-silent"));
    let h = serve_web(aws.clone(), controller_cloud(aws), 4).await;
    // Three missed reports (3 s) would have replaced both; hold for three times that.
    let line = half_the_agents_silent(&h, "web", "shop", "aws-moto", 10 * SEC).await;
    println!("{line}");
}

#[tokio::test]
async fn a_hung_get_vm_on_ec2_times_out_and_neither_deletes_nor_forgets() {
    let m = Moto::new(region::CALL_HANGS).await;
    let aws: Arc<dyn CloudConnector> = m.connector(&owner("hang"));
    let hide = Arc::new(Hide::new(aws.clone()));
    let (view, hang) = hanging_controller_cloud(hide.clone());
    let h = serve_web(aws, view, 2).await;
    // Long enough for several hung reads to time out (two attempts of HUNG_CALL_TIMEOUT each).
    let line = cloud_call_hangs(
        &h,
        &hide,
        &hang,
        "web",
        "shop",
        group("old", 1, 1),
        "aws-moto",
        12 * SEC,
    )
    .await;
    println!("{line}");
}
