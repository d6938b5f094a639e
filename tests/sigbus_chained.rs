//! Issue 11, row 11, and "What must hold" item 7: the SIGBUS handler
//! chain as the user left it. A sent SIGBUS (`raise`) runs std's handler,
//! which resets the disposition to the default and returns, so the process
//! lives on, and a cut file then reads `Ok(0)`, as with `File`. (MmapFile
//! today: its handler chained to std's, std's reset removed it, and the
//! next fault on the cut page kills.) In a pair of child processes, one per
//! world (`common::sigbus`).

// Unix only: child processes, SIGBUS, libc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::File;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Opts, Twin, outcome};
use common::pattern::pattern_file;
use common::sigbus::{FILE_LEN, assert_mapped, child_or_parent, compare_worlds, report};

fn row11_child<T: Twin + Send + Sync + 'static>(_case: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    pattern_file(&path, FILE_LEN);
    let h = T::open_with(&Opts::rw(), &path).unwrap();
    let mut warm = vec![0; 4096];
    h.read_exact_at(&mut warm, 500_000).unwrap();
    assert_mapped(&h);
    // `kill(getpid(), SIGBUS)` may be delivered to another thread of the
    // harness, after `kill` returns; `raise` sends the same signal to this
    // thread and it is handled before `raise` returns.
    // SAFETY: sends a signal to this thread.
    unsafe { libc::raise(libc::SIGBUS) };
    report("lived through a sent SIGBUS");
    common::cut(&path, 0);
    let mut buf = vec![0xffu8; 4096];
    report(format!(
        "read_at past the end after a cut: {}",
        outcome(&h.read_at(&mut buf, 500_000))
    ));
    report(format!(
        "read_at at 0 after a cut: {}",
        outcome(&h.read_at(&mut buf, 0))
    ));
}

/// Row 11: once std's chained handler has reset the disposition, a cut file
/// still reads `Ok(0)`.
#[test]
fn a_chained_handler_that_resets_the_disposition_keeps_recovery() {
    const TEST: &str = "a_chained_handler_that_resets_the_disposition_keeps_recovery";
    let Some(mut diffs) = child_or_parent(TEST, row11_child::<File>, row11_child::<MmapFile>)
    else {
        return;
    };
    compare_worlds(&mut diffs, TEST, "raise(SIGBUS), then read a cut file");
    diffs.check("a sent SIGBUS through std's handler, then a cut file");
}
