//! What the cloud holds, read through a connector for assertions (not the controller's view).

use strato_core::{CloudConnector, CloudConnectorExt, Vip, VipQuery, Vm, VmQuery};

/// The live owned VMs of a group, across all pages, sorted by name.
pub async fn vms(cloud: &dyn CloudConnector, group: &str) -> Vec<Vm> {
    let mut v = cloud
        .list_all_vms(&VmQuery {
            group: Some(group.into()),
            ..Default::default()
        })
        .await
        .expect("list vms");
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Every VIP of the connector's owner.
pub async fn vips(cloud: &dyn CloudConnector) -> Vec<Vip> {
    cloud
        .list_vips(&VipQuery::default())
        .await
        .expect("list vips")
}
