//! Client tokens: the idempotency key of a create.
//!
//! A token is a hash of the owner, the kind of resource and the whole request. Retrying the same
//! request gives the same token, so the cloud (or the connector's lookup by the token tag) returns
//! the resource made by the first attempt; changing any field gives a new token, so EC2 never
//! answers IdempotentParameterMismatch for a request that was legitimately changed.

use super::OwnerId;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Length of a token in hex characters: short enough for every cloud's tag and label limits
/// (GCP and Kubernetes: 63), long enough (128 bits) never to collide.
pub const TOKEN_LEN: usize = 32;

/// Derives the client token of a create request.
pub fn client_token(owner: &OwnerId, resource: &str, request: &impl Serialize) -> String {
    let body = serde_json::to_vec(request).expect("specs serialize to JSON");
    let mut h = Sha256::new();
    h.update(b"strato/v1\0");
    h.update(resource.as_bytes());
    h.update(b"\0");
    h.update(owner.as_str().as_bytes());
    h.update(b"\0");
    h.update(&body);
    let mut token = hex::encode(h.finalize());
    token.truncate(TOKEN_LEN);
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Size, VmSpec};

    #[test]
    fn the_same_request_gives_the_same_token_and_any_change_another() {
        let owner = OwnerId::new("team-a").unwrap();
        let spec = VmSpec::new("web-1", Size::shape(2, 4096), "img-1");
        let t = client_token(&owner, "vm", &spec);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{t}"
        );
        assert_eq!(client_token(&owner, "vm", &spec.clone()), t);

        let changed = [
            client_token(&OwnerId::new("team-b").unwrap(), "vm", &spec),
            client_token(&owner, "nic", &spec),
            client_token(
                &owner,
                "vm",
                &VmSpec::new("web-2", Size::shape(2, 4096), "img-1"),
            ),
            client_token(
                &owner,
                "vm",
                &VmSpec::new("web-1", Size::shape(2, 8192), "img-1"),
            ),
            client_token(
                &owner,
                "vm",
                &VmSpec::new("web-1", Size::shape(2, 4096), "img-2"),
            ),
            client_token(&owner, "vm", &spec.clone().with_tag("env", "prod")),
            client_token(&owner, "vm", &spec.clone().with_network("net-1")),
        ];
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(*other, t, "change {i} kept the token");
        }
        // Tokens are part of resources' tags: a format change would orphan every resource made.
        assert_eq!(spec.client_token(&owner), t);
    }
}
