//! Phases 5 and 6, in which a converged operator must write nothing: the steady
//! state and the restart.

use crate::api_counts::{all_writes, member_gets};
use crate::metrics::{phase_metrics, snapshot};
use crate::operator::{self, Operator};
use crate::report::{Report, secs};
use crate::views::Views;
use crate::{Env, cpu, progress};
use anyhow::Result;
use serde_json::json;
use std::time::Duration;

impl Env {
    /// 5. A converged federation writes nothing.
    pub(crate) async fn steady_state(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let window = Duration::from_secs(self.args.steady_seconds);
        self.wait_settled(views, operator, self.deadline()).await?;
        progress(format!("steady state: counting writes for {}", secs(window)));
        let before = snapshot(self, operator).await?;
        tokio::time::sleep(window).await;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "steady state", 0, &before, &after);
        let delta = after.writes.since(&before.writes);
        let writes = delta.totals();
        let cpu = after.cpu - before.cpu;
        let total: u64 = writes.iter().sum();
        report.set(
            "steady_state",
            json!({
                "seconds": window.as_secs_f64(), "writes_host": writes[0], "writes_member1": writes[1],
                "writes_member2": writes[2], "writes_by_resource": delta.json(), "operator_cpu_seconds": cpu,
                "metrics": metrics,
            }),
        );
        report.row(
            &format!("5. steady state ({})", secs(window)),
            format!(
                "**{total} writes** (host {}, member1 {}, member2 {}); operator CPU **{cpu:.2} s**",
                writes[0], writes[1], writes[2]
            ),
            format!(
                "{} FederatedConfigMaps + {} FederatedDeployments converged",
                self.args.objects, self.args.deployments
            ),
        );
        report.check(
            "steady state: zero writes",
            total == 0,
            if total == 0 {
                "host 0, member1 0, member2 0".into()
            } else {
                delta.describe()
            },
        );
        Ok(())
    }

    /// 6. Restart: SIGTERM, start again, ready, and no writes.
    pub(crate) async fn restart(&self, report: &mut Report, operator: Operator) -> Result<Operator> {
        progress("restart: SIGTERM to the operator");
        let shutdown = operator.stop_within(Duration::from_secs(30)).await?;
        let before = all_writes(self).await?;
        let gets_before = member_gets(self).await?;
        let mut operator = operator::start(self, "operator-2").await?;
        let ready = operator.wait_ready(Duration::from_secs(120)).await?;
        progress(format!("  ready after {}", secs(ready)));
        // Every object is reconciled once after the start (and found in sync).
        let objects = (self.args.objects + self.args.deployments + 1) as f64;
        let window = Duration::from_secs(self.args.restart_seconds);
        let mut verified = None;
        while operator.spawned().elapsed() < window {
            operator.check_alive()?;
            if verified.is_none() {
                let m = operator.metrics().await?;
                if m.sum("kfed_reconciles_total", &[]) >= objects && m.sum("kfed_reconciles_in_flight", &[]) == 0.0 {
                    verified = Some(operator.spawned().elapsed());
                    progress(format!(
                        "  every object reconciled after {}",
                        secs(operator.spawned().elapsed())
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = all_writes(self).await?;
        let gets = member_gets(self).await?.since(&gets_before);
        // Only the objects kfed federates; the probes' /healthz is not a resource.
        let object_gets: u64 = gets
            .0
            .iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| k.ends_with(" configmaps") || k.ends_with(" deployments"))
            .map(|(_, v)| v)
            .sum();
        let delta = after.since(&before);
        let writes = delta.totals();
        let total: u64 = writes.iter().sum();
        let cpu = cpu::process_cpu(operator.pid(), self.clk_tck)?;
        report.set(
            "restart",
            json!({
                "shutdown_seconds": shutdown.as_secs_f64(), "ready_seconds": ready.as_secs_f64(),
                "all_reconciled_seconds": verified.map(|d| d.as_secs_f64()),
                "window_seconds": window.as_secs_f64(), "writes_host": writes[0], "writes_member1": writes[1],
                "writes_member2": writes[2], "writes_by_resource": delta.json(), "operator_cpu_seconds": cpu,
                "member_object_gets": object_gets, "member_gets_by_resource": gets.json(),
            }),
        );
        report.row(
            "6. restart (SIGTERM, start again)",
            format!(
                "/readyz 200 after **{}**; **{total} writes** in the {} after the start",
                secs(ready),
                secs(window)
            ),
            format!(
                "shutdown took {}; all {} objects reconciled after {}; operator CPU {cpu:.2} s in the window; {object_gets} single-object GETs of ConfigMaps/Deployments in the members (0 when the caches are used)",
                secs(shutdown),
                objects,
                verified.map(secs).unwrap_or_else(|| "(not within the window)".into())
            ),
        );
        report.check(
            "restart: zero writes",
            total == 0,
            if total == 0 {
                "host 0, member1 0, member2 0".into()
            } else {
                delta.describe()
            },
        );
        Ok(operator)
    }
}
