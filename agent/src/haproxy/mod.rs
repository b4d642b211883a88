//! The real data plane: HAProxy (Debian's `haproxy`), driven by the agent.
//!
//! [`render()`] turns a configuration into a `haproxy.cfg`; [`HaproxyPlane`] validates it
//! (`haproxy -c`), swaps it in atomically and reloads the master-worker pair through its
//! master CLI ([`process`]); it reads load and server health from the runtime API
//! ([`stats`]), restarts HAProxy when it died, and adds the VIPs the guest must configure
//! ([`vip`]).

pub mod process;
pub mod render;
pub mod stats;
pub mod vip;

use crate::protocol::{ReportedHealth, SeConfig, SeReport, ServerHealth, VsLoad};
use crate::run::DataPlane;
use async_trait::async_trait;
use process::Haproxy;
use render::{Rendered, render};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

/// Where HAProxy is and how the SE is wired.
#[derive(Clone, Debug)]
pub struct HaproxyOptions {
    /// The `haproxy` binary.
    pub bin: PathBuf,
    /// Its configuration, sockets and log go here.
    pub run_dir: PathBuf,
    /// The interface VIPs go on when the configuration names none.
    pub vip_interface: Option<String>,
    /// Where secondaries (which do not hold the VIP) listen; every address when `None`.
    pub listen: Option<IpAddr>,
}

#[derive(Debug)]
struct State {
    proxy: Haproxy,
    /// The configuration serving now (the last one HAProxy accepted).
    serving: Rendered,
    /// VIPs added to an interface, and which.
    vips: BTreeMap<IpAddr, String>,
    /// Each frontend's request (or session) count at the last sample, and when: the
    /// report's rate is over the whole interval, not HAProxy's last second.
    counted: Option<(std::time::Instant, BTreeMap<String, u64>)>,
}

/// HAProxy as an agent's data plane.
#[derive(Debug)]
pub struct HaproxyPlane {
    opts: HaproxyOptions,
    state: tokio::sync::Mutex<State>,
}

impl HaproxyPlane {
    /// Starts HAProxy with nothing to serve (until the first configuration arrives).
    pub async fn start(opts: HaproxyOptions) -> Result<Self, String> {
        std::fs::create_dir_all(&opts.run_dir)
            .map_err(|e| format!("{}: {e}", opts.run_dir.display()))?;
        let mut proxy = Haproxy::new(opts.bin.clone(), opts.run_dir.clone());
        let serving = render(None, &opts.run_dir, opts.listen);
        write_atomically(&proxy.config_path(), &serving.text)?;
        proxy.validate(&proxy.config_path()).await?;
        proxy.start().await?;
        Ok(Self {
            opts,
            state: tokio::sync::Mutex::new(State {
                proxy,
                serving,
                vips: BTreeMap::new(),
                counted: None,
            }),
        })
    }

    /// The HAProxy master's process id, while it runs.
    pub async fn pid(&self) -> Option<u32> {
        self.state.lock().await.proxy.pid()
    }

    /// The `haproxy.cfg` serving now.
    pub async fn serving_config(&self) -> String {
        self.state.lock().await.serving.text.clone()
    }

    /// Stops HAProxy (dropping the plane does too).
    pub async fn stop(&self) {
        self.state.lock().await.proxy.stop().await;
    }

    async fn add_vips(&self, st: &mut State, r: &Rendered) -> Result<(), String> {
        for (ip, iface) in &r.vips {
            if vip::is_local_already(*ip) || st.vips.contains_key(ip) {
                continue;
            }
            let dev = vip::resolve(iface.as_ref(), self.opts.vip_interface.as_deref())
                .map_err(|e| format!("VIP {ip}: {e}"))?;
            vip::add(*ip, &dev).await?;
            tracing::info!(vip = %ip, dev = %dev, "VIP added");
            st.vips.insert(*ip, dev);
        }
        Ok(())
    }

    async fn remove_stale_vips(st: &mut State) {
        let wanted: Vec<IpAddr> = st.serving.vips.iter().map(|(ip, _)| *ip).collect();
        let stale: Vec<(IpAddr, String)> = st
            .vips
            .iter()
            .filter(|(ip, _)| !wanted.contains(ip))
            .map(|(ip, d)| (*ip, d.clone()))
            .collect();
        for (ip, dev) in stale {
            match vip::remove(ip, &dev).await {
                Ok(()) => {
                    tracing::info!(vip = %ip, dev = %dev, "VIP removed");
                    st.vips.remove(&ip);
                }
                Err(e) => tracing::warn!(vip = %ip, error = %e, "VIP not removed"),
            }
        }
    }
}

