//! VMs as EC2 instances.

use crate::CLOUD;
use crate::capabilities::MAX_PAGE;
use crate::client::AwsConnector;
use crate::convert::{self, ORDINAL_BASE_TAG, SIZE_TAG, TEMPLATE_TAG, filter};
use crate::error::{Context, already_exists};
use crate::hosts::no_hosts;
use crate::{paging, sizes};
use aws_sdk_ec2::types::{
    Instance, InstanceNetworkInterfaceSpecification, InstanceType, ResourceType,
};
use base64::Engine;
use strato_core::{
    Error, ErrorKind, GROUP_TAG, GroupSpec, NAME_TAG, NetworkId, Operation, Page, Result, Size,
    Tags, Vm, VmId, VmQuery, VmSpec, member_ordinal,
};

/// The image or size that once meant "the aws profile's `image` / `instance_type` setting".
const DEFAULT_SENTINEL: &str = "default";

/// Refuses the `default` image or size, saying where a profile's default lives now.
fn no_default(field: &str, key: &str, want: &str) -> Error {
    Error::invalid_spec(
        field,
        format!(
            "{field} \"default\" is not {want}: the aws connector has no default {field}; a \
             profile's is its [profiles.NAME.defaults] {key}, which the CLI fills in"
        ),
    )
}

impl AwsConnector {
    /// The AMI of a spec. The connector has no default image: a profile's is its
    /// `[profiles.NAME.defaults] image`, which the CLI puts in the spec.
    pub(crate) fn resolve_image(&self, image: &str) -> Result<String> {
        let image = image.trim();
        if image == DEFAULT_SENTINEL {
            return Err(no_default("image", "image", "an AMI id"));
        }
        if !image.starts_with("ami-") || image.len() < 8 {
            return Err(Error::invalid_spec(
                "image",
                format!("image {image:?} is not an AMI id like ami-0abcdef1234567890"),
            ));
        }
        Ok(image.to_owned())
    }

    /// The instance type of a spec. The connector has no default type: a profile's is its
    /// `[profiles.NAME.defaults] size` (`size = "t3.micro"`), which the CLI puts in the spec.
    pub(crate) fn resolve_size(&self, size: &strato_core::Size) -> Result<String> {
        if matches!(size, strato_core::Size::Native(n) if n == DEFAULT_SENTINEL) {
            return Err(no_default(
                "size",
                "size",
                "an instance type (t3.micro) or a shape (2x4g)",
            ));
        }
        sizes::resolve(size, &self.config.shape_families)
    }

    /// The group template a member spec belongs to (a member's spec minus its name).
    pub(crate) fn template_of(&self, spec: &VmSpec) -> Option<String> {
        let group = spec.group.as_ref()?;
        let g = GroupSpec {
            name: group.clone(),
            size: spec.size.clone(),
            image: spec.image.clone(),
            network: spec.network.clone(),
            tags: spec.tags.clone(),
        };
        Some(g.template_token(self.owner()))
    }

    /// True when `vm` was made from `spec`: the same client token, or (a batch-launched group
    /// member) the same group template.
    fn made_from(&self, vm: &Vm, spec: &VmSpec, token: &str) -> bool {
        vm.ownership.token == token
            || (vm.tags.contains_key(ORDINAL_BASE_TAG)
                && self
                    .template_of(spec)
                    .is_some_and(|t| vm.tags.get(TEMPLATE_TAG) == Some(&t)))
    }

    /// Live owned instances named `name`, including batch-launched group members (whose name is
    /// derived, not tagged).
    pub(crate) async fn find_by_name(&self, name: &str, op: Operation) -> Result<Vec<Vm>> {
        let mut filters = self.live_owned_filters();
        filters.push(filter(&format!("tag:{NAME_TAG}"), name));
        let mut found: Vec<Instance> = self.describe_all_instances(filters, op).await?;
        // NAME-ORDINAL may be member ORDINAL of group NAME, launched in a batch.
        if let Some((group, _)) = name.rsplit_once('-')
            && member_ordinal(group, name).is_some()
        {
            let mut filters = self.live_owned_filters();
            filters.push(filter(&format!("tag:{GROUP_TAG}"), group));
            filters.push(filter("tag-key", ORDINAL_BASE_TAG));
            found.extend(self.describe_all_instances(filters, op).await?);
        }
        let mut vms: Vec<Vm> = found
            .iter()
            .filter_map(|i| convert::vm_of(i, None))
            .filter(|v| v.name == name)
            .collect();
        vms.sort_by(|a, b| a.id.cmp(&b.id));
        vms.dedup_by(|a, b| a.id == b.id);
        Ok(vms)
    }

    /// The instance type and AMI a VM or group spec launches with, errors naming `op`.
    pub(crate) fn launch_type_and_image(
        &self,
        size: &Size,
        image: &str,
        op: Operation,
    ) -> Result<(String, String)> {
        let fail = |e: Error| e.with_operation(op).with_cloud(CLOUD);
        let instance_type = self.resolve_size(size).map_err(fail)?;
        let image = self.resolve_image(image).map_err(fail)?;
        Ok((instance_type, image))
    }

