//! Running `tests/e2e`'s Node suites from `cargo test`: the npm packages and the `node --test`
//! run, shared by the test targets that do it (`it`'s e2e and `otel`). Included with `#[path]`,
//! so it is not a test target of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/e2e` at the workspace root.
pub(crate) fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Installs the locked SDK and test dependencies unless `node_modules` matches the lock file.
pub(crate) fn npm_ci(dir: &Path) {
    let installed_lock = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (std::fs::metadata(&installed_lock), std::fs::metadata(&lock)) {
        (Ok(installed), Ok(lock)) => match (installed.modified(), lock.modified()) {
            (Ok(installed), Ok(lock)) => installed >= lock,
            _ => false,
        },
        _ => false,
    };
    if fresh {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("npm must be installed to run the end-to-end tests (see README)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// Runs `node --test` in `dir` on `files` (none: the suite's default patterns, every
/// `*.test.mjs`) with `HERALD_BIN` set to `herald` and the extra `env`; shows its output and
/// fails the test when a test failed.
pub(crate) fn node_test(dir: &Path, files: &[&str], herald: &str, env: &[(&str, &Path)]) {
    let mut node = Command::new("node");
    node.args([
        "--test",
        "--test-concurrency=1",
        "--test-timeout=120000",
        "--test-reporter=spec",
    ])
    .args(files)
    .current_dir(dir)
    .env("HERALD_BIN", herald);
    for (name, value) in env {
        node.env(name, value);
    }
    let output = node
        .output()
        .expect("node must be installed to run the end-to-end tests (see README)");
    // Shown by `cargo test` on failure, or always with `-- --nocapture`.
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "end-to-end tests failed (output above)"
    );
}
