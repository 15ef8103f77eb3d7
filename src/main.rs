//! The `kfed` command: the operator (`kfed controller`) and its tools.

/// mimalloc instead of glibc's malloc: with a reflector per kind and per member, the
/// operator allocates many small, long-lived JSON nodes from several threads, and
/// glibc kept the freed memory of every wave (measured in `make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kfed::cli::main()
}
