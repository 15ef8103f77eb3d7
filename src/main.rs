//! The `kfed` command.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kfed",
    version,
    about = "Kubernetes cluster federation, wire-compatible with KubeFed v1beta1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every kfed CRD as YAML, or write one file per CRD into a directory.
    #[command(
        after_help = "Examples:\n  kfed crds | kubectl apply --server-side -f -\n  kfed crds --output-dir config/crd/bases"
    )]
    Crds {
        /// Write one `<name>.yaml` per CRD into this directory instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Print the kfed version.
    Version,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Crds { output_dir } => crds(output_dir),
        Command::Version => {
            println!("kfed {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

fn crds(output_dir: Option<PathBuf>) -> Result<()> {
    let files = kfed::api::crds::all();
    match output_dir {
        None => {
            for file in &files {
                print!("---\n{}", kfed::api::crds::to_yaml(&file.crd)?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for file in &files {
                let path = dir.join(&file.file_name);
                std::fs::write(&path, kfed::api::crds::to_yaml(&file.crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!("wrote {} CRDs to {}", files.len(), dir.display());
        }
    }
    Ok(())
}
