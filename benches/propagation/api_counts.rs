//! Requests the API servers served (`apiserver_request_total`): the writes of every
//! cluster and the GETs of the members, by verb and resource.

use crate::prom::Prom;
use crate::{Env, REQUEST_TIMEOUT};
use anyhow::{Context, Result};
use kube::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Writes served by an API server so far, by "VERB resource[/subresource]" (as in
/// tests/common: create, update, patch, apply, delete; without leases, which every
/// API server renews by itself).
async fn api_writes(client: &Client) -> Result<BTreeMap<String, u64>> {
    api_requests(client, &["POST", "PUT", "PATCH", "APPLY", "DELETE"]).await
}

/// Requests with one of `verbs` served by an API server so far, by "VERB resource[/subresource]".
async fn api_requests(client: &Client, verbs: &[&str]) -> Result<BTreeMap<String, u64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = tokio::time::timeout(REQUEST_TIMEOUT, client.request_text(request))
        .await
        .context("GET /metrics timed out")??;
    let label = |labels: &str, name: &str| -> String {
        labels
            .split_once(&format!("{name}=\""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_string())
            .unwrap_or_default()
    };
    let mut writes = BTreeMap::new();
    for (name, labels, value) in Prom::parse(&text).0 {
        let verb = label(&labels, "verb");
        let resource = label(&labels, "resource");
        if name != "apiserver_request_total" || !verbs.contains(&verb.as_str()) || resource == "leases" {
            continue;
        }
        let subresource = label(&labels, "subresource");
        let key = if subresource.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{subresource}")
        };
        *writes.entry(key).or_insert(0) += value as u64;
    }
    Ok(writes)
}

/// API-server writes of host, member1 and member2, by verb and resource.
#[derive(Clone, Default)]
pub(crate) struct Writes(pub(crate) [BTreeMap<String, u64>; 3]);

const CLUSTERS: [&str; 3] = ["host", "member1", "member2"];

impl Writes {
    /// The writes served since `before` (non-zero entries only).
    pub(crate) fn since(&self, before: &Writes) -> Writes {
        Writes(std::array::from_fn(|i| {
            self.0[i]
                .iter()
                .filter_map(|(k, v)| {
                    let d = v.saturating_sub(before.0[i].get(k).copied().unwrap_or(0));
                    (d > 0).then(|| (k.clone(), d))
                })
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
