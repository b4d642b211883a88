//! `controller run --config FILE`: configuration, registry, redb store, API and DNS wired up;
//! and the API closed: a token required (or `--insecure` on loopback only), TLS.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_controller::cli::{ControllerArgs, ControllerCommand, RunArgs};
use strato_controller::secret::Secret;
use strato_core::registry::Registry;

/// The registry of the memory cloud only.
fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Arc::new(strato_memory::MemoryFactory));
    registry
}

/// `controller run --config PATH [--insecure]`, as the CLI calls it.
fn run(path: &Path, insecure: bool) -> impl Future<Output = anyhow::Result<()>> + 'static {
    let args = RunArgs {
        config: path.to_owned(),
        insecure,
    };
    async move { strato_controller::cli::run(&args, &registry()).await }
}

/// A configuration of one memory profile and nothing to reconcile: `controller` is the
/// `[controller]` section's body.
fn write_config(dir: &Path, controller: &str) -> PathBuf {
    let owner = format!("run{}", std::process::id());
    let cfg = format!(
        "default_profile = \"lab\"\n\n[controller]\n{controller}\n\n[profiles.lab]\nkind = \"memory\"\nowner = \"{owner}\"\n"
    );
    let path = dir.join("controller.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// `run` must refuse at once: it returns an error rather than serve.
async fn refused(path: &Path, insecure: bool) -> String {
    match tokio::time::timeout(Duration::from_secs(10), run(path, insecure)).await {
        Ok(Err(e)) => format!("{e:#}"),
        Ok(Ok(())) => panic!("run returned without an error"),
        Err(_) => panic!("run served instead of refusing"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn run_serves_the_bootstrapped_state_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (api, dns) = (free_port(), free_port());
    let owner = format!("run{}", std::process::id());
    let cfg = format!(
        r#"
default_profile = "lab"

[controller]
api_listen = "127.0.0.1:{api}"
dns_listen = "127.0.0.1:{dns}"
token = "tok"
store = "state/controller.redb"
report_interval = "1s"

[profiles.lab]
kind = "memory"
owner = "{owner}"
boot_latency = "100ms"

[[ipam_pools]]
name = "vips"
network = "default"
cidr = "10.0.200.0/24"

[[dns_zones]]
name = "apps.example.com"

[[se_groups]]
name = "web"
cloud = "lab"
max_ses = 2
template = {{ size = "1x1g", image = "se-1" }}
capacity = {{ rps = 100.0, connections = 1000 }}

[[virtual_services]]
name = "shop"
fqdn = "shop.apps.example.com"
se_group = "web"
ports = [{{ port = 80, protocol = "http" }}]
"#
    );
    let path = dir.path().join("controller.toml");
    std::fs::write(&path, cfg).unwrap();
    let server = tokio::spawn(run(&path, false));

    let c = reqwest::Client::new();
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(r) = c
            .get(format!("http://127.0.0.1:{api}/api/v1/status"))
            .bearer_auth("tok")
            .send()
            .await
            && r.status() == 200
        {
            status = r.json().await.unwrap();
            if status["virtual_services"][0]["address"].is_string()
                && status["groups"][0]["current"].as_u64() == Some(1)
            {
                break;
            }
        }
    }
    assert!(
        status["virtual_services"][0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("10.0.200.")),
        "{status}"
    );
    let r = c
        .get(format!("http://127.0.0.1:{api}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token is required");
    assert!(
        dir.path().join("state/controller.redb").exists(),
        "the redb store was created next to the config"
    );
    server.abort();
}

#[tokio::test]
async fn run_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = write_config(dir.path(), &format!("api_listen = \"127.0.0.1:{port}\""));
    let e = refused(&path, false).await;
    assert!(e.contains("the API needs a token"), "{e}");
    assert!(
        e.contains("--insecure"),
        "the refusal says the way out: {e}"
    );
    // Refused before anything was opened.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the API port is still free");
    // A token_env naming an unset variable is no token either.
    let path = write_config(
        dir.path(),
        &format!("api_listen = \"127.0.0.1:{port}\"\ntoken_env = \"STRATO_TEST_NO_SUCH_VAR_9\""),
    );
    let e = refused(&path, false).await;
    assert!(e.contains("STRATO_TEST_NO_SUCH_VAR_9"), "{e}");
}

#[tokio::test]
async fn run_insecure_is_refused_on_a_network_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!("api_listen = \"0.0.0.0:{}\"", free_port()),
    );
    let e = refused(&path, true).await;
    assert!(e.contains("loopback"), "{e}");
    assert!(e.contains("0.0.0.0"), "{e}");
}

/// Log lines, written where a test can read them.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn run_insecure_on_loopback_serves_without_a_token_and_warns() {
    let logs = Logs::default();
    // The test's runtime has one thread: the spawned `run` logs through this subscriber too.
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = write_config(dir.path(), &format!("api_listen = \"127.0.0.1:{port}\""));
    let server = tokio::spawn(run(&path, true));
    let c = reqwest::Client::new();
    let mut status = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        assert!(!server.is_finished(), "run stopped: {:?}", server.await);
        if let Ok(r) = c
            .get(format!("http://127.0.0.1:{port}/api/v1/status"))
            .send()
            .await
        {
            status = Some(r.status());
            break;
        }
    }
    server.abort();
    assert_eq!(status, Some(reqwest::StatusCode::OK), "no token needed");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warning = logs
        .lines()
        .find(|l| l.contains("INSECURE"))
        .unwrap_or_else(|| panic!("no warning: {logs}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("without authentication"), "{warning}");
}

/// A CA and a certificate it signed for 127.0.0.1 and localhost, written as PEM files in
/// `dir`: `(ca.pem, api.crt, api.key)`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "strato test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let files = (dir.join("ca.pem"), tls.join("api.crt"), tls.join("api.key"));
    std::fs::write(&files.0, ca.pem()).unwrap();
    std::fs::write(&files.1, cert.pem()).unwrap();
    std::fs::write(&files.2, key.serialize_pem()).unwrap();
    files
}

