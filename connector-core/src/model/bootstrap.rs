//! Bootstrap data: the document a VM reads at its first boot (cloud-init user-data).
//!
//! It carries the SE's own credential, so it is never shown: `Debug` prints its size only,
//! there is no `Display`, and a [`VmSpec`](super::VmSpec) does not serialise it, which keeps it
//! out of client tokens, stored specs and logged requests alike.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A first-boot document. Each connector maps it to its cloud's mechanism (EC2 `UserData`,
/// vSphere `guestinfo.userdata`, a Kubernetes Secret, Azure `userData`, GCE metadata
/// `user-data`) and refuses one larger than
/// [`Capabilities::bootstrap_max_bytes`](crate::Capabilities::bootstrap_max_bytes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bootstrap(String);

impl Bootstrap {
    /// Wraps a document (cloud-init text: `#cloud-config` YAML or a script).
    pub fn new(document: impl Into<String>) -> Self {
        Self(document.into())
    }

    /// The document itself. Named so that every place that reads the secret is easy to find;
    /// only a connector handing it to its cloud (or a test reading it back) should.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its size in bytes, which is what clouds limit.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty document.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bootstrap(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_size_and_never_the_document() {
        let b = Bootstrap::new("#cloud-config\ntoken: s3cr3t-value\n");
        let shown = format!("{b:?} {:#?}", b);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains(&format!("{} bytes", b.len())), "{shown}");
    }
}
