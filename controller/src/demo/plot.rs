//! The demo's plot: the last day's load and the serving capacity of each run, drawn with
//! plotters' SVG backend.

use crate::eval::Tick;
use anyhow::anyhow;
use plotters::prelude::*;
use std::path::Path;

/// Writes the plot of the last day to `path`.
pub fn write(
    path: &Path,
    predictive: &[Tick],
    reactive: &[Tick],
    rps_per_se: f64,
) -> anyhow::Result<()> {
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("{e}");
    let top = predictive
        .iter()
        .zip(reactive)
        .map(|(p, r)| {
            p.load
                .unwrap_or(0.0)
                .max(f64::from(p.ready.max(r.ready)) * rps_per_se)
        })
        .fold(1.0, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "strato controller demo: NASA-HTTP 1995-07-12 after 7 days learned: load vs serving capacity",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..24.0, 0.0..top)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("hour of the day")
        .y_desc("rps")
        .draw()
        .map_err(e)?;
    let hour = |t: &Tick| t.t as f64 / 3600.0;
    chart
        .draw_series(LineSeries::new(
            predictive.iter().filter_map(|t| Some((hour(t), t.load?))),
            BLUE.stroke_width(1),
        ))
        .map_err(e)?
        .label("offered load")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE));
    for (name, ticks, colour) in [
        ("predictive: serving capacity", predictive, RED),
        (
            "reactive: serving capacity",
            reactive,
            RGBColor(255, 127, 14),
        ),
    ] {
        chart
            .draw_series(LineSeries::new(
                ticks
                    .iter()
                    .map(|t| (hour(t), f64::from(t.ready) * rps_per_se)),
                colour.stroke_width(2),
            ))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
