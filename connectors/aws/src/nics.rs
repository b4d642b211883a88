//! NICs as ENIs: created in the target subnet, attached at the next free device index with
//! delete-on-termination (so deleting the VM deletes them), detached and deleted.

use crate::CLOUD;
use crate::client::AwsConnector;
use crate::convert::{self, EC2_NAME_TAG, filter};
use crate::error::{Context, none_if_not_found};
use aws_sdk_ec2::types::{
    NetworkInterface, NetworkInterfaceAttachmentChanges, NetworkInterfaceStatus, ResourceType,
};
use std::time::Duration;
use strato_core::{
    Error, ErrorKind, Nic, NicId, NicSpec, OWNER_TAG, Operation, Ownership, Result, TOKEN_TAG,
    Tags, VmId,
};

/// How long detach_nic waits for EC2 to finish detaching before deleting the ENI.
const DETACH_WAIT: Duration = Duration::from_secs(120);

impl AwsConnector {
    pub(crate) async fn describe_eni(
        &self,
        id: &str,
        op: Operation,
    ) -> Result<Option<NetworkInterface>> {
        let res = self
            .ec2
            .describe_network_interfaces()
            .network_interface_ids(id)
            .send()
            .await;
        Ok(
            none_if_not_found(res, op, Context::naming(self.is_recent(id)))?
                .and_then(|out| out.network_interfaces().first().cloned()),
        )
    }

    pub(crate) async fn attach_nic_impl(&self, vm: &VmId, spec: &NicSpec) -> Result<Nic> {
        let op = Operation::AttachNic;
        let (inst, _) = self.owned_instance(vm, op).await?;
        let token = spec.client_token(self.owner(), vm);

        // A retried attach (or one after a crash between create and attach) finds its ENI by token.
        let filters = vec![
            convert::owner_filter(self.owner()),
            filter(&format!("tag:{TOKEN_TAG}"), token.as_str()),
        ];
        let existing = self
            .ec2
            .describe_network_interfaces()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(self.sdk_err(op, Context::READING))?
            .network_interfaces()
            .first()
            .cloned();
        let eni = match existing {
            Some(eni) => match eni.attachment().and_then(|a| a.instance_id()) {
                Some(i) if i == vm.as_str() => {
                    return convert::nic_of(&eni).ok_or_else(|| internal(op, "ENI without id"));
                }
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        op,
                        format!("the NIC made for this request is attached to {other}, not {vm}"),
                    )
                    .with_cloud(CLOUD));
                }
                None => eni,
            },
            None => {
                let ownership = Ownership {
                    owner: self.owner().clone(),
                    group: None,
                    token: token.clone(),
                };
                let (_, tag_spec) = convert::owned_tag_spec(
                    ResourceType::NetworkInterface,
                    &Tags::new(),
                    &ownership,
                    [(EC2_NAME_TAG, format!("strato-{vm}"))],
                );
                let out = self
                    .ec2
                    .create_network_interface()
                    .subnet_id(spec.network.as_str())
                    .set_private_ip_address(spec.address.map(|a| a.to_string()))
                    .set_groups(self.security_groups())
                    .client_token(&token)
                    .tag_specifications(tag_spec)
                    .send()
                    .await
                    .map_err(self.sdk_err(op, Context::CREATING))?;
                let eni = out
                    .network_interface()
                    .cloned()
                    .ok_or_else(|| internal(op, "CreateNetworkInterface answered nothing"))?;
                if let Some(id) = eni.network_interface_id() {
                    self.remember([id.to_owned()]);
                }
                eni
            }
        };
        let eni_id = eni
            .network_interface_id()
            .ok_or_else(|| internal(op, "ENI without id"))?
            .to_owned();

        // The lowest device index not in use (0 is the primary).
        let used: Vec<i32> = inst
            .network_interfaces()
            .iter()
            .filter_map(|n| n.attachment().and_then(|a| a.device_index()))
            .collect();
        let index = (1..).find(|i| !used.contains(i)).unwrap_or(1);
        let out = self
            .ec2
            .attach_network_interface()
            .network_interface_id(&eni_id)
            .instance_id(vm.as_str())
            .device_index(index)
            .send()
            .await
            .map_err(self.sdk_err(op, Context::naming(self.is_recent(vm.as_str()))))?;
        if let Some(att) = out.attachment_id() {
            // Deleting the VM then deletes the NIC too, with no call of ours (and no leak when the
            // VM is terminated outside strato).
            self.ec2
                .modify_network_interface_attribute()
                .network_interface_id(&eni_id)
                .attachment(
                    NetworkInterfaceAttachmentChanges::builder()
                        .attachment_id(att)
                        .delete_on_termination(true)
                        .build(),
                )
                .send()
                .await
                .map_err(self.sdk_err(op, Context::READING))?;
        }
        let mut nic = convert::nic_of(&eni).ok_or_else(|| internal(op, "ENI without id"))?;
        nic.device_index = index as u32;
        Ok(nic)
    }

    pub(crate) async fn detach_nic_impl(&self, vm: &VmId, nic: &NicId) -> Result<()> {
        let op = Operation::DetachNic;
        let Some(eni) = self.describe_eni(nic.as_str(), op).await? else {
            return Ok(());
        };
        let tags = convert::tags_of(eni.tag_set());
        let owned =
            tags.get(OWNER_TAG) == Some(&self.owner().to_string()) && tags.contains_key(TOKEN_TAG);
        let attached_to = eni.attachment().and_then(|a| a.instance_id());
        if !owned || attached_to.is_some_and(|i| i != vm.as_str()) {
            // Not a NIC strato attached to this VM (a primary NIC, someone else's): not found.
            return Err(Error::not_found(op, format!("nic {nic} on vm {vm}")).with_cloud(CLOUD));
        }
        self.release_vips_on_eni(&eni, op).await?;
        if let Some(att) = eni
            .attachment()
            .and_then(|a| a.attachment_id())
            .filter(|_| attached_to.is_some())
        {
            let res = self
                .ec2
                .detach_network_interface()
                .attachment_id(att)
                .send()
                .await;
            none_if_not_found(res, op, Context::READING)?;
            self.wait_detached(nic.as_str(), op).await?;
        }
        let res = self
            .ec2
            .delete_network_interface()
            .network_interface_id(nic.as_str())
            .send()
            .await;
        none_if_not_found(res, op, Context::READING)?;
        Ok(())
    }

    /// Polls until an ENI is `available` (detaching takes seconds on EC2).
    async fn wait_detached(&self, id: &str, op: Operation) -> Result<()> {
        let deadline = tokio::time::Instant::now() + DETACH_WAIT;
        let mut interval = Duration::from_millis(250);
        loop {
            match self.describe_eni(id, op).await? {
                None => return Ok(()),
                Some(e)
                    if e.status() == Some(&NetworkInterfaceStatus::Available)
                        || e.attachment().is_none() =>
                {
                    return Ok(());
                }
                Some(_) => {}
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    op,
                    format!(
                        "nic {id} still detaching after {DETACH_WAIT:?}; detach again to finish"
                    ),
                )
                .with_cloud(CLOUD));
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(5));
        }
    }
}

fn internal(op: Operation, msg: &str) -> Error {
    Error::new(ErrorKind::Internal, op, msg.to_owned()).with_cloud(CLOUD)
}
