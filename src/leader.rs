//! Leader election on the `coordination.k8s.io` Lease `kfed-controller`.
//!
//! The protocol is client-go's (the one kube-controller-manager and KubeFed use), so its
//! timings mean what Kubernetes operators expect:
//!
//! - a candidate takes the Lease only when its record has not changed for the lease
//!   duration *as this candidate observed it* (its own monotonic clock, not the
//!   timestamps in the Lease, so clock skew between replicas does not matter), or when
//!   the holder released it;
//! - the holder renews every retry period; when no renewal has succeeded for the renew
//!   deadline it stops acting. The deadline is shorter than the lease duration, so a
//!   starved or partitioned leader steps down before anyone else may take over.
//!
//! Stepping down does not depend on the async runtime being responsive: a plain thread
//! watches the time of the last successful renewal and ends the process when the
//! deadline has passed, even while every async task is starved (see [`Fence`]).

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// client-go's defaults, which kube-controller-manager and KubeFed use as well.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timings {
    /// How long a candidate waits on an unchanged record before it takes the Lease.
    pub lease_duration: Duration,
    /// How long the holder keeps acting without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the holder renews and a candidate looks again.
    pub retry_period: Duration,
}

impl Timings {
    pub fn validate(self) -> Result<Self, LeaderError> {
        if self.renew_deadline >= self.lease_duration {
            return Err(LeaderError::Timings(self.renew_deadline, self.lease_duration));
        }
        Ok(self)
    }
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("the renew deadline ({0:?}) must be shorter than the lease duration ({1:?})")]
    Timings(Duration, Duration),
    #[error("reading the Lease {0}: {1}")]
    Read(String, #[source] kube::Error),
    #[error("writing the Lease {0}: {1}")]
    Write(String, #[source] kube::Error),
}

/// The Lease record as last seen, and when this process first saw it so.
#[derive(Clone)]
struct Observed {
    record: Option<LeaseSpec>,
    at: Instant,
}

#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
    observed: Option<Observed>,
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> Result<Self, LeaderError> {
        Ok(Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timings: timings.validate()?,
            observed: None,
        })
    }

    /// Waits until this process holds the Lease. Failed attempts are logged and retried.
    pub async fn acquire(&mut self) -> Instant {
        loop {
            let attempt = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(true) => return attempt,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election: acquiring the Lease failed; retrying"),
            }
            tokio::time::sleep(self.next_attempt()).await;
        }
    }

    /// The retry period, or less when the observed record expires sooner: a standby
    /// takes over as soon as the lease duration has passed, not up to a period later.
    fn next_attempt(&self) -> Duration {
        let retry = jittered(self.timings.retry_period);
        let Some(observed) = &self.observed else {
            return retry;
        };
        let expires_in = self
            .duration_of(observed.record.as_ref())
            .saturating_sub(observed.at.elapsed());
        retry.min(expires_in + Duration::from_millis(10))
    }

    /// Renews the Lease every retry period, for as long as renewals keep succeeding within
    /// the renew deadline. Returns when leadership is lost; `fence` learns every renewal.
    pub async fn keep(&mut self, mut renewed: Instant, fence: &Fence) -> LostBecause {
        loop {
            tokio::time::sleep(self.timings.retry_period).await;
            let deadline = renewed + self.timings.renew_deadline;
            let attempt = Instant::now();
            match tokio::time::timeout_at(deadline.into(), self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    renewed = attempt;
                    fence.renewed(attempt);
                }
                Ok(Ok(false)) => return LostBecause::TakenOver,
                Ok(Err(e)) => warn!(error = %e, "leader election: renewing the Lease failed"),
                Err(_) => return LostBecause::Deadline(self.timings.renew_deadline),
            }
            if Instant::now() >= deadline {
                return LostBecause::Deadline(self.timings.renew_deadline);
            }
        }
    }

    /// Gives the Lease up, so a standby takes over at its next attempt instead of after
    /// the lease duration. Does nothing when another process holds it.
    pub async fn release(&self) -> Result<(), LeaderError> {
        let lease = self.api.get(&self.name).await.map_err(|e| self.read_error(e))?;
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return Ok(());
        }
        let now = Some(MicroTime(Timestamp::now()));
        let released = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: now.clone(),
            renew_time: now,
            ..spec
        };
        self.replace(lease, released).await.map(|_| ())
    }

    /// One attempt, as client-go's `tryAcquireOrRenew`: true when this process holds the
    /// Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let Some(lease) = self.api.get_opt(&self.name).await.map_err(|e| self.read_error(e))? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(claim(&self.identity, self.timings.lease_duration, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec);
                    Ok(true)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(LeaderError::Write(self.name.clone(), e)),
            };
        };
        let record = lease.spec.clone().unwrap_or_default();
        self.observe(Some(record.clone()));
        let holder = record.holder_identity.as_deref().filter(|h| !h.is_empty());
        if holder.is_some_and(|h| h != self.identity) && !self.expired(&record) {
            debug!(holder = ?holder, "leader election: the Lease is held");
            return Ok(false);
        }
        let spec = claim(&self.identity, self.timings.lease_duration, Some(&record));
        match self.replace(lease, spec).await {
            Ok(written) => {
                self.observe(written.spec);
                Ok(true)
            }
            Err(LeaderError::Write(_, kube::Error::Api(s))) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn replace(&self, mut lease: Lease, spec: LeaseSpec) -> Result<Lease, LeaderError> {
        lease.spec = Some(spec);
        // The resourceVersion read with it makes the write conditional: of two candidates
        // racing for an expired Lease, one gets 409 Conflict.
        let name = lease.name_any();
        self.api
            .replace(&name, &PostParams::default(), &lease)
            .await
            .map_err(|e| LeaderError::Write(name, e))
    }

    fn observe(&mut self, record: Option<LeaseSpec>) {
        if self.observed.as_ref().is_none_or(|o| o.record != record) {
            self.observed = Some(Observed {
                record,
                at: Instant::now(),
            });
        }
    }

    /// Whether the observed record stayed unchanged for its holder's lease duration.
    fn expired(&self, record: &LeaseSpec) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.record.as_ref() == Some(record) && o.at.elapsed() >= self.duration_of(Some(record)))
    }

    /// The lease duration the holder wrote into the record (ours when it wrote none).
    fn duration_of(&self, record: Option<&LeaseSpec>) -> Duration {
        record
            .and_then(|r| r.lease_duration_seconds)
            .map_or(self.timings.lease_duration, |s| Duration::from_secs(s.max(0) as u64))
    }

    fn read_error(&self, e: kube::Error) -> LeaderError {
        LeaderError::Read(self.name.clone(), e)
    }
}

