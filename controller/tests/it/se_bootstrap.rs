//! The first-boot document each SE is created with: its credential survives a controller
//! crash between the create call and its answer (the next controller issues the create again,
//! which finds the first VM, booted with the first document), and the stored record never
//! holds the document.

use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use strato_agent::bootstrap::AgentBootstrap;
use strato_controller::controller::AgentCredential;
use strato_controller::controller::AgentEndpoint;
use strato_core::layers::Layered;
use strato_core::{CloudConnector, VmId};
use strato_memory::MemoryConnector;
use strato_testkit::SlowCreates;

const MIN: Duration = Duration::from_secs(60);

fn endpoint() -> AgentEndpoint {
    AgentEndpoint {
        controllers: vec!["https://ctl.example:8443".into()],
        ca_pem: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
    }
}

/// The document of the VM the controller recorded for `se`, read as its guest would.
fn document(cloud: &MemoryConnector, h: &Harness, se: &str) -> AgentBootstrap {
    let s = h.status();
    let vm = s
        .group("web")
        .and_then(|g| g.ses.iter().find(|x| x.name == se))
        .and_then(|x| x.vm_id.clone())
        .unwrap_or_else(|| panic!("{se} has no VM"));
    let doc = cloud
        .backend()
        .bootstrap_of(&VmId::new(vm.to_string()))
        .unwrap()
        .unwrap_or_else(|| panic!("{se}'s VM has no first-boot document"));
    AgentBootstrap::from_user_data(doc.expose()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_create_issued_again_after_a_crash_boots_with_a_credential_that_works() {
    let o = owner();
    let cloud = memory_cloud(&o);
    let store = memory_store();
    // Creates hang for a minute after the cloud made the VM: the crash lands in between.
    let slow = SlowCreates::new(Duration::ZERO, 10 * MIN);
    slow.on.store(true, Ordering::Relaxed);
    let plain: Arc<dyn CloudConnector> = Arc::new(cloud.clone());
    let view = Layered::wrap(plain.clone(), slow.clone());
    let h = HarnessConfig::new(CLOUD)
        .start_with_view(
            plain.clone(),
            view,
            store.clone(),
            Arc::new(strato_controller::agent::LoadModel::new()),
        )
        .await;
    h.ctl.set_agent_endpoint(endpoint());
    h.setup(group("web", 1, 2), Some(pool())).await;
    h.wait_for("the cloud made web-1", MIN, || async {
        h.vms("web").await.len() == 1
    })
    .await;
    assert!(
        h.status().group("web").unwrap().ses[0].vm_id.is_none(),
        "the create's answer is not recorded yet"
    );
    h.crash().await;

    // The next controller finds the record and issues the same create again.
    let h = Harness::start(plain, store.clone()).await;
    h.ctl.set_agent_endpoint(endpoint());
    h.wait_for("web-1 recorded with its VM", 3 * MIN, || async {
        h.status()
            .group("web")
            .is_some_and(|g| g.ses.iter().any(|s| s.name == "web-1" && s.vm_id.is_some()))
    })
    .await;
    assert_eq!(
        h.vms("web").await.len(),
        1,
        "one VM: the retry found the first"
    );
    let first = document(&cloud, &h, "web-1");
    assert_eq!(first.se, "web-1");
    assert_eq!(first.controllers, endpoint().controllers);
    assert_eq!(first.ca_pem, endpoint().ca_pem);
    assert_eq!(
        h.ctl.check_se_credential("web-1", &first.credential),
        AgentCredential::ThisSe,
        "the first VM's credential opens web-1's paths after the crash"
    );
    // The stored record has the digest and the nonce, never the credential or the document.
    let raw = store.get("se/web/web-1").await.unwrap().unwrap().value;
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.contains(&first.credential), "{raw}");
    assert!(
        !raw.contains("cloud-config") && !raw.contains("bootstrap"),
        "{raw}"
    );

    // A second SE: its own credential, refused on web-1's paths and web-1's on its own.
    h.ctl.apply_se_group(group("web", 2, 2)).await.unwrap();
    h.wait_for("web-2 made", 3 * MIN, || async {
        h.status()
            .group("web")
            .is_some_and(|g| g.ses.iter().any(|s| s.name == "web-2" && s.vm_id.is_some()))
    })
    .await;
    let second = document(&cloud, &h, "web-2");
    assert_ne!(second.credential, first.credential);
    assert_eq!(
        h.ctl.check_se_credential("web-2", &second.credential),
        AgentCredential::ThisSe
    );
    assert_eq!(
        h.ctl.check_se_credential("web-1", &second.credential),
        AgentCredential::OtherSe
    );
    assert_eq!(
        h.ctl.check_se_credential("web-2", &first.credential),
        AgentCredential::OtherSe
    );
}