/// `strato controller status` against `url`, trusting `ca_file`.
async fn cli_status(url: &str, ca_file: Option<PathBuf>) -> anyhow::Result<()> {
    let args = ControllerArgs {
        url: url.to_owned(),
        token: Some(Secret::new("tok")),
        ca_file,
        command: ControllerCommand::Status,
    };
    strato_controller::cli::execute(args, &registry()).await
}

#[tokio::test]
async fn run_serves_tls_that_a_client_trusting_the_ca_file_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = certificates(dir.path());
    let port = free_port();
    // Relative to the configuration's directory.
    let path = write_config(
        dir.path(),
        &format!(
            "api_listen = \"127.0.0.1:{port}\"\ntoken = \"tok\"\ntls_cert = \"tls/api.crt\"\ntls_key = \"tls/api.key\""
        ),
    );
    let server = tokio::spawn(run(&path, false));
    let url = format!("https://127.0.0.1:{port}");
    let mut ok = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        assert!(!server.is_finished(), "run stopped: {:?}", server.await);
        let r = cli_status(&url, Some(ca.clone())).await;
        if r.is_ok() {
            ok = Some(());
            break;
        }
    }
    assert!(
        ok.is_some(),
        "the CLI trusting the CA never reached the API"
    );

    // Without the CA the certificate is refused; plain HTTP gets nothing on the TLS port.
    let e = cli_status(&url, None).await.unwrap_err();
    assert!(format!("{e:#}").contains("certificate"), "{e:#}");
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/status"))
        .bearer_auth("tok")
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP answered: {plain:?}"
    );
    // A raw client trusting the CA too, and the token still required over TLS.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let r = trusting
        .get(format!("{url}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.abort();
}
