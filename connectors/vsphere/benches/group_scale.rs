//! Group scaling with parallel clone/destroy tasks against serial ones, on a simulator with
//! per-call latency (`-delay-ms`, like a vCenter across a WAN). Prints both times and the ratio.
//!
//! Run: `fixtures/vcsim/up DIR && . DIR/env && cargo bench -p strato-vsphere --bench group_scale`
//! (it starts its own simulator from `STRATO_TEST_VCSIM_BIN` with the latency added).

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use strato_core::{CloudConnector, GroupSpec, OwnerId, Size};
use strato_vsphere::{VsphereConfig, VsphereConnector};

const MEMBERS: u32 = 8;
const DELAY_MS: u32 = 10;

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_sim(dir: &std::path::Path) -> (Sim, VsphereConfig) {
    let bin = std::env::var("STRATO_TEST_VCSIM_BIN")
        .expect("STRATO_TEST_VCSIM_BIN is not set: run fixtures/vcsim/up DIR and source DIR/env");
    let url_file = dir.join("url");
    let ca = dir.join("ca.pem");
    let child = Command::new(bin)
        .args(["-listen", "127.0.0.1:0", "-delay-ms", &DELAY_MS.to_string()])
        .arg("-url-out")
        .arg(&url_file)
        .arg("-ca-out")
        .arg(&ca)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start vcsim");
    let sim = Sim(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file)
            && !u.trim().is_empty()
        {
            break u.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "vcsim did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut cfg = VsphereConfig::new(url);
    cfg.user = Some("bench".into());
    cfg.password = Some("bench".into());
    cfg.ca_file = Some(ca);
    (sim, cfg)
}

async fn scale_up_and_down(cfg: &VsphereConfig, parallel: usize) -> (Duration, Duration) {
    let mut cfg = cfg.clone();
    cfg.max_parallel_tasks = parallel;
    let owner = OwnerId::new(format!("bench-p{parallel}")).unwrap();
    let c = VsphereConnector::connect(cfg, owner).await.unwrap();
    let spec = GroupSpec {
        name: "se".into(),
        size: Size::shape(1, 512),
        image: "DC0_H0_VM0".into(),
        network: None,
        tags: Default::default(),
    };
    let t = Instant::now();
    let g = c.scale_group(&spec, MEMBERS).await.unwrap();
    let up = t.elapsed();
    assert_eq!(g.members.len(), MEMBERS as usize);
    let t = Instant::now();
    let g = c.scale_group(&spec, 0).await.unwrap();
    let down = t.elapsed();
    assert!(g.members.is_empty());
    c.logout().await.unwrap();
    (up, down)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` and nextest (which asks for
    // `--list`) must not start simulators and scale groups.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("strato-vsphere-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_sim, cfg) = start_sim(&dir).await;
    let (up1, down1) = scale_up_and_down(&cfg, 1).await;
    let (up4, down4) = scale_up_and_down(&cfg, 4).await;
    println!("group scale 0->{MEMBERS}->0 on vcsim with {DELAY_MS} ms per call");
    println!(
        "  max_parallel_tasks=1: up {:>6.0} ms, down {:>6.0} ms",
        up1.as_secs_f64() * 1e3,
        down1.as_secs_f64() * 1e3
    );
    println!(
        "  max_parallel_tasks=4: up {:>6.0} ms, down {:>6.0} ms",
        up4.as_secs_f64() * 1e3,
        down4.as_secs_f64() * 1e3
    );
    println!(
        "  speed-up (serial / parallel): up {:.2}x, down {:.2}x",
        up1.as_secs_f64() / up4.as_secs_f64(),
        down1.as_secs_f64() / down4.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