/// Writes `text` to `path` through a temporary file and a rename, so HAProxy never reads a
/// half-written file.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("cfg.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[async_trait]
impl DataPlane for HaproxyPlane {
    async fn apply(&self, config: &SeConfig) -> Result<(), String> {
        let r = render(Some(config), &self.opts.run_dir, self.opts.listen);
        for s in &r.skipped {
            tracing::warn!(se = %config.se, "{s}");
        }
        let mut st = self.state.lock().await;
        if r.text == st.serving.text {
            return Ok(());
        }
        // Validated under another name first: a refused file never replaces the good one.
        let candidate = self.opts.run_dir.join("haproxy.cfg.new");
        std::fs::write(&candidate, &r.text).map_err(|e| format!("{}: {e}", candidate.display()))?;
        st.proxy.validate(&candidate).await?;
        // The VIPs before the reload: the new worker binds them.
        self.add_vips(&mut st, &r).await?;
        let live = st.proxy.config_path();
        std::fs::rename(&candidate, &live).map_err(|e| format!("{}: {e}", live.display()))?;
        if let Err(e) = st.proxy.reload().await {
            // Valid but unusable (a port taken, say): back to the last good file.
            let good = st.serving.text.clone();
            write_atomically(&live, &good)?;
            let _ = st.proxy.reload().await;
            // VIPs added for the refused file go too.
            Self::remove_stale_vips(&mut st).await;
            return Err(e);
        }
        tracing::info!(se = %config.se, version = config.version, "haproxy reloaded");
        st.serving = r;
        Self::remove_stale_vips(&mut st).await;
        Ok(())
    }

    async fn sample(&self) -> SeReport {
        let mut st = self.state.lock().await;
        if !st.proxy.running() {
            tracing::warn!("haproxy is not running; restarting it");
            if let Err(e) = st.proxy.start().await {
                tracing::error!(error = %e, "haproxy did not restart");
            }
            return SeReport::new(0.0, 0, ReportedHealth::Down);
        }
        let csv = match stats::command(&st.proxy.stats_socket(), "show stat").await {
            Ok(csv) => csv,
            Err(e) => {
                tracing::warn!(error = %e, "haproxy's runtime API does not answer");
                return SeReport::new(0.0, 0, ReportedHealth::Down);
            }
        };
        let mut load: BTreeMap<String, VsLoad> = BTreeMap::new();
        let mut health: BTreeMap<String, Vec<ServerHealth>> = BTreeMap::new();
        let now = std::time::Instant::now();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for row in stats::parse_show_stat(&csv) {
            if row.svname == "FRONTEND" {
                if let Some((vs, http)) = st.serving.frontends.get(&row.pxname) {
                    let (count, last_second) = if *http {
                        (
                            row.req_tot.unwrap_or(row.stot),
                            row.req_rate.unwrap_or(row.rate),
                        )
                    } else {
                        (row.stot, row.rate)
                    };
                    counts.insert(row.pxname.clone(), count);
                    // Over the interval since the last sample; HAProxy's last second when
                    // there is none or the counter went back (a new worker after a reload).
                    let rps = match &st.counted {
                        Some((at, before)) => match before.get(&row.pxname) {
                            Some(&b) if b <= count && now > *at => {
                                (count - b) as f64 / (now - *at).as_secs_f64()
                            }
                            _ => last_second,
                        },
                        None => last_second,
                    };
                    let l = load.entry(vs.clone()).or_default();
                    l.rps += rps;
                    l.connections += row.scur;
                }
            } else if let Some((vs, s)) = st
                .serving
                .servers
                .get(&(row.pxname.clone(), row.svname.clone()))
            {
                let up = row.server_up();
                let list = health.entry(vs.clone()).or_default();
                // A server in two backends (HTTP and TCP ports) is up only if both say so.
                match list
                    .iter_mut()
                    .find(|h| h.address == s.address && h.port == s.port)
                {
                    Some(h) => h.up &= up,
                    None => list.push(ServerHealth {
                        address: s.address,
                        port: s.port,
                        up,
                    }),
                }
            }
        }
        st.counted = Some((now, counts));
        // A service none of whose servers pass their checks serves nothing: degraded.
        let stranded = health
            .values()
            .any(|l| !l.is_empty() && l.iter().all(|h| !h.up));
        let mut r = SeReport::new(
            load.values().map(|l| l.rps).sum(),
            load.values().map(|l| l.connections).sum(),
            if stranded {
                ReportedHealth::Degraded
            } else {
                ReportedHealth::Up
            },
        );
        r.virtual_services = load;
        r.server_health = health;
        r
    }
}