/// The record that says `identity` holds the Lease from now on: a renewal keeps the
/// acquire time and the transition count, a takeover starts both anew.
fn claim(identity: &str, lease_duration: Duration, previous: Option<&LeaseSpec>) -> LeaseSpec {
    let now = Some(MicroTime(Timestamp::now()));
    let holding = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(identity));
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        renew_time: now.clone(),
        acquire_time: match previous {
            Some(p) if holding => p.acquire_time.clone(),
            _ => now,
        },
        lease_transitions: match previous {
            Some(p) if holding => p.lease_transitions,
            Some(p) => Some(p.lease_transitions.unwrap_or(0) + 1),
            None => Some(0),
        },
        ..previous.cloned().unwrap_or_default()
    }
}

/// Why this process stopped leading.
#[derive(Debug)]
pub enum LostBecause {
    TakenOver,
    Deadline(Duration),
}

impl std::fmt::Display for LostBecause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostBecause::TakenOver => write!(f, "another replica holds the Lease"),
            LostBecause::Deadline(d) => write!(f, "no renewal succeeded within the renew deadline ({d:?})"),
        }
    }
}

/// Ends the process when the leader's last successful renewal is older than the renew
/// deadline, from a plain thread, so a leader whose async tasks are starved (a saturated
/// CPU, a blocked runtime) still stops before a standby may take the Lease over.
#[derive(Clone)]
pub struct Fence {
    origin: Instant,
    renewed_ms: Arc<AtomicU64>,
    disarmed: Arc<std::sync::atomic::AtomicBool>,
}

