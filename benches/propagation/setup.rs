//! Prepares the testbed: the API installed in the host, the members joined, the
//! namespace `bench` federated, and the leftovers of an earlier run removed.

use crate::objects::{apply_params, delete_ignoring_absent};
use crate::views::{View, Views, expect_all, wait_met};
use crate::writers::write_all;
use crate::{Env, MEMBERS, NS, REQUEST_TIMEOUT, progress};
use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kfed_testkit::{federated, federated_namespace_object};
use kube::api::{Api, Patch};
use kube::core::DynamicObject;
use serde_json::json;
use std::time::{Duration, Instant};

impl Env {
    /// The API in the host, members joined, the namespace `bench` federated.
    pub(crate) async fn setup(&self) -> Result<()> {
        let long = Some(Duration::from_secs(180));
        progress("installing the CRDs, the admission policy and the FederatedTypeConfigs into the host");
        self.tb.install_crds_within("host", long).await?;
        for m in MEMBERS {
            progress(format!("kfed join {m}"));
            self.tb.join(&[m], long).await?;
        }
        progress(format!("namespace {NS} and its FederatedNamespace"));
        let namespaces: Api<Namespace> = Api::all(self.host.clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        namespaces.patch(NS, &apply_params(), &Patch::Apply(ns)).await?;
        let fed_ns: Api<DynamicObject> = Api::namespaced_with(self.host.clone(), NS, &federated("FederatedNamespace"));
        let body = federated_namespace_object(NS, &MEMBERS);
        fed_ns.patch(NS, &apply_params(), &Patch::Apply(body)).await?;
        Ok(())
    }

    /// Waits until the operator has created the namespace `bench` in both members.
    pub(crate) async fn wait_federated_namespace(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        for (i, m) in MEMBERS.iter().enumerate() {
            let api: Api<Namespace> = Api::all(self.member(i).clone());
            loop {
                let ns = tokio::time::timeout(REQUEST_TIMEOUT, api.get_opt(NS)).await;
                if let Ok(Ok(Some(ns))) = ns
                    && ns.metadata.deletion_timestamp.is_none()
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("namespace {NS} did not appear in {m} within 120 s (is the FederatedNamespace propagated?)");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        progress(format!("namespace {NS} exists in both members"));
        Ok(())
    }

    /// Federated objects left in `bench` by an earlier run are deleted first.
    pub(crate) async fn remove_leftovers(&self, views: &Views) -> Result<()> {
        let fcms: Vec<String> = views.fcms.lock().objects.keys().cloned().collect();
        let fdeploys: Vec<String> = views.fdeploys.lock().objects.keys().cloned().collect();
        let stray = views.cms.iter().chain(&views.deploys).map(View::len).sum::<usize>();
        if fcms.is_empty() && fdeploys.is_empty() && stray == 0 {
            return Ok(());
        }
        progress(format!(
            "removing leftovers of an earlier run: {} FederatedConfigMaps, {} FederatedDeployments",
            fcms.len(),
            fdeploys.len()
        ));
        let deadline = self.deadline();
        for (api, names, view) in [
            (self.fcm_api(), &fcms, &views.fcms),
            (self.fdeploy_api(), &fdeploys, &views.fdeploys),
        ] {
            expect_all(view, names.iter().cloned(), None);
            write_all("delete leftover", names.len(), self.args.writers, None, deadline, |i| {
                let api = api.clone();
                let name = names[i].clone();
                async move { delete_ignoring_absent(&api, &name).await }
            })
            .await?;
        }
        wait_met(&[&views.fcms, &views.fdeploys], deadline, "leftovers to go").await?;
        for view in views.cms.iter().chain(&views.deploys) {
            let names: Vec<String> = view.lock().objects.keys().cloned().collect();
            expect_all(view, names.into_iter(), None);
        }
        let members: Vec<&View> = views.cms.iter().chain(&views.deploys).collect();
        wait_met(&members, deadline, "leftover member objects to go").await?;
        Ok(())
    }
}
