//! Watches of what the members (and the host) hold, and the waits for what the
//! bench expects of them.

use crate::report::secs;
use crate::{Env, MANAGED, MEMBERS, NS, progress};
use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kfed_testkit::federated;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[derive(Default)]
pub(crate) struct ViewState {
    /// name -> signature of the object (e.g. its data.v)
    pub(crate) objects: HashMap<String, String>,
    /// What the bench waits for: name -> signature, or None for "absent".
    want: HashMap<String, Option<String>>,
    met: usize,
    /// When `met` last reached `want.len()`.
    met_at: Option<Instant>,
    synced: bool,
    relist: Option<HashSet<String>>,
    errors: u64,
}

impl ViewState {
    fn set(&mut self, name: &str, sig: Option<String>) {
        let old = match &sig {
            Some(s) => self.objects.insert(name.to_string(), s.clone()),
            None => self.objects.remove(name),
        };
        if let Some(want) = self.want.get(name) {
            let was = old.as_ref() == want.as_ref();
            let is = sig.as_ref() == want.as_ref();
            if was != is {
                if is {
                    self.met += 1;
                    if self.met == self.want.len() {
                        self.met_at = Some(Instant::now());
                    }
                } else {
                    self.met -= 1;
                }
            }
        }
    }

    fn expect(&mut self, want: HashMap<String, Option<String>>) {
        self.met = want.iter().filter(|(n, w)| self.objects.get(*n) == w.as_ref()).count();
        self.met_at = (self.met == want.len()).then(Instant::now);
        self.want = want;
    }

    fn missing(&self, limit: usize) -> Vec<String> {
        let mut names: Vec<String> = self
            .want
            .iter()
            .filter(|(n, w)| self.objects.get(*n) != w.as_ref())
            .map(|(n, w)| {
                format!(
                    "{n} (want {}, has {})",
                    w.as_deref().unwrap_or("absent"),
                    self.objects.get(n).map(String::as_str).unwrap_or("absent")
                )
            })
            .collect();
        names.sort();
        names.truncate(limit);
        names
    }
}

pub(crate) struct View {
    label: String,
    state: Arc<Mutex<ViewState>>,
    task: JoinHandle<()>,
}

