//! What a new SE boots with: its first-boot document ([`AgentBootstrap`]: its name, where its
//! controllers are, the CA to trust, its own credential), put in `VmSpec::bootstrap` for the
//! create call only.
//!
//! The credential must be the same every time the create of one SE is issued: the record is
//! written before the call, and after a crash the next controller issues the create again with
//! the same client token, which finds the VM of the first attempt, booted with the first
//! document. So it is not random but derived: HMAC-SHA256 of a per-deployment agent key (kept
//! in the state store, made once) over the SE's name and a random nonce kept in its record.
//! The record keeps the nonce and the credential's digest, never the credential; the document
//! is never stored (a `VmSpec` does not serialise it) nor logged.

use super::{Controller, SeRecord};
use crate::error::{ControllerError, Result};
use crate::secret::Secret;
use crate::store::{Precondition, StateStoreExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Mutex;
use strato_agent::bootstrap::AgentBootstrap;
use strato_core::{Bootstrap, Capabilities, VmSpec};

/// The store key of the deployment's agent key (hex). Anyone who can read the store can
/// derive every SE's credential from it, as anyone who can write it can change the SEs'
/// digests: the store is the controller's trust root either way.
pub(crate) const AGENT_KEY: &str = "agent/key";

/// Where the SEs' agents reach their controllers, given to each new SE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentEndpoint {
    /// The controllers' API URLs, tried in turn.
    pub controllers: Vec<String>,
    /// The CA that signed the API's certificate (PEM), when the API uses TLS.
    pub ca_pem: Option<String>,
}

/// The endpoint the SEs get and the agent key, once read.
#[derive(Debug, Default)]
pub(crate) struct SeBoot {
    endpoint: Mutex<Option<AgentEndpoint>>,
    key: tokio::sync::OnceCell<Secret>,
}

/// A random nonce for a new SE's credential (hex).
pub(super) fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The credential of SE `se` with `nonce` under `key`.
fn derive(key: &Secret, se: &str, nonce: &str) -> Secret {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.expose().as_bytes()).expect("any key length");
    // Domain-separated and length-prefixed, so no (se, nonce) pair reads as another.
    mac.update(b"strato se credential v1\0");
    mac.update(&(se.len() as u64).to_be_bytes());
    mac.update(se.as_bytes());
    mac.update(nonce.as_bytes());
    Secret::new(hex::encode(mac.finalize().into_bytes()))
}

impl Controller {
    /// Gives every SE created from now on a first-boot document naming these controllers (and
    /// CA). Without one (the default, as in tests whose agents run in process), SEs get no
    /// bootstrap data and their agents get credentials from the admin endpoint.
    pub fn set_agent_endpoint(&self, endpoint: AgentEndpoint) {
        *self.inner.boot.endpoint.lock().expect("boot lock") = Some(endpoint);
    }

    /// The endpoint new SEs are given, if any.
    pub fn agent_endpoint(&self) -> Option<AgentEndpoint> {
        self.inner.boot.endpoint.lock().expect("boot lock").clone()
    }

    /// The deployment's agent key: read from the store, or made there once (`Absent`, so two
    /// controllers starting together agree on one).
    async fn agent_key(&self) -> Result<&Secret> {
        self.inner
            .boot
            .key
            .get_or_try_init(|| async {
                let store = &self.inner.store;
                if let Some((k, _)) = store.get_json::<String>(AGENT_KEY).await? {
                    return Ok(Secret::new(k));
                }
                let k = Secret::mint();
                match store
                    .put_json(AGENT_KEY, &k.expose().to_owned(), Precondition::Absent)
                    .await
                {
                    Ok(_) => Ok(k),
                    Err(ControllerError::Conflict(_)) => {
                        let (k, _) =
                            store.get_json::<String>(AGENT_KEY).await?.ok_or_else(|| {
                                ControllerError::Unknown(
                                    "the agent key vanished from the store".into(),
                                )
                            })?;
                        Ok(Secret::new(k))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
    }

    /// The credential of a new SE named `se`, with its nonce.
    pub(super) async fn new_se_credential(&self, se: &str) -> Result<(Secret, String)> {
        let nonce = new_nonce();
        let c = derive(self.agent_key().await?, se, &nonce);
        Ok((c, nonce))
    }

    /// The spec the create call of `rec` sends: its stored spec, plus its first-boot document
    /// when an endpoint is set, the cloud takes bootstrap data and the record has a nonce (an
    /// SE recorded before this release has none: its agent gets a credential from the admin).
    pub(super) async fn create_spec(&self, rec: &SeRecord, caps: &Capabilities) -> Result<VmSpec> {
        let mut spec = rec.spec.clone();
        let (Some(endpoint), Some(nonce)) = (self.agent_endpoint(), rec.credential_nonce.as_ref())
        else {
            return Ok(spec);
        };
        if caps.bootstrap_max_bytes == 0 {
            return Ok(spec);
        }
        let credential = derive(self.agent_key().await?, &rec.name, nonce);
        if rec.credential_sha256.as_deref() != Some(credential.sha256_hex().as_str()) {
            // An admin issued a new one meanwhile: the document would carry a revoked one.
            tracing::warn!(
                se = %rec.name,
                "the SE's agent credential was reissued before its create: its agent needs the \
                 new one from POST /api/v1/ses/{{id}}/credentials"
            );
        }
        let doc = AgentBootstrap {
            se: rec.name.clone(),
            controllers: endpoint.controllers,
            ca_pem: endpoint.ca_pem,
            credential: credential.expose().to_owned(),
        };
        spec.bootstrap = Some(Bootstrap::new(doc.to_user_data()));
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_differ_by_key_se_and_nonce_and_repeat_for_the_same() {
        let (k1, k2) = (Secret::new("k1"), Secret::new("k2"));
        let a = derive(&k1, "web-1", "n");
        assert_eq!(
            a,
            derive(&k1, "web-1", "n"),
            "a retried create gets the same"
        );
        assert_eq!(a.expose().len(), 64);
        for other in [
            derive(&k2, "web-1", "n"),
            derive(&k1, "web-2", "n"),
            derive(&k1, "web-1", "m"),
            // The name's length is in the input: "web-1"+"1n" is not "web-11"+"n".
            derive(&k1, "web-11", "n"),
        ] {
            assert_ne!(a, other);
        }
        assert_ne!(derive(&k1, "web-1", "1n"), derive(&k1, "web-11", "n"));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