    pub(crate) async fn create_vm_impl(&self, spec: &VmSpec) -> Result<Vm> {
        let op = Operation::CreateVm;
        if spec.host.is_some() {
            return Err(no_hosts(op).with_field("host"));
        }
        spec.validate()
            .and_then(|()| spec.validate_for(&self.capabilities_impl(), CLOUD))
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD))?;
        let (instance_type, image) = self.launch_type_and_image(&spec.size, &spec.image, op)?;
        let token = spec.client_token(self.owner());

        // EC2 dedupes by ClientToken, moto does not, and a restarted controller may not know
        // whether its last RunInstances went through: look for the VM by name first.
        if let Some(vm) = self.find_by_name(&spec.name, op).await?.into_iter().next() {
            if self.made_from(&vm, spec, &token) {
                return Ok(vm);
            }
            return Err(already_exists(op, "vm", &spec.name, &vm.id, &vm.id));
        }

        let (tags, tag_spec) = convert::owned_tag_spec(
            ResourceType::Instance,
            &spec.tags,
            &spec.ownership(self.owner()),
            convert::name_tags(&spec.name)
                .into_iter()
                .chain([(SIZE_TAG, spec.size.to_string())])
                .chain(self.template_of(spec).map(|t| (TEMPLATE_TAG, t))),
        );
        let mut nic_tags = None;
        let mut run = self
            .ec2
            .run_instances()
            .image_id(image)
            .instance_type(InstanceType::from(instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(&token)
            .tag_specifications(tag_spec)
            // EC2 takes user data base64-encoded; its 16 KiB limit is on the raw document.
            .set_user_data(
                spec.bootstrap
                    .as_ref()
                    .map(|b| base64::engine::general_purpose::STANDARD.encode(b.expose())),
            );
        run = if spec.extra_networks.is_empty() {
            run.set_subnet_id(self.subnet_for(spec.network.as_ref()))
                .set_security_group_ids(self.security_groups())
        } else {
            // Several NICs: each ENI is described in full (EC2 refuses the top-level subnet
            // and groups alongside), deleted with the instance, and tagged as owned.
            let (eni_tags, eni_tag_spec) = convert::owned_tag_spec(
                ResourceType::NetworkInterface,
                &Tags::new(),
                &spec.ownership(self.owner()),
                [(convert::EC2_NAME_TAG, format!("strato-{}", spec.name))],
            );
            let subnets = std::iter::once(self.subnet_for(spec.network.as_ref()))
                .chain(spec.extra_networks.iter().map(|n| Some(n.to_string())));
            for (index, subnet) in subnets.enumerate() {
                run = run.network_interfaces(
                    InstanceNetworkInterfaceSpecification::builder()
                        .device_index(index as i32)
                        .set_subnet_id(subnet)
                        .set_groups(self.security_groups())
                        .delete_on_termination(true)
                        .build(),
                );
            }
            nic_tags = Some(eni_tags);
            run.tag_specifications(eni_tag_spec)
        };
        let out = run
            .send()
            .await
            .map_err(self.sdk_err(op, Context::CREATING))?;
        let inst = out.instances().first().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                "RunInstances answered without an instance",
            )
            .with_cloud(CLOUD)
        })?;
        let vm = convert::vm_of(inst, Some(&tags)).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                op,
                "RunInstances answered an instance without an id",
            )
            .with_cloud(CLOUD)
        })?;
        self.remember([vm.id.to_string()]);
        if let Some(tags) = nic_tags {
            self.tag_enis(&vm, &tags, op).await?;
        }
        tracing::debug!(vm = %vm.id, name = %vm.name, instance_type, "instance launched");
        Ok(vm)
    }

    /// Tags the ENIs made with `vm` again after launch: EC2 applies RunInstances'
    /// network-interface tag specification, moto ignores it, and CreateTags is idempotent. A
    /// crash before this call leaves them untagged but still deleted with the instance.
    async fn tag_enis(&self, vm: &Vm, tags: &Tags, op: Operation) -> Result<()> {
        let enis: Vec<String> = vm.nics.iter().map(|n| n.id.to_string()).collect();
        if enis.is_empty() {
            return Ok(());
        }
        self.ec2
            .create_tags()
            .set_resources(Some(enis))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(self.sdk_err(op, Context::CREATING))?;
        Ok(())
    }

    /// The subnet to launch in: the spec's network, else the profile's subnet.
    pub(crate) fn subnet_for(&self, network: Option<&NetworkId>) -> Option<String> {
        network
            .map(|n| n.to_string())
            .or_else(|| self.config.subnet.clone())
    }

    pub(crate) fn security_groups(&self) -> Option<Vec<String>> {
        (!self.config.security_groups.is_empty()).then(|| self.config.security_groups.clone())
    }

    pub(crate) async fn get_vm_impl(&self, id: &VmId) -> Result<Vm> {
        let op = Operation::GetVm;
        let inst = self.describe_instance(id, op).await?;
        match inst.as_ref().and_then(|i| convert::vm_of(i, None)) {
            Some(vm) if vm.ownership.owner == *self.owner() => Ok(vm),
            _ => Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD)),
        }
    }

    pub(crate) async fn list_vms_impl(&self, query: &VmQuery) -> Result<Page<Vm>> {
        let op = Operation::ListVms;
        // A name query finds at most a few instances: read them whole (both tagged and
        // batch-derived names), then page the result by offset.
        if let Some(name) = &query.name {
            let mut filters = vec![convert::owner_filter(self.owner())];
            filters.extend(self.state_filter(query));
            let mut vms = Vec::new();
            let mut f = filters.clone();
            f.push(filter(&format!("tag:{NAME_TAG}"), name.as_str()));
            vms.extend(self.describe_all_instances(f, op).await?);
            if let Some((group, _)) = name.rsplit_once('-')
                && member_ordinal(group, name).is_some()
            {
                let mut f = filters;
                f.push(filter(&format!("tag:{GROUP_TAG}"), group));
                f.push(filter("tag-key", ORDINAL_BASE_TAG));
                vms.extend(self.describe_all_instances(f, op).await?);
            }
            let mut vms: Vec<Vm> = vms
                .iter()
                .filter_map(|i| convert::vm_of(i, None))
                .filter(|v| v.ownership.owner == *self.owner() && query.matches(v))
                .collect();
            vms.sort_by(|a, b| a.id.cmp(&b.id));
            vms.dedup_by(|a, b| a.id == b.id);
            // Keyed by instance id: a VM terminated between two page calls must not make another
            // skip a page.
            return Page::from_keyed(
                vms,
                |v| v.id.as_str(),
                query.page_size,
                query.page_token.as_deref(),
                MAX_PAGE,
            )
            .map_err(|e| e.with_operation(op).with_cloud(CLOUD));
        }
        let mut filters = vec![convert::owner_filter(self.owner())];
        filters.extend(self.state_filter(query));
        if let Some(g) = &query.group {
            filters.push(filter(&format!("tag:{GROUP_TAG}"), g.as_str()));
        }
        for (k, v) in &query.tags {
            filters.push(filter(&format!("tag:{k}"), v.as_str()));
        }
        paging::page(
            query.page_size,
            query.page_token.as_deref(),
            MAX_PAGE,
            |tok, max_results| self.describe_instances_page(filters.clone(), max_results, tok, op),
            |i| {
                convert::vm_of(i, None)
                    .filter(|v| v.ownership.owner == *self.owner() && query.matches(v))
            },
        )
        .await
        .map_err(|e| e.with_operation(op).with_cloud(CLOUD))
    }

    /// The instance-state-name filter of a query (live states unless told otherwise).
    fn state_filter(&self, query: &VmQuery) -> Option<aws_sdk_ec2::types::Filter> {
        let states: Vec<String> = match query.state {
            Some(s) => convert::ec2_states(s)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            None if query.include_deleted => return None,
            None => convert::LIVE_STATES.iter().map(|s| s.to_string()).collect(),
        };
        // Failed/Unknown have no EC2 state: filter client-side only.
        (!states.is_empty()).then(|| convert::filter_any("instance-state-name", states))
    }

    pub(crate) async fn delete_vm_impl(&self, id: &VmId) -> Result<()> {
        let op = Operation::DeleteVm;
        let Some(inst) = self.describe_instance(id, op).await? else {
            return Ok(());
        };
        let Some(vm) = convert::vm_of(&inst, None).filter(|v| v.ownership.owner == *self.owner())
        else {
            // Someone else's instance: never touched, and reported as not found.
            return Err(Error::not_found(op, format!("vm {id}")).with_cloud(CLOUD));
        };
        if !vm.state.is_live() {
            return Ok(());
        }
        let enis: Vec<String> = vm.nics.iter().map(|n| n.id.to_string()).collect();
        self.release_eips_of(&enis, op).await?;
        self.terminate(&[vm.id.to_string()], op).await?;
        self.forget(id.as_str());
        Ok(())
    }

    /// TerminateInstances; ids already gone are fine.
    pub(crate) async fn terminate(&self, ids: &[String], op: Operation) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        match self
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = crate::error::map_sdk_error(e, op, Context::READING);
                if e.is_not_found() && ids.len() == 1 {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(crate) async fn start_stop_impl(&self, id: &VmId, start: bool) -> Result<Vm> {
        let op = if start {
            Operation::StartVm
        } else {
            Operation::StopVm
        };
        let (_, mut vm) = self.owned_instance(id, op).await?;
        let state = if start {
            let out = self
                .ec2
                .start_instances()
                .instance_ids(id.as_str())
                .send()
                .await
                .map_err(self.sdk_err(op, Context::READING))?;
            out.starting_instances()
                .first()
                .and_then(|c| c.current_state())
                .and_then(|s| s.name())
                .cloned()
        } else {
            let out = self
                .ec2
                .stop_instances()
                .instance_ids(id.as_str())
                .send()
                .await
                .map_err(self.sdk_err(op, Context::READING))?;
            out.stopping_instances()
                .first()
                .and_then(|c| c.current_state())
                .and_then(|s| s.name())
                .cloned()
        };
        if let Some(s) = state {
            vm.state = convert::vm_state(Some(&s));
        }
        Ok(vm)
    }
}
