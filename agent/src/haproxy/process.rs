//! The HAProxy process: validating a file (`haproxy -c`), starting the master-worker pair,
//! reloading it through the master CLI, and noticing that it died.

use super::render::stats_socket;
use super::stats::{command, worker_pid};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a start or a reload may take before it counts as failed.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// One HAProxy master process (and its worker) under a run directory.
#[derive(Debug)]
pub struct Haproxy {
    bin: PathBuf,
    run_dir: PathBuf,
    child: Option<Child>,
}

impl Haproxy {
    /// HAProxy `bin`, with its files under `run_dir`; not started yet.
    pub fn new(bin: PathBuf, run_dir: PathBuf) -> Self {
        Self {
            bin,
            run_dir,
            child: None,
        }
    }

    /// The configuration file it serves.
    pub fn config_path(&self) -> PathBuf {
        self.run_dir.join("haproxy.cfg")
    }

    /// The master CLI socket (`reload`, `show proc`).
    pub fn master_socket(&self) -> PathBuf {
        self.run_dir.join("master.sock")
    }

    /// The runtime API socket.
    pub fn stats_socket(&self) -> PathBuf {
        stats_socket(&self.run_dir)
    }

    /// The master's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Checks `path` with `haproxy -c`; `Err` holds HAProxy's own message.
    pub async fn validate(&self, path: &Path) -> Result<(), String> {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg("-f")
            .arg(path)
            .output()
            .await
            .map_err(|e| format!("running {} -c: {e}", self.bin.display()))?;
        if out.status.success() {
            return Ok(());
        }
        // HAProxy's alerts say what is wrong (`-q` would silence them too); its notices
        // (version, path) and warnings do not.
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let alerts: Vec<&str> = all.lines().filter(|l| l.contains("[ALERT]")).collect();
        Err(if alerts.is_empty() {
            all.trim().to_owned()
        } else {
            alerts.join("\n")
        })
    }

    /// True while the master runs.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the master on the current configuration file and waits for its worker to
    /// answer on the runtime API.
    pub async fn start(&mut self) -> Result<(), String> {
        if let Some(mut old) = self.child.take() {
            let _ = old.kill().await;
        }
        self.kill_leftover().await;
        let _ = std::fs::remove_file(self.stats_socket());
        let _ = std::fs::remove_file(self.master_socket());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run_dir.join("haproxy.log"))
            .map_err(|e| format!("haproxy.log: {e}"))?;
        let child = Command::new(&self.bin)
            .arg("-W")
            .arg("-S")
            .arg(self.master_socket())
            .arg("-p")
            .arg(self.pid_file())
            .arg("-f")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // The agent owns its proxy: a master left behind would hold the VIP's ports.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if self.worker_ready(None).await {
                return Ok(());
            }
            if !self.running() {
                return Err(format!(
                    "haproxy exited at start; see {}",
                    self.log_path().display()
                ));
            }
            if tokio::time::Instant::now() > deadline {
                return Err("haproxy did not answer on its runtime API in 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// True when a worker other than `old` answers on the runtime API and the master on its
    /// CLI (so the next reload can be asked for).
    async fn worker_ready(&self, old: Option<u32>) -> bool {
        matches!(worker_pid(&self.stats_socket()).await, Ok(p) if Some(p) != old)
            && command(&self.master_socket(), "show proc").await.is_ok()
    }

    /// Where the master writes its process id.
    fn pid_file(&self) -> PathBuf {
        self.run_dir.join("haproxy.pid")
    }

    /// Stops a master a previous agent left running in this run directory (an agent that
    /// crashed): it would hold the ports and serve an old configuration beside the new one.
    async fn kill_leftover(&self) {
        let Some(pid) = std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "haproxy" {
            tracing::warn!(pid, "stopping the HAProxy a previous agent left running");
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .await;
        }
        let _ = std::fs::remove_file(self.pid_file());
    }

    /// How many reloads failed, from the master's `show proc` (`0 [failed: N]`).
    async fn failed_reloads(&self) -> Option<u64> {
        let proc = command(&self.master_socket(), "show proc").await.ok()?;
        let after = proc.split_once("[failed: ")?.1;
        after.split(']').next()?.trim().parse().ok()
    }

    /// The last alerts in HAProxy's log: why it refused something.
    fn last_alerts(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let alerts: Vec<&str> = log.lines().filter(|l| l.contains("[ALERT]")).collect();
        alerts[alerts.len().saturating_sub(3)..].join("\n")
    }

    /// HAProxy's own log (its stderr).
    pub fn log_path(&self) -> PathBuf {
        self.run_dir.join("haproxy.log")
    }

    /// Reloads the configuration file: the master starts a new worker, which takes the
    /// listening sockets over, and the old one finishes its established connections. Returns
    /// once the new worker answers.
    pub async fn reload(&mut self) -> Result<(), String> {
        if !self.running() {
            return self.start().await;
        }
        let before = worker_pid(&self.stats_socket()).await.ok();
        let failed_before = self.failed_reloads().await.unwrap_or(0);
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        // The master listens on its CLI only once its worker is up (and again after the
        // re-exec of a reload): a refusal right after a start is retried.
        while let Err(e) = command(&self.master_socket(), "reload").await {
            if !self.running() || tokio::time::Instant::now() > deadline {
                return Err(format!("reloading haproxy: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        loop {
            if self.worker_ready(before).await {
                return Ok(());
            }
            // A file `haproxy -c` passed can still fail to load (an address it cannot bind):
            // the master counts the failure and keeps the old worker serving.
            if self
                .failed_reloads()
                .await
                .is_some_and(|n| n > failed_before)
            {
                return Err(format!(
                    "haproxy could not load the new configuration: {}",
                    self.last_alerts()
                ));
            }
            if !self.running() {
                return Err(format!(
                    "haproxy exited on reload; see {}",
                    self.log_path().display()
                ));
            }
            if tokio::time::Instant::now() > deadline {
                return Err("the new haproxy worker did not answer in 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the master (and so its worker).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}
