//! Member cluster health: probe outcomes, thresholds and the KubeFed conditions they map to.

use crate::api::ConditionStatus;
use crate::api::cluster::{ClusterCondition, KubeFedClusterStatus};
use std::time::Duration;

/// Probe settings (KubeFed's defaults: every 10 s, 3 failures, 1 success, 3 s timeout).
#[derive(Clone, Copy, Debug)]
pub struct HealthSettings {
    pub period: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            period: Duration::from_secs(10),
            failure_threshold: 3,
            success_threshold: 1,
            timeout: Duration::from_secs(3),
        }
    }
}

/// The outcome of one probe of `/healthz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Answered `ok`.
    Healthy,
    /// Answered, but not `ok`: what it answered instead.
    Unhealthy(String),
    /// Did not answer (connection refused, timeout, TLS or auth failure, ...).
    Unreachable(String),
}

/// What kfed currently believes about a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not probed yet.
    Unknown,
    Ready,
    /// Answered `/healthz`, but not `ok` (what it answered).
    NotReady(String),
    Offline(String),
    ConfigMalformed(String),
}

/// Applies thresholds to a stream of probes.
#[derive(Clone, Debug)]
pub struct Tracker {
    health: Health,
    successes: u32,
    failures: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Self {
            health: Health::Unknown,
            successes: 0,
            failures: 0,
        }
    }
}

impl Tracker {
    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn is_ready(&self) -> bool {
        self.health == Health::Ready
    }

    /// Records a configuration that cannot be used; no probe runs until it changes.
    pub fn malformed(&mut self, reason: String) {
        *self = Self {
            health: Health::ConfigMalformed(reason),
            successes: 0,
            failures: 0,
        };
    }

    /// Records one probe. A cluster that was never judged takes the first outcome at
    /// once; after that it flips to ready after `success_threshold` consecutive
    /// successes and away from ready after `failure_threshold` consecutive failures.
    pub fn observe(&mut self, probe: Probe, settings: &HealthSettings) {
        let undecided = matches!(self.health, Health::Unknown | Health::ConfigMalformed(_));
        let unhealthy = match probe {
            Probe::Healthy => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if undecided || self.successes >= settings.success_threshold {
                    self.health = Health::Ready;
                }
                return;
            }
            Probe::Unreachable(reason) => Health::Offline(reason),
            Probe::Unhealthy(answer) => Health::NotReady(answer),
        };
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        // While not ready, keep the latest reason current; leave ready only past the threshold.
        if undecided || self.health != Health::Ready || self.failures >= settings.failure_threshold {
            self.health = unhealthy;
        }
    }
}

/// The KubeFed-shaped status for `health`, stamped with `now` (RFC 3339).
/// kfed adds a `Ready=False` condition next to `Offline` and `ConfigMalformed`, so
/// `kubectl get kubefedclusters` always shows readiness.
pub fn status_for(health: &Health, version: Option<&str>, now: &str) -> KubeFedClusterStatus {
    let condition = |type_: &str, status: ConditionStatus, reason: &str, message: String| ClusterCondition {
        type_: type_.into(),
        status,
        last_probe_time: now.into(),
        last_transition_time: Some(now.into()),
        reason: Some(reason.into()),
        message: Some(message),
    };
    let conditions = match health {
        Health::Unknown => vec![],
        Health::Ready => vec![condition(
            "Ready",
            ConditionStatus::True,
            "ClusterReady",
            "/healthz responded with ok".into(),
        )],
        Health::NotReady(answer) => vec![condition(
            "Ready",
            ConditionStatus::False,
            "ClusterNotReady",
            format!("/healthz responded without ok: {answer}"),
        )],
        Health::Offline(reason) => vec![
            condition(
                "Ready",
                ConditionStatus::False,
                "ClusterNotReachable",
                format!("cluster is not reachable: {reason}"),
            ),
            condition(
                "Offline",
                ConditionStatus::True,
                "ClusterNotReachable",
                format!("cluster is not reachable: {reason}"),
            ),
        ],
        Health::ConfigMalformed(reason) => vec![
            condition(
                "Ready",
                ConditionStatus::False,
                "ClusterConfigMalformed",
                reason.clone(),
            ),
            condition(
                "ConfigMalformed",
                ConditionStatus::True,
                "ClusterConfigMalformed",
                reason.clone(),
            ),
        ],
    };
    KubeFedClusterStatus {
        conditions,
        kubernetes_version: version.map(str::to_string),
        ..Default::default()
    }
}

