//! The `controller` command line, for the strato CLI to embed: `controller run --config FILE`
//! starts a controller; `status`, `vs ...`, `se-group ...` (alias `seg`), `pool ...` talk to a
//! running one over its REST API (`--token`, and `--ca-file` for a controller whose TLS
//! certificate a private CA signed); `demo` runs the scaling demo on the memory cloud.

use crate::config::{ControllerConfig, StoreLocation};
use crate::controller::Controller;
use crate::model::{MAX_SES_CEILING, Protocol, Server, ServicePort, VirtualService};
use crate::secret::Secret;
use crate::store::{EtcdStore, MemoryStore, RedbStore, StateStore};
use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strato_core::registry::{ConnectContext, Registry};

/// `strato controller ...`
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Controller API URL (for every command but `run` and `demo`).
    #[arg(
        long,
        env = "STRATO_CONTROLLER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Bearer token of the API (a [`Secret`]: never shown by `Debug`).
    #[arg(
        long,
        env = "STRATO_CONTROLLER_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<Secret>,
    /// PEM file of the CA that signed the controller's TLS certificate (trusted besides the
    /// public roots), for an `https://` URL.
    #[arg(long, env = "STRATO_CONTROLLER_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: ControllerCommand,
}

/// The controller's subcommands.
#[derive(Debug, Subcommand)]
pub enum ControllerCommand {
    /// Runs the controller (API, DNS, reconcile loop) until Ctrl-C.
    Run(RunArgs),
    /// Shows SEs, VIPs, health, capacity and errors.
    Status,
    /// Lists SE VMs whose SE group no longer exists here; `--sweep` deletes them.
    Orphans {
        /// Delete them (after listing them).
        #[arg(long)]
        sweep: bool,
    },
    /// Virtual services.
    Vs {
        /// What to do.
        #[command(subcommand)]
        command: VsCommand,
    },
    /// SE groups.
    #[command(name = "se-group", visible_alias = "seg")]
    SeGroup {
        /// What to do.
        #[command(subcommand)]
        command: ObjectCommand,
    },
    /// IPAM pools.
    Pool {
        /// What to do.
        #[command(subcommand)]
        command: ObjectCommand,
    },
    /// Runs the autoscaling demo on the memory cloud with the bundled trace.
    Demo(crate::demo::DemoOptions),
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The controller's TOML configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Serve the API without a token. Refused unless the API listens on a loopback address;
    /// for development only (a warning says so).
    #[arg(long)]
    pub insecure: bool,
}

/// Commands on SE groups and IPAM pools (given as JSON or TOML files).
#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// Creates (or with --replace, replaces) one from a JSON or TOML file.
    Create {
        /// The file.
        #[arg(long, short)]
        file: PathBuf,
        /// Replace an existing one.
        #[arg(long)]
        replace: bool,
    },
    /// Lists them.
    List,
    /// Shows one.
    Get {
        /// Name.
        name: String,
    },
    /// Deletes one.
    Delete {
        /// Name.
        name: String,
    },
}

/// Commands on virtual services.
#[derive(Debug, Subcommand)]
pub enum VsCommand {
    /// Creates a virtual service from flags or a file.
    Create(VsCreate),
    /// Lists them.
    List,
    /// Shows one.
    Get {
        /// Name.
        name: String,
    },
    /// Deletes one.
    Delete {
        /// Name.
        name: String,
    },
}

/// `vs create`.
#[derive(Debug, Args)]
pub struct VsCreate {
    /// A JSON or TOML file with the whole service (instead of the flags).
    #[arg(long, short, conflicts_with_all = ["name", "fqdn", "se_group"])]
    pub file: Option<PathBuf>,
    /// Name.
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// FQDN.
    #[arg(long, required_unless_present = "file")]
    pub fqdn: Option<String>,
    /// SE group.
    #[arg(long, required_unless_present = "file")]
    pub se_group: Option<String>,
    /// Ports as PORT/PROTOCOL (tcp, udp, http, https); repeatable.
    #[arg(long = "port", default_value = "80/http")]
    pub ports: Vec<String>,
    /// A backend server as ADDRESS:PORT; repeatable. (`--member`, the old name, still works for
    /// one release.)
    #[arg(long = "server", alias = "member")]
    pub servers: Vec<String>,
    /// A fixed VIP.
    #[arg(long)]
    pub vip: Option<std::net::IpAddr>,
    /// Fewest SEs (at most the SE group's `max_ses`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SES_CEILING)))]
    pub min_ses: u32,
    /// Most SEs; as many as the SE group has when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SES_CEILING)))]
    pub max_ses: Option<u32>,
}

