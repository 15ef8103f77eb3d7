//! Prometheus text format (an operator's or an API server's /metrics), and the API
//! servers' request counters (`apiserver_request_total`) read from it.

use crate::Testbed;
use anyhow::{Context, Result};
use kube::Client;
use std::collections::BTreeMap;
use std::time::Duration;

/// The verbs of writes: create, update, patch, apply, delete.
pub const WRITE_VERBS: [&str; 5] = ["POST", "PUT", "PATCH", "APPLY", "DELETE"];
const REQUESTS: &str = "apiserver_request_total";

/// One series of a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    /// The labels as written between the braces (`code="200",verb="GET"`), "" for none.
    pub labels: String,
    pub value: f64,
}

impl Sample {
    /// The value of a label as written (escapes are not undone), or `None`.
    pub fn label(&self, name: &str) -> Option<&str> {
        label_pairs(&self.labels).find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// `name{labels}`, as the series appears in the scrape.
    pub fn series(&self) -> String {
        if self.labels.is_empty() {
            self.name.clone()
        } else {
            format!("{}{{{}}}", self.name, self.labels)
        }
    }
}

/// `key="value"` pairs of a label set, values as written.
fn label_pairs(labels: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = labels;
    std::iter::from_fn(move || {
        let (key, after) = rest.trim_start_matches([',', ' ']).split_once("=\"")?;
        let mut escaped = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map_or(after.len(), |(i, _)| i);
        rest = after.get(end + 1..).unwrap_or("");
        Some((key.trim(), &after[..end]))
    })
}

/// The series of one scrape.
#[derive(Clone, Debug, Default)]
pub struct Metrics(pub Vec<Sample>);

impl Metrics {
    /// Parses the text format; comments, blank and malformed lines are left out.
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| {
                    let (name, labels, rest) = match l.split_once('{') {
                        Some((name, after)) => {
                            let (labels, rest) = after.rsplit_once('}')?;
                            (name, labels, rest)
                        }
                        None => {
                            let (name, rest) = l.split_once(char::is_whitespace)?;
                            (name, "", rest)
                        }
                    };
                    // The value, then an optional timestamp.
                    let value = rest.split_whitespace().next()?.parse().ok()?;
                    Some(Sample {
                        name: name.trim().to_string(),
                        labels: labels.to_string(),
                        value,
                    })
                })
                .collect(),
        )
    }

    /// Sum of a metric's series whose labels include every `(name, value)`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    /// The `apiserver_request_total` series with one of `verbs`. Leases are left out:
    /// every kube-apiserver renews its own.
    pub fn api_requests<'a>(&'a self, verbs: &'a [&str]) -> impl Iterator<Item = &'a Sample> {
        self.0.iter().filter(move |s| {
            s.name == REQUESTS
                && s.label("verb").is_some_and(|v| verbs.contains(&v))
                && s.label("resource") != Some("leases")
        })
    }

    /// Writes served so far, per series, keyed `"<prefix> <series>"`.
    pub fn api_writes_by_series(&self, prefix: &str) -> BTreeMap<String, u64> {
        self.api_requests(&WRITE_VERBS)
            .map(|s| (format!("{prefix} {}", s.series()), s.value as u64))
            .collect()
    }

    /// Requests with one of `verbs` served so far, by `"VERB resource[/subresource]"`.
    pub fn api_requests_by_resource(&self, verbs: &[&str]) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for s in self.api_requests(verbs) {
            let (verb, resource) = (
                s.label("verb").unwrap_or_default(),
                s.label("resource").unwrap_or_default(),
            );
            let key = match s.label("subresource").unwrap_or_default() {
                "" => format!("{verb} {resource}"),
                sub => format!("{verb} {resource}/{sub}"),
            };
            *counts.entry(key).or_insert(0) += s.value as u64;
        }
        counts
    }

    /// Requests for `resource` with `verb` served so far, optionally only those answered 2xx.
    pub fn api_request_count(&self, verb: &str, resource: &str, succeeded_only: bool) -> u64 {
        self.0
            .iter()
            .filter(|s| s.name == REQUESTS && s.label("verb") == Some(verb) && s.label("resource") == Some(resource))
            .filter(|s| !succeeded_only || s.label("code").is_some_and(|c| c.starts_with('2')))
            .map(|s| s.value as u64)
            .sum()
    }
}

