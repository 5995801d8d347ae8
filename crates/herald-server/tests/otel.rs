//! OpenTelemetry tracing end to end (`--features otel`): runs `tests/e2e/otel/tracing.mjs`
//! against the `herald` binary built with the feature, which exports to an OTLP collector
//! stand-in. `.ci/run` runs it with `cargo test -p herald-server --features otel --test otel`;
//! without the feature the target is not built (`required-features`).

#[path = "support/npm.rs"]
mod npm;

#[test]
fn api_and_proxy_calls_are_traced_over_otlp() {
    let dir = npm::e2e_dir();
    npm::npm_ci(&dir);
    npm::node_test(
        &dir,
        &["otel/tracing.mjs"],
        env!("CARGO_BIN_EXE_herald"),
        &[],
    );
}
