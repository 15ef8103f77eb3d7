//! The measured phases, each an `Env` method that `bench` calls in turn.

mod backlog;
mod ceiling;
mod latency;
mod quiet;
mod waves;
