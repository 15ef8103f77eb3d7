//! The controller's settings from its flags and the `KubeFedConfig` `kubefed`, as
//! KubeFed reads them: once, at start-up. A flag given on the command line wins over
//! the KubeFedConfig, which wins over the defaults (KubeFed's, except where kfed's
//! differ on purpose: 64 workers, a 2 s leader retry period).

use crate::api::kubefedconfig::{KubeFedConfigSpec, Mode, Scope};
use crate::leader::Timings;
use std::time::Duration;

/// The settings the command line gave explicitly (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub adopt_resources: Option<bool>,
    pub cluster_health_period: Option<Duration>,
    pub cluster_failure_threshold: Option<u32>,
    pub cluster_success_threshold: Option<u32>,
    pub cluster_health_timeout: Option<Duration>,
}

/// What the controller runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub adopt_resources: bool,
    pub cluster_health_period: Duration,
    pub cluster_failure_threshold: u32,
    pub cluster_success_threshold: u32,
    pub cluster_health_timeout: Duration,
    pub leader: Timings,
    /// Fields of the KubeFedConfig that were ignored, and why (each becomes a Warning
    /// Event on the KubeFedConfig and a log line).
    pub ignored: Vec<String>,
}

/// Flags over the KubeFedConfig over the defaults. Never fails: a field that cannot be
/// used is reported in `ignored` and its default is kept.
pub fn resolve(flags: &Flags, config: Option<&KubeFedConfigSpec>) -> Resolved {
    let mut ignored = Vec::new();
    let mut duration = |field: &str, value: Option<&String>| -> Option<Duration> {
        let text = value?;
        match parse_go_duration(text) {
            Some(d) if !d.is_zero() => Some(d),
            _ => {
                ignored.push(format!(
                    "{field}: {text:?} is not a positive duration such as 10s or 1m30s"
                ));
                None
            }
        }
    };
    let health = config.and_then(|c| c.cluster_health_check.as_ref());
    let period = duration("spec.clusterHealthCheck.period", health.and_then(|h| h.period.as_ref()));
    let timeout = duration(
        "spec.clusterHealthCheck.timeout",
        health.and_then(|h| h.timeout.as_ref()),
    );
    let leader = config.and_then(|c| c.leader_elect.as_ref());
    let defaults = Timings::default();
    let timings = Timings {
        lease_duration: duration(
            "spec.leaderElect.leaseDuration",
            leader.and_then(|l| l.lease_duration.as_ref()),
        )
        .unwrap_or(defaults.lease_duration),
        renew_deadline: duration(
            "spec.leaderElect.renewDeadline",
            leader.and_then(|l| l.renew_deadline.as_ref()),
        )
        .unwrap_or(defaults.renew_deadline),
        retry_period: duration(
            "spec.leaderElect.retryPeriod",
            leader.and_then(|l| l.retry_period.as_ref()),
        )
        .unwrap_or(defaults.retry_period),
    };
    let timings = if timings.validate().is_err() || timings.retry_period >= timings.renew_deadline {
        ignored.push(format!(
            "spec.leaderElect: the retry period ({:?}) must be shorter than the renew deadline ({:?}), and that shorter than the lease duration ({:?}); using {:?} / {:?} / {:?}",
            timings.retry_period,
            timings.renew_deadline,
            timings.lease_duration,
            defaults.retry_period,
            defaults.renew_deadline,
            defaults.lease_duration
        ));
        defaults
    } else {
        timings
    };
    if config.is_some_and(|c| c.scope == Scope::Namespaced) {
        ignored.push("spec.scope: Namespaced (a namespace-scoped control plane) is not supported; kfed federates every namespace (Cluster)".into());
    }
    let threshold = |field: &str, value: Option<i64>, ignored: &mut Vec<String>| -> Option<u32> {
        let v = value?;
        match u32::try_from(v) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                ignored.push(format!("{field}: {v} is not a count of at least 1"));
                None
            }
        }
    };
    let failure = threshold(
        "spec.clusterHealthCheck.failureThreshold",
        health.and_then(|h| h.failure_threshold),
        &mut ignored,
    );
    let success = threshold(
        "spec.clusterHealthCheck.successThreshold",
        health.and_then(|h| h.success_threshold),
        &mut ignored,
    );
    let adopt = config
        .and_then(|c| c.sync_controller.as_ref())
        .and_then(|s| s.adopt_resources)
        .map(|m| m == Mode::Enabled);
    Resolved {
        adopt_resources: flags.adopt_resources.or(adopt).unwrap_or(true),
        cluster_health_period: flags
            .cluster_health_period
            .or(period)
            .unwrap_or(Duration::from_secs(10)),
        cluster_failure_threshold: flags.cluster_failure_threshold.or(failure).unwrap_or(3),
        cluster_success_threshold: flags.cluster_success_threshold.or(success).unwrap_or(1),
        cluster_health_timeout: flags
            .cluster_health_timeout
            .or(timeout)
            .unwrap_or(Duration::from_secs(3)),
        leader: timings,
        ignored,
    }
}

