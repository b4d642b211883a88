//! AWS-specific behaviour against moto (the conformance suite covers the common contract):
//! crash-restart lookups, batched group scaling call counts, VIP records surviving a restart,
//! public VIPs, size read-back. Needs `STRATO_TEST_MOTO_URL` (`./scripts/test`).

use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use std::sync::Arc;
use strato_aws::{AwsConfig, AwsConnector};
use strato_core::{
    CloudConnector, CloudConnectorExt, ErrorKind, GroupSpec, OwnerId, Size, Vip, VipQuery, VipSpec,
    Vm, VmId, VmQuery, VmSpec, VmState,
};
use strato_testkit::moto::{self, Moto, counted, region::connector as region, settings};
use strato_testkit::unique_owner;

/// A connector of `owner` launching in the test's subnet (no VPC set, unlike
/// [`Moto::connector`]).
fn connector(m: &Moto, owner: OwnerId) -> Arc<AwsConnector> {
    moto::connector(&m.url, m.region, owner, settings(&m.subnet))
}

/// The instance type every test VM uses unless it checks sizes.
fn micro() -> Size {
    Size::Native("t3.micro".into())
}

/// Launches a `t3.micro` VM named `name`.
async fn launch(c: &AwsConnector, name: &str) -> Vm {
    c.create_vm(&VmSpec::new(name, micro(), moto::AMI))
        .await
        .unwrap()
}

/// The owner's Elastic IPs, read with the raw SDK.
async fn elastic_ips_of(c: &AwsConnector, owner: &OwnerId) -> DescribeAddressesOutput {
    c.ec2()
        .describe_addresses()
        .filters(moto::owner_filter(owner))
        .send()
        .await
        .unwrap()
}

