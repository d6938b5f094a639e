//! Issue 11, rows 1 and 2, and "What must hold" item 1: another process
//! works on the file while our handle is open, with no flush of ours before
//! its step.
//!
//! The other process is real: this test binary re-run as a child
//! (`common::outsider`), which opens its own `File` on the path, does one
//! thing and exits; the parent waits for it between two of its own calls.
//!
//! What `File` does, and so what `MmapFile` must do:
//! - its O_APPEND write lands right after our acknowledged bytes, and our
//!   next append lands after its bytes (row 1: `a1 b1 a2`);
//! - nothing it writes, anywhere (inside what would be our growth step
//!   too), is cut or overwritten when we write on or close (row 2: 1,001
//!   bytes after it wrote at 1000 and we closed);
//! - its `set_len` stands, and our writes after it land where the kernel's
//!   size says;
//! - any `open` of the file shows the exact size and bytes; a `stat` by
//!   path (no open) shows the exact size for `File`, and for `MmapFile` at
//!   most one growth step more, which is all the design allows it (see
//!   `stat_by_path_shows_at_most_one_growth_step_of_padding`).

// Unix only: child processes, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::child::child_mode;
use common::outsider::{self, Diffs, Op, Opts, Twin, outcome, outsider, picture};

/// The largest growth step `MmapFile` may keep on disk ahead of its length
/// while it appends alone (64 MiB, the crate's largest step).
const MAX_STEP: u64 = 64 << 20;

/// Plays the outsider if this process is `test`'s child.
fn as_outsider(test: &str) -> bool {
    match child_mode(test) {
        Some(mode) => {
            outsider::serve(&mode);
            true
        }
        None => false,
    }
}

/// What a scenario saw (every result, in order) and the file's bytes after
/// our handle closed.
#[derive(Debug, PartialEq)]
struct Seen {
    steps: Vec<String>,
    disk: String,
}

fn compare(diffs: &mut Diffs, what: &str, file: Seen, mmap: Seen) {
    for (i, (f, m)) in file.steps.iter().zip(&mmap.steps).enumerate() {
        diffs.same(&format!("{what}, step {i}"), f, m);
    }
    diffs.same(
        &format!("{what}, step count"),
        file.steps.len(),
        mmap.steps.len(),
    );
    diffs.same(
        &format!("{what}, bytes on disk after close"),
        &file.disk,
        &mmap.disk,
    );
}

fn readable(opts: &Opts) -> &'static str {
    if opts.read { "read+" } else { "" }
}

// ---------------------------------------------------------------------------
// Row 1: an O_APPEND write of another process between two of ours
// ---------------------------------------------------------------------------

fn append_between<T: Twin>(test: &str, opts: Opts) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut log = T::open_with(&opts, &path).unwrap();
    let mut steps = vec![outcome(&log.write_all(b"a1"))];
    steps.push(outcome(&log.stream_position()));
    steps.extend(outsider(test, &path, &[Op::Append(b"b1".to_vec())]));
    steps.push(outcome(&log.write_all(b"a2")));
    steps.push(outcome(&log.stream_position()));
    drop(log);
    Seen {
        steps,
        disk: picture(&fs::read(&path).unwrap()),
    }
}

/// Row 1. File: `a1 b1 a2`. MmapFile today: `a1 a2`, zeros to its growth
/// step, then `b1`, kept on disk after close.
#[test]
fn o_append_of_another_process_lands_between_our_appends() {
    const TEST: &str = "o_append_of_another_process_lands_between_our_appends";
    if as_outsider(TEST) {
        return;
    }
    let mut diffs = Diffs::default();
    for opts in [
        Opts::append_only(),
        Opts {
            read: true,
            ..Opts::append_only()
        },
    ] {
        let what = format!("{}append handle", readable(&opts));
        let file = append_between::<File>(TEST, opts);
        assert_eq!(file.disk, picture(b"a1b1a2"), "File itself");
        let mmap = append_between::<MmapFile>(TEST, opts);
        compare(&mut diffs, &what, file, mmap);
    }
    diffs.check("another process's O_APPEND write between two of ours");
}

// ---------------------------------------------------------------------------
// Row 2: writes of another process past our end, inside our growth step
// ---------------------------------------------------------------------------