impl Fence {
    /// Starts the watch thread; `renewed` is when the Lease was acquired.
    pub fn start(renewed: Instant, renew_deadline: Duration) -> Fence {
        let fence = Fence {
            origin: renewed,
            renewed_ms: Arc::new(AtomicU64::new(0)),
            disarmed: Arc::default(),
        };
        let watched = fence.clone();
        std::thread::Builder::new()
            .name("kfed-lease-fence".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    if watched.disarmed.load(Ordering::Acquire) {
                        return;
                    }
                    let renewed = watched.origin + Duration::from_millis(watched.renewed_ms.load(Ordering::Acquire));
                    if renewed.elapsed() >= renew_deadline {
                        // Written directly: the log's async writers may be the starved part.
                        eprintln!(
                            "kfed: lost leadership: no Lease renewal for {renew_deadline:?} (the renew deadline); exiting"
                        );
                        std::process::exit(1);
                    }
                }
            })
            // Without the thread there is no fence: refuse to lead rather than lead unfenced.
            .unwrap_or_else(|e| {
                eprintln!("kfed: starting the leader fence thread failed: {e}; exiting");
                std::process::exit(1)
            });
        fence
    }

    /// Called once this process has stopped acting (a graceful stop), before the Lease
    /// is released: the release itself may take longer than the deadline.
    pub fn disarm(&self) {
        self.disarmed.store(true, Ordering::Release);
    }

    fn renewed(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.origin).as_millis() as u64;
        self.renewed_ms.fetch_max(ms, Ordering::AcqRel);
    }
}

/// The retry period plus up to 20 % (client-go's jitter factor 1.2), so candidates started
/// together do not collide on every attempt.
fn jittered(period: Duration) -> Duration {
    period.mul_f64(1.0 + rand::random::<f64>() * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renew_deadline_must_be_shorter_than_the_lease() {
        let timings = Timings {
            renew_deadline: Duration::from_secs(15),
            ..Timings::default()
        };
        let defaults = Timings::default();
        assert!(defaults.renew_deadline + defaults.retry_period < defaults.lease_duration);
        assert!(matches!(timings.validate(), Err(LeaderError::Timings(d, l)) if d == l));
        assert!(defaults.validate().is_ok());
    }

    #[test]
    fn a_renewal_keeps_the_acquire_time_and_a_takeover_counts_a_transition() {
        let lease = Duration::from_secs(15);
        let first = claim("a", lease, None);
        assert_eq!(first.holder_identity.as_deref(), Some("a"));
        assert_eq!(first.lease_duration_seconds, Some(15));
        assert_eq!(first.lease_transitions, Some(0));
        assert_eq!(first.acquire_time, first.renew_time);

        std::thread::sleep(Duration::from_millis(2));
        let renewed = claim("a", lease, Some(&first));
        assert_eq!(renewed.acquire_time, first.acquire_time);
        assert_eq!(renewed.lease_transitions, Some(0));
        assert!(renewed.renew_time > first.renew_time);

        let taken = claim("b", lease, Some(&renewed));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert!(taken.acquire_time > first.acquire_time);

        // After a release (no holder) the next holder counts a transition too.
        let released = LeaseSpec {
            holder_identity: None,
            ..taken
        };
        assert_eq!(claim("a", lease, Some(&released)).lease_transitions, Some(2));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(2));
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2400), "{d:?}");
        }
    }
}