fn read_object(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let t: toml::Value =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(serde_json::to_value(t)?)
    } else {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

fn parse_port(s: &str) -> anyhow::Result<ServicePort> {
    let (p, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "http" => Protocol::Http,
        "https" => Protocol::Https,
        other => bail!("--port {s}: protocol {other:?} is not tcp, udp, http or https"),
    };
    Ok(ServicePort {
        port: p
            .parse()
            .map_err(|_| anyhow!("--port {s}: {p:?} is not a port number"))?,
        protocol,
    })
}

fn parse_server(s: &str) -> anyhow::Result<Server> {
    let a: std::net::SocketAddr = s
        .parse()
        .map_err(|_| anyhow!("--server {s}: expected ADDRESS:PORT"))?;
    Ok(Server {
        address: a.ip(),
        port: a.port(),
        weight: 1,
    })
}

/// A small client of the controller's REST API. (`Debug` is derived: the token is a
/// [`Secret`], which never shows.)
#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl Client {
    /// A client of the controller at `base`, trusting the CA in `ca_file` besides the public
    /// roots.
    fn new(base: &str, token: Option<Secret>, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder();
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA file {}", path.display()))?;
            let cas = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("parsing the CA file {}", path.display()))?;
            if cas.is_empty() {
                bail!("the CA file {} holds no PEM certificate", path.display());
            }
            for ca in cas {
                http = http.add_root_certificate(ca);
            }
        }
        Ok(Self {
            http: http.build().context("building the HTTP client")?,
            base: base.to_owned(),
            token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Option<Value>> {
        let mut r = self.http.request(
            method.clone(),
            format!("{}/api/v1{path}", self.base.trim_end_matches('/')),
        );
        if let Some(t) = &self.token {
            r = r.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.with_context(|| {
            format!(
                "{method} {path}: is the controller running at {}?",
                self.base
            )
        })?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let field = v
                .get("field")
                .and_then(Value::as_str)
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            let msg = v
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            bail!("{method} {path}: {status}: {msg}{field}");
        }
        Ok(if text.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&text)?)
        })
    }
}

fn print(v: Option<Value>) -> anyhow::Result<()> {
    if let Some(v) = v {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}

async fn objects(c: &Client, kind: &str, cmd: ObjectCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        ObjectCommand::Create { file, replace } => {
            let v = read_object(&file)?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{}: no \"name\"", file.display()))?
                .to_owned();
            if replace {
                print(
                    c.call(Method::PUT, &format!("/{kind}/{name}"), Some(&v))
                        .await?,
                )
            } else {
                print(c.call(Method::POST, &format!("/{kind}"), Some(&v)).await?)
            }
        }
        ObjectCommand::List => print(c.call(Method::GET, &format!("/{kind}"), None).await?),
        ObjectCommand::Get { name } => print(
            c.call(Method::GET, &format!("/{kind}/{name}"), None)
                .await?,
        ),
        ObjectCommand::Delete { name } => {
            c.call(Method::DELETE, &format!("/{kind}/{name}"), None)
                .await?;
            println!("deleted {name}");
            Ok(())
        }
    }
}

