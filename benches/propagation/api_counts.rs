//! Requests the API servers served (`apiserver_request_total`): the writes of every
//! cluster and the GETs of the members, by verb and resource.

use crate::{Env, REQUEST_TIMEOUT};
use anyhow::Result;
use kfed_testkit::metrics::{WRITE_VERBS, changes, scrape};
use kube::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Requests with one of `verbs` served by an API server so far, by "VERB
/// resource[/subresource]" (leases left out: every API server renews its own).
async fn api_requests(client: &Client, verbs: &[&str]) -> Result<BTreeMap<String, u64>> {
    Ok(scrape(client, REQUEST_TIMEOUT).await?.api_requests_by_resource(verbs))
}

/// Writes served by an API server so far (create, update, patch, apply, delete), by
/// "VERB resource[/subresource]".
async fn api_writes(client: &Client) -> Result<BTreeMap<String, u64>> {
    api_requests(client, &WRITE_VERBS).await
}

/// API-server writes of host, member1 and member2, by verb and resource.
#[derive(Clone, Default)]
pub(crate) struct Writes(pub(crate) [BTreeMap<String, u64>; 3]);

const CLUSTERS: [&str; 3] = ["host", "member1", "member2"];

impl Writes {
    /// The writes served since `before` (non-zero entries only).
    pub(crate) fn since(&self, before: &Writes) -> Writes {
        Writes(std::array::from_fn(|i| {
            changes(&before.0[i], &self.0[i])
                .filter(|(_, was, now)| now > was)
                .map(|(k, was, now)| (k.clone(), now - was))
                .collect()
        }))
    }

    pub(crate) fn totals(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.0[i].values().sum())
    }

    pub(crate) fn json(&self) -> Value {
        Value::Object(
            CLUSTERS
                .iter()
                .zip(&self.0)
                .map(|(c, w)| (c.to_string(), json!(w)))
                .collect(),
        )
    }

    /// "host: PATCH configmaps 2; member1: ..." for the clusters that saw writes.
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = CLUSTERS
            .iter()
            .zip(&self.0)
            .filter(|(_, w)| !w.is_empty())
            .map(|(c, w)| {
                let items: Vec<String> = w.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("{c}: {}", items.join(", "))
            })
            .collect();
        parts.join("; ")
    }
}

/// Single-object reads (GET, not LIST or WATCH) served by the members, as `Writes` with an empty host.
pub(crate) async fn member_gets(env: &Env) -> Result<Writes> {
    let (m1, m2) = tokio::try_join!(
        api_requests(env.member(0), &["GET"]),
        api_requests(env.member(1), &["GET"])
    )?;
    Ok(Writes([BTreeMap::new(), m1, m2]))
}

pub(crate) async fn all_writes(env: &Env) -> Result<Writes> {
    let (h, m1, m2) = tokio::try_join!(
        api_writes(&env.host),
        api_writes(env.member(0)),
        api_writes(env.member(1))
    )?;
    Ok(Writes([h, m1, m2]))
}
