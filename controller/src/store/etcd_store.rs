//! The shared store: etcd's v3 API, for several controllers on one state.
//!
//! Every key lives under a prefix (`/strato/segroup/web`), so one etcd cluster can hold several
//! controller fleets, or other users' keys. etcd already has what the [`StateStore`] trait asks:
//! one store-wide revision bumped by each write, a key's `mod_revision`, and `Txn` with compares,
//! so each call is one etcd request, a put or a delete being a transaction of one compare.
//!
//! A failed transaction reads the keys it compared in its else branch, in the same request, so
//! the conflict names the key that moved and its revision, as the other stores do.

use super::{Precondition, StateStore, Txn, TxnOp, Versioned, conflict};
use crate::error::{ControllerError, Result};
use crate::secret::Secret;
use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, TlsOptions,
    TxnOpResponse,
};
use std::path::PathBuf;
use std::time::Duration;

/// Keys read per request of a listing: etcd answers a range in one message, which a listing of
/// 10,000 services would make larger than gRPC's default 4 MiB limit.
const LIST_PAGE: i64 = 500;

/// How to reach etcd.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EtcdOptions {
    /// `http://host:2379`, or `https://host:2379` with `ca_cert` (this build loads no
    /// system roots).
    pub endpoints: Vec<String>,
    /// Every key is under it (`/strato`); no trailing slash.
    pub prefix: String,
    /// etcd user and password, when etcd's auth is on.
    pub username: Option<String>,
    /// The password (never printed).
    pub password: Option<Secret>,
    /// PEM CA certificate the server's certificate chains to.
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate and key, for etcd's `--client-cert-auth`.
    pub client_cert: Option<PathBuf>,
    /// Key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Time limit of one request (connects included).
    pub timeout: Duration,
    /// TTL of the leader's lease (`controller run`): a dead leader is replaced after it, plus
    /// a third of it.
    pub lease_ttl: Duration,
}

impl std::fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("timeout", &self.timeout)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

/// A store in etcd.
pub struct EtcdStore {
    client: Client,
    /// `prefix` + `/kv/`: the records (the prefix also holds the leader key, beside them).
    root: String,
    /// `prefix` + `/leader`.
    leader_key: String,
    /// Once this controller leads: the revision that created the leader key, which every
    /// write then requires (crate::leader).
    fence: std::sync::RwLock<Option<i64>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> ControllerError {
    ControllerError::Store(format!("etcd {what}: {e}"))
}

fn read_pem(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| ControllerError::Config(format!("etcd {what} {}: {e}", path.display())))
}

/// The compare that makes `cond` hold of `key` (none for `Any`).
fn compare(key: &str, cond: Precondition) -> Option<Compare> {
    match cond {
        Precondition::Any => None,
        // A key that does not exist has version 0 (etcd's own idiom for "absent").
        Precondition::Absent => Some(Compare::version(key, CompareOp::Equal, 0)),
        Precondition::Revision(r) => Some(Compare::mod_revision(
            key,
            CompareOp::Equal,
            i64::try_from(r).unwrap_or(i64::MAX),
        )),
    }
}

fn revision(header: Option<&etcd_client::ResponseHeader>) -> Result<u64> {
    header
        .map(|h| h.revision() as u64)
        .ok_or_else(|| ControllerError::Store("etcd answered without a header".into()))
}

