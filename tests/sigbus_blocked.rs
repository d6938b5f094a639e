//! Issue 11, row 10, and "What must hold" item 7: a thread that blocks
//! SIGBUS (the sigwait/signalfd pattern, or a full mask) reads a file
//! another handle has cut, as with `File`: `read_at` past the new end is
//! `Ok(0)`, inside the page holding the new end is a short read, `read` at
//! the cursor likewise, `write_at` into the cut region extends the file.
//! Nothing faults: `File` has no mapping. (MmapFile today: the fault on
//! the cut page is forced on a thread that blocks it, and the process dies
//! of SIGBUS.) Each case runs in a pair of child processes, one per world
//! (`common::sigbus`).

// Unix only: child processes, SIGBUS, libc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::SeekFrom;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Opts, Twin, outcome};
use common::pattern::{pat, pattern_file};
use common::sigbus::{FILE_LEN, assert_mapped, child_or_parent, compare_worlds, report};

fn block_in_this_thread(full: bool) {
    // SAFETY: sigset operations on a local set, then pthread_sigmask on the
    // calling thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if full {
            libc::sigfillset(&mut set);
        } else {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGBUS);
        }
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
            0
        );
    }
}

// ---------------------------------------------------------------------------
// Row 10: a thread that blocks SIGBUS, a file cut by another handle
// ---------------------------------------------------------------------------

/// The cases of row 10: what the blocking thread does after the cut.
const ROW10: [&str; 6] = [
    "read_at past the new end",
    "read_at inside the page holding the new end",
    "read at the cursor past the new end",
    "read at the cursor inside the page holding the new end",
    "write_at into the cut region",
    "read_at past the new end, full mask",
];

fn row10_child<T: Twin + Send + Sync + 'static>(case: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    pattern_file(&path, FILE_LEN);
    let mut h = T::open_with(&Opts::rw(), &path).unwrap();
    let mut warm = vec![0; 4096];
    h.read_exact_at(&mut warm, 500_000).unwrap();
    let cut_to: u64 = if case.contains("inside the page") {
        100_000
    } else {
        0
    };
    let case = case.to_string();
    std::thread::scope(|s| {
        s.spawn(|| {
            block_in_this_thread(case.ends_with("full mask"));
            assert_mapped(&h);
            report("SIGBUS blocked");
            let cutter = fs::OpenOptions::new().write(true).open(&path).unwrap();
            cutter.set_len(cut_to).unwrap();
            report(format!("file cut to {cut_to} by another handle"));
            let mut buf = vec![0xffu8; 4096];
            let r = match case.as_str() {
                c if c.starts_with("read_at past") => h.read_at(&mut buf, 500_000),
                "read_at inside the page holding the new end" => {
                    h.read_at(&mut buf[..1000], 99_500)
                }
                c if c.starts_with("read at the cursor") => {
                    let at = if cut_to == 0 { 500_000 } else { 99_500 };
                    h.seek(SeekFrom::Start(at)).unwrap();
                    h.read(&mut buf[..1000])
                }
                "write_at into the cut region" => h.write_at(b"x", 500_000),
                other => panic!("unknown case {other}"),
            };
            let n = *r.as_ref().unwrap_or(&0);
            let right = if case.starts_with("write") {
                true
            } else {
                let from = if cut_to == 0 { 500_000 } else { 99_500 };
                buf[..n].iter().zip(from..).all(|(&b, o)| b == pat(o))
            };
            report(format!("{case}: {} (bytes right: {right})", outcome(&r)));
            report(format!(
                "metadata().len(): {}",
                outcome(&h.metadata().map(|m| m.len()))
            ));
        });
    });
}

/// Row 10, each case in its own pair of children.
#[test]
fn a_thread_that_blocks_sigbus_reads_a_cut_file_as_file_does() {
    const TEST: &str = "a_thread_that_blocks_sigbus_reads_a_cut_file_as_file_does";
    let Some(mut diffs) = child_or_parent(TEST, row10_child::<File>, row10_child::<MmapFile>)
    else {
        return;
    };
    for case in ROW10 {
        if let Some(file) = compare_worlds(&mut diffs, TEST, case) {
            assert_eq!(file.fate, "exited 0", "File itself, {case}: {file:?}");
        }
    }
    diffs.check("a thread with SIGBUS blocked, a file cut by another handle");
}
