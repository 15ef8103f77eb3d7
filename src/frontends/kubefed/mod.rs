//! KubeFed's API. `Federated<Kind>` objects (`types.kubefed.io`) are decoded into
//! the engine's intents and reported on in KubeFed's status shape; one worker per
//! federated kind (`controllers`) runs them. FederatedTypeConfigs
//! (`core.kubefed.io`) decide which kinds run.
//!
//! decode → (engine: place, render, dispatch) → report, in `worker`.

pub mod controllers;
pub mod decode;
pub mod metrics;
pub mod orphans;
pub mod overrides;
pub mod report;
pub mod resolve;
pub mod shared;
pub mod status;
pub mod typeconfig;
pub mod worker;

pub use controllers::{KindSet, run};
pub use shared::Settings;