/// A Go duration (`time.ParseDuration`): one or more decimal numbers with a unit each,
/// `ns`, `us`, `µs`, `ms`, `s`, `m` or `h` (`1m30s`, `1.5s`, `300ms`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = after;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::kubefedconfig::{ClusterHealthCheckConfig, LeaderElectConfig, SyncControllerConfig};

    #[test]
    fn go_durations() {
        let cases = [
            ("10s", Some(10_000)),
            ("1m30s", Some(90_000)),
            ("1.5s", Some(1_500)),
            ("300ms", Some(300)),
            ("1h", Some(3_600_000)),
            ("2m0s", Some(120_000)),
            ("", None),
            ("10", None),
            ("s", None),
            ("10x", None),
            ("-1s", None),
            ("1..5s", None),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_millis() as u64),
                millis,
                "{text:?}"
            );
        }
    }

    fn config() -> KubeFedConfigSpec {
        KubeFedConfigSpec {
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: Some("20s".into()),
                failure_threshold: Some(5),
                success_threshold: Some(2),
                timeout: Some("4s".into()),
            }),
            sync_controller: Some(SyncControllerConfig {
                max_concurrent_reconciles: None,
                adopt_resources: Some(Mode::Disabled),
            }),
            leader_elect: Some(LeaderElectConfig {
                lease_duration: Some("30s".into()),
                renew_deadline: Some("20s".into()),
                retry_period: Some("4s".into()),
                resource_lock: None,
            }),
            ..KubeFedConfigSpec::default()
        }
    }

    #[test]
    fn defaults_are_kubefeds() {
        let r = resolve(&Flags::default(), None);
        assert!(r.adopt_resources);
        assert_eq!(r.cluster_health_period, Duration::from_secs(10));
        assert_eq!((r.cluster_failure_threshold, r.cluster_success_threshold), (3, 1));
        assert_eq!(r.cluster_health_timeout, Duration::from_secs(3));
        assert_eq!(r.leader, Timings::default());
        assert!(r.ignored.is_empty());
    }

    #[test]
    fn the_kubefedconfig_overrides_defaults_and_flags_override_it() {
        let c = config();
        let r = resolve(&Flags::default(), Some(&c));
        assert!(!r.adopt_resources);
        assert_eq!(r.cluster_health_period, Duration::from_secs(20));
        assert_eq!((r.cluster_failure_threshold, r.cluster_success_threshold), (5, 2));
        assert_eq!(r.cluster_health_timeout, Duration::from_secs(4));
        assert_eq!(r.leader.lease_duration, Duration::from_secs(30));
        assert_eq!(r.leader.retry_period, Duration::from_secs(4));
        assert!(r.ignored.is_empty(), "{:?}", r.ignored);

        let flags = Flags {
            adopt_resources: Some(true),
            cluster_health_period: Some(Duration::from_secs(1)),
            cluster_failure_threshold: Some(2),
            cluster_success_threshold: None,
            cluster_health_timeout: Some(Duration::from_secs(1)),
        };
        let r = resolve(&flags, Some(&c));
        assert!(r.adopt_resources);
        assert_eq!(r.cluster_health_period, Duration::from_secs(1));
        assert_eq!((r.cluster_failure_threshold, r.cluster_success_threshold), (2, 2));
        assert_eq!(r.cluster_health_timeout, Duration::from_secs(1));
    }

    #[test]
    fn unusable_fields_are_reported_and_keep_their_defaults() {
        let mut c = config();
        if let Some(h) = c.cluster_health_check.as_mut() {
            h.period = Some("ten seconds".into());
            h.failure_threshold = Some(0);
        }
        if let Some(l) = c.leader_elect.as_mut() {
            l.renew_deadline = Some("40s".into());
        }
        c.scope = Scope::Namespaced;
        let r = resolve(&Flags::default(), Some(&c));
        assert_eq!(r.cluster_health_period, Duration::from_secs(10));
        assert_eq!(r.cluster_failure_threshold, 3);
        assert_eq!(r.leader, Timings::default());
        let all = r.ignored.join("\n");
        for fragment in [
            "spec.clusterHealthCheck.period: \"ten seconds\"",
            "failureThreshold: 0",
            "spec.leaderElect",
            "spec.scope: Namespaced",
        ] {
            assert!(all.contains(fragment), "{fragment:?} missing in {all}");
        }
    }
}
