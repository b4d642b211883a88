//! Leader election on an etcd lease, for several controllers sharing one [`EtcdStore`].
//!
//! A controller campaigns by writing `PREFIX/leader` (its API URL) attached to a lease of its
//! own, if the key is absent; the one that wrote it leads while it renews the lease. The others
//! wait, reading who leads, and try again a third of the lease's TTL later: when the leader
//! stops renewing, etcd deletes the key at the lease's expiry and the next standby's attempt
//! takes it.
//!
//! Fencing, two ways. In etcd: once it leads, every write of the [`EtcdStore`] is a transaction
//! that also requires the leader key at the revision that created it, so a controller whose
//! lease expired (the key deleted, or created again by another) commits nothing. In the
//! process: the lease is only trusted until the time its last renewal was *sent* plus its TTL
//! ([`Leadership::is_valid`]); [`LeaseGate`] refuses every cloud call past that instant, so a
//! controller that was paused (SIGSTOP) past its lease does not call a cloud when it resumes,
//! even before it learns from etcd that it lost.

use crate::error::{ControllerError, Result};
use crate::store::EtcdStore;
use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use futures::future::BoxFuture;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strato_core::CloudInfo;
use strato_core::error::{Error, ErrorKind, Operation};
use strato_core::layers::{Around, Call};
use tokio::sync::watch;

/// This controller's leadership, from its election until it is lost.
#[derive(Debug)]
pub struct Leadership {
    /// The instant the lease can no longer be trusted: last renewal sent + TTL.
    valid_until: Mutex<Instant>,
    lost: AtomicBool,
    lost_tx: watch::Sender<bool>,
    lease: i64,
    /// The renewal task, aborted by [`Leadership::stop_renewing`] in tests (a paused process).
    renewer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Leadership {
    /// True while the lease is surely held: not lost, and its TTL since the last renewal sent
    /// has not run out.
    pub fn is_valid(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
            && Instant::now() < *self.valid_until.lock().expect("leadership lock")
    }

    /// Resolves when the leadership is lost (the lease expired or could not be renewed in time).
    pub async fn lost(&self) {
        let mut rx = self.lost_tx.subscribe();
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Stops renewing without telling etcd, as a process that hangs or dies would: for the
    /// tests and the benchmark of a takeover. The lease runs out a TTL later.
    pub fn stop_renewing(&self) {
        if let Some(h) = self.renewer.lock().expect("leadership lock").take() {
            h.abort();
        }
    }

    /// The leadership of `lease` (granted at `sent`), renewed from now on by a task of its own.
    fn renewed(
        store: &EtcdStore,
        lease: i64,
        sent: Instant,
        ttl: Duration,
    ) -> std::sync::Arc<Self> {
        let (lost_tx, _) = watch::channel(false);
        let me = std::sync::Arc::new(Leadership {
            valid_until: Mutex::new(sent + ttl),
            lost: AtomicBool::new(false),
            lost_tx,
            lease,
            renewer: Mutex::new(None),
        });
        let task = tokio::spawn(renew(store.client().lease_client(), me.clone(), ttl));
        *me.renewer.lock().expect("leadership lock") = Some(task.abort_handle());
        me
    }

    fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::error!(lease = self.lease, "leadership lost: {why}");
        }
        self.lost_tx.send_replace(true);
    }
}

