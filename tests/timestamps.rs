//! Issue 11, row 7, and "What must hold" item 5: timestamps set explicitly
//! stick.
//!
//! What `File` does, and so what `MmapFile` must do: after `set_modified`
//! (or `set_times`), the file's mtime is the time set, and `flush`,
//! `sync_all`, `sync_data`, `metadata` and close leave it alone: none of
//! them changes the file. MmapFile today cuts its growth step on close (or
//! on `sync_all`), and that `ftruncate` sets mtime to the time of the cut
//! (row 7: mtime = close time). Where there is nothing to cut (the step cut
//! already, or no growth at all), nothing may change mtime either.
//!
//! The times set are in 2001 and 2002, so no write, cut or clock can give
//! them by chance. Each scenario reads the mtime by path after each step.

// Unix only: child processes, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File, FileTimes};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mmapfile::MmapFile;

mod common;
use common::outsider::{Diffs, Opts, Twin, outcome};

/// 2001-01-01 00:00:00 UTC.
const Y2001: u64 = 978_307_200;
/// 2002-01-01 00:00:00 UTC.
const Y2002: u64 = 1_009_843_200;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The file's mtime and atime by path: a year set, or another time.
fn times(path: &Path) -> String {
    let m = fs::metadata(path).unwrap();
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let name = |s: u64| match s {
        Y2001 => "2001".to_string(),
        Y2002 => "2002".to_string(),
        // Not a time set: the time of some write or cut. Not its number,
        // which would differ between the two files by the clock alone.
        _ => "another time".to_string(),
    };
    format!(
        "mtime {} atime {}",
        name(secs(m.modified().unwrap())),
        name(secs(m.accessed().unwrap()))
    )
}

/// The steps of a scenario, on the handle and by path.
enum Step {
    Write(usize),
    WriteAt(u64, usize),
    SetModified(u64),
    SetTimes { accessed: u64, modified: u64 },
    Flush,
    SyncAll,
    SyncData,
    Metadata,
    Close,
}

fn run<T: Twin>(path: &Path, opts: Opts, existing: Option<usize>, steps: &[Step]) -> Vec<String> {
    if let Some(n) = existing {
        fs::write(path, vec![b'e'; n]).unwrap();
    }
    let mut slot = Some(T::open_with(&opts, path).unwrap());
    let mut seen = Vec::new();
    for step in steps {
        let what = match step {
            Step::Write(n) => {
                let h = slot.as_mut().unwrap();
                format!("write({n}) {}", outcome(&h.write_all(&vec![b'w'; *n])))
            }
            Step::WriteAt(off, n) => {
                let h = slot.as_ref().unwrap();
                format!(
                    "write_at({n} @ {off}) {}",
                    outcome(&h.write_all_at(&vec![b'w'; *n], *off))
                )
            }
            Step::SetModified(t) => {
                let h = slot.as_ref().unwrap();
                format!("set_modified {}", outcome(&h.set_modified(at(*t))))
            }
            Step::SetTimes { accessed, modified } => {
                let h = slot.as_ref().unwrap();
                let times = FileTimes::new()
                    .set_accessed(at(*accessed))
                    .set_modified(at(*modified));
                format!("set_times {}", outcome(&h.set_times(times)))
            }
            Step::Flush => format!("flush {}", outcome(&slot.as_mut().unwrap().flush())),
            Step::SyncAll => format!("sync_all {}", outcome(&slot.as_ref().unwrap().sync_all())),
            Step::SyncData => format!("sync_data {}", outcome(&slot.as_ref().unwrap().sync_data())),
            Step::Metadata => format!(
                "metadata {}",
                outcome(&slot.as_ref().unwrap().metadata().map(|m| m.len()))
            ),
            Step::Close => {
                drop(slot.take());
                "close".to_string()
            }
        };
        seen.push(format!("{what}: {}", times(path)));
    }
    drop(slot);
    seen.push(format!(
        "size on disk {}",
        fs::metadata(path).unwrap().len()
    ));
    seen
}

