//! Issue 11, row 19, and "What must hold" item 10: arithmetic on offsets,
//! everywhere in the public API that takes one, is an error, never a panic
//! (and never a wrapped-around offset that quietly succeeds).
//!
//! Row 19: `region(10, 10).write_at(&[], u64::MAX)` computes `10 +
//! u64::MAX`: a panic where overflow is checked (the test profile), a
//! wrapped offset and `Ok(0)` where it is not (`--release`). `File` has no
//! regions; a region's offsets are the file's plus its start, and `File`
//! refuses an offset past `i64::MAX` with `EINVAL`, so the expectation is
//! an `InvalidInput` error.
//!
//! Every call runs under `catch_unwind`, so that one panic does not hide
//! the rest, and the test reports every wrong call in one assertion. Calls
//! `File` has (`read_at`, `write_at`, `seek`, `set_len`) are compared with
//! `File`'s results on a file of the same length; the mapping controls,
//! views and regions, which `File` lacks, must give an `io::Error` wherever
//! the range does not fit in `off_t` (a region's `write_at`, as row 19
//! says, an `InvalidInput` one). A region's read past its end stops at its
//! end (the documented `Ok(0)`), so there either `Ok(0)` or `InvalidInput`
//! is accepted.

// Unix only: child processes, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fmt::Debug;
use std::io::{self, ErrorKind, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mmapfile::Advice;

mod common;
use common::outsider::{Opts, outcome};

const MAX: u64 = u64::MAX;
const IMAX: u64 = i64::MAX as u64;

/// Runs `f`, turning a panic into its message.
fn guarded<T: Debug>(f: impl FnOnce() -> io::Result<T>) -> Result<io::Result<T>, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".to_string())
    })
}

/// Collects what is wrong.
#[derive(Default)]
struct Wrong(Vec<String>);

impl Wrong {
    /// `mmap` must give what `file` gave.
    fn like_file<T: Debug>(
        &mut self,
        what: &str,
        file: io::Result<T>,
        mmap: Result<io::Result<T>, String>,
    ) {
        let f = outcome(&file);
        match mmap {
            Err(panic) => self
                .0
                .push(format!("{what}: File gave {f}, MmapFile panicked: {panic}")),
            Ok(m) if outcome(&m) != f => self.0.push(format!(
                "{what}: File gave {f}, MmapFile gave {}",
                outcome(&m)
            )),
            Ok(_) => {}
        }
    }

    /// Must be an `io::Error` of kind InvalidInput.
    fn invalid<T: Debug>(&mut self, what: &str, r: Result<io::Result<T>, String>) {
        match r {
            Err(panic) => self.0.push(format!(
                "{what}: panicked: {panic} (expected an InvalidInput error)"
            )),
            Ok(Err(e)) if e.kind() == ErrorKind::InvalidInput => {}
            Ok(other) => self.0.push(format!(
                "{what}: gave {} (expected an InvalidInput error)",
                outcome(&other)
            )),
        }
    }

    /// Must be an `io::Error` (of any kind): for calls `File` lacks.
    fn error<T: Debug>(&mut self, what: &str, r: Result<io::Result<T>, String>) {
        match r {
            Err(panic) => self
                .0
                .push(format!("{what}: panicked: {panic} (expected an io::Error)")),
            Ok(Err(_)) => {}
            Ok(ok) => self.0.push(format!(
                "{what}: gave {} (expected an io::Error)",
                outcome(&ok)
            )),
        }
    }

    /// A region's read past its end: `Ok(0)` or an InvalidInput error.
    fn invalid_or_zero(&mut self, what: &str, r: Result<io::Result<usize>, String>) {
        match r {
            Ok(Ok(0)) => {}
            other => self.invalid(&format!("{what} (or Ok(0))"), other),
        }
    }

    /// Any result but a panic.
    fn no_panic<T: Debug>(&mut self, what: &str, r: Result<io::Result<T>, String>) {
        if let Err(panic) = r {
            self.0.push(format!("{what}: panicked: {panic}"));
        }
    }
}

/// Offsets near the ends of `u64` and `off_t`.
const OFFSETS: [u64; 7] = [
    MAX,
    MAX - 9,
    MAX - 10,
    IMAX + 1,
    IMAX,
    IMAX - 2,
    IMAX - 4096,
];

