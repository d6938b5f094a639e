//! Model test: random sequences of operations run on an `MmapFile` world and
//! on a `std::fs::File` world side by side, comparing every result. This
//! file holds the proptests and what runs them (`play`, `isolated`, the
//! outsider's entry point); the rest is in modules:
//!
//! - `world/`: the operations, the worlds, the other actors (an outsider
//!   process, fork children) and the comparisons (shared with the `model`
//!   fuzz target, see fuzz/fuzz_targets/model.rs), on the File-against-
//!   MmapFile harness of tests/common/twin;
//! - `strategies.rs`: the proptest strategies;
//! - `regressions.rs`, `outsiders.rs` (another process, a fork) and
//!   `deferred.rs` (handles that map later): fixed sequences.
//!
//! `mmapfile_behaves_like_file` runs on a named file;
//! `anonymous_mmapfile_behaves_like_file` on `MmapFile::anonymous()`, whose
//! other handles open `/proc/self/fd/N`. Both fork, so each runs in a
//! process of its own (see `isolated`). `outsider` is not a test: it is the
//! entry point of the outsider processes (see `world::serve_outsider`).
//! The `proptest!` block stays in this file: proptest keys the saved
//! failures (`main.proptest-regressions`) to it.
//!
//! Discrepancies found so far, and the scenarios of issue 11 the model can
//! play, are also kept as fixed sequences (the three files above), one `#[test]`
//! each. Run with `PROPTEST_CASES=2000` for a deeper search. With
//! `MMAPFILE_MODEL_TWINS=1` both worlds are `File`s: the harness' own
//! check, which must never fail.

// Unix only: fork, an outsider process, `read_at`/`write_at`
// (tests/windows_model/ is the Windows model).
#![cfg(unix)]

#[allow(dead_code)]
#[path = "../common/emulation.rs"]
mod emulation;
#[allow(dead_code)]
#[path = "../common/twin/mod.rs"]
mod twin;
mod world;

mod deferred;
mod outsiders;
mod regressions;
mod strategies;

use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use strategies::case;
use world::{Cfg, Op};

/// `ProptestConfig::default()` (which takes `PROPTEST_CASES` from the
/// environment), with failures saved next to this file, in
/// `tests/model/main.proptest-regressions`.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Cases are long: shrinking needs more than 4 steps a case when
        // there are few cases.
        max_shrink_iters: default.max_shrink_iters().max(4096),
        ..default
    }
}

/// Plays a case: `world::run`, or `world::run_twins` (`File` in both
/// worlds) with `MMAPFILE_MODEL_TWINS` set.
pub(crate) fn play(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    world::set_outsider_command(outsider_command);
    if std::env::var_os("MMAPFILE_MODEL_TWINS").is_some() {
        world::run_twins(cfg, ops)
    } else {
        world::run(cfg, ops)
    }
}

/// This binary again, running only `outsider`.
fn outsider_command() -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["outsider", "--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// The outsider processes' entry point (`world::serve_outsider`); in the
/// test run proper, it does nothing.
#[test]
fn outsider() {
    if world::is_outsider() {
        world::serve_outsider();
    }
}

const ISOLATED_ENV: &str = "MMAPFILE_MODEL_ISOLATED";

/// Runs `body` as the test `test` in a process of its own: this binary
/// again, running only `test`, with one test thread.
///
/// The model forks, and a fork child may safely take only locks no other
/// thread held at the fork (malloc's, stdio's, the crate's registry). In
/// this process other tests run on other threads at any moment; in the
/// process of its own, the only other thread is libtest's main thread,
/// waiting for the test to end. (Keeping the child to async-signal-safe
/// calls instead is not possible: it must run `MmapFile` code, which
/// allocates and locks, to be a test of it.)
pub(crate) fn isolated(test: &str, body: fn()) {
    if std::env::var_os(ISOLATED_ENV).is_some_and(|t| t == test) {
        return body();
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ISOLATED_ENV, test)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test}, in a process of its own: {}\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        out.status
    );
}

proptest! {
    #![proptest_config(config())]

    // Not `#[test]`s themselves: the tests below run them in processes of
    // their own.
    fn model_named((cfg, ops) in case(false)) {
        play(cfg, &ops).map_err(TestCaseError::fail)?;
    }

    fn model_anonymous((cfg, ops) in case(true)) {
        play(cfg, &ops).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn mmapfile_behaves_like_file() {
    isolated("mmapfile_behaves_like_file", model_named);
}

/// The same with the `MmapFile` world on `MmapFile::anonymous()`.
#[test]
fn anonymous_mmapfile_behaves_like_file() {
    isolated("anonymous_mmapfile_behaves_like_file", model_anonymous);
}
