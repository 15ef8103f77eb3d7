//! Phase 8, the backlog: FederatedConfigMaps created while the operator is stopped,
//! then propagated by a freshly started operator.

use crate::api_counts::all_writes;
use crate::metrics::{OpSnapshot, machine_jiffies, per_object, phase_metrics, snapshot};
use crate::objects::{apply_fcm, cm_name, delete_ignoring_absent};
use crate::operator::{self, Operator};
use crate::report::{Report, rate, secs};
use crate::views::{View, Views, expect_all, wait_met, wait_met_traced};
use crate::writers::write_all;
use crate::{Env, progress};
use anyhow::Result;
use kfed_testkit::Metrics;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Env {
    /// Phase 8, the backlog: N FederatedConfigMaps created while the operator is stopped
    /// (after an outage, or when kfed takes over KubeFed's objects), then the operator
    /// starts. The host is idle meanwhile, so this is kfed's own propagation rate,
    /// comparable with the ceiling: both are limited by the members alone.
    pub(crate) async fn backlog(&self, report: &mut Report, views: &Views, operator: Operator) -> Result<Operator> {
        let n = self.args.objects;
        progress(format!(
            "backlog: {n} FederatedConfigMaps created while the operator is stopped"
        ));
        operator.stop_within(Duration::from_secs(30)).await?;
        let api = self.fcm_api();
        let written = write_all(
            "create FederatedConfigMap",
            n,
            self.args.writers,
            None,
            self.deadline(),
            |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "b").await }
            },
        )
        .await?;
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("b"));
        }
        // A fresh process: its counters and CPU start from zero.
        let before = OpSnapshot {
            prom: Metrics::default(),
            writes: all_writes(self).await?,
            cpu: 0.0,
            parts: self.testbed.sample(0.0, self.clk_tck),
            machine: machine_jiffies(),
            at: Instant::now(),
        };
        let mut operator = operator::start(self, "operator-3").await?;
        let deadline = self.deadline();
        let cms: Vec<&View> = views.cms.iter().collect();
        let ready = operator.wait_ready(Duration::from_secs(60)).await?;
        let (done, timeline) = wait_met_traced(&cms, deadline, "backlog member objects").await?;
        let elapsed = done.saturating_duration_since(operator.spawned());
        self.wait_settled(views, &operator, deadline).await?;
        let after = snapshot(self, &operator).await?;
        let metrics = phase_metrics(report, "backlog", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "backlog",
            json!({
                "objects": n, "member_objects": 2 * n, "seconds_from_start": elapsed.as_secs_f64(),
                "ready_seconds": ready.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "ratio_to_ceiling": ratio, "host_create_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "8. backlog (operator started over N new objects)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, **{ratio:.2} × ceiling**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "timed from the operator's start (ready after {}); the host took the {n} creates in {} before; operator CPU {:.1} s; {}",
                secs(ready),
                secs(written.elapsed),
                after.cpu - before.cpu,
                per_object(&report.json.get("backlog").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        progress("backlog: deleting the objects again");
        for view in views.cms.iter() {
            expect_all(view, (0..n).map(cm_name), None);
        }
        expect_all(&views.fcms, (0..n).map(cm_name), None);
        let deadline = self.deadline();
        write_all("delete FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
            let api = api.clone();
            async move { delete_ignoring_absent(&api, &cm_name(i)).await }
        })
        .await?;
        let mut all: Vec<&View> = views.cms.iter().collect();
        all.push(&views.fcms);
        wait_met(&all, deadline, "backlog objects to be deleted").await?;
        operator.check_alive()?;
        Ok(operator)
    }
}
