//! The SE's first-boot document: what the controller puts in a new SE's bootstrap data
//! (`VmSpec::bootstrap`) and the agent reads to find its controllers.
//!
//! It is a `#cloud-config` document, so a stock cloud-init image needs nothing from strato to
//! act on it: cloud-init writes the agent's settings to [`AGENT_CONFIG_PATH`] (mode 0600, as
//! it holds the SE's credential) and starts the agent. The settings are JSON, base64-encoded
//! in the document so that no YAML quoting can change them; [`AgentBootstrap::from_user_data`]
//! reads them back from the whole document (what a test or the memory cloud's process mode
//! holds) or from the JSON file alone (what the agent finds on a real SE).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where cloud-init writes the agent's settings on the SE.
pub const AGENT_CONFIG_PATH: &str = "/etc/strato/agent.json";

/// What an SE's agent needs to reach its controllers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentBootstrap {
    /// The SE's name: the `{id}` of its API paths.
    pub se: String,
    /// The controllers' API URLs, tried in turn (any of them names the leader).
    pub controllers: Vec<String>,
    /// The CA that signed the controllers' TLS certificates (PEM), when they use TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// The SE's own credential: it opens this SE's agent paths and nothing else.
    pub credential: String,
}

impl fmt::Debug for AgentBootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentBootstrap")
            .field("se", &self.se)
            .field("controllers", &self.controllers)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("credential", &"<redacted>")
            .finish()
    }
}

/// Why a document is no SE bootstrap. It never quotes the document (it holds a credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapError(String);

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a strato SE bootstrap: {}", self.0)
    }
}

impl std::error::Error for BootstrapError {}

const CONTENT_KEY: &str = "content: ";

impl AgentBootstrap {
    /// The `#cloud-config` document for this SE.
    pub fn to_user_data(&self) -> String {
        let json = serde_json::to_vec(self).expect("bootstrap serialises");
        format!(
            "#cloud-config\n\
             # strato SE bootstrap v1: the agent's settings, then the agent started.\n\
             write_files:\n  \
               - path: {AGENT_CONFIG_PATH}\n    \
                 permissions: \"0600\"\n    \
                 encoding: b64\n    \
                 {CONTENT_KEY}{}\n\
             runcmd:\n  \
               - [systemctl, enable, --now, strato-agent]\n",
            STANDARD.encode(json)
        )
    }

    /// Reads the settings from a whole `#cloud-config` document made by
    /// [`to_user_data`](Self::to_user_data), or from the JSON file cloud-init wrote.
    pub fn from_user_data(document: &str) -> Result<Self, BootstrapError> {
        let trimmed = document.trim_start();
        let json = if trimmed.starts_with('{') {
            trimmed.as_bytes().to_vec()
        } else if trimmed.starts_with("#cloud-config") {
            let after_path = document
                .split_once(&format!("path: {AGENT_CONFIG_PATH}"))
                .ok_or_else(|| BootstrapError(format!("it writes no {AGENT_CONFIG_PATH}")))?
                .1;
            let encoded = after_path
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(CONTENT_KEY))
                .ok_or_else(|| {
                    BootstrapError(format!("{AGENT_CONFIG_PATH} has no content line"))
                })?;
            STANDARD.decode(encoded.trim()).map_err(|_| {
                BootstrapError(format!("the content of {AGENT_CONFIG_PATH} is not base64"))
            })?
        } else {
            return Err(BootstrapError(
                "it is neither a #cloud-config document nor the agent's JSON settings".into(),
            ));
        };
        let b: Self = serde_json::from_slice(&json).map_err(|e| {
            // serde's message names the field and position, never the value.
            BootstrapError(format!("the agent's settings do not parse: {e}"))
        })?;
        if b.controllers.is_empty() {
            return Err(BootstrapError("it names no controller URL".into()));
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentBootstrap {
        AgentBootstrap {
            se: "web-3".into(),
            controllers: vec!["https://c1:8080".into(), "https://c2:8080".into()],
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
            credential: "c0ffee-secret-credential".into(),
        }
    }

    #[test]
    fn the_document_reads_back_whole_or_as_the_written_file() {
        let b = sample();
        let doc = b.to_user_data();
        assert!(doc.starts_with("#cloud-config\n"), "{doc}");
        assert!(
            !doc.contains("c0ffee"),
            "the credential is encoded, not quoted"
        );
        assert_eq!(AgentBootstrap::from_user_data(&doc).unwrap(), b);
        let file = serde_json::to_string(&b).unwrap();
        assert_eq!(AgentBootstrap::from_user_data(&file).unwrap(), b);
    }

    #[test]
    fn debug_and_errors_never_show_the_credential() {
        let b = sample();
        assert!(!format!("{b:?}").contains("c0ffee"));
        let bad = "{\"se\": \"web-3\", \"controllers\": [], \"credential\": \"c0ffee\"}";
        let e = AgentBootstrap::from_user_data(bad).unwrap_err().to_string();
        assert!(e.contains("no controller URL"), "{e}");
        let typo = "{\"se\": \"web-3\", \"controlers\": [\"x\"], \"credential\": \"c0ffee\"}";
        let e = AgentBootstrap::from_user_data(typo)
            .unwrap_err()
            .to_string();
        assert!(e.contains("controlers") && !e.contains("c0ffee"), "{e}");
        let e = AgentBootstrap::from_user_data("#!/bin/sh\necho hi")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither"), "{e}");
    }
}
