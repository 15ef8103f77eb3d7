//! Generates the `Federated<Kind>` types from the codegen catalog.

fn main() {
    println!("cargo::rerun-if-changed=codegen/src");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let source = kfed_codegen::emit::federated_types(kfed_codegen::CATALOG);
    let path = std::path::Path::new(&out_dir).join("federated_types.rs");
    std::fs::write(&path, source).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
