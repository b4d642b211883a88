//! The demo replays the bundled trace and scales out and back in.

use strato_controller::demo::{DemoOptions, demo};

#[tokio::test]
async fn demo_scales_out_for_the_flash_crowd_and_back_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = demo(DemoOptions {
        out: dir.path().to_path_buf(),
        quiet: true,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(s.minutes, 720);
    assert!(s.max_ses >= 5, "the flash crowd needs several SEs: {s:?}");
    assert!(s.final_ses < s.max_ses, "scaled back in: {s:?}");
    assert!(s.scale_outs > 0 && s.scale_ins > 0, "{s:?}");
    assert_eq!(s.leaked_vms, 0);
    let csv = std::fs::read_to_string(&s.csv).unwrap();
    assert_eq!(csv.lines().count(), 721);
    assert!(std::fs::read_to_string(&s.svg).unwrap().starts_with("<svg"));
    assert!(s.summary.exists());
}
