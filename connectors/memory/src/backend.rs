//! The shared simulated cloud: one account that any number of connectors (owners) talk to,
//! optionally kept in a state file shared by several processes.

use crate::config::MemoryConfig;
use crate::error::{Code, fail_after, state_file};
use crate::world::{Ctx, World};
use chrono::{DateTime, Utc};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use strato_core::{Bootstrap, Error, Operation, OwnerId, VmId};
use tokio::time::Instant;

/// Wall-clock time that advances with tokio's clock: real time in a normal runtime (so a state
/// file's timestamps mean the same to the next process), virtual time under
/// `tokio::time::pause()` (so tests of boot latency and visibility take no real time).
#[derive(Clone, Copy, Debug)]
struct Clock {
    wall0: DateTime<Utc>,
    inst0: Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            wall0: Utc::now(),
            inst0: Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.wall0
            + chrono::Duration::from_std(self.inst0.elapsed()).unwrap_or(chrono::Duration::MAX)
    }
}

/// How many resources an account holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// VMs of every owner and of the cloud itself.
    pub vms: usize,
    /// NICs on those VMs, primaries included.
    pub nics: usize,
    /// Networks, the default one included.
    pub networks: usize,
    /// VIPs.
    pub vips: usize,
}

/// A token bucket for mutating calls.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Shared {
    settings: MemoryConfig,
    clock: Clock,
    world: Mutex<World>,
    bucket: Mutex<Bucket>,
}

/// One simulated cloud account. Cheap to clone: clones share the same account, so connectors
/// of different owners built on clones see one world, like two tenants of one real cloud.
#[derive(Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another caller cannot leave the world half-changed (calls validate before they
    // change anything), so a poisoned lock is still good.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryBackend {
    /// A new account. With a state file, the account in the file is used (and made when the
    /// file does not exist yet).
    pub fn new(settings: MemoryConfig) -> Result<Self, Error> {
        settings.validate()?;
        let clock = Clock::new();
        let world = match &settings.state_file {
            None => World::seeded(clock.now(), settings.default_cidr()),
            Some(path) => {
                let mut lock = open_lock(path, Operation::Configure)?;
                let _guard = lock
                    .write()
                    .map_err(|e| state_file(Operation::Configure, path, "lock", e))?;
                match load(path, Operation::Configure)? {
                    Some(w) => w,
                    None => {
                        let w = World::seeded(clock.now(), settings.default_cidr());
                        save(path, &w, Operation::Configure)?;
                        w
                    }
                }
            }
        };
        let bucket = Bucket {
            tokens: settings.mutating_burst as f64,
            at: Instant::now(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                clock,
                world: Mutex::new(world),
                bucket: Mutex::new(bucket),
            }),
        })
    }

    /// The settings this account was made with.
    pub fn config(&self) -> &MemoryConfig {
        &self.shared.settings
    }

    /// Counts everything in the account, all owners and the cloud's own resources together
    /// (what an administrator of the account would see; tests use it to prove nothing leaked).
    pub fn inventory(&self) -> Result<Inventory, Error> {
        let admin = OwnerId::new("inventory").expect("valid owner");
        self.call(Operation::ListVms, &admin, |w, _| Ok(w.inventory()))
    }

    /// The first-boot document of a VM, as its guest reads it from the metadata service (the
    /// simulated SEs' agents start from it; tests read it back). Any owner's VM.
    pub fn bootstrap_of(&self, vm: &VmId) -> Result<Option<Bootstrap>, Error> {
        let admin = OwnerId::new("inventory").expect("valid owner");
        self.call(Operation::GetVm, &admin, |w, _| {
            w.vms
                .get(vm.as_str())
                .map(|v| v.bootstrap.clone())
                .ok_or_else(|| Error::not_found(Operation::GetVm, format!("vm {vm}")))
        })
    }

    /// Marks a simulated host as accepting new VMs or not (tests of host loss). In-process
    /// accounts only: a state-file account re-reads its file on every call.
    pub fn set_host_ready(&self, host: &str, ready: bool) -> Result<(), Error> {
        if self.shared.settings.state_file.is_some() {
            return Err(Error::unsupported(
                Operation::Configure,
                crate::CLOUD,
                "host readiness can only be changed in an in-process account",
            ));
        }
        let admin = OwnerId::new("inventory").expect("valid owner");
        self.call(Operation::Configure, &admin, |w, ctx| {
            w.set_host_ready(ctx, host, ready)
        })
    }

    /// Runs one call against the world: throttles mutating calls, re-reads the state file
    /// (another process may have changed it) and writes it back after a change.
    pub(crate) fn call<R>(
        &self,
        op: Operation,
        owner: &OwnerId,
        f: impl FnOnce(&mut World, &Ctx) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let s = &self.shared;
        if op.is_mutating() {
            self.throttle(op)?;
        }
        let mut world = lock(&s.world);
        let ctx = Ctx {
            owner,
            now: s.clock.now(),
            settings: &s.settings,
        };
        let result = match &s.settings.state_file {
            None => f(&mut world, &ctx),
            Some(path) => {
                let mut lock = open_lock(path, op)?;
                let _guard = lock.write().map_err(|e| state_file(op, path, "lock", e))?;
                if let Some(w) = load(path, op)? {
                    *world = w;
                }
                let result = f(&mut world, &ctx);
                // Even a failed call may have changed something (a partial batch).
                if op.is_mutating() {
                    save(path, &world, op)?;
                }
                result
            }
        };
        result.map_err(|e| e.with_operation(op).with_cloud(crate::CLOUD))
    }

    fn throttle(&self, op: Operation) -> Result<(), Error> {
        let Some(rate) = self.shared.settings.mutating_per_sec else {
            return Ok(());
        };
        let burst = self.shared.settings.mutating_burst as f64;
        let mut b = lock(&self.shared.bucket);
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - b.tokens) / rate);
            Err(fail_after(
                op,
                Code::RequestLimitExceeded,
                Some(wait),
                format!("more than {rate} mutating calls per second; retry after {wait:?}"),
            ))
        }
    }
}

/// Opens `STATE_FILE.lock`, whose exclusive lock is held for one call. A separate file,
/// because the state file itself is replaced by rename on every write.
fn open_lock(path: &Path, op: Operation) -> Result<fd_lock::RwLock<File>, Error> {
    let lock_path = sibling(path, "lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| state_file(op, path, "create the directory of", e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| state_file(op, &lock_path, "open the lock of", e))?;
    Ok(fd_lock::RwLock::new(file))
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

fn load(path: &Path, op: Operation) -> Result<Option<World>, Error> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| state_file(op, path, "parse", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_file(op, path, "read", e)),
    }
}

/// Writes the whole world to a temporary file and renames it over the state file, so a reader
/// never sees half a file.
fn save(path: &Path, world: &World, op: Operation) -> Result<(), Error> {
    let tmp = sibling(path, &format!("tmp{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(world).map_err(|e| state_file(op, path, "encode", e))?;
    let mut f = File::create(&tmp).map_err(|e| state_file(op, &tmp, "create", e))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| state_file(op, &tmp, "write", e))?;
    fs::rename(&tmp, path).map_err(|e| state_file(op, path, "replace", e))
}
