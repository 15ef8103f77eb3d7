//! `kfed crds`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Write one `<name>.yaml` per CRD into this directory instead of printing.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Also write the FederatedTypeConfig of every built-in kind, one `<name>.yaml`
    /// each plus a kustomization, into this directory (printed too without --output-dir).
    #[arg(long)]
    typeconfig_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let files = crate::api::crds::all();
    match &args.output_dir {
        None => {
            for file in &files {
                print!("---\n{}", crate::api::crds::to_yaml(&file.crd)?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for file in &files {
                write(&dir.join(&file.file_name), &crate::api::crds::to_yaml(&file.crd)?)?;
            }
            eprintln!("wrote {} CRDs to {}", files.len(), dir.display());
        }
    }
    if let Some(dir) = &args.typeconfig_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let typeconfigs = crate::api::crds::typeconfigs();
        for (file, yaml) in &typeconfigs {
            write(&dir.join(file), yaml)?;
        }
        let names: Vec<&str> = typeconfigs.iter().map(|(f, _)| f.as_str()).collect();
        write(
            &dir.join("kustomization.yaml"),
            &crate::api::crds::typeconfig_kustomization(&names),
        )?;
        eprintln!("wrote {} FederatedTypeConfigs to {}", typeconfigs.len(), dir.display());
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
