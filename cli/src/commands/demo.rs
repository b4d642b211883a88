//! `strato demo`: a short tour on the embedded memory cloud through the same plan/apply code the
//! subcommands use: a network, a group of 3 VMs, a VIP, listings, a VIP move, then cleanup.

use super::Session;
use crate::cli::{GroupScaleArgs, NetworkCreateArgs, OutputFormat, VipAllocateArgs, VipMoveArgs};
use crate::error::{CliError, CliResult};
use crate::output;
use crate::profile::{self, local_profile};
use crate::registry::registry;
use crate::wait::Waiter;
use std::time::{Duration, Instant};
use strato_core::{NetworkQuery, VipQuery, VmQuery};

const NETWORK: &str = "demo-net";
const GROUP: &str = "demo";
const VIP: &str = "demo-vip";

fn step(n: u32, what: &str) {
    output::print(&format!("\n== {n}. {what}"));
}

/// Runs the demo. With `keep`, it runs on the persistent local cloud and leaves everything in
/// place; otherwise on a fresh temporary cloud, cleaned up at the end.
pub async fn run(keep: bool, timeout: Duration) -> CliResult<()> {
    let started = Instant::now();
    let tmp;
    let data_dir = if keep {
        profile::data_dir()?
    } else {
        tmp = tempfile::Builder::new()
            .prefix("strato-demo-")
            .tempdir()
            .map_err(|e| CliError::other(format!("cannot create a temporary directory: {e}")))?;
        tmp.path().to_path_buf()
    };
    let p = local_profile();
    let conn = profile::connect(&registry(), &p, data_dir.clone()).await?;
    let s = Session {
        conn,
        profile: p,
        format: OutputFormat::Table,
        waiter: Waiter::new(true, timeout),
        dry_run: false,
    };
    output::print(&format!(
        "strato demo on the embedded memory cloud (state in {}{})",
        data_dir.display(),
        if keep { ", kept" } else { ", temporary" }
    ));

    step(1, &format!("create network {NETWORK}"));
    let net = NetworkCreateArgs {
        name: NETWORK.into(),
        cidr: Some("10.77.0.0/24".parse().expect("valid CIDR")),
        parent: None,
        tags: vec![],
    };
    s.run(super::network::plan_create(&s.planner(), net).await?)
        .await?;

    step(
        2,
        &format!("scale group {GROUP} to 3 VMs on {NETWORK} and wait"),
    );
    let scale = |size| GroupScaleArgs {
        name: GROUP.into(),
        size,
        vm_size: None,
        image: None,
        network: Some(NETWORK.into()),
    };
    s.run(super::group::plan_scale(&s.planner(), scale(3)).await?)
        .await?;

    step(3, &format!("allocate vip {VIP} on {GROUP}-0"));
    let vip = VipAllocateArgs {
        name: VIP.into(),
        vm: format!("{GROUP}-0"),
        network: None,
        address: None,
        public: false,
    };
    s.run(super::vip::plan_allocate(&s.planner(), vip).await?)
        .await?;

    step(4, "list what the demo owns");
    let r = s.reader();
    output::print(&output::vms_table(&r.vms(&VmQuery::default()).await?));
    output::print(&output::networks_table(
        &r.networks(&NetworkQuery::default()).await?,
        &r.info().owner,
    ));
    output::print(&output::vips_table(&r.vips(&VipQuery::default()).await?));

    step(5, &format!("move vip {VIP} to {GROUP}-1 (a failover)"));
    let mv = VipMoveArgs {
        vip: VIP.into(),
        to: format!("{GROUP}-1"),
    };
    s.run(super::vip::plan_move(&s.planner(), mv).await?)
        .await?;

    if keep {
        output::print(&format!(
            "\nkept: see `strato vm list`; clean up with `strato vip release {VIP}`, \
             `strato group scale {GROUP} --size 0`, `strato network delete {NETWORK}`"
        ));
    } else {
        step(6, "clean up");
        s.run(super::vip::plan_release(&s.planner(), VIP).await?)
            .await?;
        s.run(super::group::plan_scale(&s.planner(), scale(0)).await?)
            .await?;
        s.run(super::network::plan_delete(&s.planner(), NETWORK).await?)
            .await?;
        let left = r.vms(&VmQuery::default()).await?.len()
            + r.vips(&VipQuery::default()).await?.len()
            + r.networks(&NetworkQuery::default()).await?.len();
        output::print(&format!("{left} resource(s) left"));
    }
    output::print(&format!(
        "\ndemo done in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
