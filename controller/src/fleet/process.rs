//! The process mode of the memory cloud's SEs: each running SE VM is a real `strato-agent`
//! process (which runs its own HAProxy), started from the VM's first-boot document and
//! listening on the VM's own address (a loopback one when the memory network is in
//! 127.0.0.0/8), and killed with everything it started when the VM goes.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use strato_core::Bootstrap;

/// Where the process mode finds its programs and keeps each SE's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOptions {
    /// The `strato-agent` binary.
    pub agent_bin: PathBuf,
    /// The `haproxy` binary the agents run.
    pub haproxy_bin: PathBuf,
    /// Each SE gets `DIR/SE-NAME/`: its bootstrap file (0600), HAProxy's run directory and the
    /// agent's log (`agent.log`).
    pub dir: PathBuf,
}

/// One SE's agent process, in a process group of its own so that its HAProxy goes with it.
#[derive(Debug)]
pub struct AgentProcess {
    child: tokio::process::Child,
    pgid: Option<u32>,
    /// The SE's directory.
    pub dir: PathBuf,
}

impl AgentProcess {
    /// Starts the agent of SE `se` from its first-boot document, listening on `address`.
    pub fn start(
        opts: &ProcessOptions,
        se: &str,
        document: &Bootstrap,
        address: Option<IpAddr>,
    ) -> std::io::Result<Self> {
        let dir = opts.dir.join(se);
        std::fs::create_dir_all(dir.join("run"))?;
        let boot = dir.join("bootstrap");
        write_private(&boot, document.expose())?;
        let log = std::fs::File::create(dir.join("agent.log"))?;
        let mut cmd = tokio::process::Command::new(&opts.agent_bin);
        cmd.arg("--bootstrap")
            .arg(&boot)
            .arg("--haproxy")
            .arg(&opts.haproxy_bin)
            .arg("--run-dir")
            .arg(dir.join("run"));
        if let Some(a) = address {
            cmd.arg("--listen-address").arg(a.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pgid = child.id();
        Ok(Self { child, pgid, dir })
    }

    /// True once the agent exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the agent and everything in its process group (its HAProxy master and workers).
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // The group, not one pid: HAProxy's master and workers would outlive the agent
            // and keep the VIP's port. (`kill` from procps: no libc binding needed for it.)
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pgid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `text` to a new file only its owner reads (it holds the SE's credential).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn alive(pid: &str) -> bool {
        // A zombie (exited, not yet reaped) counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split(' ').nth(2).is_none_or(|st| st != "Z"))
    }

    #[tokio::test]
    async fn an_agent_gets_its_document_privately_and_goes_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in agent: records its arguments, starts a child (as the agent starts
        // HAProxy) and waits.
        let agent = dir.path().join("fake-agent");
        std::fs::write(
            &agent,
            "#!/bin/sh\necho \"$@\" > \"$(dirname \"$2\")/args\"\nsleep 300 &\necho $! > \"$(dirname \"$2\")/child\"\nwait\n",
        )
        .unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let opts = ProcessOptions {
            agent_bin: agent,
            haproxy_bin: "/usr/sbin/haproxy".into(),
            dir: dir.path().join("agents"),
        };
        let doc = Bootstrap::new("#cloud-config\nsecret-bits\n");
        let mut p =
            AgentProcess::start(&opts, "web-1", &doc, Some("127.77.0.5".parse().unwrap())).unwrap();
        let se_dir = dir.path().join("agents/web-1");
        let child_file = se_dir.join("child");
        for _ in 0..100 {
            if std::fs::read_to_string(&child_file).is_ok_and(|s| s.ends_with('\n')) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let args = std::fs::read_to_string(se_dir.join("args")).unwrap();
        assert!(
            args.contains("--listen-address 127.77.0.5")
                && args.contains("--haproxy /usr/sbin/haproxy"),
            "{args}"
        );
        let boot = se_dir.join("bootstrap");
        assert_eq!(std::fs::read_to_string(&boot).unwrap(), doc.expose());
        let mode = std::fs::metadata(&boot).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the document holds the SE's credential");
        let child = std::fs::read_to_string(&child_file).unwrap();
        let child = child.trim();
        assert!(alive(child));
        assert!(!p.exited());
        p.kill();
        for _ in 0..100 {
            if !alive(child) && p.exited() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(p.exited(), "the agent is killed");
        assert!(!alive(child), "and what it started goes with it");
    }
}
