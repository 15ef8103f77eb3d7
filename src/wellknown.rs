//! Every label, annotation, finalizer and field-manager name kfed reads or writes, in one
//! place. They are the anchors' own names (KubeFed's), so its users' tooling keeps working.

/// Label on every object kfed manages in a member cluster.
pub const MANAGED_LABEL: &str = "kubefed.io/managed";
/// Annotation on member objects holding the hash of what kfed last applied.
pub const HASH_ANNOTATION: &str = "kfed.io/desired-hash";
/// Annotation that keeps member objects when the federated object is deleted.
pub const ORPHAN_ANNOTATION: &str = "kubefed.io/orphan";
/// Annotation with JSON delete options used in the members.
pub const DELETE_OPTION_ANNOTATION: &str = "kubefed.io/deleteoption";
/// kubectl's copy of the whole last-applied object, dropped from cached host objects.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Finalizer on federated objects, KubeFed's name.
pub const FINALIZER: &str = "kubefed.io/sync-controller";
/// Finalizer of the FederatedTypeConfig controller, KubeFed's name.
pub const FTC_FINALIZER: &str = "core.kubefed.io/federated-type-config";
/// Field manager of every server-side apply kfed sends.
pub const FIELD_MANAGER: &str = "kfed";
/// Label on member ClusterRoles whose rules `kfed join`'s member role aggregates:
/// label a ClusterRole with it in a member to grant kfed access to more kinds there.
pub const AGGREGATE_TO_MEMBER_LABEL: &str = "kfed.io/aggregate-to-member";