/// Runs a controller command. `registry` holds the connector factories the binary was built
/// with (the CLI registers them); `run` builds every profile's connector from it.
pub async fn execute(args: ControllerArgs, registry: &Registry) -> anyhow::Result<()> {
    use reqwest::Method;
    let client = match args.command {
        ControllerCommand::Run(run_args) => return run(&run_args, registry).await,
        ControllerCommand::Demo(opts) if opts.serve => {
            return crate::demo::serve::serve(opts).await;
        }
        ControllerCommand::Demo(opts) => {
            let s = crate::demo::demo(opts).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            return Ok(());
        }
        _ => Client::new(&args.url, args.token.clone(), args.ca_file.as_deref())?,
    };
    match args.command {
        ControllerCommand::Run(_) | ControllerCommand::Demo(_) => unreachable!("handled above"),
        ControllerCommand::Status => print(client.call(Method::GET, "/status", None).await?),
        ControllerCommand::Orphans { sweep: false } => {
            print(client.call(Method::GET, "/orphans", None).await?)
        }
        ControllerCommand::Orphans { sweep: true } => {
            print(client.call(Method::POST, "/orphans/sweep", None).await?)
        }
        ControllerCommand::SeGroup { command } => objects(&client, "se-groups", command).await,
        ControllerCommand::Pool { command } => objects(&client, "ipam-pools", command).await,
        ControllerCommand::Vs { command } => match command {
            VsCommand::Create(c) => {
                let v = match &c.file {
                    Some(f) => read_object(f)?,
                    None => serde_json::to_value(VirtualService {
                        name: c.name.clone().unwrap_or_default(),
                        fqdn: c.fqdn.clone().unwrap_or_default(),
                        ports: c
                            .ports
                            .iter()
                            .map(|p| parse_port(p))
                            .collect::<anyhow::Result<_>>()?,
                        servers: c
                            .servers
                            .iter()
                            .map(|m| parse_server(m))
                            .collect::<anyhow::Result<_>>()?,
                        se_group: c.se_group.clone().unwrap_or_default(),
                        min_ses: c.min_ses,
                        // No cap of its own: the group's max_ses bounds it.
                        max_ses: c.max_ses.unwrap_or(u32::MAX),
                        vip: c.vip,
                        algorithm: Default::default(),
                        network: None,
                        server_networks: Vec::new(),
                    })?,
                };
                print(
                    client
                        .call(Method::POST, "/virtual-services", Some(&v))
                        .await?,
                )
            }
            VsCommand::List => print(client.call(Method::GET, "/virtual-services", None).await?),
            VsCommand::Get { name } => print(
                client
                    .call(Method::GET, &format!("/virtual-services/{name}"), None)
                    .await?,
            ),
            VsCommand::Delete { name } => {
                client
                    .call(Method::DELETE, &format!("/virtual-services/{name}"), None)
                    .await?;
                println!("deleted {name}");
                Ok(())
            }
        },
    }
}