/// Who leads, as a standby reads it: the leader's API URL (`None`: nobody right now).
pub async fn current_leader(store: &EtcdStore) -> Result<Option<String>> {
    let resp = store
        .client()
        .kv_client()
        .get(store.leader_key(), None)
        .await
        .map_err(|e| ControllerError::Store(format!("etcd leader: {e}")))?;
    Ok(resp
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
}

/// Campaigns until this controller (`me`: its API URL, what standbys name as the leader) leads,
/// then fences `store` on the leader key and keeps the lease alive in a task of its own. `ttl`
/// is whole seconds, at least 2 (etcd's unit and minimum worth having). etcd's errors do not end
/// it: it tries again a third of the TTL later.
pub async fn campaign(
    store: &EtcdStore,
    me: &str,
    ttl: Duration,
) -> Result<std::sync::Arc<Leadership>> {
    let ttl_s = ttl.as_secs().max(2) as i64;
    let ttl = Duration::from_secs(ttl_s as u64);
    let etcd =
        |what: &str, e: etcd_client::Error| ControllerError::Store(format!("etcd {what}: {e}"));
    let key = store.leader_key();
    let mut lease_client = store.client().lease_client();
    let mut said = None;
    loop {
        let sent = Instant::now();
        let attempt = async {
            let lease = lease_client
                .grant(ttl_s, None)
                .await
                .map_err(|e| etcd("lease grant", e))?
                .id();
            let txn = Txn::new()
                .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(
                    key.clone(),
                    me,
                    Some(PutOptions::new().with_lease(lease)),
                )])
                .or_else([TxnOp::get(key.clone(), None)]);
            let resp = store
                .client()
                .kv_client()
                .txn(txn)
                .await
                .map_err(|e| etcd("campaign", e))?;
            Ok::<_, ControllerError>((lease, resp))
        };
        // etcd away, or electing a leader of its own (a quorum just back): a standby waits and
        // tries again rather than exit. (A lease granted before a failure expires by itself.)
        let (lease, resp) = match attempt.await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "campaign: etcd did not answer; trying again");
                tokio::time::sleep(ttl / 3).await;
                continue;
            }
        };
        if resp.succeeded() {
            let created = resp.header().map(|h| h.revision()).unwrap_or_default();
            store.fence(created);
            let leadership = Leadership::renewed(store, lease, sent, ttl);
            tracing::info!(me, lease, "elected leader");
            return Ok(leadership);
        }
        // Somebody leads: give the lease back and look again in a third of the TTL.
        let _ = lease_client.revoke(lease).await;
        let leader = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g
                .kvs()
                .first()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            _ => None,
        });
        if leader != said {
            eprintln!(
                "standby: the leader is {}",
                leader.as_deref().unwrap_or("(none)")
            );
            said = leader;
        }
        tokio::time::sleep(ttl / 3).await;
    }
}

/// How etcd-client's `keep_alive` reports the lease gone when it opens its stream.
const LEASE_NOT_FOUND: &str = "lease not found";

/// Renews the lease every third of its TTL; each answer extends the trust to the time that
/// renewal was sent plus the TTL. An expired lease, or no answer before the trust runs out,
/// loses the leadership, for good.
async fn renew(
    mut client: etcd_client::LeaseClient,
    me: std::sync::Arc<Leadership>,
    ttl: Duration,
) {
    let mut keeper = None;
    loop {
        if !me.is_valid() {
            me.lose("the lease was not renewed within its TTL");
            return;
        }
        let sent = Instant::now();
        let until = *me.valid_until.lock().expect("leadership lock");
        let attempt = async {
            if keeper.is_none() {
                keeper = Some(client.keep_alive(me.lease).await?);
            }
            let (k, stream) = keeper.as_mut().expect("just set");
            k.keep_alive().await?;
            stream.message().await
        };
        match tokio::time::timeout(until.saturating_duration_since(sent), attempt).await {
            Ok(Ok(Some(r))) if r.ttl() > 0 => {
                *me.valid_until.lock().expect("leadership lock") = sent + ttl;
            }
            Ok(Ok(Some(_))) => {
                me.lose("etcd says the lease expired");
                return;
            }
            // Opening the stream reads etcd's first answer itself and turns a TTL of 0 (the
            // lease revoked or expired) into this error: an answer, not a broken stream, so it
            // is lost now rather than when the trust runs out (up to a TTL later).
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(m))) if m == LEASE_NOT_FOUND => {
                me.lose("etcd says the lease expired");
                return;
            }
            // The stream broke or etcd is away: open a new one, until the trust runs out.
            Ok(_) | Err(_) => keeper = None,
        }
        tokio::time::sleep(ttl / 3).await;
    }
}

/// A connector layer that refuses every cloud call unless the leadership is valid at the
/// moment of the call.
#[derive(Debug, Clone)]
pub struct LeaseGate(pub std::sync::Arc<Leadership>);

impl Around for LeaseGate {
    fn around<'a, T: Send + 'a>(
        &'a self,
        info: &'a CloudInfo,
        op: Operation,
        call: Call<'a, T>,
    ) -> BoxFuture<'a, strato_core::error::Result<T>> {
        Box::pin(async move {
            if !self.0.is_valid() {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    op,
                    "this controller is no longer the leader: no cloud call".to_owned(),
                )
                .with_cloud(info.kind));
            }
            call().await
        })
    }
}

