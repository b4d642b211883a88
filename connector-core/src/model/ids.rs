//! Typed identifiers, so a VM id cannot be passed where a network id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps the cloud's own identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The cloud's own identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A VM (instance, pod, virtual machine) in the cloud's own terms.
    VmId
);
id_type!(
    /// A network (subnet, portgroup, network attachment) in the cloud's own terms.
    NetworkId
);
id_type!(
    /// A network interface attached to a VM.
    NicId
);
id_type!(
    /// A virtual IP: an extra address that can move between VMs.
    VipId
);
id_type!(
    /// A machine VMs run on (a Kubernetes node, an ESXi host), where the cloud shows them.
    HostId
);
