//! Compiles `proto/centrifugo/*.proto` (Centrifugo's wire definitions) into Rust with tonic.
//! `protox` parses the files in Rust, so no `protoc` has to be installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto/centrifugo");
    let files = ["api.proto", "proxy.proto", "unistream.proto"].map(|name| root.join(name));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The proxy service has an rpc named `Connect`, which collides with the generated
        // `connect(endpoint)` constructor; clients are built with `new(channel)` instead.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
