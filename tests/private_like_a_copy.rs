//! Issue 11, rows 13, 16 and 17, and "What must hold" item 8: private
//! handles (`OpenOptions::private(true)`) as a backend of their own, which
//! look like a `File` on a copy of the file. (Row 18 and leaked mappings:
//! private_mappings.rs.)
//!
//! A private handle reads the file and keeps its own writes and length in
//! memory, never in the file. `File` has no such mode; its results are
//! those of a `File` on a copy of the file, which is what a private handle
//! promises to look like, and the original file must stay as it was. So
//! each test runs the same calls on a `File` of a copy and on a private
//! `MmapFile` of the original (through `common::twin::Handle`), and
//! compares.
//!
//! - row 13: `protect(ReadOnly)`, then `set_len(5000)`: `Ok` (`File`'s
//!   `set_len` on the copy), never a crash (MmapFile today: SIGSEGV from
//!   safe calls, as the shrink zeroes the tail through the read-only
//!   mapping). In a child process.
//! - row 16: `write(true).private(true)` without read: `write_at` and
//!   `set_len(2)` give `File`'s results and the file is untouched (today:
//!   the handle cannot be mapped, falls back to system calls and writes the
//!   real file).
//! - row 17: length 5 or 6000 (and other unaligned lengths),
//!   `set_len(len - 3)`: `Ok`, the length is `len - 3`, growing again reads
//!   zeros (today: `EINVAL` after the tail was zeroed; `len()` unchanged).

// Unix only: child processes, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, SeekFrom};
use std::path::Path;

use mmapfile::{MmapFile, Protection};

mod common;
use common::child::{child, child_mode, describe, results};
use common::outsider::{Diffs, Opts, outcome, picture};
use common::pattern::{pat, pattern_file};
use common::twin::Handle;

fn read_all(h: &dyn Handle, from: u64, len: usize) -> String {
    let mut buf = vec![0xff; len];
    let r = h.read_at(&mut buf, from);
    match r {
        Ok(n) => format!(
            "read_at({len} @ {from}): Ok({n}) {}",
            picture_of(&buf[..n], from)
        ),
        Err(e) => format!("read_at({len} @ {from}): {}", outcome::<()>(&Err(e))),
    }
}

/// A picture where the file's own pattern shows as `<N file bytes>`.
fn picture_of(bytes: &[u8], from: u64) -> String {
    let same = bytes
        .iter()
        .zip(from..)
        .take_while(|&(&b, o)| b == pat(o))
        .count();
    if same == bytes.len() {
        format!("<{same} file bytes>")
    } else {
        format!("<{same} file bytes> then {}", picture(&bytes[same..]))
    }
}

/// Opens the twins: a `File` on a copy of `original` with `opts`, and a
/// private `MmapFile` on `original` with `opts`.
fn twins(original: &Path, copy: &Path, opts: Opts) -> (io::Result<File>, io::Result<MmapFile>) {
    fs::copy(original, copy).unwrap();
    let file = opts.std().open(copy);
    let mmap = opts.mmap().private(true).open(original);
    (file, mmap)
}

// ---------------------------------------------------------------------------
// Row 13: protect(ReadOnly), then set_len, in a child process
// ---------------------------------------------------------------------------

/// The steps after `protect`, on either twin.
fn after_protect(h: &dyn Handle, size: u64, len: usize) -> Vec<String> {
    vec![
        format!("set_len({size}): {}", outcome(&h.h_set_len(size))),
        format!("length: {}", outcome(&h.h_len())),
        read_all(h, 0, len + 100),
        format!("set_len({len}): {}", outcome(&h.h_set_len(len as u64))),
        read_all(h, 0, len + 100),
    ]
}

const ROW13: [(&str, usize, u64); 4] = [
    ("shrink 10000 to 5000", 10_000, 5000),
    ("shrink 6000 to 5000", 6000, 5000),
    ("shrink 8192 to 4096", 8192, 4096),
    ("grow 100 to 5000", 100, 5000),
];

fn row13_child(case: &str) {
    let &(_, len, size) = ROW13.iter().find(|c| c.0 == case).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let original = pattern_file(&path, len);
    let h = Opts::rw().mmap().private(true).open(&path).unwrap();
    println!(
        "RESULT protect(ReadOnly): {}",
        outcome(&h.protect(Protection::ReadOnly))
    );
    for line in after_protect(&h, size, len) {
        println!("RESULT {line}");
    }
    drop(h);
    let untouched = fs::read(&path).unwrap() == original;
    println!("RESULT file untouched: {untouched}");
}

