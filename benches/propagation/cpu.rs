//! Where the machine's CPU goes: CPU seconds of every process of the testbed
//! (pids from the launcher's `state.json`), of the operator and of the bench,
//! so each phase can report the CPU it cost per federated object, part by part,
//! next to the ceiling's.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The parts CPU time is reported for, in table order.
pub const PARTS: [&str; 6] = [
    "host apiserver",
    "member apiservers",
    "etcd",
    "controller-managers",
    "operator",
    "bench",
];

/// The testbed's processes, each with the part it belongs to.
#[derive(Default)]
pub struct Testbed {
    processes: Vec<(&'static str, u32)>,
}

impl Testbed {
    /// Reads `state.json` next to the testbed's kubeconfig; without it only the
    /// operator and the bench are accounted.
    pub fn load(kubeconfig: &Path) -> Testbed {
        let state = kubeconfig.with_file_name("state.json");
        let Ok(text) = std::fs::read_to_string(&state) else {
            return Testbed::default();
        };
        let Ok(state) = serde_json::from_str::<Value>(&text) else {
            return Testbed::default();
        };
        let processes = state["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let pid = u32::try_from(p["pid"].as_u64()?).ok()?;
                let part = match (p["component"].as_str()?, p["cluster"].as_str()) {
                    ("kube-apiserver", Some("host")) => PARTS[0],
                    ("kube-apiserver", _) => PARTS[1],
                    ("etcd", _) => PARTS[2],
                    ("kube-controller-manager", _) => PARTS[3],
                    _ => return None,
                };
                Some((part, pid))
            })
            .collect();
        Testbed { processes }
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// CPU seconds so far of every part, with the operator's given by the caller
    /// (its process changes across restarts).
    pub fn sample(&self, operator_cpu: f64, clk_tck: f64) -> Sample {
        let mut parts: BTreeMap<&'static str, f64> = PARTS.iter().map(|p| (*p, 0.0)).collect();
        for (part, pid) in &self.processes {
            // A process that is gone counts nothing; the testbed keeps its processes for the whole run.
            *parts.entry(part).or_default() += process_cpu(*pid, clk_tck).unwrap_or(0.0);
        }
        parts.insert(PARTS[4], operator_cpu);
        parts.insert(PARTS[5], process_cpu(std::process::id(), clk_tck).unwrap_or(0.0));
        Sample(parts)
    }
}

/// CPU seconds of each part at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample(BTreeMap<&'static str, f64>);

impl Sample {
    /// The CPU seconds spent since `before`.
    pub fn since(&self, before: &Sample) -> Sample {
        Sample(
            self.0
                .iter()
                .map(|(part, s)| (*part, (s - before.0.get(part).copied().unwrap_or(0.0)).max(0.0)))
                .collect(),
        )
    }

    pub fn total(&self) -> f64 {
        self.0.values().sum()
    }

    /// One table row: milliseconds of CPU per object for every part and in total.
    pub fn row_per_object(&self, objects: usize) -> Vec<String> {
        let per = |s: f64| format!("{:.2}", s * 1e3 / objects.max(1) as f64);
        PARTS
            .iter()
            .map(|p| per(self.0.get(p).copied().unwrap_or(0.0)))
            .chain(std::iter::once(format!("**{}**", per(self.total()))))
            .collect()
    }

    pub fn json(&self) -> Value {
        json!(self.0)
    }
}

/// User plus system CPU seconds of a process (/proc/<pid>/stat).
pub fn process_cpu(pid: u32, clk_tck: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, a)| a)
        .context("malformed /proc/pid/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 3 (state) is the first after the command; utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / clk_tck)
}