/// The VIPs bound to `vm`.
async fn vips_on(c: &AwsConnector, vm: &VmId) -> Vec<Vip> {
    c.list_vips(&VipQuery {
        vm: Some(vm.clone()),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_restarted_connector_finds_its_vm_instead_of_launching_another() {
    let m = Moto::new(region::RESTART).await;
    let owner = unique_owner("restart");
    let spec = VmSpec::new("se-1", micro(), moto::AMI).with_tag("role", "se");
    let first = connector(&m, owner.clone()).create_vm(&spec).await.unwrap();
    // A new process (no memory of the first call); moto ignores ClientToken, so only the tag
    // lookup prevents a second instance.
    let (again, calls) = counted(&m.url, m.region, owner.clone(), settings(&m.subnet));
    let second = again.create_vm(&spec).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(calls.get("RunInstances"), 0, "{:?}", calls.snapshot());
    assert_eq!(m.raw_live_instances(&owner).await.len(), 1);
    // The same name with another spec is refused and launches nothing.
    let other = VmSpec::new("se-1", Size::Native("t3.small".into()), moto::AMI);
    assert_eq!(
        again.create_vm(&other).await.unwrap_err().kind(),
        &ErrorKind::AlreadyExists
    );
    assert_eq!(calls.get("RunInstances"), 0);
    again.delete_vm(&first.id).await.unwrap();
    assert_eq!(m.raw_live_instances(&owner).await.len(), 0);
}

#[tokio::test]
async fn shapes_map_to_types_and_read_back_as_shapes() {
    let m = Moto::new(region::SHAPES).await;
    let c = connector(&m, unique_owner("shape"));
    let vm = c
        .create_vm(&VmSpec::new("shape-1", Size::shape(2, 4096), moto::AMI))
        .await
        .unwrap();
    assert_eq!(vm.size, Size::shape(2, 4096));
    let raw = c
        .ec2()
        .describe_instances()
        .instance_ids(vm.id.as_str())
        .send()
        .await
        .unwrap();
    let t = raw.reservations()[0].instances()[0]
        .instance_type()
        .unwrap()
        .as_str()
        .to_owned();
    assert_eq!(t, "t3.medium");
    assert_eq!(c.get_vm(&vm.id).await.unwrap().size, Size::shape(2, 4096));
    let e = c
        .create_vm(&VmSpec::new(
            "shape-2",
            Size::Native("Standard_D2s_v5".into()),
            moto::AMI,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (&ErrorKind::InvalidSpec, Some("size")),
        "{e}"
    );
    c.delete_vm(&vm.id).await.unwrap();
}

#[tokio::test]
async fn groups_scale_in_ceil_n_over_batch_calls_and_shrink_old_templates_first() {
    let m = Moto::new(region::GROUPS).await;
    let s = AwsConfig {
        batch_size: Some(4),
        ..settings(&m.subnet)
    };
    let (c, calls) = counted(&m.url, m.region, unique_owner("grp"), s);
    let spec = GroupSpec {
        name: "web".into(),
        size: micro(),
        image: moto::AMI.into(),
        network: None,
        tags: Default::default(),
    };
    let g = c.scale_group(&spec, 10).await.unwrap();
    assert_eq!(
        calls.get("RunInstances"),
        3,
        "ceil(10/4) RunInstances: {:?}",
        calls.snapshot()
    );
    let names: Vec<String> = g.members.iter().map(|m| m.name.clone()).collect();
    assert_eq!(
        names,
        (0..10).map(|i| format!("web-{i}")).collect::<Vec<_>>()
    );
    // Names are derived from tags + launch index, so a fresh read agrees.
    let read = c.get_group("web").await.unwrap();
    assert_eq!(
        read.members
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>(),
        names
    );
    // A member is found by name like any VM, and creating it again is idempotent.
    let m3 = c.find_vm("web-3").await.unwrap();
    assert_eq!(c.create_vm(&spec.member_spec(3)).await.unwrap().id, m3.id);

    // One template: scale-down removes the highest ordinals.
    calls.reset();
    let g = c.scale_group(&spec, 5).await.unwrap();
    assert_eq!(
        g.members.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
        names[..5].to_vec()
    );
    assert_eq!(
        calls.get("TerminateInstances"),
        2,
        "ceil(5/4): {:?}",
        calls.snapshot()
    );
    let mut v2 = spec.clone();
    v2.tags.insert("version".into(), "two".into());
    let g = c.scale_group(&v2, 7).await.unwrap();
    assert_eq!(g.members.len(), 7);
    // Shrinking to 2 removes the 5 old-template members first, keeping the 2 new ones.
    let g = c.scale_group(&v2, 2).await.unwrap();
    assert!(
        g.members
            .iter()
            .all(|m| m.tags.get("version").map(String::as_str) == Some("two")),
        "{:?}",
        g.members
    );
    c.scale_group(&v2, 0).await.unwrap();
    assert!(c.get_group("web").await.unwrap().members.is_empty());
}

#[tokio::test]
async fn vips_are_read_back_by_a_restarted_connector_and_public_ones_get_an_elastic_ip() {
    let m = Moto::new(region::VIPS).await;
    let owner = unique_owner("vip");
    let c = connector(&m, owner.clone());
    let a = launch(&c, "a").await;
    let b = launch(&c, "b").await;
    let mut spec = VipSpec::new("public-web", a.id.clone());
    spec.public = true;
    let vip = c.allocate_vip(&spec).await.unwrap();
    let public = vip
        .public_address
        .expect("a public vip has a public address");
    assert_ne!(Some(vip.address), a.private_ip);

    // A new connector (a restarted controller) sees the VIP from EC2 alone.
    let fresh = connector(&m, owner.clone());
    let listed = fresh.list_vips(&VipQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].address,
            listed[0].public_address,
            listed[0].vm.clone()
        ),
        (vip.address, Some(public), Some(a.id.clone()))
    );
    // A retried allocate returns the same VIP and does not allocate a second Elastic IP.
    assert_eq!(
        fresh.allocate_vip(&spec).await.unwrap().address,
        vip.address
    );

    let moved = fresh.move_vip(&vip.id, &b.id).await.unwrap();
    assert_eq!(
        (moved.address, moved.public_address),
        (vip.address, Some(public))
    );
    let eips = c
        .ec2()
        .describe_addresses()
        .public_ips(public.to_string())
        .send()
        .await
        .unwrap();
    let eip = &eips.addresses()[0];
    // (moto reports the ENI's primary address as the EIP's private address whatever
    // PrivateIpAddress said; EC2 reports the VIP. The ENI is what both agree on.)
    let b_enis: Vec<String> = c
        .get_vm(&b.id)
        .await
        .unwrap()
        .nics
        .iter()
        .map(|n| n.id.to_string())
        .collect();
    assert!(
        b_enis
            .iter()
            .any(|e| Some(e.as_str()) == eip.network_interface_id()),
        "EIP not on b's ENI: {eip:?}"
    );
    assert_eq!(vips_on(&c, &b.id).await.len(), 1);
    // The address left a's ENI (moto, unlike EC2, keeps a reassigned address on the old ENI
    // too, so the connector takes it off itself).
    assert!(
        !m.primary_eni_ips(a.id.as_str())
            .await
            .contains(&vip.address),
        "{} still on a's ENI after the move",
        vip.address
    );

    // Deleting the VM that holds a public VIP releases its Elastic IP.
    c.delete_vm(&b.id).await.unwrap();
    let left = elastic_ips_of(&c, &owner).await;
    assert!(
        left.addresses().is_empty(),
        "Elastic IPs leaked: {:?}",
        left.addresses()
    );
    c.delete_vm(&a.id).await.unwrap();
}

#[tokio::test]
async fn list_by_state_and_stop_start_round_trip() {
    let m = Moto::new(region::STATES).await;
    let c = connector(&m, unique_owner("state"));
    let vm = launch(&c, "s-1").await;
    let stopped = c.stop_vm(&vm.id).await.unwrap();
    assert!(
        matches!(stopped.state, VmState::Stopping | VmState::Stopped),
        "{:?}",
        stopped.state
    );
    let q = VmQuery {
        state: Some(VmState::Stopped),
        ..Default::default()
    };
    assert_eq!(c.list_all_vms(&q).await.unwrap().len(), 1);
    c.start_vm(&vm.id).await.unwrap();
    c.delete_vm(&vm.id).await.unwrap();
    let all = c
        .list_all_vms(&VmQuery {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(all.iter().all(|v| v.state == VmState::Deleted), "{all:?}");
}

#[tokio::test]
async fn a_nic_is_attached_once_and_detaching_it_releases_the_vips_on_it() {
    let m = Moto::new(region::NICS).await;
    let owner = unique_owner("nic");
    let s = AwsConfig {
        vpc: Some(m.vpc.clone()),
        ..settings(&m.subnet)
    };
    let c = moto::connector(&m.url, m.region, owner.clone(), s);
    let net = c
        .create_network(&strato_core::NetworkSpec::new(
            "backend",
            Some("10.0.7.0/24".parse().unwrap()),
        ))
        .await
        .unwrap();
    let vm = launch(&c, "se").await;
    let spec = strato_core::NicSpec {
        network: net.id.clone(),
        address: None,
    };
    let nic = c.attach_nic(&vm.id, &spec).await.unwrap();
    assert_eq!(nic.device_index, 1);
    // A retried attach (same VM, same spec) finds the ENI it made instead of making another.
    assert_eq!(c.attach_nic(&vm.id, &spec).await.unwrap().id, nic.id);
    assert_eq!(c.get_vm(&vm.id).await.unwrap().nics.len(), 2);

    let mut vip = VipSpec::new("backend-vip", vm.id.clone());
    vip.network = Some(net.id.clone());
    vip.public = true;
    let v = c.allocate_vip(&vip).await.unwrap();
    assert_eq!(v.network, net.id);
    let listed = vips_on(&c, &vm.id).await;
    assert_eq!(
        listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        vec!["backend-vip"]
    );

    // Detaching deletes the ENI, and with it the VIP; its Elastic IP is released.
    c.detach_nic(&vm.id, &nic.id).await.unwrap();
    assert!(c.list_vips(&VipQuery::default()).await.unwrap().is_empty());
    let eips = elastic_ips_of(&c, &owner).await;
    assert!(eips.addresses().is_empty(), "{:?}", eips.addresses());
    assert_eq!(c.get_vm(&vm.id).await.unwrap().nics.len(), 1);
    // The primary NIC is not strato's to detach.
    let primary = c.get_vm(&vm.id).await.unwrap().nics[0].id.clone();
    assert_eq!(
        c.detach_nic(&vm.id, &primary).await.unwrap_err().kind(),
        &ErrorKind::NotFound
    );
    c.delete_vm(&vm.id).await.unwrap();
    c.delete_network(&net.id).await.unwrap();
}

/// A VM made with an extra network gets one ENI per network at device indexes 0 and 1, each
/// tagged as owned, and terminating it deletes both (none left with the owner's tag).
#[tokio::test]
async fn nics_made_with_the_vm_are_owned_ordered_and_go_with_it() {
    let m = Moto::new(region::NICS).await;
    let owner = unique_owner("nics-at-create");
    let c = m.connector(&owner);
    let net = c
        .create_network(&strato_core::NetworkSpec::new(
            "data",
            Some("10.0.8.0/24".parse().unwrap()),
        ))
        .await
        .unwrap();
    let spec = VmSpec::new("se-two", micro(), moto::AMI)
        .with_network(m.subnet.as_str())
        .with_extra_network(net.id.clone());
    let vm = c.create_vm(&spec).await.unwrap();
    let owned_enis = || async {
        c.ec2()
            .describe_network_interfaces()
            .filters(moto::owner_filter(&owner))
            .send()
            .await
            .unwrap()
            .network_interfaces()
            .to_vec()
    };
    let mut enis: Vec<(i32, String)> = owned_enis()
        .await
        .iter()
        .map(|n| {
            (
                n.attachment().and_then(|a| a.device_index()).unwrap(),
                n.subnet_id().unwrap().to_owned(),
            )
        })
        .collect();
    enis.sort();
    assert_eq!(
        enis,
        vec![(0, m.subnet.clone()), (1, net.id.to_string())],
        "both ENIs carry the ownership tags, in order"
    );
    let read = c.get_vm(&vm.id).await.unwrap();
    assert_eq!(
        read.nics.iter().map(|n| &n.network).collect::<Vec<_>>(),
        vec![&strato_core::NetworkId::new(m.subnet.as_str()), &net.id]
    );
    c.delete_vm(&vm.id).await.unwrap();
    let left: Vec<_> = owned_enis()
        .await
        .iter()
        .filter_map(|n| n.network_interface_id().map(str::to_owned))
        .collect();
    assert!(left.is_empty(), "ENIs left after the VM's delete: {left:?}");
    c.delete_network(&net.id).await.unwrap();
}
