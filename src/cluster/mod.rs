//! Member clusters: one client per `KubeFedCluster`, health probes and conditions,
//! and the caches of managed objects fed by watches of every member.

pub mod caches;
pub mod config;
pub mod health;
pub mod member_object;
pub mod metrics;
pub mod registry;
pub mod tls;

pub use caches::MemberCaches;
pub use registry::{Member, Registry};

/// Current time in the RFC 3339 form Kubernetes uses (second precision).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| jiff::Timestamp::now().to_string())
}
