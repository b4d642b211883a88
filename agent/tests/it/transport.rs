//! The HTTP transport against stubs: failover between controllers, and a credential that
//! never shows.

use crate::common::*;
use std::sync::Arc;
use strato_agent::protocol::{ReportedHealth, SeReport};
use strato_agent::{AgentError, AgentTransport, Credential, HttpTransport};

#[tokio::test]
async fn a_standby_sends_the_agent_to_the_leader_it_names() {
    let (stub, leader) = Stub::start("cred-7").await;
    stub.config.send_replace(Some(se_config(4, vec![])));
    let standby = standby(&leader).await;
    // The leader is not in the list: the standby's answer is all the agent knows of it.
    let t = HttpTransport::new(
        std::slice::from_ref(&standby),
        Some(Credential::new("cred-7")),
        None,
    )
    .unwrap();
    let cfg = t.poll_config("web-1", None).await.unwrap().unwrap();
    assert_eq!(cfg.version, 4);
    assert_eq!(t.current(), leader, "it keeps talking to the leader");
    t.report("web-1", &SeReport::new(1.0, 1, ReportedHealth::Up))
        .await
        .unwrap();
    assert_eq!(stub.reports.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_controller_that_is_down_is_passed_over_for_the_next() {
    let (stub, live) = Stub::start("cred-7").await;
    stub.config.send_replace(Some(se_config(2, vec![])));
    let dead = format!("http://127.0.0.1:{}", free_port("127.0.0.1"));
    let t =
        HttpTransport::new(&[dead, live.clone()], Some(Credential::new("cred-7")), None).unwrap();
    assert_eq!(
        t.poll_config("web-1", None).await.unwrap().unwrap().version,
        2
    );
    assert_eq!(t.current(), live);
}

#[tokio::test]
async fn no_controller_answering_is_an_error_naming_them_but_never_the_credential() {
    let dead1 = format!("http://127.0.0.1:{}", free_port("127.0.0.1"));
    let standby = standby(&dead1).await;
    let t = HttpTransport::new(
        std::slice::from_ref(&standby),
        Some(Credential::new("sekrit-cred-9")),
        None,
    )
    .unwrap();
    let e = t.poll_config("web-1", None).await.unwrap_err();
    let shown = format!("{e} {e:?} {t:?}");
    assert!(matches!(e, AgentError::Unavailable(_)), "{shown}");
    assert!(
        shown.contains(&standby) && shown.contains(&dead1),
        "{shown}"
    );
    assert!(!shown.contains("sekrit"), "{shown}");
}

#[tokio::test]
async fn a_refused_credential_is_its_own_error() {
    let (_stub, base) = Stub::start("right").await;
    let t = HttpTransport::new(&[base], Some(Credential::new("wrong")), None).unwrap();
    let e = t.poll_config("web-1", None).await.unwrap_err();
    assert!(
        matches!(&e, AgentError::Refused(m) if m.contains("403")),
        "{e}"
    );
    assert!(!e.to_string().contains("wrong"), "{e}");
}

#[test]
fn a_bad_ca_is_said_without_the_credential() {
    let e = HttpTransport::new(
        &["https://c:1".into()],
        Some(Credential::new("sekrit")),
        Some("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("CA") && !e.to_string().contains("sekrit"),
        "{e}"
    );
}

/// A controller over TLS whose certificate a CA of its own signed: answers every request with
/// `body`. Returns its URL and the CA (PEM).
async fn tls_controller(body: String) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                // The request's head is all a GET has; the answer closes the connection.
                let mut buf = vec![0; 8192];
                let _ = s.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, ca.pem())
}

#[tokio::test]
async fn the_bootstraps_ca_is_trusted_and_nothing_else_is() {
    let body = serde_json::to_string(&se_config(9, vec![])).unwrap();
    let (url, ca) = tls_controller(body).await;
    let cred = Some(Credential::new("c"));
    let trusting = HttpTransport::new(std::slice::from_ref(&url), cred.clone(), Some(&ca)).unwrap();
    let cfg = trusting.poll_config("web-1", None).await.unwrap().unwrap();
    assert_eq!(cfg.version, 9);
    // Without the CA the same controller is refused (an unknown issuer).
    let plain = HttpTransport::new(&[url], cred, None).unwrap();
    let e = plain.poll_config("web-1", None).await.unwrap_err();
    assert!(
        matches!(&e, AgentError::Unavailable(m) if m.contains("UnknownIssuer")),
        "{e}"
    );
}
