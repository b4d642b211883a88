//! The health of each virtual service's backend servers as the SEs' proxies check them
//! (`SeReport::server_health`), for the status and `/metrics`.
//!
//! Every SE carrying a service checks its servers on its own, so they can disagree (a server
//! one SE cannot reach): a server is `up` when every SE that reported it sees it up, `down`
//! when every one sees it down, `mixed` otherwise, and `unknown` while no SE carrying the
//! service has a fresh report of it. `down_on` names the SEs that see it down.

use super::{ControllerOptions, State};
use crate::model::VirtualService;
use serde::Serialize;
use std::net::IpAddr;
use tokio::time::Instant;

/// What the SEs' checks say of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Every SE that checks it sees it up.
    Up,
    /// Every SE that checks it sees it down: it gets no traffic.
    Down,
    /// Some see it up, some down.
    Mixed,
    /// No fresh report of it.
    Unknown,
}

/// One backend server of a virtual service, as its SEs see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// What the checks say.
    pub health: ServerState,
    /// The SEs whose checks fail it.
    pub down_on: Vec<String>,
}

/// The servers of `vs` as the SEs in `placement` last reported them (fresh reports only).
pub(super) fn servers(
    st: &State,
    vs: &VirtualService,
    placement: &[String],
    now: Instant,
    opts: &ControllerOptions,
) -> Vec<ServerStatus> {
    let stale = opts.report_interval * opts.missed_reports;
    let reports: Vec<(&String, &[strato_agent::protocol::ServerHealth])> = placement
        .iter()
        .filter_map(|se| {
            let (t, rep) = st.se_runtime.get(se)?.last_report.as_ref()?;
            if now.duration_since(*t) > stale {
                return None;
            }
            Some((se, rep.server_health.get(&vs.name)?.as_slice()))
        })
        .collect();
    vs.servers
        .iter()
        .map(|s| {
            let (mut up, mut down_on) = (0, Vec::new());
            for (se, list) in &reports {
                match list
                    .iter()
                    .find(|h| h.address == s.address && h.port == s.port)
                {
                    Some(h) if h.up => up += 1,
                    Some(_) => down_on.push((*se).clone()),
                    None => {}
                }
            }
            let health = match (up, down_on.len()) {
                (0, 0) => ServerState::Unknown,
                (_, 0) => ServerState::Up,
                (0, _) => ServerState::Down,
                _ => ServerState::Mixed,
            };
            ServerStatus {
                address: s.address,
                port: s.port,
                health,
                down_on,
            }
        })
        .collect()
}
