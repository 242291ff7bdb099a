//! `cargo xtask soak [--duration 3m]`: the fault soak of
//! `host/tests/it/soak.rs` for longer than the test suite runs it. It runs that
//! very test, with `INTERLINK_SOAK_SECONDS`, so the test and this task
//! drive the host the same way; the test prints the table (faults, requests,
//! errors by code, the healthy tenant's p50 and p99, the host's open files
//! and memory before and after).

use std::time::Duration;

use anyhow::Result;

/// Builds the adapters, then runs the soak test for `duration`.
pub fn soak(duration: Duration) -> Result<()> {
    super::adapters::build_all()?;
    let seconds = duration.as_secs().max(1).to_string();
    super::cargo_with_env(
        &[
            "test",
            "--release",
            "-p",
            "interlink",
            "--test",
            "it",
            "--",
            "soak::",
            "--nocapture",
        ],
        &[],
        &[("INTERLINK_SOAK_SECONDS", &seconds)],
    )
}
