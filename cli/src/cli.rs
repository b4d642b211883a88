//! The command line, as clap derive types. Parsing only: no I/O happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use strato_core::{Size, VmState};

/// strato: VMs, networks, VIPs and groups on any cloud, through one connector interface.
#[derive(Debug, Parser)]
#[command(name = "strato", version, about, propagate_version = true)]
pub struct Cli {
    /// Profile (cloud) to use; the config's default_profile, else the embedded memory cloud "local".
    #[arg(long, global = true, env = "STRATO_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Configuration file (default: $STRATO_CONFIG, else config.toml in the user's config dir).
    #[arg(long, global = true, env = "STRATO_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Wait until what was created, started or scaled is running.
    #[arg(long, global = true)]
    pub wait: bool,

    /// How long --wait waits (e.g. 90s, 10m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print what would change and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// The serde form of strato's model types, stable for scripts.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// VMs.
    #[command(subcommand)]
    Vm(VmCommand),
    /// Networks and the NICs joining VMs to them.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Virtual IPs.
    #[command(subcommand)]
    Vip(VipCommand),
    /// Groups of identical VMs.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Profiles of the configuration.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Runs a short tour on the embedded memory cloud: a network, a group of 3 VMs and a VIP.
    Demo(DemoArgs),
    /// The balancer controller: `run` it, or talk to a running one (`status`, `vs`,
    /// `se-group`, `pool`), or run its autoscaling `demo` on the memory cloud.
    Controller(strato_controller::cli::ControllerArgs),
    /// Autoscaling: `eval` replays a load trace under each policy and scores them.
    #[command(subcommand)]
    Autoscale(AutoscaleCommand),
}

/// `strato autoscale ...`
#[derive(Debug, Subcommand)]
pub enum AutoscaleCommand {
    /// Replays a `timestamp,value` CSV under the predictive, reactive, seasonal-naive, static
    /// and oracle policies; prints SE-hours against the oracle, under-provisioned time, unserved
    /// load, capacity before each daily ramp and scaling actions per day; writes a plot.
    Eval(strato_controller::eval::EvalOptions),
}

/// `strato vm ...`
#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// Creates a VM (idempotent: the same request twice gives the same VM).
    Create(VmCreateArgs),
    /// Lists the profile owner's VMs.
    List(VmListArgs),
    /// Shows one VM.
    Get(VmRef),
    /// Deletes a VM.
    Delete(VmRef),
    /// Starts a stopped VM.
    Start(VmRef),
    /// Stops a running VM.
    Stop(VmRef),
}

/// A VM named by name or id.
#[derive(Debug, Args)]
pub struct VmRef {
    /// VM name or id.
    pub vm: String,
}

/// `strato vm create`
#[derive(Debug, Args)]
pub struct VmCreateArgs {
    /// Name (a-z, 0-9 and '-', starting with a letter).
    pub name: String,
    /// Size: VCPUSxMEMORY (2x4g, 1x512m) or a cloud type (t3.micro); default from the profile.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<Size>,
    /// Image; default from the profile.
    #[arg(long)]
    pub image: Option<String>,
    /// Network of the primary NIC (name or id); default from the profile.
    #[arg(long)]
    pub network: Option<String>,
    /// User tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Pin it to this host (a Kubernetes node, an ESXi host id); clouds without hosts refuse.
    #[arg(long)]
    pub host: Option<String>,
}

/// `strato vm list`
#[derive(Debug, Args)]
pub struct VmListArgs {
    /// Only members of this group.
    #[arg(long)]
    pub group: Option<String>,
    /// Only VMs in this state (pending, running, stopped, ...).
    #[arg(long, value_parser = parse_state)]
    pub state: Option<VmState>,
}

/// `strato network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Creates a network.
    Create(NetworkCreateArgs),
    /// Lists networks.
    List(NetworkListArgs),
    /// Deletes a network strato created.
    Delete(NetworkRef),
    /// Attaches a VM to a network with a new NIC.
    Attach(AttachArgs),
    /// Detaches a VM from a network (removes the NIC strato attached).
    Detach(DetachArgs),
}

/// A network named by name or id.
#[derive(Debug, Args)]
pub struct NetworkRef {
    /// Network name or id.
    pub network: String,
}

/// `strato network create`
#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Name.
    pub name: String,
    /// Address range (required by some clouds, e.g. AWS).
    #[arg(long)]
    pub cidr: Option<IpNet>,
    /// Where the network lives: VPC id, switch, namespace (the connector's default when absent).
    #[arg(long)]
    pub parent: Option<String>,
    /// User tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
}

