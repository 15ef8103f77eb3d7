//! Names and manifests of the bench's objects, and their server-side apply and delete.

use crate::{IMAGE, IMAGE_MEMBER2, MANAGER, NS};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

pub(crate) fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

pub(crate) fn cm_name(i: usize) -> String {
    format!("bench-{i}")
}

pub(crate) fn deploy_name(i: usize) -> String {
    format!("bench-d-{i}")
}

pub(crate) fn placement() -> Value {
    json!({"clusters": [{"name": "member1"}, {"name": "member2"}]})
}

fn federated_configmap(i: usize, v: &str) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
        "metadata": {"name": cm_name(i), "namespace": NS},
        "spec": {"template": {"data": {"v": v}}, "placement": placement()},
    })
}

pub(crate) fn federated_deployment(i: usize) -> Value {
    let name = deploy_name(i);
    json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": IMAGE}]},
                    },
                },
            },
            "placement": placement(),
            "overrides": [
                {"clusterName": "member1", "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]},
                {"clusterName": "member2", "clusterOverrides": [{"path": "/spec/template/spec/containers/0/image", "value": IMAGE_MEMBER2}]},
            ],
        },
    })
}

pub(crate) async fn apply_fcm(api: &Api<DynamicObject>, i: usize, v: &str) -> Result<(), kube::Error> {
    api.patch(&cm_name(i), &apply_params(), &Patch::Apply(federated_configmap(i, v)))
        .await
        .map(|_| ())
}

pub(crate) async fn delete_ignoring_absent(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
