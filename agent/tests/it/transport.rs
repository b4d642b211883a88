//! The HTTP transport against stubs: failover between controllers, and a credential that
//! never shows.

use crate::common::*;
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
