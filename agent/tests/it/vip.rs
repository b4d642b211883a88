//! A guest-configured VIP on a real interface: a veth pair made for the test, found by its MAC
//! address as the controller names it.

use crate::common::*;
use std::process::Command;
use strato_agent::DataPlane;
use strato_agent::protocol::InterfaceRef;

/// A veth pair, deleted on drop.
struct Veth(String);

impl Veth {
    fn new() -> Self {
        let name = format!("stva{}", std::process::id() % 100_000);
        let ok = Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name"])
            .arg(format!("{name}p"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "`ip link add {name} type veth` failed: the VIP test needs root and veth"
        );
        for dev in [name.clone(), format!("{name}p")] {
            Command::new("ip")
                .args(["link", "set", &dev, "up"])
                .status()
                .unwrap();
        }
        Self(name)
    }

    fn mac(&self) -> String {
        std::fs::read_to_string(format!("/sys/class/net/{}/address", self.0))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn addresses(&self) -> String {
        let out = Command::new("ip")
            .args(["-o", "addr", "show", "dev", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_vip_is_added_to_the_named_interface_serves_and_is_removed_with_its_service() {
    let veth = Veth::new();
    let (plane, _dir) = plane().await;
    let (a, _ha) = backend("127.0.0.1", "a").await;
    let vip = format!("10.255.{}.1", std::process::id() % 250);
    let port = 18080;
    let mut vs = http_vs("shop", &vip, port, vec![a]);
    vs.configure_vip = true;
    vs.interface = Some(InterfaceRef {
        device_index: 7,
        mac: Some(veth.mac().to_uppercase()),
    });
    plane.apply(&se_config(1, vec![vs])).await.unwrap();
    assert!(
        veth.addresses().contains(&format!("{vip}/32")),
        "{}",
        veth.addresses()
    );
    assert_eq!(get_fresh(&url(&vip, port)).await.unwrap(), "a");

    plane.apply(&se_config(2, vec![])).await.unwrap();
    assert!(!veth.addresses().contains(&vip), "{}", veth.addresses());
}
