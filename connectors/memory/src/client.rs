//! `MemoryConnector`: one owner's connector to a [`MemoryBackend`], and the trait impl, which
//! only forwards to the `_impl` methods of the resource files (`vms.rs`, `networks.rs`, ...).

use crate::backend::MemoryBackend;
use crate::config::MemoryConfig;
use crate::world::{Ctx, World};
use strato_core::{Capabilities, CloudInfo, Error, Operation, OwnerId, Result};

/// The memory cloud as seen by one owner.
#[derive(Clone, Debug)]
pub struct MemoryConnector {
    backend: MemoryBackend,
    info: CloudInfo,
}

impl MemoryConnector {
    /// A connector for `owner` on a shared account.
    pub fn new(backend: MemoryBackend, owner: OwnerId) -> Self {
        let info = CloudInfo {
            kind: crate::CLOUD,
            account: backend.config().account.clone(),
            region: backend.config().region.clone(),
            owner,
        };
        Self { backend, info }
    }

    /// A connector on a new account of its own (or the one in `settings.state_file`).
    pub fn from_settings(settings: MemoryConfig, owner: OwnerId) -> Result<Self> {
        Ok(Self::new(MemoryBackend::new(settings)?, owner))
    }

    /// The account this connector talks to; build another owner's connector on a clone of it.
    pub fn backend(&self) -> &MemoryBackend {
        &self.backend
    }

    /// Runs one call on the account as this connector's owner.
    pub(crate) fn call<R>(
        &self,
        op: Operation,
        f: impl FnOnce(&mut World, &Ctx) -> Result<R, Error>,
    ) -> Result<R> {
        self.backend.call(op, &self.info.owner, f)
    }
}

impl MemoryConnector {
    pub(crate) fn info_impl(&self) -> &CloudInfo {
        &self.info
    }

    pub(crate) fn capabilities_impl(&self) -> Capabilities {
        crate::capabilities::capabilities(self.backend.config())
    }

    pub(crate) async fn close_impl(&self) -> Result<()> {
        // No session to end.
        Ok(())
    }
}

// Every trait method calls its `_impl` in the file of its resource (vms.rs, networks.rs, ...).
strato_core::impl_cloud_connector!(MemoryConnector);