/// Row 19 and the region calls.
#[test]
fn region_offsets_near_the_top_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let h = Opts::rw().mmap().open(dir.path().join("data")).unwrap();
    h.write_at(&[7; 100], 0).unwrap();
    let mut wrong = Wrong::default();
    let region = h.region(10, 10).unwrap();
    wrong.invalid(
        "row 19: region(10, 10).write_at(&[], u64::MAX)",
        guarded(|| region.write_at(&[], MAX)),
    );
    for off in OFFSETS {
        let absolute_fits = 10u64.checked_add(off).is_some_and(|a| a <= IMAX);
        let name = |call: &str| format!("region(10, 10).{call} at {off:#x}");
        // A write past the region's end fails (documented), empty or not,
        // once the offset is past off_t.
        let r = guarded(|| region.write_at(&[], off));
        if absolute_fits {
            wrong.no_panic(&name("write_at(&[])"), r);
        } else {
            wrong.invalid(&name("write_at(&[])"), r);
        }
        wrong.invalid(
            &name("write_at(b\"x\")"),
            guarded(|| region.write_at(b"x", off)),
        );
        let mut buf = [0; 5];
        wrong.invalid_or_zero(
            &name("read_at(5 bytes)"),
            guarded(|| region.read_at(&mut buf, off)),
        );
        wrong.invalid_or_zero(
            &name("read_at(&mut [])"),
            guarded(|| region.read_at(&mut [], off)),
        );
    }
    // Regions at the top of off_t: in range, so any answer but a panic.
    for (start, len) in [(IMAX, 0), (IMAX - 5, 5), (IMAX - 4096, 4096)] {
        let r = match guarded(|| h.region(start, len)) {
            Ok(Ok(r)) => r,
            other => {
                wrong.no_panic(
                    &format!("region({start:#x}, {len})"),
                    other.map(|r| r.map(|_| ())),
                );
                continue;
            }
        };
        let name = |call: &str| format!("region({start:#x}, {len}).{call}");
        wrong.no_panic(
            &name("advise(WillNeed)"),
            guarded(|| r.advise(Advice::WillNeed)),
        );
        wrong.no_panic(&name("sync()"), guarded(|| r.sync()));
        wrong.no_panic(&name("lock_memory()"), guarded(|| r.lock_memory()));
        let mut buf = [0; 5];
        wrong.no_panic(&name("read_at(5, 0)"), guarded(|| r.read_at(&mut buf, 0)));
        wrong.no_panic(
            &name("read_at(5, u64::MAX)"),
            guarded(|| r.read_at(&mut buf, MAX)),
        );
        wrong.no_panic(&name("write_at(x, 0)"), guarded(|| r.write_at(b"x", 0)));
        wrong.invalid(
            &name("write_at(&[], u64::MAX)"),
            guarded(|| r.write_at(&[], MAX)),
        );
        wrong.invalid(
            &name("write_at(&[], u64::MAX - start)"),
            guarded(|| r.write_at(&[], MAX - start)),
        );
        wrong.invalid(
            &name("write_at(&[], i64::MAX)"),
            guarded(|| r.write_at(&[], IMAX)),
        );
    }
    // Regions that do not fit: refused.
    for (start, len) in [(MAX, 1), (0, MAX), (MAX - 5, 10), (IMAX, 1), (IMAX + 1, 0)] {
        let r = guarded(|| h.region(start, len).map(|r| r.len()));
        wrong.error(&format!("region({start:#x}, {len:#x})"), r);
    }
    assert!(
        wrong.0.is_empty(),
        "{} wrong calls:\n{}",
        wrong.0.len(),
        wrong.0.join("\n")
    );
}

