//! Phase 1, the ceiling: ConfigMaps server-side applied straight into the members,
//! the rate every wave is compared with.

use crate::api_counts::all_writes;
use crate::metrics::{busy_share, cpu_row, machine_jiffies};
use crate::objects::apply_params;
use crate::report::{Report, rate, secs};
use crate::writers::{limiter, write_all};
use crate::{CEILING_NS, Env, MEMBERS, progress};
use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Env {
    /// 1. The ceiling: N ConfigMaps server-side applied straight into each member.
    pub(crate) async fn ceiling(&self, report: &mut Report) -> Result<()> {
        let n = self.args.objects;
        progress(format!("ceiling: recreating namespace {CEILING_NS} in both members"));
        for m in MEMBERS {
            self.tb
                .kubectl_within(
                    m,
                    &[
                        "delete",
                        "namespace",
                        CEILING_NS,
                        "--ignore-not-found",
                        "--wait=true",
                        "--timeout=300s",
                    ],
                    Some(Duration::from_secs(320)),
                )
                .await?;
            self.tb
                .kubectl_within(m, &["create", "namespace", CEILING_NS], Some(Duration::from_secs(60)))
                .await?;
        }
        progress(format!(
            "ceiling: {n} ConfigMaps into each member, {} writers and {} QPS per member",
            self.args.writers, self.args.qps
        ));
        let deadline = self.deadline();
        let before = all_writes(self).await?;
        let started = Instant::now();
        let machine_before = machine_jiffies();
        let parts_before = self.testbed.sample(0.0, self.clk_tck);
        let per_member = MEMBERS.iter().enumerate().map(|(m, name)| {
            let api: Api<ConfigMap> = Api::namespaced(self.member(m).clone(), CEILING_NS);
            async move {
                let limit = limiter(self.args.qps);
                write_all(&format!("ceiling write to {name}"), n, self.args.writers, Some(&limit), deadline, |i| {
                    let api = api.clone();
                    async move {
                        // What kfed writes: the managed-style label, the hash annotation and the data.
                        let cm = json!({
                            "apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {
                                "name": format!("ceiling-{i}"), "namespace": CEILING_NS,
                                "labels": {"kfed-bench/ceiling": "true"},
                                "annotations": {"kfed.io/desired-hash": format!("{:032x}", i as u128 * 0x9e3779b97f4a7c15)},
                            },
                            "data": {"v": "0"},
                        });
                        api.patch(&format!("ceiling-{i}"), &apply_params(), &Patch::Apply(cm))
                            .await
                            .map(|_| ())
                    }
                })
                .await
            }
        });
        let results = futures::future::try_join_all(per_member).await?;
        let elapsed = started.elapsed();
        let busy = busy_share(machine_before, machine_jiffies());
        let parts = self.testbed.sample(0.0, self.clk_tck).since(&parts_before);
        report.cpu_rows.push(cpu_row("ceiling", n, &parts));
        let after = all_writes(self).await?;
        let objects_per_s = rate(2 * n, elapsed);
        let per: Vec<String> = MEMBERS
            .iter()
            .zip(&results)
            .map(|(m, w)| format!("{m} {:.0}/s", rate(n, w.elapsed)))
            .collect();
        let retries: u64 = results.iter().map(|w| w.retries).sum();
        report.set(
            "ceiling",
            json!({
                "objects": 2 * n, "seconds": elapsed.as_secs_f64(), "objects_per_second": objects_per_s,
                "per_member_seconds": results.iter().map(|w| w.elapsed.as_secs_f64()).collect::<Vec<_>>(),
                "retries": retries, "machine_cpu_busy": busy, "cpu_seconds_by_part": parts.json(),
                "api_writes_by_resource": after.since(&before).json(),
            }),
        );
        report.row(
            "1. ceiling: direct SSA of ConfigMaps into the members",
            format!(
                "{} objects in {} = **{objects_per_s:.0} objects/s**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "{} writers and {} QPS (burst {}) per member, both members in parallel ({}); {retries} retries; machine CPU {:.0} % busy",
                self.args.writers,
                self.args.qps,
                self.args.qps.get().saturating_mul(2),
                per.join(", "),
                busy * 100.0
            ),
        );
        report.json.insert("ceiling_rate".into(), json!(objects_per_s));
        progress(format!("ceiling: deleting namespace {CEILING_NS}"));
        for m in MEMBERS {
            if let Err(e) = self
                .tb
                .kubectl_within(
                    m,
                    &["delete", "namespace", CEILING_NS, "--wait=true", "--timeout=300s"],
                    Some(Duration::from_secs(320)),
                )
                .await
            {
                report.notes.push(format!("deleting {CEILING_NS} in {m} failed: {e:#}"));
            }
        }
        Ok(())
    }

    pub(crate) fn ceiling_rate(report: &Report) -> f64 {
        report.json.get("ceiling_rate").and_then(Value::as_f64).unwrap_or(0.0)
    }
}
