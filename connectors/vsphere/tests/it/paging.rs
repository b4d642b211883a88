//! Paths govmomi's simulator never takes, against a scripted vim25 endpoint: property-collector
//! paging (vCenter answers at most `maxObjects` per call and a token for the rest; vcsim always
//! answers everything at once) and an HTTP 503 without a SOAP body.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use strato_core::{ErrorKind, Operation};
use strato_vsphere::config::Credentials;
use strato_vsphere::soap::MoRef;
use strato_vsphere::vim::Vim;
use strato_vsphere::{VsphereConfig, error};

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

fn page(token: Option<&str>, vms: &[u32]) -> String {
    let mut s = String::from("<returnval>");
    if let Some(t) = token {
        s.push_str(&format!("<token>{t}</token>"));
    }
    for v in vms {
        s.push_str(&format!(
            "<objects><obj type=\"VirtualMachine\">vm-{v}</obj><propSet><name>name</name><val xsi:type=\"xsd:string\">vm {v}</val></propSet></objects>"
        ));
    }
    s.push_str("</returnval>");
    s
}

async fn answer(calls: Arc<AtomicU32>, body: String) -> (StatusCode, String) {
    calls.fetch_add(1, Ordering::SeqCst);
    let ok = |name: &str, inner: String| {
        (
            StatusCode::OK,
            envelope(&format!(
                "<{name}Response xmlns=\"urn:vim25\">{inner}</{name}Response>"
            )),
        )
    };
    if body.contains("<RetrieveServiceContent") {
        ok(
            "RetrieveServiceContent",
            "<returnval><rootFolder type=\"Folder\">group-d1</rootFolder><propertyCollector type=\"PropertyCollector\">propertyCollector</propertyCollector>\
             <viewManager type=\"ViewManager\">ViewManager</viewManager><about><fullName>scripted</fullName><apiVersion>8.0.3.0</apiVersion>\
             <instanceUuid>u-1</instanceUuid></about><sessionManager type=\"SessionManager\">SessionManager</sessionManager>\
             <searchIndex type=\"SearchIndex\">SearchIndex</searchIndex></returnval>"
                .into(),
        )
    } else if body.contains("<Login") {
        ok("Login", "<returnval><key>s-1</key></returnval>".into())
    } else if body.contains("<CreateContainerView") {
        ok(
            "CreateContainerView",
            "<returnval type=\"ContainerView\">session[s-1]view-1</returnval>".into(),
        )
    } else if body.contains("<RetrievePropertiesEx") {
        assert!(body.contains("<maxObjects>"), "{body}");
        ok("RetrievePropertiesEx", page(Some("t1"), &[1, 2]))
    } else if body.contains("<token>t1</token>") {
        ok("ContinueRetrievePropertiesEx", page(Some("t2"), &[3, 4]))
    } else if body.contains("<token>t2</token>") {
        ok("ContinueRetrievePropertiesEx", page(None, &[5]))
    } else if body.contains("<FindByInventoryPath") {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html>vpxd is restarting</html>".into(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("unscripted: {body}"))
    }
}

async fn scripted() -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let app = Router::new().route("/sdk", post(move |body: String| answer(c.clone(), body)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/sdk"), calls)
}

fn creds() -> Credentials {
    Credentials {
        user: "u".into(),
        password: "p".into(),
    }
}

#[tokio::test]
async fn listings_follow_continuation_tokens() {
    let (url, calls) = scripted().await;
    let vim = Vim::connect(&VsphereConfig::new(url), creds())
        .await
        .unwrap();
    assert_eq!(vim.sc().api_version, "8.0.3.0");
    let before = calls.load(Ordering::SeqCst);
    let all = vim
        .list(
            &MoRef::new("Folder", "group-d1"),
            &[("VirtualMachine", &["name"])],
        )
        .await
        .unwrap();
    let names: Vec<&str> = all.iter().filter_map(|o| o.text("name")).collect();
    assert_eq!(names, ["vm 1", "vm 2", "vm 3", "vm 4", "vm 5"]);
    // CreateContainerView, RetrievePropertiesEx, two ContinueRetrievePropertiesEx.
    assert_eq!(calls.load(Ordering::SeqCst) - before, 4);
    // The view is kept: the next listing is the three paging calls only.
    vim.list(
        &MoRef::new("Folder", "group-d1"),
        &[("VirtualMachine", &["name"])],
    )
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst) - before, 7);
}

#[tokio::test]
async fn http_503_without_a_soap_body_is_transient() {
    let (url, _) = scripted().await;
    let vim = Vim::connect(&VsphereConfig::new(url), creds())
        .await
        .unwrap();
    let e = vim.find_by_path("DC0/vm").await.unwrap_err();
    let e = error::map(Operation::CreateVm, e);
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert_eq!(e.vendor().unwrap().code, "HTTP 503");
    assert!(e.vendor().unwrap().message.contains("restarting"));
}
