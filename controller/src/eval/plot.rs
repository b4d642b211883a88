//! The evaluation's plot: load (in SEs' worth) and each policy's serving SEs over the last
//! week of the trace, drawn with plotters' SVG backend.

use super::Report;
use anyhow::anyhow;
use plotters::prelude::*;
use std::path::Path;

const COLOURS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// Writes the plot of `r` to `path`.
pub fn write(path: &Path, r: &Report, title: &str) -> anyhow::Result<()> {
    let Some(first) = r.results.first() else {
        return Ok(());
    };
    let n = first.ticks.len();
    let week = (7 * 86_400 / r.tick_secs) as usize;
    let from = n.saturating_sub(week);
    // At most ~2000 points a series: each keeps the highest of its slice, so peaks show.
    let stride = ((n - from) / 2000).max(1);
    let hours = |i: usize| (i - from) as f64 * r.tick_secs as f64 / 3600.0;
    let top = f64::from(r.peak_ses) * 1.1;
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..hours(n.max(from + 1)), 0.0..top)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .y_desc("SEs")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let load: Vec<(f64, f64)> = (from..n)
        .step_by(stride)
        .filter_map(|i| {
            let hi = first.ticks[i..(i + stride).min(n)]
                .iter()
                .filter_map(|t| t.load)
                .reduce(f64::max)?;
            Some((hours(i), hi / r.per_se))
        })
        .collect();
    chart
        .draw_series(LineSeries::new(load, BLUE.stroke_width(1)))
        .map_err(|e| anyhow!("{e}"))?
        .label("load (SEs needed)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE));
    for (p, colour) in r.results.iter().zip(COLOURS) {
        let pts: Vec<(f64, f64)> = (from..n)
            .step_by(stride)
            .map(|i| {
                let lo = p.ticks[i..(i + stride).min(n)]
                    .iter()
                    .map(|t| t.ready)
                    .min();
                (hours(i), f64::from(lo.unwrap_or(0)))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(1)))
            .map_err(|e| anyhow!("{e}"))?
            .label(p.policy)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
