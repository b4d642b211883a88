//! `controller demo --serve`: after the replay, the predictive run's controller serves its API
//! and web console on a loopback address, so the console shows the replayed days (the charts
//! of the service, its SE group and SEs, the scale-outs and scale-ins with their reasons).
//!
//! The replay ran on a paused clock days ahead of the real one, so the reconcile loop and the
//! simulated agents stay stopped: what is served is the state, history and events at the end
//! of the replay (the controller's clock stays at the end of the last day replayed).

use super::DemoOptions;
use crate::api::ApiOptions;
use crate::secret::Secret;
use anyhow::{Context, bail};

/// Runs the demo, then serves until Ctrl-C.
pub async fn serve(opts: DemoOptions) -> anyhow::Result<()> {
    if !opts.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the demo serves on a loopback address only",
            opts.listen
        );
    }
    let out = opts.out.clone();
    let listen = opts.listen;
    let (summary, ctl) = super::demo_kept(opts).await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    // A token of its own, written to a file only its owner reads (never printed or logged).
    let token = Secret::mint();
    let token_file = out.join("console-token");
    write_private(&token_file, token.expose())
        .with_context(|| format!("writing {}", token_file.display()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let api = crate::api::serve(ctl, listener, ApiOptions::with_token(token.expose()));
    eprintln!(
        "console on http://{listen}/ (log in with the token in {}); Ctrl-C stops it",
        token_file.display()
    );
    tokio::signal::ctrl_c().await?;
    api.abort();
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(text.as_bytes())
}