/// The counters of `after` that differ from `before` (absent there: 0), with both values.
pub fn changes<'a>(
    before: &'a BTreeMap<String, u64>,
    after: &'a BTreeMap<String, u64>,
) -> impl Iterator<Item = (&'a String, u64, u64)> {
    after.iter().filter_map(|(key, now)| {
        let was = before.get(key).copied().unwrap_or(0);
        (*now != was).then_some((key, was, *now))
    })
}

/// An API server's /metrics through `client`, within `limit`.
pub async fn scrape(client: &Client, limit: Duration) -> Result<Metrics> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = tokio::time::timeout(limit, client.request_text(request))
        .await
        .context("GET /metrics timed out")??;
    Ok(Metrics::parse(&text))
}

impl Testbed {
    /// The /metrics of a cluster's API server.
    pub fn apiserver_metrics(&self, context: &str) -> Metrics {
        Metrics::parse(&self.kubectl_ok(context, &["get", "--raw", "/metrics"]))
    }

    /// Writes (create, update, patch, apply, delete) served by a cluster's API server so
    /// far, per series of `apiserver_request_total`, from its own metrics. Leases are
    /// left out: every kube-apiserver renews its own.
    pub fn writes(&self, context: &str) -> BTreeMap<String, u64> {
        self.apiserver_metrics(context).api_writes_by_series(context)
    }

    /// Requests for `resource` with `verb` (`GET`, `APPLY`, ...) a cluster's API server
    /// has served since it started, optionally only those answered 2xx.
    pub fn requests(&self, context: &str, verb: &str, resource: &str, succeeded_only: bool) -> u64 {
        self.apiserver_metrics(context)
            .api_request_count(verb, resource, succeeded_only)
    }

    /// Write series of every cluster that changed between two snapshots, with the increase.
    pub fn writes_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
        changes(before, after)
            .map(|(series, was, now)| format!("+{} {series}", now.saturating_sub(was)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# HELP apiserver_request_total Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",resource="configmaps",subresource="",verb="POST"} 3
apiserver_request_total{code="200",component="apiserver",resource="configmaps",subresource="",verb="APPLY"} 5
apiserver_request_total{code="409",component="apiserver",resource="configmaps",subresource="",verb="APPLY"} 1
apiserver_request_total{code="200",component="apiserver",resource="leases",subresource="",verb="PUT"} 40
apiserver_request_total{code="200",component="apiserver",resource="deployments",subresource="status",verb="PATCH"} 2
apiserver_request_total{code="200",component="apiserver",resource="configmaps",subresource="",verb="GET"} 7
kfed_reconciles_total{kind="federatedconfigmap",result="error"} 2
kfed_reconciles_total{kind="federatedconfigmap",result="success"} 9 1700000000
process_open_fds 12
kfed_label_with_quote{msg="a \"b\", c",x="y"} 1
"#;

    #[test]
    fn parses_series_labels_and_values() {
        let m = Metrics::parse(SCRAPE);
        assert_eq!(m.0.len(), 10);
        assert_eq!(m.sum("kfed_reconciles_total", &[]), 11.0);
        assert_eq!(m.sum("kfed_reconciles_total", &[("result", "error")]), 2.0);
        assert_eq!(m.sum("process_open_fds", &[]), 12.0);
        let quoted = &m.0[9];
        assert_eq!(quoted.label("msg"), Some(r#"a \"b\", c"#));
        assert_eq!(quoted.label("x"), Some("y"));
        assert_eq!(quoted.label("z"), None);
    }

    #[test]
    fn request_counters() {
        let m = Metrics::parse(SCRAPE);
        let by_series = m.api_writes_by_series("host");
        assert_eq!(by_series.len(), 4, "{by_series:?}");
        assert_eq!(
            by_series.get(r#"host apiserver_request_total{code="201",component="apiserver",resource="configmaps",subresource="",verb="POST"}"#),
            Some(&3)
        );
        let by_resource = m.api_requests_by_resource(&WRITE_VERBS);
        assert_eq!(by_resource.get("APPLY configmaps"), Some(&6));
        assert_eq!(by_resource.get("PATCH deployments/status"), Some(&2));
        assert!(!by_resource.keys().any(|k| k.contains("leases")));
        assert_eq!(m.api_request_count("APPLY", "configmaps", false), 6);
        assert_eq!(m.api_request_count("APPLY", "configmaps", true), 5);
        assert_eq!(m.api_request_count("GET", "configmaps", true), 7);
    }

    #[test]
    fn changes_between_snapshots() {
        let before = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 5)]);
        let after = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2), ("c".to_string(), 4)]);
        assert_eq!(Testbed::writes_between(&before, &after), vec!["+0 b", "+4 c"]);
    }
}
