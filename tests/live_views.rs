//! Issue 11, rows 14 and 15, and "What must hold" item 9: what a live
//! `View` (the zero-copy borrow `MmapFile::view` lends) may rely on.
//! `File` has no views; what must hold is the design's:
//! - row 14 / item 9: truncating at open (`MmapFile::create`, or
//!   `OpenOptions` with `truncate(true)`) while a view of the file lives in
//!   this process fails with `ResourceBusy`, as `set_len(0)` already does,
//!   and leaves the file's bytes and the view intact; once the view is
//!   dropped the same open succeeds and truncates. (MmapFile today: the
//!   open succeeds, truncates the file under the view, and the view's next
//!   read dies of SIGBUS.) In a child process, since a failure kills.
//! - row 15: a view of a private handle is pinned to its own copy: a
//!   shared handle that then writes those bytes succeeds (as a `File`
//!   write would), and the view's bytes do not change. (MmapFile today:
//!   the `&[u8]` changes under the borrow.)

// Unix only: child processes, SIGBUS, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe, results};
use common::outsider::Opts;

/// The byte at `offset` of the test files: never zero.
fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

const LEN: usize = 10_000;

fn kind<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "Ok".to_string(),
        Err(e) => format!("Err({:?})", e.kind()),
    }
}

/// The ways to cut the file to 0 while the view lives.
const CUTS: [&str; 4] = [
    "MmapFile::create",
    "write(true).truncate(true).open",
    "read(true).write(true).truncate(true).open",
    "set_len(0) through another handle",
];

fn cut(how: &str, path: &std::path::Path) -> io::Result<()> {
    match how {
        "MmapFile::create" => MmapFile::create(path).map(drop),
        "write(true).truncate(true).open" => MmapFile::options()
            .write(true)
            .truncate(true)
            .open(path)
            .map(drop),
        "read(true).write(true).truncate(true).open" => MmapFile::options()
            .read(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map(drop),
        "set_len(0) through another handle" => Opts::rw().mmap().open(path)?.set_len(0),
        other => panic!("unknown cut {other}"),
    }
}

fn truncate_child(how: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let original: Vec<u8> = (0..LEN as u64).map(pat).collect();
    fs::write(&path, &original).unwrap();
    let viewer = Opts::rw().mmap().open(&path).unwrap();
    // SAFETY: nothing outside this crate writes or cuts the file while the
    // view lives (the cuts tried are all MmapFile's, which the view pins).
    let view = unsafe { viewer.view(0, LEN) }.unwrap();
    let say = |line: String| {
        println!("RESULT {line}");
        io::stdout().flush().unwrap();
    };
    say(format!("with a live view: {}", kind(&cut(how, &path))));
    say(format!(
        "file on disk unchanged: {}",
        fs::read(&path).unwrap() == original
    ));
    // The risky read: a view of a cut file faults.
    say(format!("view unchanged: {}", view[..] == original[..]));
    drop(view);
    say(format!(
        "after the view dropped: {}",
        kind(&cut(how, &path))
    ));
    say(format!(
        "size after: {}",
        fs::metadata(&path).unwrap().len()
    ));
}

/// Row 14 and item 9: a truncating open with a live view is refused as
/// `set_len(0)` is; after the view drops it succeeds.
#[test]
fn truncating_open_with_a_live_view_is_refused_like_set_len_0() {
    const TEST: &str = "truncating_open_with_a_live_view_is_refused_like_set_len_0";
    if let Some(how) = child_mode(TEST) {
        truncate_child(&how);
        return;
    }
    let expected = [
        "with a live view: Err(ResourceBusy)",
        "file on disk unchanged: true",
        "view unchanged: true",
        "after the view dropped: Ok",
        "size after: 0",
    ];
    let mut wrong = Vec::new();
    for how in CUTS {
        let out = child(TEST, how).output().unwrap();
        let got = results(&out);
        if !out.status.success() || got != expected {
            wrong.push(format!(
                "{how}: expected {expected:?}\n    got {got:?}, {}",
                describe(&out).lines().next().unwrap_or_default()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Row 15: a view of a private handle keeps its bytes while a shared handle
/// writes them.
#[test]
fn a_view_of_a_private_handle_is_its_own_copy() {
    // A private handle's pages become its own by MADV_POPULATE_WRITE.
    if let Some(why) = common::emulation::populate_write_ignored() {
        common::skip(&why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let original: Vec<u8> = (0..LEN as u64).map(pat).collect();
    fs::write(&path, &original).unwrap();
    let private = Opts::rw().mmap().private(true).open(&path).unwrap();
    // SAFETY: only MmapFile handles of this process write the file while
    // the view lives.
    let view = unsafe { private.view(0, 100) }.unwrap();
    let shared = Opts::rw().mmap().open(&path).unwrap();
    let mut wrong = Vec::new();
    let r = shared.write_at(b"XXXXX", 10);
    if r.as_ref().ok() != Some(&5) {
        wrong.push(format!(
            "the shared write_at(5 bytes, 10): File's would give Ok(5), got {r:?}"
        ));
    }
    let r = (&shared).write_all(&[b'Y'; 50]);
    if r.is_err() {
        wrong.push(format!(
            "the shared write_all(50 bytes) at 0: File's would give Ok, got {r:?}"
        ));
    }
    // Volatile reads: the bytes may have changed under the borrow, which
    // is what this test looks for.
    // SAFETY: `view` derefs to 100 readable bytes.
    let now: Vec<u8> = (0..100)
        .map(|i| unsafe { std::ptr::read_volatile(view.as_ptr().add(i)) })
        .collect();
    let changed = now.iter().zip(&original).filter(|(a, b)| a != b).count();
    if changed > 0 {
        wrong.push(format!(
            "the private handle's live view changed under the borrow: {changed} of 100 bytes \
             (now starts {:?})",
            String::from_utf8_lossy(&now[..20])
        ));
    }
    drop(view);
    let mut on_disk = [0; 10];
    shared.read_exact_at(&mut on_disk, 10).unwrap();
    if &on_disk[..] != b"YYYYYYYYYY" {
        wrong.push(format!(
            "the shared writes did not reach the file: {on_disk:?}"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
