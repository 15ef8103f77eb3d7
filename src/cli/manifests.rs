//! Manifests read from a file or stdin, for `kfed federate -f` and `kfed enable -f`.

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// The objects in a YAML or JSON stream from `file` (`-` is stdin): every document, with
/// the items of a `List` spread out and empty documents skipped.
pub fn read(file: &Path) -> Result<Vec<Value>> {
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    }
    let mut docs = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value =
            Value::deserialize(document).with_context(|| format!("{}: document {}", file.display(), index + 1))?;
        match value {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                docs.extend(map.get("items").and_then(Value::as_array).cloned().unwrap_or_default());
            }
            other => docs.push(other),
        }
    }
    Ok(docs)
}
