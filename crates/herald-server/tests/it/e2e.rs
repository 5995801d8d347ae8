//! Runs the end-to-end suite in `tests/e2e` (the real npm `centrifuge` SDK and the real Python
//! `cent` client against the real `herald` binary) as part of `cargo test`, so one command runs
//! everything. Installs the locked npm packages and a virtualenv with the pinned `cent` first.

use std::path::{Path, PathBuf};
use std::process::Command;

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Installs the locked SDK and test dependencies unless `node_modules` matches the lock file.
fn npm_ci(dir: &Path) {
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
    let output = Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=120000",
            "--test-reporter=spec",
        ])
        .current_dir(&dir)
        .env("HERALD_BIN", env!("CARGO_BIN_EXE_herald"))
        .env("CENT_PYTHON", python)
        .output()
        .expect("node must be installed to run the end-to-end tests (see README)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by `cargo test` on failure, or always with `-- --nocapture`.
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "end-to-end tests failed (output above)"
    );
}