impl EtcdStore {
    /// Connects (the client connects lazily to every endpoint and balances between them).
    pub async fn connect(opts: &EtcdOptions) -> Result<Self> {
        if opts.endpoints.is_empty() {
            return Err(ControllerError::Config(
                "controller.store.endpoints: at least one etcd endpoint".into(),
            ));
        }
        let mut co = ConnectOptions::new()
            .with_timeout(opts.timeout)
            .with_connect_timeout(opts.timeout)
            .with_keep_alive(Duration::from_secs(10), opts.timeout);
        if let Some(user) = &opts.username {
            let pw = opts.password.as_ref().map(Secret::expose).unwrap_or("");
            co = co.with_user(user.clone(), pw.to_owned());
        }
        let tls_wanted = opts.ca_cert.is_some()
            || opts.client_cert.is_some()
            || opts.endpoints.iter().any(|e| e.starts_with("https://"));
        if tls_wanted {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &opts.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(read_pem(ca, "ca_cert")?));
            }
            match (&opts.client_cert, &opts.client_key) {
                (Some(c), Some(k)) => {
                    tls = tls.identity(Identity::from_pem(
                        read_pem(c, "client_cert")?,
                        read_pem(k, "client_key")?,
                    ));
                }
                (None, None) => {}
                _ => {
                    return Err(ControllerError::Config(
                        "controller.store: client_cert and client_key go together".into(),
                    ));
                }
            }
            co = co.with_tls(tls);
        }
        let client = Client::connect(opts.endpoints.clone(), Some(co))
            .await
            .map_err(|e| err("connect", e))?;
        let prefix = opts.prefix.trim_end_matches('/');
        Ok(Self {
            client,
            root: format!("{prefix}/kv/"),
            leader_key: format!("{prefix}/leader"),
            fence: std::sync::RwLock::new(None),
        })
    }

    /// The etcd client (the election uses it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The leader key of this prefix.
    pub fn leader_key(&self) -> String {
        self.leader_key.clone()
    }

    /// From now on every write requires the leader key created at `created` (this controller's
    /// election): once the lease behind it expires, nothing this store writes commits.
    pub fn fence(&self, created: i64) {
        *self.fence.write().expect("fence lock") = Some(created);
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }

    fn versioned(&self, kv: &etcd_client::KeyValue) -> Result<Versioned> {
        let key = kv.key_str().map_err(|e| err("key", e))?;
        Ok(Versioned {
            key: key.strip_prefix(&self.root).unwrap_or(key).to_owned(),
            revision: kv.mod_revision() as u64,
            value: kv.value().to_vec(),
        })
    }

    /// One etcd transaction: the compares, then the writes; on a failed compare, the compared
    /// keys are read back to name the one that moved. Returns the revision after it and how
    /// many keys the deletes removed.
    async fn apply(&self, compares: &[(&str, Precondition)], ops: &[TxnOp]) -> Result<(u64, i64)> {
        let mut when = Vec::new();
        let mut reads = Vec::new();
        for (key, cond) in compares {
            if let Some(c) = compare(&self.full(key), *cond) {
                when.push(c);
                reads.push(etcd_client::TxnOp::get(self.full(key), None));
            }
        }
        let fence = *self.fence.read().expect("fence lock");
        if let Some(created) = fence {
            when.push(Compare::create_revision(
                self.leader_key.clone(),
                CompareOp::Equal,
                created,
            ));
            reads.push(etcd_client::TxnOp::get(self.leader_key.clone(), None));
        }
        let writes: Vec<etcd_client::TxnOp> = ops
            .iter()
            .map(|op| match op {
                TxnOp::Put { key, value } => {
                    etcd_client::TxnOp::put(self.full(key), value.clone(), None)
                }
                TxnOp::Delete { key } => etcd_client::TxnOp::delete(self.full(key), None),
            })
            .collect();
        let txn = etcd_client::Txn::new()
            .when(when)
            .and_then(writes)
            .or_else(reads);
        let resp = self
            .client
            .kv_client()
            .txn(txn)
            .await
            .map_err(|e| err("txn", e))?;
        if !resp.succeeded() {
            let reads = resp.op_responses();
            if let (Some(created), Some(TxnOpResponse::Get(g))) = (fence, reads.last())
                && g.kvs().first().map(|kv| kv.create_revision()) != Some(created)
            {
                return Err(ControllerError::Store(
                    "fenced: this controller's leadership is over (its etcd lease expired); \
                     nothing was written"
                        .into(),
                ));
            }
            return Err(self.which_failed(compares, &reads));
        }
        let deleted = resp
            .op_responses()
            .iter()
            .map(|r| match r {
                TxnOpResponse::Delete(d) => d.deleted(),
                _ => 0,
            })
            .sum();
        Ok((revision(resp.header())?, deleted))
    }

    /// The conflict of the first compare that does not hold, from the else branch's reads (in
    /// the order of the compares that are not `Any`).
    fn which_failed(
        &self,
        compares: &[(&str, Precondition)],
        reads: &[TxnOpResponse],
    ) -> ControllerError {
        let checked = compares.iter().filter(|(_, c)| *c != Precondition::Any);
        for ((key, cond), read) in checked.zip(reads) {
            let current = match read {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.mod_revision() as u64),
                _ => None,
            };
            if !cond.holds(current) {
                return conflict(key, *cond, current);
            }
        }
        // Every compare holds now: another write came and went between the two.
        ControllerError::Conflict("a compared key changed during the transaction".into())
    }
}

#[async_trait]
impl StateStore for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>> {
        let resp = self
            .client
            .kv_client()
            .get(self.full(key), None)
            .await
            .map_err(|e| err("get", e))?;
        resp.kvs().first().map(|kv| self.versioned(kv)).transpose()
    }

    async fn put(&self, key: &str, value: Vec<u8>, cond: Precondition) -> Result<u64> {
        let op = TxnOp::Put {
            key: key.to_owned(),
            value,
        };
        Ok(self.apply(&[(key, cond)], &[op]).await?.0)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Versioned>> {
        let start = self.full(prefix);
        // The end of the prefix range: its last byte plus one (etcd's `with_prefix`), kept
        // while the pages walk from one key past the last one read.
        let end = {
            let mut e = start.clone().into_bytes();
            match e.iter().rposition(|b| *b < 0xff) {
                Some(i) => {
                    e[i] += 1;
                    e.truncate(i + 1);
                    e
                }
                None => vec![0],
            }
        };
        let mut from = start.into_bytes();
        let mut out = Vec::new();
        // Every page reads at the first page's revision: one consistent listing, as the other
        // stores give, whatever is written meanwhile.
        let mut at = 0;
        loop {
            let opts = GetOptions::new()
                .with_range(end.clone())
                .with_limit(LIST_PAGE)
                .with_revision(at);
            let resp = self
                .client
                .kv_client()
                .get(from.clone(), Some(opts))
                .await
                .map_err(|e| err("list", e))?;
            if at == 0 {
                at = revision(resp.header())? as i64;
            }
            for kv in resp.kvs() {
                out.push(self.versioned(kv)?);
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<bool> {
        let op = TxnOp::Delete {
            key: key.to_owned(),
        };
        Ok(self.apply(&[(key, cond)], &[op]).await?.1 > 0)
    }

    async fn txn(&self, txn: &Txn) -> Result<u64> {
        txn.check()?;
        let compares: Vec<(&str, Precondition)> =
            txn.compares.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        Ok(self.apply(&compares, &txn.ops).await?.0)
    }
}
