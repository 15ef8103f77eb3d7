//! The status of a condition (`True`, `False` or `Unknown`), typed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A condition's `status`. A value other than the three reads as `Unknown`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    #[serde(other)]
    Unknown,
}

impl ConditionStatus {
    pub fn from_bool(value: bool) -> Self {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_kubernetes_strings() {
        for (text, status) in [
            ("True", ConditionStatus::True),
            ("False", ConditionStatus::False),
            ("Unknown", ConditionStatus::Unknown),
        ] {
            let json = format!("{text:?}");
            assert_eq!(serde_json::from_str::<ConditionStatus>(&json).ok(), Some(status));
            assert_eq!(serde_json::to_string(&status).ok(), Some(json));
            assert_eq!(status.as_str(), text);
        }
        assert_eq!(
            serde_json::from_str::<ConditionStatus>("\"Maybe\"").ok(),
            Some(ConditionStatus::Unknown)
        );
    }
}
