//! Adding and removing a VIP on one of the SE's interfaces (`ip addr add|del VIP/32 dev
//! IFACE`), for clouds whose VIPs the guest configures. Loopback VIPs need nothing: all of
//! 127/8 (and ::1) is already local.

use crate::protocol::InterfaceRef;
use std::net::IpAddr;
use std::path::Path;
use tokio::process::Command;

/// True when the address needs no configuration to be bound.
pub fn is_local_already(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// The interface name `r` designates: by MAC address when given, else by device index (the
/// nth interface other than `lo`, by kernel index), with `default` for the primary one.
pub fn resolve(r: Option<&InterfaceRef>, default: Option<&str>) -> Result<String, String> {
    let Some(r) = r else {
        return default
            .map(str::to_owned)
            .ok_or_else(|| "no interface named for the VIP and no --vip-interface".to_string());
    };
    let mut ifaces: Vec<(u32, String, String)> = Vec::new();
    let dir = Path::new("/sys/class/net");
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let name = e
            .map_err(|e| e.to_string())?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name == "lo" {
            continue;
        }
        let read = |f: &str| std::fs::read_to_string(dir.join(&name).join(f)).unwrap_or_default();
        let index = read("ifindex").trim().parse().unwrap_or(u32::MAX);
        let mac = read("address").trim().to_ascii_lowercase();
        ifaces.push((index, name, mac));
    }
    if let Some(mac) = &r.mac {
        let mac = mac.to_ascii_lowercase();
        return ifaces
            .into_iter()
            .find(|(_, _, a)| *a == mac)
            .map(|(_, n, _)| n)
            .ok_or_else(|| format!("no interface has MAC {mac}"));
    }
    if let (0, Some(d)) = (r.device_index, default) {
        return Ok(d.to_owned());
    }
    ifaces.sort();
    ifaces
        .into_iter()
        .nth(r.device_index as usize)
        .map(|(_, n, _)| n)
        .ok_or_else(|| format!("no interface of device index {}", r.device_index))
}

fn prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

async fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Adds `vip` to `dev` (already there is fine).
pub async fn add(vip: IpAddr, dev: &str) -> Result<(), String> {
    match ip(&["addr", "add", &prefix(vip), "dev", dev]).await {
        Err(e) if e.contains("File exists") => Ok(()),
        r => r,
    }
}

/// Removes `vip` from `dev` (already gone is fine).
pub async fn remove(vip: IpAddr, dev: &str) -> Result<(), String> {
    match ip(&["addr", "del", &prefix(vip), "dev", dev]).await {
        Err(e) if e.contains("Cannot assign") => Ok(()),
        r => r,
    }
}