fn compare(diffs: &mut Diffs, what: &str, opts: Opts, existing: Option<usize>, steps: &[Step]) {
    let dir = tempfile::tempdir().unwrap();
    let file = run::<File>(&dir.path().join("file"), opts, existing, steps);
    let mmap = run::<MmapFile>(&dir.path().join("mmap"), opts, existing, steps);
    for (f, m) in file.iter().zip(&mmap) {
        diffs.same(&format!("{what}: {}", f.split(':').next().unwrap()), f, m);
    }
}

use Step::*;

/// Row 7: write, `set_modified(2001)`, close: mtime 2001, as File; also
/// with `sync_all` (and `sync_data`) before close, for every kind of handle.
#[test]
fn set_modified_sticks_through_sync_and_close() {
    let mut diffs = Diffs::default();
    let write_only = Opts {
        write: true,
        create: true,
        truncate: true,
        ..Opts::default()
    };
    for (kind, opts) in [
        ("read-write", Opts::rw()),
        ("write-only", write_only),
        ("append", Opts::append_only()),
    ] {
        compare(
            &mut diffs,
            &format!("{kind}: write, set_modified, close"),
            opts,
            None,
            &[Write(100), SetModified(Y2001), Close],
        );
        compare(
            &mut diffs,
            &format!("{kind}: write, set_modified, sync_all, close"),
            opts,
            None,
            &[Write(100), SetModified(Y2001), SyncAll, Close],
        );
        compare(
            &mut diffs,
            &format!("{kind}: write, set_modified, sync_data, close"),
            opts,
            None,
            &[Write(100), SetModified(Y2001), SyncData, Close],
        );
        compare(
            &mut diffs,
            &format!("{kind}: 300 KB in 3 writes, set_modified, close"),
            opts,
            None,
            &[
                Write(100_000),
                Write(100_000),
                Write(100_000),
                SetModified(Y2001),
                Close,
            ],
        );
    }
    diffs.check("set_modified, then sync and close");
}

/// `set_times` with both times: both stick, as File's.
#[test]
fn set_times_sticks_through_sync_and_close() {
    let mut diffs = Diffs::default();
    let both = SetTimes {
        accessed: Y2002,
        modified: Y2001,
    };
    compare(
        &mut diffs,
        "write, set_times, close",
        Opts::rw(),
        None,
        &[Write(100), both, Close],
    );
    let both = SetTimes {
        accessed: Y2002,
        modified: Y2001,
    };
    compare(
        &mut diffs,
        "write, set_times, sync_all, close",
        Opts::rw(),
        None,
        &[Write(100), both, SyncAll, Close],
    );
    diffs.check("set_times, then sync and close");
}

/// Nothing to cut (the growth step cut by a flush already, or no growth):
/// flush, sync_all, sync_data, metadata and close leave an explicitly set
/// mtime alone, as File's do.
#[test]
fn nothing_to_cut_leaves_an_explicit_mtime_alone() {
    let mut diffs = Diffs::default();
    let after_set = [Flush, SyncAll, SyncData, Metadata, Flush, Close];
    let mut steps = vec![Write(100), Flush, SetModified(Y2001)];
    steps.extend(after_set);
    compare(
        &mut diffs,
        "write, flush, set_modified, then the rest",
        Opts::rw(),
        None,
        &steps,
    );
    let after_set = [Flush, SyncAll, SyncData, Metadata, Flush, Close];
    let mut steps = vec![WriteAt(0, 10), SetModified(Y2001)];
    steps.extend(after_set);
    compare(
        &mut diffs,
        "overwrite inside an existing file, set_modified, then the rest",
        Opts::rw(),
        Some(5000),
        &steps,
    );
    let after_set = [Flush, SyncAll, SyncData, Metadata, Close];
    let mut steps = vec![SetModified(Y2001)];
    steps.extend(after_set);
    let read_only = Opts {
        read: true,
        ..Opts::default()
    };
    compare(
        &mut diffs,
        "no write at all, read-write",
        Opts::rw(),
        Some(5000),
        &steps,
    );
    let after_set = [Flush, SyncAll, SyncData, Metadata, Close];
    let mut steps = vec![SetModified(Y2001)];
    steps.extend(after_set);
    compare(
        &mut diffs,
        "no write at all, read-only",
        read_only,
        Some(5000),
        &steps,
    );
    diffs.check("nothing to cut");
}
