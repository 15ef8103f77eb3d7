//! Per-phase figures: the counters of the operator, the API servers and the CPU at
//! one moment, and a phase's table rows and JSON from two such moments.

use crate::api_counts::{Writes, all_writes};
use crate::operator::Operator;
use crate::report::Report;
use crate::{Env, cpu};
use anyhow::Result;
use kfed_testkit::Metrics;
use serde_json::{Value, json};
use std::time::Instant;

/// Counters of the operator at one moment, for per-phase deltas.
pub(crate) struct OpSnapshot {
    pub(crate) prom: Metrics,
    pub(crate) writes: Writes,
    pub(crate) cpu: f64,
    /// CPU seconds of every part of the testbed, the operator and the bench.
    pub(crate) parts: cpu::Sample,
    /// Busy and total jiffies of the whole machine (/proc/stat).
    pub(crate) machine: (u64, u64),
    pub(crate) at: Instant,
}

/// Busy and total jiffies of all CPUs since boot.
pub(crate) fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Share of the machine's CPU time that was busy between two readings.
pub(crate) fn busy_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total as f64
}

pub(crate) async fn snapshot(env: &Env, operator: &Operator) -> Result<OpSnapshot> {
    let (prom, writes) = tokio::try_join!(operator.metrics(), all_writes(env))?;
    let cpu = cpu::process_cpu(operator.pid(), env.clk_tck)?;
    Ok(OpSnapshot {
        prom,
        writes,
        cpu,
        parts: env.testbed.sample(cpu, env.clk_tck),
        machine: machine_jiffies(),
        at: Instant::now(),
    })
}

/// "API writes per object: host 5.8, members 2.0" from a phase's metrics.
pub(crate) fn per_object(metrics: &Value, objects: usize) -> String {
    let get = |k: &str| metrics[k].as_f64().unwrap_or(0.0) / objects.max(1) as f64;
    format!(
        "API writes per federated object: host {:.1} (incl. the bench's own), members {:.1}",
        get("api_writes_host"),
        get("api_writes_member1") + get("api_writes_member2")
    )
}

/// The phase's row of the metrics table and of the CPU table (per federated
/// object, when `objects` is not 0), and its figures for the JSON.
pub(crate) fn phase_metrics(
    report: &mut Report,
    phase: &str,
    objects: usize,
    before: &OpSnapshot,
    after: &OpSnapshot,
) -> Value {
    let d = |name: &str, labels: &[(&str, &str)]| after.prom.sum(name, labels) - before.prom.sum(name, labels);
    let ops = "kfed_member_operations_total";
    let creates = d(ops, &[("operation", "create"), ("result", "success")]);
    let updates = d(ops, &[("operation", "update"), ("result", "success")]);
    let deletes = d(ops, &[("operation", "delete"), ("result", "success")]);
    let op_errors = d(ops, &[("result", "error")]);
    let skipped = d("kfed_member_writes_skipped_total", &[]);
    let reconciles = d("kfed_reconciles_total", &[]);
    let reconcile_errors = d("kfed_reconciles_total", &[("result", "error")]);
    let hw = "kfed_host_writes_total";
    let (status, finalizer, event) = (
        d(hw, &[("type", "status")]),
        d(hw, &[("type", "finalizer")]),
        d(hw, &[("type", "event")]),
    );
    let writes = after.writes.since(&before.writes);
    let api = writes.totals();
    let reconcile_seconds = d("kfed_reconcile_duration_seconds_sum", &[]);
    let mean_reconcile_ms = if reconciles > 0.0 {
        reconcile_seconds / reconciles * 1e3
    } else {
        0.0
    };
    let cpu = after.cpu - before.cpu;
    let wall = after.at.duration_since(before.at);
    let busy = busy_share(before.machine, after.machine);
    let parts = after.parts.since(&before.parts);
    if objects > 0 {
        report.cpu_rows.push(cpu_row(phase, objects, &parts));
    }
    report.metric_rows.push(vec![
        phase.to_string(),
        format!("{creates}"),
        format!("{updates}"),
        format!("{deletes}"),
        format!("{skipped}"),
        format!("{op_errors}"),
        format!("{reconciles} ({reconcile_errors})"),
        format!("{mean_reconcile_ms:.0} ms"),
        format!("{status} / {finalizer} / {event}"),
        format!("{} / {} / {}", api[0], api[1], api[2]),
        format!("{:.0} %", busy * 100.0),
    ]);
    json!({
        "member_creates": creates, "member_updates": updates, "member_deletes": deletes,
        "member_op_errors": op_errors, "member_writes_skipped": skipped,
        "reconciles": reconciles, "reconcile_errors": reconcile_errors,
        "host_writes_status": status, "host_writes_finalizer": finalizer, "host_writes_event": event,
        "api_writes_host": api[0], "api_writes_member1": api[1], "api_writes_member2": api[2],
        "api_writes_by_resource": writes.json(), "mean_reconcile_ms": mean_reconcile_ms,
        "operator_cpu_seconds": cpu, "wall_seconds": wall.as_secs_f64(), "machine_cpu_busy": busy,
        "cpu_seconds_by_part": parts.json(),
    })
}

pub(crate) fn cpu_row(phase: &str, objects: usize, parts: &cpu::Sample) -> Vec<String> {
    let mut row = vec![phase.to_string()];
    row.extend(parts.row_per_object(objects));
    row
}
