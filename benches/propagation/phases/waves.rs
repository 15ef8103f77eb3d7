//! The waves (phases 2, 4 and 7, and the FederatedDeployment wave): many objects
//! created, updated or deleted at once, timed until the members show it.

use crate::metrics::{per_object, phase_metrics, snapshot};
use crate::objects::{apply_fcm, apply_params, cm_name, delete_ignoring_absent, deploy_name, federated_deployment};
use crate::operator::Operator;
use crate::report::{Report, rate, secs};
use crate::views::{View, Views, expect_all, settled, wait_met, wait_met_traced};
use crate::writers::write_all;
use crate::{Env, IMAGE, IMAGE_MEMBER2, progress};
use anyhow::{Result, bail};
use kube::api::Patch;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Env {
    /// 2. The create wave: N FederatedConfigMaps applied to the host as fast as it takes them.
    pub(crate) async fn create_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!(
            "create wave: {n} FederatedConfigMaps, {} writers",
            self.args.writers
        ));
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("0"));
        }
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let cms: Vec<&View> = views.cms.iter().collect();
        // The watch is followed while the writes go on, for the timeline.
        let (written, (done, timeline)) = tokio::try_join!(
            write_all("create FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "0").await }
            }),
            wait_met_traced(&cms, deadline, "create wave member objects"),
        )?;
        let elapsed = done.saturating_duration_since(started);
        // Status writes trail the member writes; the metrics cover both.
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "create wave", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "create_wave",
            json!({
                "objects": n, "member_objects": 2 * n, "seconds": elapsed.as_secs_f64(),
                "member_objects_per_second": objects_per_s, "ratio_to_ceiling": ratio,
                "host_accept_seconds": written.elapsed.as_secs_f64(), "host_write_retries": written.retries,
                "all_status_settled_seconds": after.at.duration_since(started).as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "2. create wave (FederatedConfigMap)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, **{ratio:.2} × ceiling**",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "host accepted {n} in {} ({:.0}/s); every status settled after {}; operator CPU {:.1} s; {}",
                secs(written.elapsed),
                rate(n, written.elapsed),
                secs(after.at.duration_since(started)),
                after.cpu - before.cpu,
                per_object(&report.json.get("create_wave").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        Ok(())
    }

    /// Waits until every federated object's status reflects its generation and the
    /// operator runs no reconcile (polls the watch caches and the operator's metrics).
    pub(crate) async fn wait_settled(&self, views: &Views, operator: &Operator, deadline: Instant) -> Result<()> {
        loop {
            let unsettled: usize = [&views.fcms, &views.fdeploys]
                .iter()
                .map(|v| v.lock().objects.values().filter(|s| !settled(s)).count())
                .sum();
            let in_flight = operator.metrics().await?.sum("kfed_reconciles_in_flight", &[]);
            if unsettled == 0 && in_flight == 0.0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{unsettled} federated objects without a current Propagation=True status, {in_flight} reconciles in flight at the deadline"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// 4. The update wave: every template changed at once.
    pub(crate) async fn update_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!(
            "update wave: {n} template edits, {} writers",
            self.args.writers
        ));
        for view in &views.cms {
            expect_all(view, (0..n).map(cm_name), Some("u1"));
        }
        self.wait_settled(views, operator, self.deadline()).await?;
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let cms: Vec<&View> = views.cms.iter().collect();
        // The watch is followed while the writes go on, for the timeline.
        let (written, (done, timeline)) = tokio::try_join!(
            write_all("update FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
                let api = api.clone();
                async move { apply_fcm(&api, i, "u1").await }
            }),
            wait_met_traced(&cms, deadline, "update wave member objects"),
        )?;
        let elapsed = done.saturating_duration_since(started);
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "update wave", n, &before, &after);
        let objects_per_s = rate(2 * n, elapsed);
        let ratio = objects_per_s / Self::ceiling_rate(report).max(1e-9);
        report.set(
            "update_wave",
            json!({
                "objects": n, "seconds": elapsed.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "ratio_to_ceiling": ratio, "host_accept_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
                "timeline_seconds_vs_member_objects": timeline,
            }),
        );
        report.row(
            "4. update wave (every template at once)",
            format!(
                "{} member objects in {} = **{objects_per_s:.0} objects/s**, {ratio:.2} × ceiling",
                2 * n,
                secs(elapsed)
            ),
            format!(
                "host accepted {n} edits in {}; operator CPU {:.1} s; {}",
                secs(written.elapsed),
                after.cpu - before.cpu,
                per_object(&report.json.get("update_wave").unwrap_or(&Value::Null)["metrics"], n)
            ),
        );
        Ok(())
    }

    /// The FederatedDeployment wave: D objects with one override per cluster.
    pub(crate) async fn deployment_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let d = self.args.deployments;
        if d == 0 {
            return Ok(());
        }
        progress(format!(
            "deployment wave: {d} FederatedDeployments with per-cluster overrides"
        ));
        let wants = [format!("2|{IMAGE}"), format!("1|{IMAGE_MEMBER2}")];
        for (view, want) in views.deploys.iter().zip(&wants) {
            expect_all(view, (0..d).map(deploy_name), Some(want));
        }
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fdeploy_api();
        let started = Instant::now();
        let written = write_all(
            "create FederatedDeployment",
            d,
            self.args.writers,
            None,
            deadline,
            |i| {
                let api = api.clone();
                async move {
                    api.patch(&deploy_name(i), &apply_params(), &Patch::Apply(federated_deployment(i)))
                        .await
                        .map(|_| ())
                }
            },
        )
        .await?;
        let deploys: Vec<&View> = views.deploys.iter().collect();
        let done = wait_met(&deploys, deadline, "deployment wave member objects").await?;
        let elapsed = done.saturating_duration_since(started);
        self.wait_settled(views, operator, deadline).await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "deployment wave", d, &before, &after);
        let objects_per_s = rate(2 * d, elapsed);
        report.set(
            "deployment_wave",
            json!({
                "objects": d, "seconds": elapsed.as_secs_f64(), "member_objects_per_second": objects_per_s,
                "host_accept_seconds": written.elapsed.as_secs_f64(),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
            }),
        );
        report.row(
            "FederatedDeployment wave (override per cluster)",
            format!(
                "{} member Deployments in {} = **{objects_per_s:.0} objects/s**",
                2 * d,
                secs(elapsed)
            ),
            format!(
                "member1 replicas 2, member2 image tag; host accepted {d} in {}; operator CPU {:.1} s",
                secs(written.elapsed),
                after.cpu - before.cpu
            ),
        );
        Ok(())
    }

    /// 7. The delete wave: every FederatedConfigMap deleted; then the FederatedDeployments.
    pub(crate) async fn delete_wave(&self, report: &mut Report, views: &Views, operator: &Operator) -> Result<()> {
        let n = self.args.objects;
        progress(format!("delete wave: {n} FederatedConfigMaps"));
        for view in views.cms.iter() {
            expect_all(view, (0..n).map(cm_name), None);
        }
        expect_all(&views.fcms, (0..n).map(cm_name), None);
        let before = snapshot(self, operator).await?;
        let deadline = self.deadline();
        let api = self.fcm_api();
        let started = Instant::now();
        let written = write_all("delete FederatedConfigMap", n, self.args.writers, None, deadline, |i| {
            let api = api.clone();
            async move { delete_ignoring_absent(&api, &cm_name(i)).await }
        })
        .await?;
        let cms: Vec<&View> = views.cms.iter().collect();
        let members_done = wait_met(&cms, deadline, "member objects to be deleted").await?;
        let host_done = wait_met(&[&views.fcms], deadline, "federated objects to be gone from the host").await?;
        let after = snapshot(self, operator).await?;
        let metrics = phase_metrics(report, "delete wave", n, &before, &after);
        // kfed releases each finalizer with one JSON patch; the admission policy added it,
        // and nothing else patches a FederatedConfigMap here (status is a subresource).
        let finalizer_patches = after.writes.since(&before.writes).0[0]
            .get("PATCH federatedconfigmaps")
            .copied()
            .unwrap_or(0);
        anyhow::ensure!(
            finalizer_patches == n as u64,
            "the delete wave of {n} FederatedConfigMaps sent {finalizer_patches} finalizer patches to the host, not one per object"
        );
        let (members_s, host_s) = (
            members_done.saturating_duration_since(started),
            host_done.saturating_duration_since(started),
        );
        report.set(
            "delete_wave",
            json!({
                "objects": n, "members_empty_seconds": members_s.as_secs_f64(), "host_empty_seconds": host_s.as_secs_f64(),
                "host_accept_seconds": written.elapsed.as_secs_f64(),
                "member_objects_per_second": rate(2 * n, members_s),
                "operator_cpu_seconds": after.cpu - before.cpu, "metrics": metrics,
            }),
        );
        report.row(
            "7. delete wave",
            format!(
                "members empty after **{}** ({:.0} objects/s), host empty after **{}**",
                secs(members_s),
                rate(2 * n, members_s),
                secs(host_s)
            ),
            format!(
                "host accepted {n} deletes in {}; {finalizer_patches} finalizer patches; operator CPU {:.1} s",
                secs(written.elapsed),
                after.cpu - before.cpu
            ),
        );

        let d = self.args.deployments;
        if d > 0 {
            progress(format!("deleting the {d} FederatedDeployments"));
            for view in views.deploys.iter() {
                expect_all(view, (0..d).map(deploy_name), None);
            }
            expect_all(&views.fdeploys, (0..d).map(deploy_name), None);
            let deadline = self.deadline();
            let api = self.fdeploy_api();
            let started = Instant::now();
            write_all(
                "delete FederatedDeployment",
                d,
                self.args.writers,
                None,
                deadline,
                |i| {
                    let api = api.clone();
                    async move { delete_ignoring_absent(&api, &deploy_name(i)).await }
                },
            )
            .await?;
            let mut all: Vec<&View> = views.deploys.iter().collect();
            all.push(&views.fdeploys);
            let done = wait_met(&all, deadline, "FederatedDeployments to be deleted").await?;
            report.row(
                "FederatedDeployment delete",
                format!(
                    "members and host empty after {}",
                    secs(done.saturating_duration_since(started))
                ),
                String::new(),
            );
        }
        Ok(())
    }
}
