//! Command-line interface. Errors are reported on stderr with the object and
//! cluster they concern, and the process exits non-zero.

mod clients;
mod controller;
mod crds;
mod enable;
mod federate;
mod join;
mod kubefedconfig;
mod manifests;
mod orphaning;
mod output;
mod settings;
mod status;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Run the sync controller against the host cluster.
    #[command(
        after_help = "Examples:\n  kfed controller --kubeconfig .testbed/kubeconfig --context host\n  kfed controller --leader-elect   # in cluster, with its ServiceAccount"
    )]
    Controller(controller::Args),
    /// Register a member cluster with the host, using a least-privilege ServiceAccount in the member.
    #[command(after_help = "Example:\n  kfed join member1 --cluster-context member1 --host-cluster-context host")]
    Join(join::JoinArgs),
    /// Remove what `kfed join` created, in the host and in the member.
    #[command(after_help = "Example:\n  kfed unjoin member1 --cluster-context member1 --host-cluster-context host")]
    Unjoin(join::UnjoinArgs),
    /// Turn an existing resource (or manifests with -f) into its Federated<Kind>, printed or created.
    #[command(
        after_help = "Examples:\n  kfed federate deployment web -n shop                  # create FederatedDeployment shop/web\n  kfed federate namespace shop --contents -o yaml        # print the namespace and everything in it, federated\n  kfed federate -f app.yaml --clusters member1,member2   # from manifests\n  cat app.yaml | kfed federate -f - -o json"
    )]
    Federate(federate::Args),
    /// Federate an API type (kubefedctl enable): create its Federated<Kind> CRD and FederatedTypeConfig.
    #[command(
        after_help = "Examples:\n  kfed enable deployments.apps\n  kfed enable widgets.example.com --host-cluster-context host\n  kfed enable widgets.example.com --version v1beta1 -o yaml   # print the CRD and the FederatedTypeConfig\n  kfed enable -f widget-crd.yaml -o yaml                       # from the target's CRD in a file"
    )]
    Enable(enable::EnableArgs),
    /// Stop propagating an API type (kubefedctl disable); --delete-federated-type also deletes its CRD and FederatedTypeConfig.
    #[command(
        after_help = "Examples:\n  kfed disable widgets.example.com\n  kfed disable widgets.example.com --delete-federated-type"
    )]
    Disable(enable::DisableArgs),
    /// Keep (enable) or delete (disable) the member objects when a federated object is deleted.
    #[command(
        name = "orphaning-deletion",
        after_help = "Examples:\n  kfed orphaning-deletion enable deployment web -n shop\n  kfed orphaning-deletion status fdeploy web -n shop"
    )]
    OrphaningDeletion(orphaning::Args),
    /// A table of federated objects and their propagation state in each cluster.
    #[command(
        after_help = "Examples:\n  kfed status\n  kfed status deployment -n shop\n  kfed status fcm settings -n shop"
    )]
    Status(status::Args),
    /// Print every kfed CRD as YAML, or write one file per CRD into a directory.
    #[command(
        after_help = "Examples:\n  kfed crds | kubectl apply --server-side -f -\n  kfed crds --output-dir config/crd/bases"
    )]
    Crds(crds::Args),
    /// Print the kfed version.
    #[command(after_help = "Example:\n  kfed version")]
    Version,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kfed: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Controller(args) => controller::run(args).await,
            Command::Join(args) => join::join(args).await,
            Command::Unjoin(args) => join::unjoin(args).await,
            Command::Crds(args) => crds::run(args),
            Command::Federate(args) => federate::run(args).await,
            Command::Enable(args) => enable::enable(args).await,
            Command::Disable(args) => enable::disable(args).await,
            Command::OrphaningDeletion(args) => orphaning::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Version => {
                println!("kfed {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kfed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
