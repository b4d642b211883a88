//! Hosts: `host-1..=settings.hosts`, none when `settings.hosts` is 0 (like EC2, which shows
//! none). Hosts are not owned; a VM is placed on the one it asks for or the least loaded ready
//! one, and tests can mark a host not ready ([`crate::MemoryBackend::set_host_ready`]).

use crate::client::MemoryConnector;
use crate::error::{invalid, unsupported};
use crate::world::{Ctx, World};
use std::collections::BTreeMap;
use strato_core::{Error, Host, HostId, Operation, Result};

impl MemoryConnector {
    pub(crate) async fn list_hosts_impl(&self) -> Result<Vec<Host>> {
        if self.backend().config().hosts == 0 {
            return Err(unsupported(
                Operation::ListHosts,
                "this memory cloud shows no hosts (settings.hosts = 0)",
            ));
        }
        self.call(Operation::ListHosts, |w, c| Ok(w.list_hosts(c)))
    }
}

impl World {
    /// The simulated hosts, all owners' (hosts are not owned).
    pub fn list_hosts(&self, ctx: &Ctx) -> Vec<Host> {
        (1..=ctx.settings.hosts)
            .map(|i| {
                let name = format!("host-{i}");
                Host {
                    id: HostId::new(name.clone()),
                    ready: !self.hosts_down.contains(&name),
                    name,
                }
            })
            .collect()
    }

    /// Marks a host as accepting new VMs or not (a drained or failed machine).
    pub fn set_host_ready(&mut self, ctx: &Ctx, host: &str, ready: bool) -> Result<(), Error> {
        if !self.list_hosts(ctx).iter().any(|h| h.id.as_str() == host) {
            return Err(invalid(
                Operation::Configure,
                "host",
                format!("host {host:?} does not exist"),
            ));
        }
        if ready {
            self.hosts_down.remove(host);
        } else {
            self.hosts_down.insert(host.to_owned());
        }
        Ok(())
    }

    /// The host a new VM runs on: the one asked for, which must exist and be ready, or the
    /// ready host with the fewest VMs (none when the cloud shows no hosts).
    pub fn place(
        &self,
        ctx: &Ctx,
        wanted: Option<&HostId>,
        op: Operation,
    ) -> Result<Option<String>, Error> {
        let hosts = self.list_hosts(ctx);
        match wanted {
            Some(_) if hosts.is_empty() => Err(unsupported(
                op,
                "this memory cloud shows no hosts (settings.hosts = 0): a VM cannot be pinned",
            )
            .with_field("host")),
            Some(h) => match hosts.iter().find(|x| x.id == *h) {
                Some(x) if x.ready => Ok(Some(x.name.clone())),
                Some(_) => Err(invalid(op, "host", format!("host {h} is not ready"))),
                None => Err(invalid(op, "host", format!("host {h} does not exist"))),
            },
            None => {
                let mut load: BTreeMap<&str, usize> = BTreeMap::new();
                for v in self.vms.values() {
                    if let Some(h) = &v.host {
                        *load.entry(h.as_str()).or_default() += 1;
                    }
                }
                Ok(hosts
                    .iter()
                    .filter(|h| h.ready)
                    // The first of the least loaded, in host order.
                    .min_by_key(|h| load.get(h.name.as_str()).copied().unwrap_or(0))
                    .map(|h| h.name.clone()))
            }
        }
    }
}
