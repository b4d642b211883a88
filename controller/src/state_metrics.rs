//! Gauges rendered from the controller's state when `/metrics` is scraped: per-service load
//! and capacity, and SEs by health. Computing them at scrape time costs nothing per pass
//! (a pass over 10,000 services would otherwise set 40,000 gauges) and never shows a gauge
//! of a deleted service.

use crate::controller::{Controller, SeHealth, ServerState};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Prometheus text for the state gauges.
pub fn render(ctl: &Controller) -> String {
    let status = ctl.status();
    let capacity: BTreeMap<String, f64> = ctl
        .desired()
        .se_groups
        .into_iter()
        .map(|g| (g.name, g.capacity.rps))
        .collect();
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let vs_labels = |v: &crate::controller::VsStatus| {
        format!(
            "vs=\"{}\",se_group=\"{}\"",
            escape(&v.name),
            escape(&v.se_group)
        )
    };
    family(
        "strato_controller_vs_load_rps",
        "Requests per second a virtual service receives, summed over its SEs (absent while unknown).",
        status
            .virtual_services
            .iter()
            .filter_map(|v| Some((vs_labels(v), v.load?.rps)))
            .collect(),
    );
    family(
        "strato_controller_vs_forecast_rps",
        "Requests per second a virtual service is forecast to peak at over the lead time (predictive autoscaling; absent while it learns).",
        status
            .virtual_services
            .iter()
            .filter_map(|v| Some((vs_labels(v), v.forecast.as_ref()?.forecast_load?)))
            .collect(),
    );
    family(
        "strato_controller_vs_span_ses",
        "SEs a virtual service's span wants, by the path that set it (reactive, forecast, window).",
        status
            .virtual_services
            .iter()
            .filter_map(|v| {
                let c = v.forecast.as_ref()?;
                let driver = serde_json::to_value(c.driver).ok()?;
                Some((
                    format!("{},driver=\"{}\"", vs_labels(v), driver.as_str()?),
                    f64::from(c.desired),
                ))
            })
            .collect(),
    );
    family(
        "strato_controller_vs_capacity_rps",
        "Requests per second the SEs carrying a virtual service can serve.",
        status
            .virtual_services
            .iter()
            .filter_map(|v| {
                let per_se = capacity.get(&v.se_group)?;
                Some((vs_labels(v), per_se * v.placement.len() as f64))
            })
            .collect(),
    );
    family(
        "strato_controller_vs_ses",
        "SEs carrying a virtual service.",
        status
            .virtual_services
            .iter()
            .map(|v| (vs_labels(v), v.placement.len() as f64))
            .collect(),
    );
    family(
        "strato_controller_vs_ses_desired",
        "SEs a virtual service should span, from its own load.",
        status
            .virtual_services
            .iter()
            .filter_map(|v| Some((vs_labels(v), f64::from(v.desired_ses?))))
            .collect(),
    );
    let mut servers = Vec::new();
    for v in &status.virtual_services {
        for (state, health) in [
            ("up", ServerState::Up),
            ("down", ServerState::Down),
            ("mixed", ServerState::Mixed),
            ("unknown", ServerState::Unknown),
        ] {
            let n = v.servers.iter().filter(|s| s.health == health).count();
            servers.push((format!("{},state=\"{state}\"", vs_labels(v)), n as f64));
        }
    }
    family(
        "strato_controller_vs_servers",
        "Backend servers of a virtual service by what its SEs' health checks say (up, down, mixed: the SEs disagree, unknown: no fresh report).",
        servers,
    );
    let mut by_state = Vec::new();
    for g in &status.groups {
        for (state, health) in [
            ("creating", SeHealth::Creating),
            ("booting", SeHealth::Booting),
            ("healthy", SeHealth::Healthy),
            ("unhealthy", SeHealth::Unhealthy),
            ("unreachable", SeHealth::Unreachable),
        ] {
            let n = g.ses.iter().filter(|s| s.health == health).count();
            by_state.push((
                format!("se_group=\"{}\",state=\"{state}\"", escape(&g.name)),
                n as f64,
            ));
        }
    }
    family(
        "strato_controller_ses_by_state",
        "SEs of a group by health.",
        by_state,
    );
    let name = "strato_controller_quarantined_records";
    let _ = writeln!(
        out,
        "# HELP {name} Stored records that no longer decode, moved aside to quarantine/ (see the status).\n# TYPE {name} gauge\n{name} {}",
        status.quarantined.len()
    );
    out
}

/// Escapes a label value (backslash, quote, newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
