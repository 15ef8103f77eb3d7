//! Emits the Rust source of every `Federated<Kind>` type for `build.rs`.
//!
//! The output is `include!`d by `src/api/federated.rs`, which provides the
//! shared building blocks it names (`Template`, `Placement`, `Overrides`,
//! `FederatedStatus`, `CrdConstructor`).

use crate::catalog::{Scope, TargetKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Rust source for the federated types of `kinds` plus a table of their CRDs.
pub fn federated_types(kinds: &[TargetKind]) -> String {
    let types = kinds.iter().map(federated_type);
    let table = kinds.iter().map(|k| {
        let ident = format_ident!("{}", k.federated_kind());
        let kind = k.kind;
        quote! { (#kind, <#ident as kube::CustomResourceExt>::crd) }
    });
    let file: TokenStream = quote! {
        #(#types)*

        /// Target kind and CRD constructor of every generated federated type, in catalog order.
        pub const GENERATED_CRDS: &[(&str, CrdConstructor)] = &[
            #(#table),*
        ];
    };
    match syn::parse2::<syn::File>(file.clone()) {
        Ok(parsed) => prettyplease::unparse(&parsed),
        // Unparseable output is a bug in this emitter; hand rustc the raw tokens so it points at it.
        Err(_) => file.to_string(),
    }
}

fn federated_type(k: &TargetKind) -> TokenStream {
    let spec = format_ident!("{}Spec", k.federated_kind());
    let federated_kind = k.federated_kind();
    let plural = k.federated_plural();
    let target: syn::Path =
        syn::parse_str(k.rust_type).unwrap_or_else(|e| panic!("catalog rust_type {:?}: {e}", k.rust_type));
    let namespaced = (k.federated_scope() == Scope::Namespaced).then(|| quote! { namespaced, });
    let short_names = k.federated_short_names();
    let short_names = short_names.iter().map(|s| quote! { shortname = #s, });
    let doc = format!(
        " `{federated_kind}` places a `{}` `{}` in member clusters: `template` is the object, `placement` picks the clusters and `overrides` patch it per cluster.",
        k.api_version(),
        k.kind
    );
    let retain_replicas = k.scalable.then(|| {
        quote! {
            /// Keep the `spec.replicas` that each member cluster has (for example set by an
            /// autoscaler) instead of the template's, once the object exists there.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub retain_replicas: Option<bool>,
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
        #[kube(
            group = "types.kubefed.io",
            version = "v1beta1",
            kind = #federated_kind,
            plural = #plural,
            doc = #doc,
            #namespaced
            status = "FederatedStatus",
            #(#short_names)*
            category = "federated",
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Propagation\")].status"}"#,
            printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Propagation\")].reason","priority":1}"#,
            printcolumn = r#"{"name":"Clusters","type":"string","jsonPath":".status.clusters[*].name"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[serde(rename_all = "camelCase")]
        pub struct #spec {
            /// The object to create in each placed cluster. Its schema is the target kind's;
            /// fields unknown to this version of kfed are kept, not pruned.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub template: Option<Template<#target>>,
            /// Which member clusters receive the object.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub placement: Option<Placement>,
            /// Per-cluster RFC 6902 JSON patches applied to the template.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub overrides: Option<Overrides>,
            #retain_replicas
        }
    }
}
