//! `strato`: the command line of the strato multi-cloud connector framework.
//!
//! Every command that changes the cloud is split in two: a plan computed from reads only (what
//! `--dry-run` prints) and an apply step, the only code making mutating connector calls.

#![deny(missing_docs)]

mod cli;
mod commands;
mod error;
mod output;
mod plan;
mod profile;
mod reader;
mod registry;
mod wait;

use clap::Parser;
use clap::error::ErrorKind as ClapErrorKind;
use cli::{Cli, Command};
use commands::Session;
use error::{CliError, CliResult, EXIT_INPUT};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // A panic is a bug; still, the user gets one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "strato: error: internal error{at}: {} (please report it)",
            msg.replace('\n', " ")
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    init_tracing();
    registry::install_crypto_provider();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(CliError::other(format!("cannot start the runtime: {e}"))),
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: CliError) -> ExitCode {
    eprintln!("strato: error: {}", e.message());
    ExitCode::from(e.code)
}

/// Help and version go to stdout as clap prints them; every other parse error becomes one line.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ClapErrorKind::DisplayHelp
            | ClapErrorKind::DisplayVersion
            | ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(EXIT_INPUT)
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid command line");
    let line = line.strip_prefix("error: ").unwrap_or(line);
    fail(CliError::input(format!("{line} (see strato --help)")))
}

/// `RUST_LOG`-controlled logs on stderr, warnings only by default.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> CliResult<()> {
    let waiter = wait::Waiter::new(cli.wait, cli.timeout);
    let registry = registry::registry();
    if let Command::Demo(a) = &cli.command {
        if cli.dry_run {
            return Err(CliError::input(
                "--dry-run: the demo only changes a temporary cloud of its own; run it without --dry-run",
            ));
        }
        return commands::demo::run(a.keep, cli.timeout).await;
    }
    let cli = match cli.command {
        Command::Autoscale(cli::AutoscaleCommand::Eval(opts)) => {
            // Pure computation over a file: no cloud, no profile.
            let (_, text) = strato_controller::eval::run(&opts)
                .map_err(|e| CliError::input(format!("{e:#}").replace('\n', " ")))?;
            print!("{text}");
            return Ok(());
        }
        Command::Controller(args) => {
            if cli.dry_run {
                return Err(CliError::input(
                    "--dry-run: controller commands have no dry run; the controller plans from reads before every change",
                ));
            }
            return strato_controller::cli::execute(args, &registry)
                .await
                .map_err(|e| CliError::other(format!("{e:#}").replace('\n', " ")));
        }
        command => Cli { command, ..cli },
    };
    let profiles = profile::Profiles::load(cli.config.as_deref())?;
    if let Command::Profile(cli::ProfileCommand::List) = &cli.command {
        return commands::profile::run(&profiles, &registry, cli.output);
    }
    let p = profiles.get(cli.profile.as_deref())?.clone();
    let conn = profile::connect(&registry, &p, profile::data_dir()?).await?;
    tracing::debug!(profile = %p.name, kind = %p.kind, owner = %p.owner, "connected");
    let s = Session {
        conn,
        profile: p,
        format: cli.output,
        waiter,
        dry_run: cli.dry_run,
    };
    let result = match cli.command {
        Command::Vm(c) => commands::vm::run(&s, c).await,
        Command::Network(c) => commands::network::run(&s, c).await,
        Command::Vip(c) => commands::vip::run(&s, c).await,
        Command::Group(c) => commands::group::run(&s, c).await,
        Command::Profile(_) | Command::Demo(_) | Command::Controller(_) | Command::Autoscale(_) => {
            unreachable!("handled above")
        }
    };
    // One command, one session: end it rather than leave it to time out (vCenter counts them).
    if let Err(e) = s.conn.close().await {
        tracing::warn!(error = %e, "closing the cloud session failed");
    }
    result
}
