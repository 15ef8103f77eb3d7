//! Reading the `KubeFedConfig` `kubefed` at start-up, as KubeFed's controller manager
//! does: created with the defaults when missing, then read once. A field kfed cannot
//! use is logged and reported as a Warning Event on the object, and its default kept.

use crate::api::{KUBEFEDCONFIG_NAME, KubeFedConfig, KubeFedConfigSpec};
use crate::host::events::{EventType, Publisher};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Resource};
use tracing::{info, warn};

/// The KubeFedConfig of the federation namespace, created with KubeFed's defaults
/// (`scope: Cluster`, nothing else set) when there is none. `None` when it cannot be
/// read (its CRD is not installed, or the API server refuses): the flags and defaults
/// apply, and the log says why.
pub async fn load(host: &Client, namespace: &str) -> Option<KubeFedConfig> {
    let api: Api<KubeFedConfig> = Api::namespaced(host.clone(), namespace);
    match api.get_opt(KUBEFEDCONFIG_NAME).await {
        Ok(Some(config)) => Some(config),
        Ok(None) => {
            let config = KubeFedConfig {
                metadata: ObjectMeta {
                    name: Some(KUBEFEDCONFIG_NAME.into()),
                    namespace: Some(namespace.into()),
                    ..ObjectMeta::default()
                },
                spec: KubeFedConfigSpec::default(),
            };
            match api.create(&PostParams::default(), &config).await {
                Ok(created) => {
                    info!(%namespace, "created the KubeFedConfig {KUBEFEDCONFIG_NAME} with the defaults");
                    Some(created)
                }
                // Another replica was first.
                Err(kube::Error::Api(s)) if s.code == 409 => api.get_opt(KUBEFEDCONFIG_NAME).await.ok().flatten(),
                Err(e) => {
                    warn!(%namespace, error = %e, "creating the KubeFedConfig {KUBEFEDCONFIG_NAME} failed; using flags and defaults");
                    None
                }
            }
        }
        Err(e) => {
            warn!(%namespace, error = %e, "reading the KubeFedConfig {KUBEFEDCONFIG_NAME} failed (is its CRD installed?); using flags and defaults");
            None
        }
    }
}

/// Logs each ignored field and publishes it as a Warning Event on the KubeFedConfig.
pub async fn report(events: &Publisher, config: &KubeFedConfig, ignored: &[String]) {
    for why in ignored {
        warn!(name = KUBEFEDCONFIG_NAME, "KubeFedConfig: {why}");
        let reference = config.object_ref(&());
        if let Err(e) = events
            .publish(&reference, EventType::Warning, "ConfigIgnored", "Start", why.clone())
            .await
        {
            warn!(error = %e, "publishing an Event failed");
        }
    }
}