/// We write 100 bytes; the outsider writes (and syncs) at each of `theirs`;
/// we write `more` bytes (unless 0) and close.
fn write_past_our_end<T: Twin>(test: &str, opts: Opts, theirs: &[u64], more: usize) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let mut h = T::open_with(&opts, &path).unwrap();
    let mut steps = vec![outcome(&h.write_all(&[b'a'; 100]))];
    let ops: Vec<Op> = theirs
        .iter()
        .map(|&off| Op::WriteAt(off, b"B".to_vec()))
        .collect();
    steps.extend(outsider(test, &path, &ops));
    if opts.read {
        // Our handle sees the outsider's byte, as File does.
        let mut byte = [0xff; 1];
        let r = h.read_at(&mut byte, theirs[0]);
        steps.push(format!("read_at({}) {} {byte:?}", theirs[0], outcome(&r)));
    }
    if more > 0 {
        steps.push(outcome(&h.write_all(&vec![b'c'; more])));
        steps.push(outcome(&h.stream_position()));
    }
    drop(h);
    Seen {
        steps,
        disk: picture(&fs::read(&path).unwrap()),
    }
}

/// Row 2. File: 1,001 bytes, `B` at 1000. MmapFile today: cut to 100 on
/// close; the outsider's synced byte is gone.
#[test]
fn synced_write_of_another_process_survives_our_close() {
    const TEST: &str = "synced_write_of_another_process_survives_our_close";
    if as_outsider(TEST) {
        return;
    }
    let file = write_past_our_end::<File>(TEST, Opts::rw(), &[1000], 0);
    assert_eq!(fs_len(&file.disk), 1001, "File itself: {file:?}");
    let mmap = write_past_our_end::<MmapFile>(TEST, Opts::rw(), &[1000], 0);
    let mut diffs = Diffs::default();
    compare(&mut diffs, "we wrote 100, it wrote B at 1000", file, mmap);
    diffs.check("another process's synced write past our end");
}

/// The length in a [`picture`]: its first word.
fn fs_len(picture: &str) -> u64 {
    picture.split(' ').next().unwrap().parse().unwrap()
}

/// We write 100 bytes, the outsider writes at 1000 and at 30,000 (inside
/// the step `MmapFile` grew the file by), we write 100 more, we close.
/// File: the second write lands at our cursor (100) or, for an append
/// handle, after the outsider's last byte (30,001); every byte the outsider
/// wrote stays.
#[test]
fn writes_of_another_process_inside_our_growth_step_stay() {
    const TEST: &str = "writes_of_another_process_inside_our_growth_step_stay";
    if as_outsider(TEST) {
        return;
    }
    let mut diffs = Diffs::default();
    let appending = Opts {
        read: true,
        ..Opts::append_only()
    };
    for (what, opts) in [("cursor writes", Opts::rw()), ("appends", appending)] {
        let file = write_past_our_end::<File>(TEST, opts, &[1000, 30_000], 100);
        let mmap = write_past_our_end::<MmapFile>(TEST, opts, &[1000, 30_000], 100);
        compare(&mut diffs, what, file, mmap);
    }
    diffs.check("another process's writes inside our growth step");
}

// ---------------------------------------------------------------------------
// Another process's set_len
// ---------------------------------------------------------------------------

fn set_len_between<T: Twin>(test: &str, opts: Opts, size: u64) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let mut h = T::open_with(&opts, &path).unwrap();
    let mut steps = vec![outcome(&h.write_all(&[b'a'; 100]))];
    steps.extend(outsider(test, &path, &[Op::SetLen(size)]));
    steps.push(outcome(&h.write_all(&[b'c'; 10])));
    steps.push(outcome(&h.stream_position()));
    let mut tail = [0xff; 16];
    if opts.read {
        let r = h.read_at(&mut tail, 95);
        steps.push(format!("read_at(95) {} {tail:?}", outcome(&r)));
    }
    steps.push(outcome(&h.seek(std::io::SeekFrom::End(0))));
    drop(h);
    Seen {
        steps,
        disk: picture(&fs::read(&path).unwrap()),
    }
}

