//! Bootstrap data: it reaches the guest intact, an oversized document is refused before anything
//! is made, and the document (which carries the SE's credential) never shows in a `Debug`, an
//! error or a log line.

use crate::Target;
use crate::logs::{self, SECRET_PREFIX};
use crate::support::*;
use strato_core::{Bootstrap, ErrorKind, Operation};

/// With `bootstrap_max_bytes > 0`: a document of exactly that size carrying a unique marker is
/// created with the VM (the backend takes the declared limit) and read back where the target
/// can read it ([`Target::bootstrap_of`]); one byte over the limit is `InvalidSpec` naming
/// `bootstrap` and makes nothing; the marker appears in no `Debug` of the spec, the VM or an
/// error, in no error message, and in no captured log line. With 0: a create with bootstrap data
/// is `Unsupported` and makes nothing.
pub async fn bootstrap(t: &Target) {
    let c = &t.connector;
    let max = c.capabilities().bootstrap_max_bytes as usize;
    let captured = logs::capture();
    let name = unique("cf-boot");
    let marker = format!("{SECRET_PREFIX}-{}", unique("m"));
    // Exactly the declared limit (a comment pads it), so the backend proves it takes that much.
    let mut doc = format!("#cloud-config\n# {marker}\nwrite_files: []\n#");
    while doc.len() < max {
        doc.push('x');
    }
    let spec = t.vm_spec(&name).with_bootstrap(Bootstrap::new(doc.clone()));
    let hidden = |what: &str, shown: String| {
        assert!(
            !shown.contains(&marker),
            "conformance: the bootstrap document shows in {what}: {shown}"
        );
    };
    hidden("the spec's Debug", format!("{spec:?} {spec:#?}"));

    if max == 0 {
        let e = expect_kind(
            "create a vm with bootstrap data on a cloud that takes none",
            c.create_vm(&spec).await,
            &ErrorKind::Unsupported,
        );
        assert_eq!(e.operation(), Operation::CreateVm, "conformance: {e}");
        hidden("the Unsupported error", format!("{e} {e:?}"));
        nothing_made(t, &name).await;
        check_logs(captured, &marker);
        return;
    }

    // One byte over the limit, the marker included: refused before any call makes something.
    let big = format!("{doc}x");
    let over = t.vm_spec(&name).with_bootstrap(Bootstrap::new(big));
    let e = expect_kind(
        "create a vm with bootstrap data one byte over the limit",
        c.create_vm(&over).await,
        &ErrorKind::InvalidSpec,
    );
    assert!(
        e.field() == Some("bootstrap") || e.to_string().contains("bootstrap"),
        "conformance: the refusal does not name bootstrap: {e}"
    );
    hidden("the InvalidSpec error", format!("{e} {e:?}"));
    nothing_made(t, &name).await;

    // A document of exactly the limit is taken, and exactly what was given reaches the guest.
    let vm = c
        .create_vm(&spec)
        .await
        .must("create a vm with bootstrap data");
    hidden("the created VM's Debug", format!("{vm:?}"));
    let again = c
        .create_vm(&spec)
        .await
        .must("create the same vm with bootstrap data again");
    assert_eq!(
        again.id, vm.id,
        "conformance: a repeated create made two vms"
    );
    match &t.bootstrap_of {
        Some(read) => {
            let stored = eventually!(
                "the bootstrap document reaches the backend",
                Ok::<_, strato_core::Error>(read(vm.id.clone()).await)
            );
            assert!(
                stored == doc,
                "conformance: the backend holds another bootstrap document ({} bytes, {} given)",
                stored.len(),
                doc.len()
            );
            eprintln!(
                "conformance:   bootstrap read back intact ({} bytes)",
                doc.len()
            );
        }
        None => eprintln!(
            "conformance:   bootstrap not read back: the target cannot read it from its backend"
        ),
    }
    let got = c.get_vm(&vm.id).await;
    hidden("a read VM or its error", format!("{got:?}"));
    t.delete_vms(std::slice::from_ref(&vm.id)).await;
    check_logs(captured, &marker);
}

/// No live VM named `name` exists (a refused create made nothing).
async fn nothing_made(t: &Target, name: &str) {
    let made = t.vms_named(name).await.must("list vms");
    assert!(
        made.is_empty(),
        "conformance: a refused create made vms: {:?}",
        made.iter().map(|v| &v.id).collect::<Vec<_>>()
    );
}

fn check_logs(captured: bool, marker: &str) {
    if !captured {
        eprintln!("conformance:   logs not checked: another global tracing subscriber is set");
        return;
    }
    let leaked = logs::lines_with(marker);
    assert!(
        leaked.is_empty(),
        "conformance: the bootstrap document was logged: {leaked:?}"
    );
}