/// How often a standby asks etcd whether the shared state moved.
const STANDBY_REFRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// `controller run`: loads the configuration, builds the connectors, opens the store, applies
/// the bootstrap, serves the API and DNS, and reconciles until Ctrl-C.
pub async fn run(args: &RunArgs, registry: &Registry) -> anyhow::Result<()> {
    let config = args.config.as_path();
    let cfg = ControllerConfig::load(config)?;
    // Before anything is opened or connected: an open API is refused outright.
    let api_opts = cfg.api_options(args.insecure)?;
    let api_listen = cfg.controller.api_listen;
    if api_opts.token.is_none() {
        tracing::warn!(
            %api_listen,
            "INSECURE: --insecure serves the API without authentication: any local process \
             can change the desired state and speak for any SE. For development only; set a \
             token in [controller] for anything else"
        );
    } else if args.insecure {
        tracing::warn!("--insecure has no effect: a token is set, and the API requires it");
    }
    let tls = match cfg.tls_files(Some(config)) {
        Some((cert, key)) => Some(crate::tls::server_config(&cert, &key)?),
        None => {
            if !api_listen.ip().is_loopback() {
                tracing::warn!(
                    %api_listen,
                    "the API is served over plain HTTP on a network address: its token and \
                     the agents' credentials cross the network in clear; set tls_cert and \
                     tls_key in [controller]"
                );
            }
            None
        }
    };
    let mut leadership = None;
    let (store, data_dir): (Arc<dyn StateStore>, _) = match cfg.store(Some(config))? {
        StoreLocation::Memory => {
            eprintln!("controller state in memory: a restart forgets it");
            (Arc::new(MemoryStore::new()), std::env::temp_dir())
        }
        StoreLocation::File(p) => {
            eprintln!("controller state in {}", p.display());
            let dir = p.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            (Arc::new(RedbStore::open(&p)?), dir)
        }
        StoreLocation::Etcd(opts) => {
            eprintln!(
                "controller state in etcd at {} under {}",
                opts.endpoints.join(","),
                opts.prefix
            );
            let dir = crate::config::default_data_dir().unwrap_or_else(std::env::temp_dir);
            let etcd = Arc::new(EtcdStore::connect(&opts).await?);
            // Several controllers share this store: only the leader goes on from here (the
            // others wait in `campaign`, serving reads and answering writes 503 with the
            // leader's URL), and its writes are fenced on its lease from now on.
            let scheme = if tls.is_some() { "https" } else { "http" };
            let me = format!("{scheme}://{api_listen}");
            eprintln!(
                "campaigning for leadership as {me} (lease {:?})",
                opts.lease_ttl
            );
            // A standby serves the reads (API and DNS) from the shared state meanwhile.
            let listener = tokio::net::TcpListener::bind(api_listen)
                .await
                .with_context(|| format!("binding the API on {api_listen}"))?;
            let standby_opts = crate::standby::StandbyOptions {
                api: api_opts.clone(),
                controller: cfg.options(),
                refresh: STANDBY_REFRESH,
                dns_listen: cfg.controller.dns_listen,
            };
            let standby = match &tls {
                Some(tls) => {
                    let l = crate::tls::TlsListener::new(listener, tls.clone())?;
                    crate::standby::start(etcd.clone(), l, standby_opts).await?
                }
                None => crate::standby::start(etcd.clone(), listener, standby_opts).await?,
            };
            let elected = crate::leader::campaign(&etcd, &me, opts.lease_ttl).await;
            // Free the addresses for the leader's API and DNS before they bind them.
            standby.stop().await;
            leadership = Some(elected?);
            eprintln!("leader: reconciling");
            (etcd, dir)
        }
    };
    registry.validate(&cfg.strato)?;
    let ctx = ConnectContext { data_dir };
    let mut clouds = BTreeMap::new();
    for (name, profile) in &cfg.strato.profiles {
        let conn = registry
            .connect(profile, &ctx)
            .await
            .with_context(|| format!("connecting profile {name}"))?;
        // A leader on etcd calls no cloud past its lease, even before it learns it lost it.
        let conn = match &leadership {
            Some(l) => {
                strato_core::layers::Layered::wrap(conn, crate::leader::LeaseGate(l.clone()))
            }
            None => conn,
        };
        clouds.insert(name.clone(), conn);
    }
    let ctl = Controller::new(store, clouds, cfg.options()).await?;
    if leadership.is_some() {
        // A new leader answers DNS from what the last one published until its first pass has
        // judged the SEs again, rather than NXDOMAIN for every service meanwhile.
        let (zones, records) = crate::standby::stored_dns(&ctl);
        ctl.dns_table().replace(zones, records);
    }
    ctl.apply_desired(&cfg.bootstrap).await?;
    let listener = tokio::net::TcpListener::bind(api_listen)
        .await
        .with_context(|| format!("binding the API on {api_listen}"))?;
    // Every SE created from now on boots knowing where its controllers are, with its own
    // credential.
    ctl.set_agent_endpoint(cfg.agent_endpoint(Some(config), listener.local_addr()?)?);
    let fleets = crate::fleet::memory_fleets(&cfg, &ctx)?;
    let api = match tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls)?;
            eprintln!("controller API on https://{}", listener.local_addr());
            crate::api::serve_tls(ctl.clone(), listener, api_opts)
        }
        None => {
            eprintln!("controller API on http://{}", listener.local_addr()?);
            crate::api::serve(ctl.clone(), listener, api_opts)
        }
    };
    let dns = match cfg.controller.dns_listen {
        Some(a) => {
            let d = crate::dns::DnsServer::start(ctl.dns_table(), a)
                .await
                .with_context(|| format!("binding DNS on {a}"))?;
            eprintln!("controller DNS on {}", d.addr);
            Some(d)
        }
        None => None,
    };
    let fleet_tasks: Vec<_> = fleets
        .iter()
        .map(|f| f.spawn(std::time::Duration::from_secs(1)))
        .collect();
    let lost = leadership.clone();
    ctl.clone()
        .run(async move {
            match lost {
                Some(l) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = l.lost() => {}
                },
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        })
        .await;
    for t in fleet_tasks {
        t.abort();
    }
    drop(fleets);
    api.abort();
    if let Some(d) = dns {
        d.shutdown().await;
    }
    // End the clouds' sessions rather than leave them to time out (vCenter limits them).
    for (name, conn) in ctl.clouds() {
        if let Err(e) = conn.close().await {
            eprintln!("closing cloud profile {name}: {e}");
        }
    }
    if leadership.is_some_and(|l| !l.is_valid()) {
        // Fail-stop, as Kubernetes' controllers do: a supervisor starts it again, as a standby.
        anyhow::bail!("lost the leadership (its etcd lease expired): stopped reconciling");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn parses_the_documented_commands() {
        let t = Top::try_parse_from(["x", "run", "--config", "c.toml"]).unwrap();
        assert!(matches!(
            t.args.command,
            ControllerCommand::Run(RunArgs {
                insecure: false,
                ..
            })
        ));
        let t = Top::try_parse_from(["x", "run", "--config", "c.toml", "--insecure"]).unwrap();
        assert!(matches!(
            t.args.command,
            ControllerCommand::Run(RunArgs { insecure: true, .. })
        ));
        let t = Top::try_parse_from(["x", "orphans", "--sweep"]).unwrap();
        assert!(matches!(
            t.args.command,
            ControllerCommand::Orphans { sweep: true }
        ));
        let t = Top::try_parse_from([
            "x",
            "vs",
            "create",
            "--name",
            "shop",
            "--fqdn",
            "shop.example.com",
            "--se-group",
            "web",
            "--port",
            "443/https",
            "--server",
            "10.1.1.1:8080",
        ])
        .unwrap();
        let ControllerCommand::Vs {
            command: VsCommand::Create(c),
        } = t.args.command
        else {
            panic!()
        };
        assert_eq!(
            parse_port(&c.ports[0]).unwrap(),
            ServicePort {
                port: 443,
                protocol: Protocol::Https
            }
        );
        assert_eq!(parse_server(&c.servers[0]).unwrap().port, 8080);
        // `--member`, the old name of `--server`, still works (hidden).
        let t = Top::try_parse_from([
            "x",
            "vs",
            "create",
            "--name",
            "shop",
            "--fqdn",
            "shop.example.com",
            "--se-group",
            "web",
            "--member",
            "10.1.1.2:8081",
        ])
        .unwrap();
        let ControllerCommand::Vs {
            command: VsCommand::Create(c),
        } = t.args.command
        else {
            panic!()
        };
        assert_eq!(c.servers, ["10.1.1.2:8081"]);
        assert!(
            Top::try_parse_from(["x", "vs", "create", "--name", "shop"]).is_err(),
            "fqdn and se-group are required"
        );
        // Counts are bounded, and a refusal names the flag.
        let vs_create = |extra: &[&str]| {
            let mut a = vec![
                "x",
                "vs",
                "create",
                "--name",
                "shop",
                "--fqdn",
                "shop.example.com",
                "--se-group",
                "web",
            ];
            a.extend_from_slice(extra);
            Top::try_parse_from(a)
        };
        let ControllerCommand::Vs {
            command: VsCommand::Create(c),
        } = vs_create(&[]).unwrap().args.command
        else {
            panic!()
        };
        assert_eq!((c.min_ses, c.max_ses), (1, None));
        for (flag, value) in [
            ("--min-ses", "0"),
            ("--min-ses", "100001"),
            ("--max-ses", "4000000000"),
        ] {
            let e = vs_create(&[flag, value]).unwrap_err().to_string();
            assert!(e.contains(flag), "{flag} {value}: {e}");
        }
        assert!(vs_create(&["--min-ses", "2", "--max-ses", "8"]).is_ok());
        assert!(Top::try_parse_from(["x", "se-group", "delete", "web"]).is_ok());
        assert!(
            Top::try_parse_from(["x", "seg", "delete", "web"]).is_ok(),
            "seg is an alias of se-group"
        );
        assert!(Top::try_parse_from(["x", "status", "--url", "http://h:1"]).is_ok());
        assert!(
            parse_port("80/sctp")
                .unwrap_err()
                .to_string()
                .contains("sctp")
        );
    }

    #[test]
    fn the_token_never_shows_in_the_args_or_the_client() {
        let t = Top::try_parse_from([
            "x",
            "--token",
            "tok-sekrit-1",
            "--ca-file",
            "ca.pem",
            "status",
        ])
        .unwrap();
        assert_eq!(
            t.args.token.as_ref().map(Secret::expose),
            Some("tok-sekrit-1")
        );
        assert_eq!(t.args.ca_file.as_deref(), Some(Path::new("ca.pem")));
        let shown = format!("{:?}", t.args);
        assert!(!shown.contains("tok-sekrit-1"), "{shown}");
        let c = Client::new("http://h:1", t.args.token.clone(), None).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("tok-sekrit-1"), "{shown}");
        assert!(shown.contains("http://h:1"), "{shown}");
    }
}