#[cfg(test)]
#[path = "leader_outage_tests.rs"]
mod outage_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EtcdOptions, Precondition, StateStore};
    use std::sync::Arc;
    use strato_core::{CloudConnector, NetworkQuery, OwnerId, layers::Layered};
    use strato_memory::{MemoryConfig, MemoryConnector};

    fn options(name: &str) -> EtcdOptions {
        let endpoints = std::env::var("STRATO_TEST_ETCD_ENDPOINTS").unwrap_or_else(|_| {
            panic!(
                "STRATO_TEST_ETCD_ENDPOINTS is not set: start etcd with \
                 `fixtures/etcd/up DIR && . DIR/env` (scripts/test does)"
            )
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        EtcdOptions {
            endpoints: endpoints.split(',').map(str::to_owned).collect(),
            prefix: format!("/strato-test/{name}-{}-{nanos}", std::process::id()),
            timeout: Duration::from_secs(5),
            ..EtcdOptions::default()
        }
    }

    #[tokio::test]
    async fn one_leader_a_standby_takes_over_and_the_old_leader_is_fenced() {
        let opts = options("elect");
        let a = Arc::new(EtcdStore::connect(&opts).await.unwrap());
        let b = Arc::new(EtcdStore::connect(&opts).await.unwrap());
        let ttl = Duration::from_secs(2);
        let la = campaign(&a, "http://a", ttl).await.unwrap();
        let b2 = b.clone();
        let standby = tokio::spawn(async move { campaign(&b2, "http://b", ttl).await });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !standby.is_finished(),
            "one leader at a time, and the lease is renewed"
        );
        assert_eq!(
            current_leader(&b).await.unwrap().as_deref(),
            Some("http://a")
        );
        a.put("k", b"a".to_vec(), Precondition::Any).await.unwrap();

        let owner = OwnerId::new(format!("lease-{}", std::process::id())).unwrap();
        let mem: Arc<dyn CloudConnector> =
            Arc::new(MemoryConnector::from_settings(MemoryConfig::default(), owner).unwrap());
        let gated = Layered::wrap(mem, LeaseGate(la.clone()));
        gated.list_networks(&NetworkQuery::default()).await.unwrap();

        // The leader hangs: the standby leads within the TTL and a third of it.
        let hung = Instant::now();
        la.stop_renewing();
        let lb = tokio::time::timeout(ttl * 2, standby)
            .await
            .expect("takeover within TTL + TTL/3")
            .unwrap()
            .unwrap();
        eprintln!("takeover after {:?}", hung.elapsed());
        assert!(lb.is_valid());
        assert_eq!(
            current_leader(&a).await.unwrap().as_deref(),
            Some("http://b")
        );

        // The old leader: no cloud call, no write, even though nothing told it yet.
        assert!(!la.is_valid());
        let e = gated
            .list_networks(&NetworkQuery::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
        let e = a
            .put("k", b"stale".to_vec(), Precondition::Any)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("fenced"), "{e}");
        b.put("k", b"b".to_vec(), Precondition::Any).await.unwrap();
        assert_eq!(a.get("k").await.unwrap().unwrap().value, b"b");
    }

    /// The order that made `a_revoked_lease_is_lost_at_once` slow under load, forced: the
    /// lease is revoked before the renewal opens its stream.
    #[tokio::test]
    async fn a_lease_revoked_before_its_first_renewal_is_lost_at_once() {
        let s = EtcdStore::connect(&options("revoke-first")).await.unwrap();
        let mut leases = s.client().lease_client();
        let sent = Instant::now();
        let lease = leases.grant(3, None).await.unwrap().id();
        leases.revoke(lease).await.unwrap();
        let l = Leadership::renewed(&s, lease, sent, Duration::from_secs(3));
        tokio::time::timeout(Duration::from_millis(1500), l.lost())
            .await
            .expect("etcd's answer to the stream's opening says the lease is gone");
        assert!(!l.is_valid());
    }

    #[tokio::test]
    async fn a_revoked_lease_is_lost_at_once() {
        let s = EtcdStore::connect(&options("revoke")).await.unwrap();
        let l = campaign(&s, "http://a", Duration::from_secs(3))
            .await
            .unwrap();
        // Revoked before the renewal task opens its stream, or between two renewals: either
        // way etcd's next answer says so, within a third of the TTL (1 s), well before the
        // trust runs out on its own (the TTL, 3 s), which is what this test used to measure
        // when the revocation won the race with the stream's opening (3.1 s under load).
        let revoked = Instant::now();
        s.client().lease_client().revoke(l.lease).await.unwrap();
        tokio::time::timeout(Duration::from_secs(3), l.lost())
            .await
            .expect("the renewal sees the lease gone");
        let took = revoked.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "lost only when the trust ran out ({took:?}), not on etcd's answer"
        );
        assert!(!l.is_valid());
        let e = s.put("k", vec![], Precondition::Any).await.unwrap_err();
        assert!(e.to_string().contains("fenced"), "{e}");
    }
}