/// Item 10 for the mapping controls and views: a range past off_t is an
/// `io::Error`, never a panic.
#[test]
fn control_and_view_ranges_near_the_top_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let h = Opts::rw().mmap().open(dir.path().join("data")).unwrap();
    h.write_at(&[7; 100], 0).unwrap();
    let mut wrong = Wrong::default();
    let ranges = [
        (MAX, 1),
        (MAX, 0),
        (0, MAX),
        (MAX - 5, 10),
        (IMAX, 1),
        (IMAX + 1, 0),
        (1, IMAX),
    ];
    for (off, len) in ranges {
        let name = |call: &str| format!("{call}({off:#x}, {len:#x})");
        wrong.error(
            &name("advise_range(WillNeed)"),
            guarded(|| h.advise_range(Advice::WillNeed, off, len)),
        );
        wrong.error(&name("sync_range"), guarded(|| h.sync_range(off, len)));
        wrong.error(
            &name("sync_range_async"),
            guarded(|| h.sync_range_async(off, len)),
        );
        wrong.error(
            &name("lock_memory_range"),
            guarded(|| h.lock_memory_range(off, len)),
        );
        let vlen = usize::try_from(len).unwrap();
        // SAFETY: nothing else writes the file while a view would live.
        wrong.error(
            &name("view"),
            guarded(|| unsafe { h.view(off, vlen) }.map(|v| v.len())),
        );
    }
    // SAFETY: as above.
    let r = guarded(|| unsafe { h.view(5, usize::MAX) }.map(|v| v.len()));
    wrong.error("view(5, usize::MAX)", r);
    assert!(
        wrong.0.is_empty(),
        "{} wrong calls:\n{}",
        wrong.0.len(),
        wrong.0.join("\n")
    );
}

/// Item 10 for `File`'s own calls: `read_at`/`write_at` near `u64::MAX` and
/// `i64::MAX` with empty and non-empty buffers, `seek`, `set_len`: File's
/// results, never a panic.
#[test]
fn file_calls_near_the_top_give_files_results() {
    let dir = tempfile::tempdir().unwrap();
    let f = Opts::rw().std().open(dir.path().join("file")).unwrap();
    let m = Opts::rw().mmap().open(dir.path().join("mmap")).unwrap();
    f.write_at(&[7; 100], 0).unwrap();
    m.write_at(&[7; 100], 0).unwrap();
    let mut wrong = Wrong::default();
    let mut fbuf = [0u8; 5];
    let mut mbuf = [0u8; 5];
    for off in OFFSETS {
        wrong.like_file(
            &format!("read_at(5 bytes, {off:#x})"),
            f.read_at(&mut fbuf, off),
            guarded(|| m.read_at(&mut mbuf, off)),
        );
        wrong.like_file(
            &format!("read_at(&mut [], {off:#x})"),
            f.read_at(&mut [], off),
            guarded(|| m.read_at(&mut [], off)),
        );
        wrong.like_file(
            &format!("write_at(b\"x\", {off:#x})"),
            f.write_at(b"x", off),
            guarded(|| m.write_at(b"x", off)),
        );
        wrong.like_file(
            &format!("write_at(&[], {off:#x})"),
            f.write_at(&[], off),
            guarded(|| m.write_at(&[], off)),
        );
        wrong.like_file(
            &format!("write_at(4 KiB, {off:#x})"),
            f.write_at(&[1; 4096], off),
            guarded(|| m.write_at(&[1; 4096], off)),
        );
        wrong.like_file(
            &format!("set_len({off:#x})"),
            f.set_len(off),
            guarded(|| m.set_len(off)),
        );
    }
    let (mut fs, mut ms) = (&f, &m);
    for (what, pos) in [
        ("Start(u64::MAX)", SeekFrom::Start(MAX)),
        ("Start(i64::MAX)", SeekFrom::Start(IMAX)),
        ("End(i64::MAX)", SeekFrom::End(i64::MAX)),
        ("End(i64::MIN)", SeekFrom::End(i64::MIN)),
        ("Current(i64::MIN)", SeekFrom::Current(i64::MIN)),
    ] {
        fs.seek(SeekFrom::Start(50)).unwrap();
        ms.seek(SeekFrom::Start(50)).unwrap();
        wrong.like_file(
            &format!("seek({what}) from 50"),
            fs.seek(pos),
            guarded(|| ms.seek(pos)),
        );
    }
    fs.seek(SeekFrom::Start(50)).unwrap();
    ms.seek(SeekFrom::Start(50)).unwrap();
    wrong.like_file(
        "seek(Current(i64::MAX)) from 50",
        fs.seek(SeekFrom::Current(i64::MAX)),
        guarded(|| ms.seek(SeekFrom::Current(i64::MAX))),
    );
    assert!(
        wrong.0.is_empty(),
        "{} wrong calls:\n{}",
        wrong.0.len(),
        wrong.0.join("\n")
    );
}
