//! The cloud reads of a pass: each cloud's VMs (and, for groups of one SE per host, its hosts)
//! are read once per pass and shared by every reconcile in it.

use super::{Controller, State};
use crate::error::{ControllerError, Result};
use std::collections::HashMap;
use std::sync::Arc;
use strato_core::{CloudConnector, CloudConnectorExt, Host, Vm, VmQuery};

/// One cloud read of one pass, shared by every reconcile of that pass (a failed read too, so
/// it is not repeated by each object).
#[derive(Debug)]
pub(crate) struct PassRead<T> {
    pass: u64,
    value: std::result::Result<Arc<T>, String>,
}

impl Controller {
    /// The VMs of one cloud by group, read once per pass.
    pub(crate) async fn view(&self, cloud: &str) -> Result<Arc<HashMap<String, Vec<Vm>>>> {
        self.read_once(
            cloud,
            "VMs",
            |st| &mut st.views,
            |conn| async move {
                let mut by: HashMap<String, Vec<Vm>> = HashMap::new();
                for vm in conn.list_all_vms(&VmQuery::default()).await? {
                    if let Some(g) = vm.group() {
                        by.entry(g.to_owned()).or_default().push(vm);
                    }
                }
                Ok(by)
            },
        )
        .await
    }

    /// The hosts of one cloud, read once per pass.
    pub(crate) async fn hosts(&self, cloud: &str) -> Result<Arc<Vec<Host>>> {
        self.read_once(
            cloud,
            "hosts",
            |st| &mut st.host_views,
            |conn| async move { conn.list_hosts().await },
        )
        .await
    }

    /// Reads `what` of `cloud` with `fetch` unless this pass already did.
    async fn read_once<T, F, Fut>(
        &self,
        cloud: &str,
        what: &str,
        slot: fn(&mut State) -> &mut HashMap<String, PassRead<T>>,
        fetch: F,
    ) -> Result<Arc<T>>
    where
        F: FnOnce(Arc<dyn CloudConnector>) -> Fut,
        Fut: std::future::Future<Output = strato_core::Result<T>>,
    {
        let pass = self.inner.pass.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = slot(&mut self.state()).get(cloud)
            && r.pass == pass
        {
            return r.value.clone().map_err(ControllerError::Unknown);
        }
        let conn = self.inner.clouds.get(cloud).cloned().ok_or_else(|| {
            ControllerError::Config(format!("cloud profile {cloud:?} is not configured"))
        })?;
        let value = fetch(conn)
            .await
            .map(Arc::new)
            .map_err(|e| format!("listing the {what} of cloud {cloud} failed: {e}"));
        slot(&mut self.state()).insert(
            cloud.to_owned(),
            PassRead {
                pass,
                value: value.clone(),
            },
        );
        value.map_err(ControllerError::Unknown)
    }

    /// Forgets the cloud reads of this pass (after a change the next reader must see).
    pub(crate) fn invalidate_view(&self, cloud: &str) {
        self.state().views.remove(cloud);
    }
}
