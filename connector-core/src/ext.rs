//! Conveniences built on the trait, implemented once for every connector.

use crate::connector::CloudConnector;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::*;
use async_trait::async_trait;
use std::time::Duration;
use tokio::time::Instant;

/// How long and how often to wait.
#[derive(Clone, Copy, Debug)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// First poll interval; doubles up to `max_interval`.
    pub interval: Duration,
    /// Longest poll interval.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(10),
        }
    }
}

/// Conveniences every connector gets for free.
#[async_trait]
pub trait CloudConnectorExt: CloudConnector {
    /// Every owned VM matching `query`, across all pages.
    async fn list_all_vms(&self, query: &VmQuery) -> Result<Vec<Vm>> {
        collect_pages(|page_token| {
            let q = VmQuery {
                page_token,
                ..query.clone()
            };
            async move { self.list_vms(&q).await }
        })
        .await
    }

    /// Every network matching `query`, across all pages.
    async fn list_all_networks(&self, query: &NetworkQuery) -> Result<Vec<Network>> {
        collect_pages(|page_token| {
            let q = NetworkQuery {
                page_token,
                ..query.clone()
            };
            async move { self.list_networks(&q).await }
        })
        .await
    }

    /// The owned, live VM named `name`.
    async fn find_vm(&self, name: &str) -> Result<Vm> {
        let q = VmQuery {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        self.list_all_vms(&q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(Operation::ListVms, format!("vm named {name:?}")))
    }

    /// The owned network named `name` (or any network with that name when none is owned).
    async fn find_network(&self, name: &str) -> Result<Network> {
        let q = NetworkQuery {
            name: Some(name.to_owned()),
            include_unowned: true,
            ..Default::default()
        };
        let all = self.list_all_networks(&q).await?;
        let owner = &self.info().owner;
        let owned = all
            .iter()
            .position(|n| n.ownership.as_ref().is_some_and(|o| o.owner == *owner));
        match owned {
            Some(i) => Ok(all[i].clone()),
            None => all.into_iter().next().ok_or_else(|| {
                Error::not_found(Operation::ListNetworks, format!("network named {name:?}"))
            }),
        }
    }

    /// The owned VIP named `name`.
    async fn find_vip(&self, name: &str) -> Result<Vip> {
        let q = VipQuery {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        self.list_vips(&q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(Operation::ListVips, format!("vip named {name:?}")))
    }

    /// Polls a VM until `done` says yes. A VM that is not yet visible is waited for, not
    /// treated as gone; a VM that failed ends the wait with `Conflict`.
    async fn wait_vm(
        &self,
        id: &VmId,
        opts: WaitOptions,
        done: &(dyn for<'v> Fn(&'v Vm) -> bool + Sync),
    ) -> Result<Vm> {
        let deadline = Instant::now() + opts.timeout;
        let mut interval = opts.interval;
        loop {
            match self.get_vm(id).await {
                Ok(vm) if done(&vm) => return Ok(vm),
                Ok(vm) if vm.state == VmState::Failed => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        Operation::GetVm,
                        format!("vm {id} failed"),
                    )
                    .with_resource(id));
                }
                Ok(_) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(e),
            }
            if Instant::now() + interval > deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    Operation::GetVm,
                    format!("vm {id} not ready after {:?}", opts.timeout),
                )
                .with_resource(id));
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(opts.max_interval);
        }
    }

    /// Waits until a VM is running.
    async fn wait_running(&self, id: &VmId, opts: WaitOptions) -> Result<Vm> {
        self.wait_vm(id, opts, &|vm| vm.state == VmState::Running)
            .await
    }

    /// Creates a VM and waits until it runs.
    async fn create_vm_and_wait(&self, spec: &VmSpec, opts: WaitOptions) -> Result<Vm> {
        let vm = self.create_vm(spec).await?;
        self.wait_running(&vm.id, opts).await
    }

    /// Scales a group and waits until it is stable at `size`.
    async fn scale_group_and_wait(
        &self,
        spec: &GroupSpec,
        size: u32,
        opts: WaitOptions,
    ) -> Result<Group> {
        let deadline = Instant::now() + opts.timeout;
        let mut interval = opts.interval;
        let mut group = self.scale_group(spec, size).await?;
        loop {
            if group.members.len() == size as usize && group.ready() == size as usize {
                return Ok(group);
            }
            if group.state() == GroupState::Degraded {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    Operation::ScaleGroup,
                    format!("group {} has failed members", spec.name),
                ));
            }
            if Instant::now() + interval > deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    Operation::ScaleGroup,
                    format!(
                        "group {} not at {size} running members after {:?}",
                        spec.name, opts.timeout
                    ),
                ));
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(opts.max_interval);
            group = match self.get_group(&spec.name).await {
                Ok(g) => g,
                Err(e) if e.is_retryable() => continue,
                Err(e) => return Err(e),
            };
        }
    }

    /// Creates a VM, waits until it runs, and attaches it to an extra network. Returns the VM as
    /// it came up (before the attach: read it again to see the new NIC) and the new NIC.
    ///
    /// Nothing is undone on failure: if the VM does not come up in time, or the attach fails,
    /// the VM stays and the error is returned. Calling again with the same spec is the way on:
    /// creates and attaches are idempotent, so it reuses that VM (and a NIC already made) and
    /// only does what is missing. Delete the VM to give up.
    async fn create_and_attach(
        &self,
        spec: &VmSpec,
        extra: &NicSpec,
        opts: WaitOptions,
    ) -> Result<(Vm, Nic)> {
        let vm = self.create_vm_and_wait(spec, opts).await?;
        let nic = self.attach_nic(&vm.id, extra).await?;
        Ok((vm, nic))
    }
}

impl<T: CloudConnector + ?Sized> CloudConnectorExt for T {}

/// Follows page tokens until the last page. `fetch` gets the token of the page it must return.
async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = fetch(token).await?;
        all.extend(page.items);
        match page.next {
            Some(t) => token = Some(t),
            None => return Ok(all),
        }
    }
}
