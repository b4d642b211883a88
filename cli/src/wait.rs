//! `--wait`: waiting for VMs and groups with a progress bar on a terminal, plain lines otherwise.
//! Progress goes to stderr so stdout stays the command's result (JSON stays parseable).

use crate::error::CliResult;
use crate::plan::{Outcome, WaitFor};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use strato_core::{CloudConnector, CloudConnectorExt, GroupSpec, VmState, WaitOptions};

/// How long and how visibly to wait.
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    enabled: bool,
    timeout: Duration,
    tty: bool,
}

impl Waiter {
    /// A waiter; `enabled` is `--wait`.
    pub fn new(enabled: bool, timeout: Duration) -> Self {
        Self {
            enabled,
            timeout,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// True with `--wait`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn options(&self) -> WaitOptions {
        WaitOptions {
            timeout: self.timeout,
            ..WaitOptions::default()
        }
    }

    fn spinner(&self, msg: String) -> Option<ProgressBar> {
        if !self.tty {
            eprintln!("{msg}...");
            return None;
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        Some(pb)
    }

    fn done(pb: Option<ProgressBar>, msg: String) {
        match pb {
            Some(pb) => pb.finish_with_message(msg),
            None => eprintln!("{msg}"),
        }
    }

    /// Waits for what a plan named.
    pub async fn wait(&self, conn: &dyn CloudConnector, w: &WaitFor) -> CliResult<Outcome> {
        let started = Instant::now();
        match w {
            WaitFor::Running(id, name) | WaitFor::Stopped(id, name) => {
                let want = match w {
                    WaitFor::Running(..) => VmState::Running,
                    _ => VmState::Stopped,
                };
                let pb = self.spinner(format!("waiting for vm {name} ({id}) to be {want}"));
                let result = if want == VmState::Running {
                    conn.wait_running(id, self.options()).await
                } else {
                    conn.wait_vm(id, self.options(), &|vm| vm.state == VmState::Stopped)
                        .await
                };
                let vm = match result {
                    Ok(vm) => vm,
                    Err(e) => {
                        if let Some(pb) = pb {
                            pb.abandon();
                        }
                        return Err(e.into());
                    }
                };
                Self::done(
                    pb,
                    format!(
                        "vm {name} is {want} ({:.1}s)",
                        started.elapsed().as_secs_f64()
                    ),
                );
                Ok(Outcome::Vm(vm))
            }
            WaitFor::Group(spec, size) => self.scale_group(conn, spec, *size).await,
        }
    }

    /// Scales a group and waits until it has `size` running members, showing how many run.
    pub async fn scale_group(
        &self,
        conn: &dyn CloudConnector,
        spec: &GroupSpec,
        size: u32,
    ) -> CliResult<Outcome> {
        let started = Instant::now();
        let what = format!("group {} to have {size} running member(s)", spec.name);
        let pb = if self.tty {
            let pb = ProgressBar::new(u64::from(size));
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg} {bar:30} {pos}/{len} [{elapsed}]")
                    .expect("valid template"),
            );
            pb.set_message(format!("waiting for {what}"));
            pb.enable_steady_tick(Duration::from_millis(120));
            Some(pb)
        } else {
            eprintln!("waiting for {what}...");
            None
        };
        let fut = conn.scale_group_and_wait(spec, size, self.options());
        tokio::pin!(fut);
        let result = loop {
            tokio::select! {
                r = &mut fut => break r,
                // The bar's count comes from a read now and then; the wait itself is the core's.
                _ = tokio::time::sleep(Duration::from_secs(1)), if pb.is_some() => {
                    if let (Some(pb), Ok(g)) = (&pb, conn.get_group(&spec.name).await) {
                        pb.set_position(g.ready() as u64);
                    }
                }
            }
        };
        match result {
            Ok(g) => {
                let msg = format!(
                    "group {} has {} running member(s) ({:.1}s)",
                    spec.name,
                    g.ready(),
                    started.elapsed().as_secs_f64()
                );
                match pb {
                    Some(pb) => {
                        pb.set_position(g.ready() as u64);
                        pb.finish_with_message(msg);
                    }
                    None => eprintln!("{msg}"),
                }
                Ok(Outcome::Group(g))
            }
            Err(e) => {
                if let Some(pb) = pb {
                    pb.abandon();
                }
                Err(e.into())
            }
        }
    }
}
