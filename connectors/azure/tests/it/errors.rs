//! ARM errors answered at once map to their kinds, and a VM PUT that fails leaves nothing behind
//! (its NIC, made first, is taken back).

use crate::common::{connector, fake, vm_spec};
use strato_azure_fake::{FailOn, Failure};
use strato_core::{CloudConnector, ErrorKind, NetworkSpec, VmQuery};

#[tokio::test]
async fn immediate_arm_errors_map_to_their_kinds_and_leak_no_nic() {
    let (url, fake) = fake().await;
    let c = connector(&url).await;
    for (status, code, kind) in [
        (409, "Conflict", ErrorKind::Conflict),
        (409, "QuotaExceeded", ErrorKind::QuotaExceeded),
        (409, "SkuNotAvailable", ErrorKind::NoCapacity),
        (403, "AuthorizationFailed", ErrorKind::PermissionDenied),
        (400, "InvalidParameter", ErrorKind::InvalidSpec),
    ] {
        fake.fail_next(Failure::now(FailOn::VmPut, status, code));
        let e = c.create_vm(&vm_spec("err-vm")).await.unwrap_err();
        assert_eq!(e.kind(), &kind, "{code}: {e}");
        let v = e.vendor().expect("the ARM code is kept");
        assert_eq!(v.code, code);
        assert!(v.request_id.is_some(), "x-ms-request-id kept: {v:?}");
        assert!(
            fake.nics().is_empty(),
            "{code}: the VM's NIC was left: {:?}",
            fake.nics()
        );
        assert!(
            c.list_vms(&VmQuery::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
    // A subnet PUT refused: the network's ownership record goes too, so nothing is listed.
    fake.fail_next(Failure::now(
        FailOn::SubnetPut,
        409,
        "AnotherOperationInProgress",
    ));
    let e = c
        .create_network(&NetworkSpec::new(
            "err-net",
            Some("10.93.0.0/24".parse().unwrap()),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(
        c.get_network(&"err-net".into())
            .await
            .unwrap_err()
            .is_not_found()
    );
    // A subnet outside the VNet is the caller's mistake.
    let e = c
        .create_network(&NetworkSpec::new(
            "err-out",
            Some("192.168.0.0/24".parse().unwrap()),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidSpec, "{e}");
}