/// We write 100 bytes, the outsider sets the length (shorter, inside our
/// growth step, past it), we write 10 more and close. File: its length
/// stands; our write lands at our cursor, or for an append handle at its
/// end.
#[test]
fn set_len_of_another_process_stands() {
    const TEST: &str = "set_len_of_another_process_stands";
    if as_outsider(TEST) {
        return;
    }
    let mut diffs = Diffs::default();
    let appending = Opts {
        read: true,
        ..Opts::append_only()
    };
    for (kind, opts) in [("cursor writes", Opts::rw()), ("appends", appending)] {
        for size in [50, 5000, 200_000] {
            let what = format!("{kind}, it set_len({size})");
            let file = set_len_between::<File>(TEST, opts, size);
            let mmap = set_len_between::<MmapFile>(TEST, opts, size);
            compare(&mut diffs, &what, file, mmap);
        }
    }
    diffs.check("another process's set_len between our writes");
}

// ---------------------------------------------------------------------------
// Another process reads the size after our unflushed appends
// ---------------------------------------------------------------------------

/// Appends of these sizes, none flushed: inside the first growth step,
/// across it, and across a later one.
const APPENDS: [usize; 4] = [100, 5000, 70_000, 300_000];

fn byte_of(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// After each append, the outsider opens the file and reads its size and
/// bytes. Returns, per append, our length and what the outsider saw.
fn open_after_appends<T: Twin>(test: &str, path: &Path) -> Vec<(u64, Vec<String>)> {
    let mut log = T::open_with(&Opts::append_only(), path).unwrap();
    let mut len = 0;
    let mut seen = Vec::new();
    for (i, &n) in APPENDS.iter().enumerate() {
        log.write_all(&vec![byte_of(i); n]).unwrap();
        len += n as u64;
        seen.push((len, outsider(test, path, &[Op::OpenLen, Op::Read])));
    }
    seen
}

/// Any `open()` by another process sees the exact size and bytes, at every
/// moment, flushed or not. File: exact. (The design: the open breaks the
/// lease, and the crate cuts the padding before the open returns.)
#[test]
fn another_process_that_opens_the_file_sees_its_exact_size() {
    const TEST: &str = "another_process_that_opens_the_file_sees_its_exact_size";
    if as_outsider(TEST) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    let file = open_after_appends::<File>(TEST, &dir.path().join("file"));
    let mmap = open_after_appends::<MmapFile>(TEST, &dir.path().join("mmap"));
    for ((flen, f), (mlen, m)) in file.iter().zip(&mmap) {
        assert_eq!(f[0], format!("Ok({flen})"), "File itself");
        diffs.same(
            &format!("outsider's open+fstat after {mlen} bytes"),
            &f[0],
            &m[0],
        );
        diffs.same(&format!("outsider's read after {mlen} bytes"), &f[1], &m[1]);
    }
    diffs.check("another process opens the file after our unflushed appends");
}

/// A `stat` by path does not open the file, so under the design it may show
/// the padding of one growth step while a single handle appends alone: for
/// `MmapFile` this asserts only `len <= size <= len + 64 MiB` (the largest
/// step), and exactness once we flush. File: exact every time.
#[test]
fn stat_by_path_shows_at_most_one_growth_step_of_padding() {
    const TEST: &str = "stat_by_path_shows_at_most_one_growth_step_of_padding";
    if as_outsider(TEST) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for mmap in [false, true] {
        let path = dir.path().join(if mmap { "mmap" } else { "file" });
        let mut log: Box<dyn Write> = if mmap {
            Box::new(
                MmapFile::options()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .unwrap(),
            )
        } else {
            Box::new(Opts::append_only().std().open(&path).unwrap())
        };
        let name = if mmap { "MmapFile" } else { "File" };
        let mut len = 0;
        for (i, &n) in APPENDS.iter().enumerate() {
            log.write_all(&vec![byte_of(i); n]).unwrap();
            len += n as u64;
            let seen = outsider(TEST, &path, &[Op::StatLen]);
            let size: u64 = seen[0]
                .strip_prefix("Ok(")
                .and_then(|s| s.strip_suffix(')'))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("stat: {}", seen[0]));
            let allowed = if mmap { len + MAX_STEP } else { len };
            if !(len..=allowed).contains(&size) {
                wrong.push(format!(
                    "{name}: stat by path after {len} appended bytes gave {size}"
                ));
            }
        }
        log.flush().unwrap();
        let seen = outsider(TEST, &path, &[Op::StatLen]);
        if seen[0] != format!("Ok({len})") {
            wrong.push(format!("{name}: stat by path after flush gave {}", seen[0]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
