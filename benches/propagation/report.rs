//! The report: measurements, per-phase tables and correctness checks, written as
//! results.md and results.json; and how durations and rates are shown.

use crate::{cpu, progress};
use anyhow::Result;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) json: serde_json::Map<String, Value>,
    /// measurement, result, notes
    rows: Vec<(String, String, String)>,
    /// Operator metrics per phase: phase, member creates, updates, deletes, skips, errors, reconciles, host writes
    pub(crate) metric_rows: Vec<Vec<String>>,
    /// CPU milliseconds per federated object: phase, one column per part, total
    pub(crate) cpu_rows: Vec<Vec<String>>,
    /// name, passed, detail
    pub(crate) checks: Vec<(String, bool, String)>,
    pub(crate) failures: Vec<String>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_string(), value);
    }

    pub(crate) fn row(&mut self, what: &str, result: String, notes: String) {
        progress(format!("RESULT {what}: {result} {notes}"));
        self.rows.push((what.to_string(), result, notes));
    }

    pub(crate) fn check(&mut self, name: &str, passed: bool, detail: String) {
        progress(format!(
            "CHECK {name}: {} ({detail})",
            if passed { "PASS" } else { "FAIL" }
        ));
        self.checks.push((name.to_string(), passed, detail));
    }

    pub(crate) fn markdown(&self, machine: &[(String, String)]) -> String {
        let mut md = String::from("# kfed propagation benchmark\n\n");
        md.push_str("Produced by `make bench` (`bench/run.sh`, `benches/propagation/main.rs`).\n\n");
        md.push_str("| setting | value |\n|---|---|\n");
        for (k, v) in machine {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str("\n| measurement | result | notes |\n|---|---|---|\n");
        for (what, result, notes) in &self.rows {
            md.push_str(&format!("| {what} | {result} | {notes} |\n"));
        }
        if !self.metric_rows.is_empty() {
            md.push_str("\nOperator metrics per phase (deltas of `kfed_*` counters; API-server writes from `apiserver_request_total`):\n\n");
            md.push_str("| phase | member creates | member updates | member deletes | skipped | member op errors | reconciles (errors) | mean reconcile | kfed host writes (status/finalizer/event) | API writes host / member1 / member2 | machine CPU busy |\n");
            md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|\n");
            for r in &self.metric_rows {
                md.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        if !self.cpu_rows.is_empty() {
            md.push_str("\nCPU per federated object in ms, by process (from /proc; the ceiling's object is its 2 member objects), which shows what bounds the ratio to the ceiling on a machine all of them share:\n\n");
            md.push_str(&format!("| phase | {} | total |\n", cpu::PARTS.join(" | ")));
            md.push_str(&format!("|---|{}---:|\n", "---:|".repeat(cpu::PARTS.len())));
            for r in &self.cpu_rows {
                md.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        md.push_str("\n| correctness check | result | detail |\n|---|---|---|\n");
        for (name, passed, detail) in &self.checks {
            md.push_str(&format!(
                "| {name} | {} | {detail} |\n",
                if *passed { "PASS" } else { "**FAIL**" }
            ));
        }
        if !self.failures.is_empty() {
            md.push_str("\n## Failures\n\n");
            for f in &self.failures {
                md.push_str(&format!("- {}\n", f.replace('\n', " ")));
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for n in &self.notes {
                md.push_str(&format!("- {n}\n"));
            }
        }
        md
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn rate(objects: usize, d: Duration) -> f64 {
    objects as f64 / d.as_secs_f64().max(1e-9)
}

pub(crate) fn write_results(out_dir: &Path, report: &Report, machine: &[(String, String)]) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("results.md"), report.markdown(machine))?;
    let json = serde_json::to_string_pretty(&Value::Object(report.json.clone()))?;
    std::fs::write(out_dir.join("results.json"), json + "\n")?;
    Ok(())
}