/// Row 13: a private handle, `protect(ReadOnly)`, `set_len`: File's results
/// (on a copy), no crash, the file untouched.
#[test]
fn protect_then_set_len_on_a_private_handle_never_crashes() {
    const TEST: &str = "protect_then_set_len_on_a_private_handle_never_crashes";
    if let Some(case) = child_mode(TEST) {
        row13_child(&case);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for (case, len, size) in ROW13 {
        pattern_file(&dir.path().join("original"), len);
        let copy = dir.path().join("copy");
        fs::copy(dir.path().join("original"), &copy).unwrap();
        let file = Opts::rw().std().open(&copy).unwrap();
        let mut expected = vec!["protect(ReadOnly): Ok(())".to_string()];
        expected.extend(after_protect(&file, size, len));
        expected.push("file untouched: true".into());
        let out = child(TEST, case).output().unwrap();
        let got = results(&out);
        if !out.status.success() || got != expected {
            diffs.fail(format!(
                "{case}:\n    File (on a copy) gave {expected:?}\n    private MmapFile gave {got:?}, {}",
                describe(&out).lines().next().unwrap_or_default()
            ));
        }
    }
    diffs.check("protect(ReadOnly), then set_len, on a private handle");
}

// ---------------------------------------------------------------------------
// Row 16: a write-only private handle
// ---------------------------------------------------------------------------

fn write_only_steps(h: &mut dyn Handle) -> Vec<String> {
    let mut buf = [0u8; 4];
    vec![
        format!("write_at(XY, 0): {}", outcome(&h.write_at(b"XY", 0))),
        format!("write(abc): {}", outcome(&h.write(b"abc"))),
        format!("set_len(2): {}", outcome(&h.h_set_len(2))),
        format!(
            "write_at(far, 100000): {}",
            outcome(&h.write_at(b"far", 100_000))
        ),
        format!("read_at: {}", outcome(&h.read_at(&mut buf, 0))),
        format!("read: {}", outcome(&h.read(&mut buf))),
        format!("seek(End(0)): {}", outcome(&h.seek(SeekFrom::End(0)))),
    ]
}

/// Row 16: `write(true).private(true)` without read: File's results (on a
/// copy), and the original file untouched.
#[test]
fn a_write_only_private_handle_never_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let before = pattern_file(&original, 10_000);
    let mut diffs = Diffs::default();
    let write_only = Opts {
        write: true,
        ..Opts::default()
    };
    let (file, mmap) = twins(&original, &dir.path().join("copy"), write_only);
    let (mut file, mut mmap) = (file.unwrap(), mmap.unwrap());
    let f = write_only_steps(&mut file);
    let m = write_only_steps(&mut mmap);
    for (f, m) in f.iter().zip(&m) {
        diffs.same(f.split(':').next().unwrap(), f, m);
    }
    drop(mmap);
    let after = fs::read(&original).unwrap();
    if after != before {
        diffs.fail(format!(
            "the original file changed under a private handle: now {}",
            picture_of(&after, 0)
        ));
    }
    diffs.check("a write-only private handle");
}

// ---------------------------------------------------------------------------
// Row 17: unaligned shrinks of a private handle
// ---------------------------------------------------------------------------

fn shrink_steps(h: &mut dyn Handle, len: u64) -> Vec<String> {
    let short = len - 3;
    let mut seen = vec![
        format!("set_len({short}): {}", outcome(&h.h_set_len(short))),
        format!("length: {}", outcome(&h.h_len())),
        read_all(h, 0, len as usize + 10),
        format!("seek(End(0)): {}", outcome(&h.seek(SeekFrom::End(0)))),
        format!("set_len({len}): {}", outcome(&h.h_set_len(len))),
        read_all(h, short.saturating_sub(2), 10),
        format!("length: {}", outcome(&h.h_len())),
    ];
    seen.push(format!(
        "write_at(z, {short}): {}",
        outcome(&h.write_at(b"z", short))
    ));
    seen.push(read_all(h, short.saturating_sub(2), 10));
    seen
}

/// Row 17: a private handle of an unaligned length, `set_len(len - 3)`:
/// File's results on a copy, the original untouched.
#[test]
fn a_private_handle_shrinks_to_any_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for len in [5u64, 6000, 4096, 4099, 8195, 100_000] {
        let original = dir.path().join(format!("original-{len}"));
        let before = pattern_file(&original, len as usize);
        let (file, mmap) = twins(
            &original,
            &dir.path().join(format!("copy-{len}")),
            Opts::rw(),
        );
        let (mut file, mut mmap) = (file.unwrap(), mmap.unwrap());
        let f = shrink_steps(&mut file, len);
        let m = shrink_steps(&mut mmap, len);
        for (f, m) in f.iter().zip(&m) {
            diffs.same(
                &format!("length {len}: {}", f.split(':').next().unwrap()),
                f,
                m,
            );
        }
        drop(mmap);
        if fs::read(&original).unwrap() != before {
            diffs.fail(format!("length {len}: the original file changed"));
        }
    }
    diffs.check("set_len(len - 3) on a private handle");
}
