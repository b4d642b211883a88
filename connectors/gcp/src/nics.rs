//! NICs: Compute sets an instance's network interfaces when it is created; there is no hot
//! attach or detach (addNetworkInterface exists only for dynamic NICs in preview). Both
//! answer `Unsupported` naming the operation; a VM on several networks is made with them.

use crate::CLOUD;
use crate::client::GcpConnector;
use strato_core::{Error, Nic, NicId, NicSpec, Operation, Result, VmId};

const WHY: &str = "Compute Engine sets an instance's network interfaces at creation; they cannot be added or removed later";

impl GcpConnector {
    pub(crate) async fn attach_nic_impl(&self, _vm: &VmId, _spec: &NicSpec) -> Result<Nic> {
        Err(Error::unsupported(Operation::AttachNic, CLOUD, WHY))
    }

    pub(crate) async fn detach_nic_impl(&self, _vm: &VmId, _nic: &NicId) -> Result<()> {
        Err(Error::unsupported(Operation::DetachNic, CLOUD, WHY))
    }
}