impl Drop for View {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl View {
    fn start<K>(label: String, api: Api<K>, config: watcher::Config, sig: fn(&K) -> String) -> View
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    {
        let state = Arc::new(Mutex::new(ViewState::default()));
        let task = {
            let state = state.clone();
            let label = label.clone();
            tokio::spawn(async move {
                let mut events = watcher(api, config).default_backoff().boxed();
                while let Some(event) = events.next().await {
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    match event {
                        Ok(watcher::Event::Apply(o)) => s.set(&o.name_any(), Some(sig(&o))),
                        Ok(watcher::Event::Delete(o)) => s.set(&o.name_any(), None),
                        Ok(watcher::Event::Init) => s.relist = Some(HashSet::new()),
                        Ok(watcher::Event::InitApply(o)) => {
                            let name = o.name_any();
                            if let Some(seen) = s.relist.as_mut() {
                                seen.insert(name.clone());
                            }
                            s.set(&name, Some(sig(&o)));
                        }
                        Ok(watcher::Event::InitDone) => {
                            let seen = s.relist.take().unwrap_or_default();
                            let gone: Vec<String> = s.objects.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                            for name in gone {
                                s.set(&name, None);
                            }
                            s.synced = true;
                        }
                        Err(e) => {
                            s.errors += 1;
                            drop(s);
                            progress(format!("watch {label}: {e} (retrying)"));
                        }
                    }
                }
            })
        };
        View { label, state, task }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn expect(&self, want: HashMap<String, Option<String>>) {
        self.lock().expect(want);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().objects.len()
    }
}

pub(crate) struct Views {
    /// ConfigMaps with the managed label in `bench`, per member: name -> data.v
    pub(crate) cms: Vec<View>,
    /// Deployments with the managed label in `bench`, per member: name -> "replicas|image"
    pub(crate) deploys: Vec<View>,
    /// FederatedConfigMaps in `bench` on the host: name -> "generation|observedGeneration|Propagation"
    pub(crate) fcms: View,
    pub(crate) fdeploys: View,
}

fn cm_sig(cm: &ConfigMap) -> String {
    cm.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default()
}

fn deploy_sig(d: &Deployment) -> String {
    let replicas = d.spec.replicas.unwrap_or(-1);
    let image = d
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    format!("{replicas}|{image}")
}

fn federated_sig(o: &DynamicObject) -> String {
    let status = o.data.get("status");
    let observed = status
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let propagation = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Propagation"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("-");
    let deleting = if o.metadata.deletion_timestamp.is_some() {
        "|deleting"
    } else {
        ""
    };
    format!(
        "{}|{observed}|{propagation}{deleting}",
        o.metadata.generation.unwrap_or(0)
    )
}

/// True when a federated object's status reflects its current generation and says propagated.
pub(crate) fn settled(sig: &str) -> bool {
    let mut parts = sig.split('|');
    let (Some(generation), Some(observed), Some(propagation), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    generation == observed && propagation == "True"
}

impl Views {
    pub(crate) async fn start(env: &Env) -> Result<Views> {
        let managed = || watcher::Config::default().labels(MANAGED);
        let cms = MEMBERS
            .iter()
            .enumerate()
            .map(|(i, m)| {
                View::start(
                    format!("{m} configmaps"),
                    Api::<ConfigMap>::namespaced(env.member(i).clone(), NS),
                    managed(),
                    cm_sig,
                )
            })
            .collect();
        let deploys = MEMBERS
            .iter()
            .enumerate()
            .map(|(i, m)| {
                View::start(
                    format!("{m} deployments"),
                    Api::<Deployment>::namespaced(env.member(i).clone(), NS),
                    managed(),
                    deploy_sig,
                )
            })
            .collect();
        let fed = |kind: &str| {
            View::start(
                format!("host {kind}s"),
                Api::<DynamicObject>::namespaced_with(env.host.clone(), NS, &federated(kind)),
                watcher::Config::default(),
                federated_sig,
            )
        };
        let views = Views {
            cms,
            deploys,
            fcms: fed("FederatedConfigMap"),
            fdeploys: fed("FederatedDeployment"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        for view in views.all() {
            loop {
                if view.lock().synced {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the watch of {} did not list within 60 s", view.label);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(views)
    }

    fn all(&self) -> Vec<&View> {
        self.cms
            .iter()
            .chain(&self.deploys)
            .chain([&self.fcms, &self.fdeploys])
            .collect()
    }
}

/// Waits until every view holds what it was told to expect; returns the moment
/// the last of them got there (recorded by the watch, not by this poll).
pub(crate) async fn wait_met(views: &[&View], deadline: Instant, what: &str) -> Result<Instant> {
    Ok(wait_met_traced(views, deadline, what).await?.0)
}

/// `wait_met`, plus a timeline: every second, the seconds since the call and how many
/// expectations (summed over the views) are met.
pub(crate) async fn wait_met_traced(views: &[&View], deadline: Instant, what: &str) -> Result<(Instant, Value)> {
    let started = Instant::now();
    let mut next_progress = started + Duration::from_secs(10);
    let mut next_sample = started;
    let mut timeline = Vec::new();
    loop {
        let states: Vec<(usize, usize, Option<Instant>)> = views
            .iter()
            .map(|v| {
                let s = v.lock();
                (s.met, s.want.len(), s.met_at)
            })
            .collect();
        if Instant::now() >= next_sample {
            let met: usize = states.iter().map(|s| s.0).sum();
            timeline.push(json!([started.elapsed().as_secs(), met]));
            next_sample += Duration::from_secs(1);
        }
        if states.iter().all(|(met, want, _)| met == want) {
            let done = states.iter().filter_map(|s| s.2).max().unwrap_or_else(Instant::now);
            let met: usize = states.iter().map(|s| s.0).sum();
            timeline.push(json!([done.saturating_duration_since(started).as_secs_f64(), met]));
            return Ok((done, Value::Array(timeline)));
        }
        let summary = || {
            views
                .iter()
                .zip(&states)
                .map(|(v, (met, want, _))| format!("{} {met}/{want}", v.label))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let now = Instant::now();
        if now >= deadline {
            let missing: Vec<String> = views
                .iter()
                .flat_map(|v| {
                    let s = v.lock();
                    s.missing(3)
                        .into_iter()
                        .map(|m| format!("{}: {m}", v.label))
                        .collect::<Vec<_>>()
                })
                .take(6)
                .collect();
            bail!(
                "timed out after {} waiting for {what}: {}; e.g. {}",
                secs(deadline.saturating_duration_since(started)),
                summary(),
                missing.join("; ")
            );
        }
        if now >= next_progress {
            progress(format!("  {what}: {} after {}", summary(), secs(now - started)));
            next_progress += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) fn expect_all(view: &View, names: impl Iterator<Item = String>, want: Option<&str>) {
    view.expect(names.map(|n| (n, want.map(str::to_string))).collect());
}
