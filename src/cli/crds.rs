//! `kfed crds`.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Write one `<name>.yaml` per CRD into this directory instead of printing.
    #[arg(long)]
    output_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let files = crate::api::crds::all();
    match args.output_dir {
        None => {
            for file in &files {
                print!("---\n{}", crate::api::crds::to_yaml(&file.crd)?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for file in &files {
                let path = dir.join(&file.file_name);
                std::fs::write(&path, crate::api::crds::to_yaml(&file.crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!("wrote {} CRDs to {}", files.len(), dir.display());
        }
    }
    Ok(())
}
