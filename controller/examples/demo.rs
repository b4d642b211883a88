//! Runs the autoscaling demo: `cargo run -p strato-controller --example demo -- [OUT_DIR]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "strato-demo".into());
    let opts = strato_controller::demo::DemoOptions {
        out: out.into(),
        ..Default::default()
    };
    strato_controller::demo::demo(opts).await?;
    Ok(())
}