/// `strato network list`
#[derive(Debug, Args)]
pub struct NetworkListArgs {
    /// Also list networks strato did not create (usable, never deleted).
    #[arg(long)]
    pub all: bool,
}

/// `strato network attach VM NETWORK`
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// VM name or id.
    pub vm: String,
    /// Network name or id.
    pub network: String,
    /// A fixed address on that network, where the cloud allows one.
    #[arg(long)]
    pub address: Option<IpAddr>,
}

/// `strato network detach VM NETWORK|NIC`
#[derive(Debug, Args)]
pub struct DetachArgs {
    /// VM name or id.
    pub vm: String,
    /// Network (name or id) of the NIC, or the NIC id.
    pub network: String,
}

/// `strato vip ...`
#[derive(Debug, Subcommand)]
pub enum VipCommand {
    /// Allocates a VIP and binds it to a VM.
    Allocate(VipAllocateArgs),
    /// Lists VIPs.
    List(VipListArgs),
    /// Moves a VIP to another VM.
    Move(VipMoveArgs),
    /// Releases a VIP.
    Release(VipRef),
}

/// A VIP named by name or id.
#[derive(Debug, Args)]
pub struct VipRef {
    /// VIP name or id.
    pub vip: String,
}

/// `strato vip allocate`
#[derive(Debug, Args)]
pub struct VipAllocateArgs {
    /// Name.
    pub name: String,
    /// VM to bind it to (name or id).
    #[arg(long)]
    pub vm: String,
    /// Network of the NIC to put it on (name or id); the VM's primary network when absent.
    #[arg(long)]
    pub network: Option<String>,
    /// A fixed address; the cloud picks one when absent.
    #[arg(long)]
    pub address: Option<IpAddr>,
    /// Also give it a public address.
    #[arg(long)]
    pub public: bool,
}

/// `strato vip list`
#[derive(Debug, Args)]
pub struct VipListArgs {
    /// Only VIPs bound to this VM (name or id).
    #[arg(long)]
    pub vm: Option<String>,
}

/// `strato vip move`
#[derive(Debug, Args)]
pub struct VipMoveArgs {
    /// VIP name or id.
    pub vip: String,
    /// The VM to move it to (name or id).
    #[arg(long)]
    pub to: String,
}

/// `strato group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Makes a group have exactly N members.
    Scale(GroupScaleArgs),
    /// Shows a group and its members.
    Show(GroupRef),
}

/// A group by name.
#[derive(Debug, Args)]
pub struct GroupRef {
    /// Group name.
    pub name: String,
}

/// The most members `strato group scale` makes a group have.
pub const MAX_GROUP_SIZE: u32 = 1000;

/// `strato group scale NAME --size N`
#[derive(Debug, Args)]
pub struct GroupScaleArgs {
    /// Group name (members are NAME-0, NAME-1, ...).
    pub name: String,
    /// Number of members wanted (at most 1000: a typo must not become a fleet).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_GROUP_SIZE)))]
    pub size: u32,
    /// Member size; default: the existing members', else the profile's.
    #[arg(long, value_parser = parse_size)]
    pub vm_size: Option<Size>,
    /// Member image; default: the existing members', else the profile's.
    #[arg(long)]
    pub image: Option<String>,
    /// Member network (name or id); default: the existing members', else the profile's.
    #[arg(long)]
    pub network: Option<String>,
}

/// `strato profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Lists the profiles of the configuration (never their credentials).
    List,
}

/// `strato demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run on the persistent local memory cloud and leave everything in place (inspect it with
    /// `strato vm list`), instead of a temporary cloud that is cleaned up.
    #[arg(long)]
    pub keep: bool,
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse::<Size>().map_err(|e| e.message().to_owned())
}

fn parse_state(s: &str) -> Result<VmState, String> {
    s.parse::<VmState>().map_err(|e| e.message().to_owned())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 90s or 10m: {e}"))
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("tag {s:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_group_size_above_the_limit_is_refused_naming_the_flag() {
        let scale = |n: &str| Cli::try_parse_from(["strato", "group", "scale", "web", "--size", n]);
        assert!(scale("1000").is_ok());
        assert!(scale("0").is_ok());
        let e = scale("1001").unwrap_err().to_string();
        assert!(e.contains("--size") && e.contains("1000"), "{e}");
    }
}
