//! Front ends: each watches its own API and tells the engine what to run.

pub mod kubefed;
