//! Which type `kfed enable` means: a catalog kind, or a resource the host serves (found by
//! discovery, typed by its CRD when it is one).

use super::*;

/// The target named `name`: a catalog kind, or a resource the host serves (typed by its
/// CRD when it is one).
pub(super) async fn resolve(name: &str, version: Option<&str>, host: &mut Host<'_>) -> Result<Target> {
    if let Some(target) = builtin(name, version)? {
        return Ok(target);
    }
    let client = host.client().await?;
    let served = discover(&client, name, version).await?;
    let resource = &served.resource;
    let mut target = Target {
        group: served.group.clone(),
        version: served.version.clone(),
        kind: resource.kind.clone(),
        plural: resource.name.clone(),
        scope: if resource.namespaced {
            ResourceScope::Namespaced
        } else {
            ResourceScope::Cluster
        },
        short_names: resource.short_names.clone().unwrap_or_default(),
        scalable: served.scalable,
        schema: None,
        builtin: None,
    };
    if !target.group.is_empty() && target.check(&FederatedApi::default()).is_ok() {
        let crd_name = format!("{}.{}", target.plural, target.group);
        let crd = Api::<CustomResourceDefinition>::all(client)
            .get_opt(&crd_name)
            .await
            .map_err(api_error)
            .with_context(|| format!("reading CustomResourceDefinition {crd_name} for the template's schema"))?;
        if let Some(crd) = crd {
            target = Target::from_crd(&crd, Some(&target.version))?;
        }
    }
    promote_builtin(target, version)
}

/// A catalog kind by any name `kfed_codegen::lookup` accepts, except a federated one.
pub(super) fn builtin(name: &str, version: Option<&str>) -> Result<Option<Target>> {
    let Some(kind) = kfed_codegen::lookup(name) else {
        return Ok(None);
    };
    let lower = name.to_ascii_lowercase();
    let target = Target::builtin(kind);
    if lower == kind.federated_kind().to_ascii_lowercase()
        || lower == kind.federated_plural()
        || kind.federated_short_names().contains(&lower)
    {
        bail!(
            "{name} is a federated type already; enable its target type instead (kfed enable {})",
            target.qualified_name()
        );
    }
    promote_builtin(target, version).map(Some)
}

/// A target that is a catalog kind is federated by the built-in CRD, which exists at the
/// catalog's version only (`version`: the one asked for, if any).
pub(super) fn promote_builtin(target: Target, version: Option<&str>) -> Result<Target> {
    let Some(kind) = kfed_codegen::CATALOG
        .iter()
        .find(|k| k.group == target.group && k.plural == target.plural)
    else {
        return Ok(target);
    };
    if let Some(wanted) = version
        && wanted != kind.version
    {
        bail!(
            "kfed federates {} at version {} only (its {} is built in), not {wanted}",
            target.qualified_name(),
            kind.version,
            kind.federated_kind()
        );
    }
    Ok(Target::builtin(kind))
}

/// A resource found by discovery.
#[derive(Debug)]
pub(super) struct Served {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) resource: APIResource,
    pub(super) scalable: bool,
}

