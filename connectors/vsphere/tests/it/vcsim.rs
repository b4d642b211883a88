//! vSphere-specific behaviour against govmomi's simulator: login and TLS, session expiry,
//! recovery of an interrupted create, distributed portgroup NICs, the VIP pool, the factory.

use crate::common;

use crate::common::{
    DV_NET, STANDARD_NET, TEMPLATE, assert_invalid, assert_no_vms, network, nic_on, pinned, spec,
};
use std::sync::Arc;
use strato_core::config::Config;
use strato_core::registry::{ConnectContext, Registry};
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, NetworkQuery, Size, Vip, VipSpec, VmId, VmQuery,
    VmSpec,
};
use strato_vsphere::convert::{self, CloneTarget};
use strato_vsphere::soap::MoRef;
use strato_vsphere::{VsphereConnector, VsphereFactory};

/// Allocates the VIP `name` in front of `vm`.
async fn vip(c: &VsphereConnector, name: &str, vm: &VmId) -> strato_core::Result<Vip> {
    c.allocate_vip(&VipSpec::new(name, vm.clone())).await
}

#[tokio::test]
async fn a_wrong_password_is_unauthenticated_and_never_shown() {
    let mut cfg = common::config();
    cfg.password = Some("not-the-password-x9".into());
    let e = VsphereConnector::connect(cfg, common::owner("pw"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert_eq!(e.vendor().unwrap().code, "InvalidLogin");
    assert!(!format!("{e} {e:?}").contains("not-the-password-x9"));
}

#[tokio::test]
async fn tls_is_verified_unless_insecure() {
    let mut cfg = common::config();
    cfg.ca_file = None;
    let e = VsphereConnector::connect(cfg.clone(), common::owner("tls"))
        .await
        .unwrap_err();
    assert_invalid(&e, "ca_file");
    assert!(
        e.to_string().contains("insecure"),
        "the error says how to fix it: {e}"
    );
    cfg.insecure = true;
    let c = VsphereConnector::connect(cfg, common::owner("tls"))
        .await
        .unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn an_expired_session_logs_in_again() {
    let c = common::connector("sess").await;
    let vm = c.create_vm(&spec("sess")).await.unwrap();
    c.delete_vm(&vm.id).await.unwrap();
    // What a vCenter does after the idle timeout: the cookie no longer names a session, and the
    // session's container views are gone with it.
    c.vim().logout().await.unwrap();
    assert_eq!(c.vim().logins(), 1);
    let page = c.list_vms(&VmQuery::default()).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(c.vim().logins(), 2, "the call logged in again");
    c.logout().await.unwrap();
}

#[tokio::test]
async fn close_ends_the_session_and_twice_is_fine() {
    let c = common::connector("close").await;
    c.list_vms(&VmQuery::default()).await.unwrap();
    CloudConnector::close(&c).await.unwrap();
    // The session is gone on the server: ending it again by hand is refused...
    let e = c.vim().logout().await.unwrap_err();
    assert!(e.is_not_authenticated(), "{e:?}");
    // ...while closing again is not an error, and a later call logs in again.
    CloudConnector::close(&c).await.unwrap();
    c.list_vms(&VmQuery::default()).await.unwrap();
    assert_eq!(c.vim().logins(), 2);
    c.logout().await.unwrap();
}

#[tokio::test]
async fn native_sizes_and_bad_memory_are_refused_naming_size() {
    let c = common::connector("size").await;
    for size in [Size::Native("t3.micro".into()), Size::shape(1, 1023)] {
        let e = c
            .create_vm(&VmSpec::new("sized", size, TEMPLATE))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{e}");
        assert_eq!(e.field(), Some("size"), "{e}");
    }
    let e = c
        .create_vm(&VmSpec::new(
            "imaged",
            Size::shape(1, 512),
            "no-such-template",
        ))
        .await
        .unwrap_err();
    assert_invalid(&e, "image");
    assert_no_vms(&c).await;
    c.logout().await.unwrap();
}

/// Clones like the connector does but stops before tagging, as a crash would.
async fn bare_clone(c: &VsphereConnector, inventory_name: &str, token: Option<&str>) -> MoRef {
    let vim = c.vim();
    let dc = vim.find_by_path("DC0/vm").await.unwrap().unwrap();
    let template = vim
        .find_by_path(&format!("DC0/vm/{TEMPLATE}"))
        .await
        .unwrap()
        .unwrap();
    let extra: Vec<(&str, &str)> = token
        .map(|t| (convert::EXTRA_TOKEN_KEY, t))
        .into_iter()
        .collect();
    let t = CloneTarget {
        folder: &dc,
        name: inventory_name,
        datastore: None,
        resource_pool: None,
        host: None,
        cpus: 1,
        memory_mib: 512,
        nic: None,
        extra_nics: &[],
        extra: &extra,
    };
    let r = vim
        .run_task(convert::clone_request(&template, &t))
        .await
        .unwrap();
    r.unwrap().as_moref().unwrap()
}

#[tokio::test]
async fn a_create_interrupted_before_tagging_is_adopted_by_the_retry() {
    let c = common::connector("crash").await;
    let s = spec("web");
    let token = s.client_token(&c.info().owner);
    let name = convert::inventory_name(&c.info().owner, "web");
    let orphan = bare_clone(&c, &name, Some(&token)).await;
    let vm = c.create_vm(&s).await.unwrap();
    assert_eq!(vm.id.as_str(), orphan.value, "the retry made a second VM");
    assert_eq!(vm.ownership.token, token);
    assert_eq!(vm.state, strato_core::VmState::Running);
    assert_eq!(c.list_all_vms(&VmQuery::default()).await.unwrap().len(), 1);
    c.delete_vm(&vm.id).await.unwrap();

    // The same inventory name without our token is someone else's VM: AlreadyExists, untouched.
    let stranger = bare_clone(&c, &name, None).await;
    let e = c.create_vm(&s).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");
    let still = c.vim().props(&stranger, &["name"]).await.unwrap();
    assert_eq!(still.text("name"), Some(name.as_str()));
    c.vim()
        .run_task(strato_vsphere::soap::Request::new(
            "Destroy_Task",
            &stranger,
        ))
        .await
        .unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn nics_join_distributed_portgroups_with_switch_and_portgroup_key() {
    let c = common::connector("dvnic").await;
    let dv = c.find_network(DV_NET).await.unwrap();
    assert!(dv.id.as_str().starts_with("dvportgroup-"), "{dv:?}");
    assert_eq!(dv.parent.as_deref(), Some("DVS0"));
    let standard = c.find_network(STANDARD_NET).await.unwrap();
    let vm = c
        .create_vm(&spec("dv").with_network(standard.id.clone()))
        .await
        .unwrap();
    assert_eq!(vm.nics[0].network, standard.id);
    let nic = c.attach_nic(&vm.id, &nic_on(&dv.id)).await.unwrap();
    assert_eq!((nic.network.clone(), nic.device_index), (dv.id.clone(), 1));
    // Idempotent by client token.
    let again = c.attach_nic(&vm.id, &nic_on(&dv.id)).await.unwrap();
    assert_eq!(again.id, nic.id);
    let devices = c
        .vim()
        .props(&convert::vm_ref(&vm.id), &["config.hardware.device"])
        .await
        .unwrap();
    let dev = devices.props["config.hardware.device"]
        .children
        .iter()
        .find(|d| d.text_of("key") == Some(nic.id.as_str()))
        .unwrap();
    assert_eq!(dev.xsi_type.as_deref(), Some("VirtualVmxnet3"));
    let backing = dev.child("backing").unwrap();
    assert_eq!(
        backing.xsi_type.as_deref(),
        Some("VirtualEthernetCardDistributedVirtualPortBackingInfo")
    );
    assert_eq!(
        backing.path(&["port", "portgroupKey"]).unwrap().text,
        dv.id.as_str()
    );
    assert!(
        !backing
            .path(&["port", "switchUuid"])
            .unwrap()
            .text
            .is_empty()
    );
    c.detach_nic(&vm.id, &nic.id).await.unwrap();
    c.detach_nic(&vm.id, &nic.id).await.unwrap();
    assert_eq!(c.get_vm(&vm.id).await.unwrap().nics.len(), 1);
    c.delete_vm(&vm.id).await.unwrap();
    // A clone onto the distributed portgroup re-backs the template's NIC there.
    let on_dv = c
        .create_vm(&spec("dv2").with_network(dv.id.clone()))
        .await
        .unwrap();
    assert_eq!(on_dv.nics.len(), 1, "{:?}", on_dv.nics);
    assert_eq!(on_dv.nics[0].network, dv.id);
    c.delete_vm(&on_dv.id).await.unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn the_vip_pool_is_the_networks_cidr_and_survives_a_restart() {
    let c = common::connector("pool").await;
    let net = network(&c, "tiny", "10.99.0.0/30").await;
    let vm = c
        .create_vm(&spec("pool").with_network(net.id.clone()))
        .await
        .unwrap();
    let a = vip(&c, "a", &vm.id).await.unwrap();
    let b = vip(&c, "b", &vm.id).await.unwrap();
    let mut got = vec![a.address.to_string(), b.address.to_string()];
    got.sort();
    assert_eq!(got, ["10.99.0.1", "10.99.0.2"]);
    let e = vip(&c, "c", &vm.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NoCapacity, "{e}");
    let mut outside = VipSpec::new("d", vm.id.clone());
    outside.address = Some("10.98.0.1".parse().unwrap());
    let e = c.allocate_vip(&outside).await.unwrap_err();
    assert_invalid(&e, "address");

    // A new process of the same owner finds the allocations in vCenter.
    let again = VsphereConnector::connect(common::config(), c.info().owner.clone())
        .await
        .unwrap();
    assert_eq!(again.get_vip(&a.id).await.unwrap().address, a.address);
    again.release_vip(&a.id).await.unwrap();
    let c2 = vip(&c, "c", &vm.id).await.unwrap();
    assert_eq!(
        c2.address, a.address,
        "a released address is handed out again"
    );

    c.delete_vm(&vm.id).await.unwrap();
    assert!(
        c.list_vips(&Default::default()).await.unwrap().is_empty(),
        "VIPs go with their VM"
    );
    c.delete_network(&net.id).await.unwrap();
    again.logout().await.unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn unowned_networks_are_listed_on_request_and_never_deleted() {
    let c = common::connector("unowned").await;
    assert!(
        c.list_all_networks(&NetworkQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    let all = c
        .list_all_networks(&NetworkQuery {
            include_unowned: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let standard = all
        .iter()
        .find(|n| n.name == STANDARD_NET)
        .expect("VM Network listed");
    assert!(standard.ownership.is_none());
    assert_eq!(
        standard.cidr,
        Some("198.18.0.0/20".parse().unwrap()),
        "the profile's pool shows as its range"
    );
    let e = c.delete_network(&standard.id).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
    assert!(c.get_network(&standard.id).await.is_ok());
    c.logout().await.unwrap();
}

#[tokio::test]
async fn the_factory_builds_a_connector_from_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("password"),
        format!("{}\n", common::env("STRATO_TEST_VCSIM_PASSWORD")),
    )
    .unwrap();
    let owner = common::owner("fac");
    let text = format!(
        "[profiles.lab]\nkind = \"vsphere\"\nowner = \"{owner}\"\nurl = \"{}\"\nuser = \"{}\"\n\
         password_file = \"password\"\nca_file = \"{}\"\nfolder = \"vm\"\nmax_parallel_tasks = 2\n",
        common::env("STRATO_TEST_VCSIM_URL"),
        common::env("STRATO_TEST_VCSIM_USER"),
        common::env("STRATO_TEST_VCSIM_CA"),
    );
    let config = Config::parse(&text, None).unwrap();
    let mut reg = Registry::new();
    reg.register(Arc::new(VsphereFactory));
    reg.validate(&config).unwrap();
    let ctx = ConnectContext {
        data_dir: dir.path().to_path_buf(),
    };
    let c = reg
        .connect(config.profile(Some("lab")).unwrap(), &ctx)
        .await
        .unwrap();
    assert_eq!(c.info().kind, "vsphere");
    assert_eq!(c.info().owner, owner);
    assert_no_vms(&*c).await;
}

/// SOAP round trips per operation: vCenter's latency is per call, so these are budgets.
#[tokio::test]
async fn soap_calls_per_operation() {
    let c = common::connector("calls").await;
    let vim = c.vim();
    let count = |what: &str, before: u64| {
        let n = vim.calls() - before;
        eprintln!("soap calls: {what}: {n}");
        n
    };
    let b = vim.calls();
    let vm = c.create_vm(&spec("calls")).await.unwrap();
    let create = count("create_vm", b);
    let b = vim.calls();
    c.create_vm(&spec("calls")).await.unwrap();
    let again = count("create_vm again (found by token)", b);
    let b = vim.calls();
    c.list_vms(&VmQuery::default()).await.unwrap();
    let list = count("list_vms", b);
    let b = vim.calls();
    c.get_vm(&vm.id).await.unwrap();
    let get = count("get_vm", b);
    let b = vim.calls();
    c.delete_vm(&vm.id).await.unwrap();
    let delete = count("delete_vm", b);
    assert!(
        create <= 16 && again <= 3 && list <= 2 && get <= 1 && delete <= 5,
        "{create} {again} {list} {get} {delete}"
    );
    c.list_hosts().await.unwrap();
    let b = vim.calls();
    let hosts = c.list_hosts().await.unwrap();
    let list_hosts = count("list_hosts (view made)", b);
    // Pinned to the template's host, the clone lands there as on vCenter (no move): the host
    // listing and the host's pool are the price of the pin.
    let on = hosts.iter().find(|h| h.name == "DC0_H0").unwrap();
    let b = vim.calls();
    let vm = c
        .create_vm(&pinned("calls-pinned", on.id.clone()))
        .await
        .unwrap();
    let create_pinned = count("create_vm pinned", b);
    c.delete_vm(&vm.id).await.unwrap();
    assert!(
        list_hosts <= 1 && create_pinned <= create + 2,
        "{list_hosts} {create_pinned}"
    );
    c.logout().await.unwrap();
}

/// Two strato processes (two connectors, each with its own in-process locks) allocating from one
/// pool at the same time never hand out one address twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_allocations_from_two_processes_never_share_an_address() {
    let a = Arc::new(common::connector("race").await);
    let b = Arc::new(
        VsphereConnector::connect(common::config(), a.info().owner.clone())
            .await
            .unwrap(),
    );
    let net = network(&a, "race", "10.97.0.0/27").await;
    let va = a
        .create_vm(&spec("race-a").with_network(net.id.clone()))
        .await
        .unwrap();
    let vb = b
        .create_vm(&spec("race-b").with_network(net.id.clone()))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        for (c, vm) in [(a.clone(), va.id.clone()), (b.clone(), vb.id.clone())] {
            let name = format!("v{i}-{}", vm.as_str().replace('-', ""));
            tasks.push(tokio::spawn(async move {
                c.allocate_vip(&VipSpec::new(name, vm)).await
            }));
        }
    }
    let mut addresses = Vec::new();
    for t in tasks {
        addresses.push(t.await.unwrap().unwrap().address);
    }
    let listed = a.list_vips(&Default::default()).await.unwrap();
    let mut distinct: Vec<_> = listed.iter().map(|v| v.address).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(listed.len(), 12, "{listed:?}");
    assert_eq!(distinct.len(), 12, "two VIPs share an address: {listed:?}");
    a.delete_vm(&va.id).await.unwrap();
    b.delete_vm(&vb.id).await.unwrap();
    a.delete_network(&net.id).await.unwrap();
    a.logout().await.unwrap();
    b.logout().await.unwrap();
}

#[tokio::test]
async fn a_group_spec_every_member_would_fail_on_is_one_invalid_spec() {
    let c = common::connector("grpbad").await;
    let mut g = strato_core::GroupSpec {
        name: "web".into(),
        size: Size::shape(1, 512),
        image: "no-such-template".into(),
        network: None,
        tags: Default::default(),
    };
    let e = c.scale_group(&g, 3).await.unwrap_err();
    assert_invalid(&e, "image");
    g.image = TEMPLATE.into();
    g.size = Size::Native("m5.large".into());
    let e = c.scale_group(&g, 3).await.unwrap_err();
    assert_invalid(&e, "size");
    assert!(c.get_group("web").await.unwrap().members.is_empty());
    c.logout().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_vcenter_is_transient() {
    // A port nothing listens on (the simulator's settings otherwise).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = common::config();
    cfg.url = format!("https://127.0.0.1:{port}/sdk");
    let e = VsphereConnector::connect(cfg, common::owner("down"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.is_retryable());
}