/// True when `a` and `b` differ in anything but probe and transition times.
pub fn status_changed(a: Option<&KubeFedClusterStatus>, b: &KubeFedClusterStatus) -> bool {
    let key = |s: &KubeFedClusterStatus| {
        let conditions: Vec<_> = s
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status, c.reason.clone(), c.message.clone()))
            .collect();
        (conditions, s.kubernetes_version.clone())
    };
    a.is_none_or(|a| key(a) != key(b))
}

/// Keeps `lastTransitionTime` of conditions whose status did not change.
pub fn carry_transition_times(previous: Option<&KubeFedClusterStatus>, next: &mut KubeFedClusterStatus) {
    let Some(previous) = previous else { return };
    for condition in &mut next.conditions {
        if let Some(old) = previous
            .conditions
            .iter()
            .find(|c| c.type_ == condition.type_ && c.status == condition.status)
        {
            condition.last_transition_time = old.last_transition_time.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: HealthSettings = HealthSettings {
        period: Duration::from_secs(10),
        failure_threshold: 3,
        success_threshold: 1,
        timeout: Duration::from_secs(3),
    };

    #[test]
    fn thresholds() {
        let mut t = Tracker::default();
        t.observe(Probe::Unreachable("refused".into()), &S);
        assert_eq!(
            t.health(),
            &Health::Offline("refused".into()),
            "the first probe decides at once"
        );
        t.observe(Probe::Healthy, &S);
        assert!(t.is_ready(), "one success is enough with success_threshold 1");
        t.observe(Probe::Unreachable("timeout".into()), &S);
        t.observe(Probe::Unhealthy("500".into()), &S);
        assert!(t.is_ready(), "two failures are below the failure threshold");
        t.observe(Probe::Unreachable("timeout".into()), &S);
        assert_eq!(
            t.health(),
            &Health::Offline("timeout".into()),
            "the third consecutive failure flips it"
        );
        t.observe(Probe::Unhealthy("HTTP 500".into()), &S);
        assert_eq!(
            t.health(),
            &Health::NotReady("HTTP 500".into()),
            "while not ready the latest reason shows"
        );

        let strict = HealthSettings {
            success_threshold: 2,
            ..S
        };
        t.observe(Probe::Healthy, &strict);
        assert_eq!(t.health(), &Health::NotReady("HTTP 500".into()));
        t.observe(Probe::Healthy, &strict);
        assert!(t.is_ready());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut t = Tracker::default();
        t.observe(Probe::Healthy, &S);
        for _ in 0..5 {
            t.observe(Probe::Unhealthy("x".into()), &S);
            t.observe(Probe::Unhealthy("x".into()), &S);
            t.observe(Probe::Healthy, &S);
        }
        assert!(t.is_ready());
    }

    #[test]
    fn conditions_use_kubefed_reasons() {
        let ready = status_for(&Health::Ready, Some("v1.37.2"), "t0");
        assert_eq!(ready.conditions[0].reason.as_deref(), Some("ClusterReady"));
        assert_eq!(ready.kubernetes_version.as_deref(), Some("v1.37.2"));
        let offline = status_for(&Health::Offline("refused".into()), None, "t0");
        assert!(offline.conditions.iter().any(|c| c.type_ == "Offline"
            && c.status == ConditionStatus::True
            && c.reason.as_deref() == Some("ClusterNotReachable")));
        let malformed = status_for(&Health::ConfigMalformed("bad".into()), None, "t0");
        assert!(
            malformed
                .conditions
                .iter()
                .any(|c| c.type_ == "ConfigMalformed" && c.reason.as_deref() == Some("ClusterConfigMalformed"))
        );
    }

    #[test]
    fn probe_times_alone_are_not_a_change() {
        let a = status_for(&Health::Ready, Some("v1"), "t0");
        let b = status_for(&Health::Ready, Some("v1"), "t1");
        assert!(!status_changed(Some(&a), &b));
        assert!(status_changed(
            Some(&a),
            &status_for(&Health::NotReady("HTTP 500".into()), Some("v1"), "t1")
        ));
        assert!(status_changed(None, &b));
        let mut c = status_for(&Health::Ready, Some("v1"), "t2");
        carry_transition_times(Some(&a), &mut c);
        assert_eq!(c.conditions[0].last_transition_time.as_deref(), Some("t0"));
    }
}
