//! `strato-agent`: the SE agent binary. Reads its bootstrap, starts HAProxy, long-polls its
//! configuration from the controllers and reports load and health.

use anyhow::{Context, bail};
use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use strato_agent::bootstrap::{AGENT_CONFIG_PATH, AgentBootstrap};
use strato_agent::haproxy::{HaproxyOptions, HaproxyPlane};
use strato_agent::{HttpTransport, run_agent};

/// The strato SE agent: configures HAProxy from the controller and reports for it.
#[derive(Debug, Parser)]
#[command(name = "strato-agent", version)]
struct Args {
    /// The bootstrap: the whole #cloud-config user-data document, or the JSON file cloud-init
    /// writes from it.
    #[arg(long, default_value = AGENT_CONFIG_PATH)]
    bootstrap: PathBuf,
    /// The haproxy binary.
    #[arg(long, default_value = "haproxy")]
    haproxy: PathBuf,
    /// Where HAProxy's configuration, sockets and log go.
    #[arg(long, default_value = "/run/strato-agent")]
    run_dir: PathBuf,
    /// The interface VIPs are added to when the configuration names none.
    #[arg(long)]
    vip_interface: Option<String>,
    /// The SE's own address, where it listens for the services it serves as a secondary
    /// (which do not hold the VIP); every address when absent.
    #[arg(long)]
    listen_address: Option<IpAddr>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // The document holds the credential: its errors never quote it.
    let text = std::fs::read_to_string(&args.bootstrap)
        .with_context(|| format!("reading the bootstrap {}", args.bootstrap.display()))?;
    let boot = AgentBootstrap::from_user_data(&text)
        .with_context(|| format!("reading the bootstrap {}", args.bootstrap.display()))?;
    let transport = HttpTransport::from_bootstrap(&boot).map_err(anyhow::Error::msg)?;
    let haproxy = resolve_bin(&args.haproxy)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async move {
            let plane = Arc::new(
                HaproxyPlane::start(HaproxyOptions {
                    bin: haproxy,
                    run_dir: args.run_dir,
                    vip_interface: args.vip_interface,
                    listen: args.listen_address,
                })
                .await
                .map_err(|e| anyhow::anyhow!("starting haproxy: {e}"))?,
            );
            tracing::info!(se = %boot.se, controllers = ?boot.controllers, "agent started");
            let run = run_agent(boot.se.clone(), Arc::new(transport), plane.clone());
            tokio::select! {
                _ = run => {}
                _ = shutdown() => tracing::info!("stopping"),
            }
            // The proxy goes with its agent: nothing would configure or watch it.
            plane.stop().await;
            Ok(())
        })
}

/// A binary name is looked up in PATH, so a missing HAProxy is said at start.
fn resolve_bin(bin: &std::path::Path) -> anyhow::Result<PathBuf> {
    if bin.components().count() > 1 {
        return Ok(bin.to_owned());
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(bin);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!(
        "{} not found in PATH (install Debian's haproxy, or pass --haproxy)",
        bin.display()
    )
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
