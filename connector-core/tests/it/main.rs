//! strato-core's integration tests, in one binary: the layers and the extension methods on the
//! memory cloud (the reference implementation of the trait).

mod ext;
mod rate_limit;
mod registry;
mod timeout;

use std::sync::Arc;
use std::time::Duration;
use strato_core::{OwnerId, Size, VmSpec};
use strato_memory::{MemoryConfig, MemoryConnector};

/// A memory cloud of its own whose VMs boot in `boot`.
fn memory(boot: Duration) -> Arc<MemoryConnector> {
    let settings = MemoryConfig {
        boot_latency: boot,
        ..MemoryConfig::default()
    };
    Arc::new(MemoryConnector::from_settings(settings, OwnerId::new("core-it").unwrap()).unwrap())
}

fn vm_spec(name: &str) -> VmSpec {
    VmSpec::new(name, Size::shape(1, 1024), "img-1")
}
