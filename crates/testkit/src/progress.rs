//! Time bounds from measured progress.
//!
//! A wait over many objects fails when what it watches stops moving, not after a fixed
//! number of seconds: a loaded machine slows a run down without failing it, and a stall
//! (nothing converging any more) still fails it. The window is a floor, widened to a
//! multiple of the longest pause between two improvements seen so far in the same wait,
//! so the bound follows the pace the machine actually delivers.

use std::time::{Duration, Instant};

/// The shortest stall that fails a wait. Pauses of a few seconds are normal: a member
/// returning from an outage is health-checked and its watches restart before anything
/// converges again; a restarted operator fills its caches first.
pub const STALL_FLOOR: Duration = Duration::from_secs(30);
/// How many times the longest pause seen so far a wait tolerates.
const PAUSE_FACTOR: u32 = 5;

pub struct Stall {
    what: String,
    floor: Duration,
    /// The smallest distance from the goal seen so far, and when it was reached.
    best: Option<usize>,
    improved: Instant,
    longest_pause: Duration,
}

impl Stall {
    pub fn new(what: impl Into<String>) -> Stall {
        Stall::with_floor(what, STALL_FLOOR)
    }

    pub fn with_floor(what: impl Into<String>, floor: Duration) -> Stall {
        Stall {
            what: what.into(),
            floor,
            best: None,
            improved: Instant::now(),
            longest_pause: Duration::ZERO,
        }
    }

    /// The window a pause may last at this point of the wait.
    pub fn window(&self) -> Duration {
        self.floor.max(self.longest_pause * PAUSE_FACTOR)
    }

    /// Records how far the observed state still is from the goal (objects lost, stale or
    /// extra, objects left, statuses behind): true when it has not shrunk for the window.
    pub fn stalled(&mut self, distance: usize) -> bool {
        if self.best.is_none_or(|best| distance < best) {
            if self.best.is_some() {
                self.longest_pause = self.longest_pause.max(self.improved.elapsed());
            }
            self.best = Some(distance);
            self.improved = Instant::now();
        }
        self.stalled_for() >= self.window()
    }

    /// How long since the distance last shrank.
    pub fn stalled_for(&self) -> Duration {
        self.improved.elapsed()
    }

    /// As [`Stall::stalled`], failing the test with `detail` on a stall.
    pub fn observe(&mut self, distance: usize, detail: impl FnOnce() -> String) {
        if self.stalled(distance) {
            self.fail(detail());
        }
    }

    /// Fails on a stall when this poll observed nothing (a failed read is no progress).
    pub fn check(&self, detail: impl FnOnce() -> String) {
        if self.stalled_for() >= self.window() {
            self.fail(detail());
        }
    }

    fn fail(&self, detail: String) -> ! {
        panic!(
            "{}: no progress for {:.1?} (window {:.1?}: {:?}, or {PAUSE_FACTOR} × the longest pause so far, {:.1?}); closest: {} to go; now: {detail}",
            self.what,
            self.stalled_for(),
            self.window(),
            self.floor,
            self.longest_pause,
            self.best.map_or("?".to_string(), |b| b.to_string()),
        )
    }
}
