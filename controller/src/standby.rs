//! What a standby controller serves while it waits for the leadership: the read-only part of
//! the API and DNS, from the shared state in etcd, and a refusal naming the leader for the rest.
//!
//! The standby keeps a view of the store: a [`Controller`] loaded from it through a store that
//! refuses every write ([`ReadOnly`]), with no cloud, loaded again whenever etcd's revision
//! moved (polled every [`StandbyOptions::refresh`]). GET and HEAD requests are answered by the
//! ordinary API router over that view, with the same authentication; DNS answers the records
//! the leader published (a service whose VIP is bound, at its address). Everything else is
//! `503 {"error": "standby", "message", "leader"}` with the leader's URL read from etcd, so that
//! a client or an agent knows where to go: writes, and the reads that need a cloud or the
//! leader's live state (`/orphans`, `/clouds`, an agent's configuration long-poll).

use crate::api::ApiOptions;
use crate::controller::{Controller, ControllerOptions};
use crate::dns::{DnsServer, DnsTable};
use crate::error::{ControllerError, Result};
use crate::store::{EtcdStore, Precondition, StateStore, Txn, Versioned};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// How a standby serves.
#[derive(Clone, Debug)]
pub struct StandbyOptions {
    /// The API's authentication, as the leader's.
    pub api: ApiOptions,
    /// The options its read-only controller view is built with.
    pub controller: ControllerOptions,
    /// How often it asks etcd whether the state moved (and loads it again when it did).
    pub refresh: Duration,
    /// The DNS address, as the leader's (`None`: no DNS).
    pub dns_listen: Option<SocketAddr>,
}

/// A serving standby; [`Standby::stop`] frees its addresses for the leader's API and DNS.
#[derive(Debug)]
pub struct Standby {
    api: JoinHandle<()>,
    refresh: JoinHandle<()>,
    dns: Option<DnsServer>,
}

impl Standby {
    /// Stops serving and waits until the addresses are free.
    pub async fn stop(self) {
        self.refresh.abort();
        self.api.abort();
        let _ = self.api.await;
        if let Some(d) = self.dns {
            d.shutdown().await;
        }
    }

    /// The DNS address it serves on.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(|d| d.addr)
    }
}

/// The header that marks an answer from a standby (`standby`).
pub const ROLE_HEADER: &str = "x-strato-role";
/// The header that names the leader's URL on a standby's answer, when there is one.
pub const LEADER_HEADER: &str = "x-strato-leader";

/// The latest view: the API router over the controller loaded from the store, and who led.
#[derive(Clone)]
struct Loaded {
    router: Router,
    leader: Option<String>,
}

type View = Arc<RwLock<Option<Loaded>>>;

/// Serves a standby on `listener` (plain HTTP, or TLS when the API has it) and on the DNS
/// address of `opts`, until [`Standby::stop`].
pub async fn start<L>(store: Arc<EtcdStore>, listener: L, opts: StandbyOptions) -> Result<Standby>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let view: View = Arc::default();
    let table = Arc::new(DnsTable::new());
    let dns = match opts.dns_listen {
        Some(a) => Some(
            DnsServer::start(table.clone(), a)
                .await
                .map_err(|e| ControllerError::Config(format!("binding DNS on {a}: {e}")))?,
        ),
        None => None,
    };
    let refresh = tokio::spawn(keep_loading(store.clone(), view.clone(), table, opts));
    let app = Router::new().fallback(move |req: Request| {
        let (store, view) = (store.clone(), view.clone());
        async move {
            let current = view.read().expect("standby view lock").clone();
            match current {
                Some(view) if readable(&req) => {
                    let mut r = view
                        .router
                        .oneshot(req)
                        .await
                        .unwrap_or_else(|never| match never {});
                    // A read from a standby says so, and who leads, as of its last look.
                    let h = r.headers_mut();
                    h.insert(ROLE_HEADER, HeaderValue::from_static("standby"));
                    if let Some(v) = view.leader.and_then(|l| HeaderValue::from_str(&l).ok()) {
                        h.insert(LEADER_HEADER, v);
                    }
                    r
                }
                _ => refusal(&store).await,
            }
        }
    });
    let api = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "standby server stopped");
        }
    });
    Ok(Standby { api, refresh, dns })
}

