//! Runs the end-to-end suite in `tests/e2e` (the real npm `centrifuge` SDK and the real Python
//! `cent` client against the real `herald` binary) as part of `cargo test`, so one command runs
//! everything. Installs the locked npm packages and a virtualenv with the pinned `cent` first.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../support/npm.rs"]
mod npm;

use npm::{e2e_dir, npm_ci};

/// A virtualenv with the pinned Python `cent` client; returns its interpreter.
fn cent_python(dir: &Path) -> PathBuf {
    let venv = dir.join(".venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import cent"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return python;
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 must be installed to run the cent API client tests (see README)");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(dir.join("requirements.txt"))
        .status()
        .expect("pip runs");
    assert!(status.success(), "pip install of the cent client failed");
    python
}

#[test]
fn centrifuge_sdk_end_to_end() {
    let dir = e2e_dir();
    npm_ci(&dir);
    let python = cent_python(&dir);
    npm::node_test(
        &dir,
        &[],
        env!("CARGO_BIN_EXE_herald"),
        &[("CENT_PYTHON", &python)],
    );
}
