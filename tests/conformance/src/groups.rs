//! Checks on groups of VMs scaled by count.

use crate::Target;
use crate::support::*;
use strato_core::{CloudConnectorExt, GroupSpec, GroupSupport, Operation, member_ordinal};

/// A tag-defined or native group: 0 -> 3 -> 1 -> 0, members named by ordinal.
pub async fn groups(t: &Target) {
    let c = &t.connector;
    let name = unique("cf-grp");
    let spec = GroupSpec {
        name: name.clone(),
        size: t.size.clone(),
        image: t.image.clone(),
        network: t.network.clone(),
        tags: [("suite".to_owned(), "conformance".to_owned())].into(),
    };
    if c.capabilities().group == GroupSupport::None {
        expect_unsupported(c.scale_group(&spec, 1).await, Operation::ScaleGroup);
        return;
    }
    let empty = c
        .get_group(&name)
        .await
        .must("get a group that has no members yet");
    assert!(
        empty.members.is_empty(),
        "conformance: a new group has members: {:?}",
        empty.members
    );

    // Tag-defined groups name members GROUP-ORDINAL; a native group (ASG, Deployment) names
    // them itself, so there only the count is checked.
    let tagged = c.capabilities().group == GroupSupport::Tagged;
    let ordinals = |g: &strato_core::Group| -> Vec<u32> {
        let live = g.members.iter().filter(|m| m.state.is_live());
        if !tagged {
            return (0..live.count() as u32).collect();
        }
        let mut o: Vec<u32> = live
            .filter_map(|m| member_ordinal(&name, &m.name))
            .collect();
        o.sort();
        o
    };
    let group = c
        .scale_group_and_wait(&spec, 3, wait_opts())
        .await
        .must("scale group to 3");
    assert_eq!(
        ordinals(&group),
        vec![0, 1, 2],
        "conformance: members are not named by ordinal"
    );
    // A repeated scale is a no-op.
    c.scale_group(&spec, 3).await.must("scale group to 3 again");
    let group = eventually!("group has exactly 3 members", {
        let g = c.get_group(&name).await?;
        Ok((g.members.len() == 3).then_some(g))
    });
    assert_eq!(
        ordinals(&group),
        vec![0, 1, 2],
        "conformance: scaling to the same size changed members"
    );
    assert!(
        group
            .members
            .iter()
            .all(|m| m.group() == Some(name.as_str())),
        "conformance: a member lacks its group"
    );
    let by_group = c
        .list_all_vms(&vms_in_group(name.clone()))
        .await
        .must("list vms by group");
    assert_eq!(
        by_group.len(),
        3,
        "conformance: listing by group found {} vms",
        by_group.len()
    );

    c.scale_group(&spec, 1).await.must("scale group to 1");
    let group = eventually!("group shrinks to 1", {
        let g = c.get_group(&name).await?;
        Ok((g.members.iter().filter(|m| m.state.is_live()).count() == 1).then_some(g))
    });
    assert_eq!(
        ordinals(&group),
        vec![0],
        "conformance: scale-down did not remove the highest ordinals"
    );

    c.scale_group(&spec, 0).await.must("scale group to 0");
    eventually!("group is empty", {
        let g = c.get_group(&name).await?;
        Ok(g.members.iter().all(|m| !m.state.is_live()).then_some(()))
    });
    eventually!("group members leave the list", {
        let l = c.list_all_vms(&vms_in_group(name.clone())).await?;
        Ok(l.is_empty().then_some(()))
    });
}
