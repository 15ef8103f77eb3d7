//! `kfed enable -f`: a CRD, or a KubeFed `EnableTypeDirective`, from a file or stdin.

use super::*;

/// KubeFed's `EnableTypeDirective` (what `kubefedctl enable -f` reads).
#[derive(Deserialize)]
pub(super) struct Directive {
    pub(super) metadata: DirectiveMeta,
    #[serde(default)]
    pub(super) spec: DirectiveSpec,
}

#[derive(Deserialize)]
pub(super) struct DirectiveMeta {
    pub(super) name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct DirectiveSpec {
    pub(super) target_version: Option<String>,
    pub(super) federated_group: Option<String>,
    pub(super) federated_version: Option<String>,
}

pub(super) fn directive(docs: &[Value]) -> Result<Option<Directive>> {
    docs.iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("EnableTypeDirective"))
        .map(|d| serde_json::from_value(d.clone()).context("reading the EnableTypeDirective (it needs metadata.name)"))
        .transpose()
}

/// The CRD of the file named `name`, or its only CRD.
pub(super) fn crd_from_file(file: &Path, docs: &[Value], name: Option<&str>) -> Result<CustomResourceDefinition> {
    let mut crds = Vec::new();
    for doc in docs.iter().filter(|d| {
        d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
            && d.get("apiVersion").and_then(Value::as_str) == Some("apiextensions.k8s.io/v1")
    }) {
        let crd: CustomResourceDefinition = serde_json::from_value(doc.clone())
            .with_context(|| format!("{}: reading a CustomResourceDefinition", file.display()))?;
        crds.push(crd);
    }
    let matching: Vec<CustomResourceDefinition> = match name {
        None => crds,
        Some(name) => {
            let key = name.to_ascii_lowercase();
            crds.into_iter()
                .filter(|crd| {
                    let n = &crd.spec.names;
                    let kind = n.kind.to_ascii_lowercase();
                    [
                        crd.metadata.name.clone().unwrap_or_default(),
                        n.plural.clone(),
                        n.singular.clone().unwrap_or_default(),
                        kind.clone(),
                        format!("{kind}.{}", crd.spec.group),
                    ]
                    .contains(&key)
                        || n.short_names.iter().flatten().any(|s| s.eq_ignore_ascii_case(&key))
                })
                .collect()
        }
    };
    let what = name.map(|n| format!(" named {n}")).unwrap_or_default();
    match <[CustomResourceDefinition; 1]>::try_from(matching) {
        Ok([crd]) => Ok(crd),
        Err(m) if m.is_empty() => bail!(
            "{} holds no apiextensions.k8s.io/v1 CustomResourceDefinition{what}",
            file.display()
        ),
        Err(m) => bail!(
            "{} holds several CustomResourceDefinitions{what} ({}); name the one to federate",
            file.display(),
            m.iter()
                .filter_map(|c| c.metadata.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