/// A request the view answers as the leader would: a read of the stored state.
fn readable(req: &Request) -> bool {
    let path = req.uri().path();
    let needs_leader = path.starts_with("/api/v1/orphans")
        || path.starts_with("/api/v1/clouds")
        || path.starts_with("/api/v1/ses/")
        || path.starts_with("/api/v1/engines/");
    matches!(*req.method(), Method::GET | Method::HEAD) && !needs_leader
}

/// `503` naming the leader (read from etcd now), with `Retry-After: 1`.
pub async fn refusal(store: &EtcdStore) -> Response {
    let leader = crate::leader::current_leader(store).await.ok().flatten();
    let message = match &leader {
        Some(l) => format!("this controller is a standby; the leader is {l}"),
        None => "this controller is a standby; no leader right now (an election is under way)"
            .to_owned(),
    };
    let body = serde_json::json!({"error": "standby", "message": message, "leader": leader});
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Loads the view again whenever etcd's revision moved, until aborted. A load that fails keeps
/// the last view (a standby answers from what it last saw rather than not at all).
async fn keep_loading(
    store: Arc<EtcdStore>,
    view: View,
    table: Arc<DnsTable>,
    opts: StandbyOptions,
) {
    let mut seen = None;
    loop {
        match revision(&store).await {
            Ok((rev, leader)) if Some(rev) != seen => match load(&store, &opts).await {
                Ok(ctl) => {
                    let (zones, records) = stored_dns(&ctl);
                    ctl.dns_table().replace(zones.clone(), records.clone());
                    table.replace(zones, records);
                    let router = crate::api::router(ctl, opts.api.clone());
                    *view.write().expect("standby view lock") = Some(Loaded { router, leader });
                    seen = Some(rev);
                }
                Err(e) => tracing::warn!(error = %e, "standby: loading the state failed"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "standby: etcd unreachable"),
        }
        tokio::time::sleep(opts.refresh).await;
    }
}

/// etcd's current revision (of the whole cluster: a change anywhere loads again, which is only
/// more often than needed) and the leader's URL. A new leader changes the revision too.
async fn revision(store: &EtcdStore) -> Result<(i64, Option<String>)> {
    let r = store
        .client()
        .kv_client()
        .get(store.leader_key(), None)
        .await
        .map_err(|e| ControllerError::Store(format!("etcd: {e}")))?;
    let leader = r
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
    Ok((r.header().map(|h| h.revision()).unwrap_or_default(), leader))
}

async fn load(store: &Arc<EtcdStore>, opts: &StandbyOptions) -> Result<Controller> {
    let ro: Arc<dyn StateStore> = Arc::new(ReadOnly(store.clone()));
    Controller::new(ro, BTreeMap::new(), opts.controller.clone()).await
}

/// The zones and the A records the leader publishes, from the stored state: a service whose
/// VIP is bound has its FQDN at its address. (The leader also takes the answer away while the
/// SE holding the VIP does not report serving; that lives in its memory, not in the store.)
pub(crate) fn stored_dns(ctl: &Controller) -> (BTreeMap<String, u32>, HashMap<String, Ipv4Addr>) {
    let st = ctl.state();
    let zones = st.zones.values().map(|z| (z.name.clone(), z.ttl)).collect();
    let records = st
        .vsrt
        .values()
        .filter(|r| r.bound_to.is_some())
        .filter_map(|r| match (r.dns_name.as_ref(), r.address) {
            (Some(n), Some(IpAddr::V4(a))) => Some((n.clone(), a)),
            _ => None,
        })
        .collect();
    (zones, records)
}

/// A store that reads through and refuses every write: the standby's view can never change the
/// shared state, whatever loading it tries (moving a damaged record aside is the leader's).
#[derive(Debug)]
pub struct ReadOnly(pub Arc<EtcdStore>);

fn refused() -> ControllerError {
    ControllerError::Store("a standby does not write the store".to_owned())
}

#[async_trait::async_trait]
impl StateStore for ReadOnly {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.0.get(key).await
    }
    async fn put(&self, _: &str, _: Vec<u8>, _: Precondition) -> Result<u64> {
        Err(refused())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        self.0.list(prefix).await
    }
    async fn delete(&self, _: &str, _: Precondition) -> Result<bool> {
        Err(refused())
    }
    async fn txn(&self, _: &Txn) -> Result<u64> {
        Err(refused())
    }
}
