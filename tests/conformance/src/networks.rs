//! Checks on networks and on NICs attached to a second network.

use crate::Target;
use crate::support::*;
use std::collections::BTreeSet;
use strato_core::{
    CloudConnectorExt, ErrorKind, NetworkId, NetworkQuery, NetworkSpec, NicSpec, Operation, Vm,
    VmId, VmState,
};

/// Networks: create, idempotent create, AlreadyExists, get, list, delete; or `Unsupported`.
pub async fn networks(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-net");
    let (true, Some(make)) = (c.capabilities().network_create, &t.network_spec) else {
        if !c.capabilities().network_create {
            let spec = t
                .network_spec
                .as_ref()
                .map_or_else(|| NetworkSpec::new(&name, None), |m| m(&name, 2));
            expect_unsupported(c.create_network(&spec).await, Operation::CreateNetwork);
        }
        return;
    };
    let spec = make(&name, 2);
    let net = c.create_network(&spec).await.must("create network");
    assert_eq!(net.name, name);
    assert_eq!(
        net.ownership.as_ref().map(|o| &o.owner),
        Some(t.owner()),
        "conformance: a created network is not owned"
    );
    let again = c
        .create_network(&spec)
        .await
        .must("create the same network again");
    assert_eq!(
        again.id, net.id,
        "conformance: the same network spec twice made two networks"
    );
    let other = make(&name, 3);
    if other != spec {
        expect_kind(
            "create another network under a taken name",
            c.create_network(&other).await,
            &ErrorKind::AlreadyExists,
        );
    }
    let got = eventually!(
        "get the new network",
        match c.get_network(&net.id).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    );
    assert_eq!(got.id, net.id);
    let listed = t.owned_networks().await;
    assert!(
        listed.iter().any(|n| n.id == net.id),
        "conformance: the new network is not listed"
    );
    assert!(
        listed
            .iter()
            .all(|n| n.ownership.as_ref().map(|o| &o.owner) == Some(t.owner())),
        "conformance: listing owned networks shows others"
    );
    let by_name = c
        .list_all_networks(&NetworkQuery {
            name: Some(name.clone()),
            ..Default::default()
        })
        .await
        .must("list networks by name");
    assert_eq!(
        by_name.iter().map(|n| &n.id).collect::<Vec<_>>(),
        vec![&net.id]
    );
    t.delete_network(&net.id).await;
    c.delete_network(&net.id)
        .await
        .must("delete an already deleted network");
    let listed = t.owned_networks().await;
    assert!(
        !listed.iter().any(|n| n.id == net.id),
        "conformance: the deleted network is still listed"
    );
}

/// A NIC on a second network, then detached again.
pub async fn nic_attach_detach(t: &Target) {
    let c = &t.connector;
    let caps = c.capabilities();
    if !caps.nic_attach {
        let net = t
            .network
            .clone()
            .unwrap_or_else(|| NetworkId::new("default"));
        let r = c
            .attach_nic(
                &VmId::new("vm-conformance"),
                &NicSpec {
                    network: net,
                    address: None,
                },
            )
            .await;
        expect_unsupported(r, Operation::AttachNic);
        return;
    }
    let name = unique("cf-nic");
    let Some((net, created)) = t.second_network(&name, 1).await else {
        eprintln!("conformance:   skipped: no second network (set network_spec or extra_network)");
        return;
    };
    let vm = t.running_vm(&name).await;
    let restart = !caps.hot_nic_attach && caps.vm_stop_start;
    if restart {
        c.stop_vm(&vm.id).await.must("stop before attaching");
        c.wait_vm(&vm.id, wait_opts(), &|v| v.state == VmState::Stopped)
            .await
            .must("wait for stop");
    }
    let nic = c
        .attach_nic(
            &vm.id,
            &NicSpec {
                network: net.clone(),
                address: None,
            },
        )
        .await
        .must("attach nic");
    assert_eq!(
        nic.network, net,
        "conformance: the nic is on another network"
    );
    assert!(
        nic.device_index > 0,
        "conformance: an attached nic claims to be the primary"
    );
    let reread = |vm: Vm| async move {
        if caps.nic_attach_replaces_vm {
            eventually!(
                "find the replaced vm by name",
                match c.find_vm(&vm.name).await {
                    Ok(v) if v.state.is_live() => Ok(Some(v)),
                    Ok(_) => Ok(None),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            )
        } else {
            c.get_vm(&vm.id).await.must("read the vm")
        }
    };
    let vm = reread(vm).await;
    assert!(
        vm.nics.iter().any(|n| n.network == net),
        "conformance: the vm does not show the attached nic: {:?}",
        vm.nics
    );
    let addresses: BTreeSet<_> = vm.nics.iter().filter_map(|n| n.address).collect();
    assert_eq!(
        addresses.len(),
        vm.nics.iter().filter(|n| n.address.is_some()).count(),
        "conformance: two nics share an address"
    );
    let nic_id = vm
        .nics
        .iter()
        .find(|n| n.network == net)
        .map(|n| n.id.clone())
        .expect("checked");
    c.detach_nic(&vm.id, &nic_id).await.must("detach nic");
    let vm = reread(vm).await;
    assert!(
        !vm.nics.iter().any(|n| n.network == net),
        "conformance: the nic is still there after detach: {:?}",
        vm.nics
    );
    if restart {
        c.start_vm(&vm.id).await.must("start after detaching");
    }
    t.delete_vms(&[vm.id]).await;
    if created {
        t.delete_network(&net).await;
    }
}