/// Finds `name` among the resources the host serves, at `version` or else at the
/// highest-priority version of its group that serves it (client-go's
/// `ServerPreferredResources`, which `kubefedctl enable` uses): a resource that only an
/// older version of a group serves is still found.
pub(super) async fn discover(client: &Client, name: &str, version: Option<&str>) -> Result<Served> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(api_error)
        .context("listing the host's API groups")?;
    let core = client
        .list_core_api_versions()
        .await
        .map_err(api_error)
        .context("listing the host's core API versions")?;
    // Versions in the order discovery gives them: by priority, the preferred one first.
    let pick = |versions: Vec<String>| -> Vec<String> {
        match version {
            Some(v) => versions.into_iter().filter(|x| x == v).collect(),
            None => versions,
        }
    };
    let mut wanted: Vec<(String, String)> = Vec::new();
    wanted.extend(pick(core.versions.clone()).into_iter().map(|v| (String::new(), v)));
    let searched = groups.groups.len() + 1;
    for group in groups.groups {
        let versions = group.versions.iter().map(|v| v.version.clone()).collect();
        wanted.extend(pick(versions).into_iter().map(|v| (group.name.clone(), v)));
    }
    let lists: Vec<(String, String, kube::Result<APIResourceList>)> = stream::iter(wanted)
        .map(|(group, v)| {
            let client = client.clone();
            async move {
                let list = if group.is_empty() {
                    client.list_core_api_resources(&v).await
                } else {
                    client.list_api_group_resources(&format!("{group}/{v}")).await
                };
                (group, v, list)
            }
        })
        .buffered(8)
        .collect()
        .await;
    let mut listed = Vec::new();
    let mut failed = Vec::new();
    for (group, v, list) in lists {
        match list {
            Ok(list) => listed.push((group, v, list)),
            Err(e) => failed.push(format!(
                "{}: {}",
                if group.is_empty() { v } else { format!("{group}/{v}") },
                describe(&e)
            )),
        }
    }
    match find_resource(name, &preferred(listed)) {
        Ok(Some(served)) => Ok(served),
        Ok(None) => {
            let at = version.map_or_else(|| "any served version".to_string(), |v| format!("version {v}"));
            let unlisted = if failed.is_empty() {
                String::new()
            } else {
                format!("; could not list {}", failed.join("; "))
            };
            bail!(
                "no resource named {name} is served by the host cluster (looked for a plural, singular, kind or short name, <plural>.<group> or <kind>.<group> in {searched} API groups at {at}{unlisted})"
            )
        }
        Err(matched) => bail!(
            "{name} names several resources: {}; give <plural>.<group>",
            matched.join(", ")
        ),
    }
}

/// Discovery `lists` of (group, version, resources), in priority order per group, with
/// each resource (and its subresources) kept only at the first version that serves it.
pub(super) fn preferred(lists: Vec<(String, String, APIResourceList)>) -> Vec<(String, String, APIResourceList)> {
    let mut seen: std::collections::BTreeSet<(String, String)> = std::collections::BTreeSet::new();
    lists
        .into_iter()
        .map(|(group, version, mut list)| {
            let base = |r: &APIResource| r.name.split('/').next().unwrap_or_default().to_string();
            list.resources.retain(|r| !seen.contains(&(group.clone(), base(r))));
            seen.extend(list.resources.iter().map(|r| (group.clone(), base(r))));
            (group, version, list)
        })
        .collect()
}

/// The resource `name` designates in discovery `lists` of (group, version, resources); a
/// core one wins, as in KubeFed; several others are ambiguous (their names in `Err`).
pub(super) fn find_resource(
    name: &str,
    lists: &[(String, String, APIResourceList)],
) -> Result<Option<Served>, Vec<String>> {
    let key = name.to_ascii_lowercase();
    let mut found: Vec<Served> = Vec::new();
    for (group, version, list) in lists {
        for resource in list.resources.iter().filter(|r| !r.name.contains('/')) {
            let kind = resource.kind.to_ascii_lowercase();
            let matches = key == resource.name
                || (!resource.singular_name.is_empty() && key == resource.singular_name)
                || key == kind
                || (!group.is_empty()
                    && (key == format!("{}.{group}", resource.name) || key == format!("{kind}.{group}")))
                || resource
                    .short_names
                    .iter()
                    .flatten()
                    .any(|s| s.eq_ignore_ascii_case(&key));
            if !matches {
                continue;
            }
            let scale = format!("{}/scale", resource.name);
            let served = Served {
                group: group.clone(),
                version: version.clone(),
                resource: resource.clone(),
                scalable: list.resources.iter().any(|r| r.name == scale),
            };
            if group.is_empty() {
                return Ok(Some(served));
            }
            found.push(served);
        }
    }
    if found.len() > 1 {
        return Err(found
            .iter()
            .map(|s| format!("{}.{}", s.resource.name, s.group))
            .collect());
    }
    Ok(found.pop())
}
