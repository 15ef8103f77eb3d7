//! `-o yaml|json` output.

use anyhow::Result;
use serde_json::Value;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

/// Prints objects as YAML documents or as one JSON List.
pub fn print_objects(objects: &[Value], output: Output) -> Result<()> {
    match output {
        Output::Yaml => {
            for obj in objects {
                print!("---\n{}", serde_yaml_ng::to_string(obj)?);
            }
        }
        Output::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    Ok(())
}
