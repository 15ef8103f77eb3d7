//! The `kfed` command: the operator (`kfed controller`) and its tools.

fn main() -> std::process::ExitCode {
    kfed::cli::main()
}
