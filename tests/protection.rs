//! `protect`: `Protection::ReadOnly` makes every mapping of the file
//! read-only (`r--s` in `/proc/self/smaps`), so writes through any handle,
//! clone or region fail with `PermissionDenied` and change nothing, until
//! `Protection::ReadWrite`; a read-only handle cannot be made writable.

// Unix only: /proc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{self, IoSlice, Seek, Write};
use std::os::unix::fs::FileExt;

use mmapfile::{MmapFile, Protection};

mod common;
use common::pattern::pattern;
use common::smaps::{make_file, vmas_of};
use common::{read_all_at, rw};

fn assert_denied(r: io::Result<usize>, what: &str) {
    match r {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{what}: {e}"),
        Ok(n) => panic!("{what}: wrote {n} bytes through a read-only mapping"),
    }
}

#[test]
fn protect_read_only_refuses_writes_through_every_handle() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 8192);
    let path = make_file(dir.path(), "protected", &orig);
    let f = rw(&path);
    let clone = f.try_clone().unwrap();
    let before = rw(&path); // opened before protect; shares the mapping
    assert!(vmas_of(&path).iter().all(|v| v.perms == "rw-s"));

    f.protect(Protection::ReadOnly).unwrap();
    let after = rw(&path); // opened after protect; shares it too
    let vmas = vmas_of(&path);
    assert!(!vmas.is_empty());
    assert!(
        vmas.iter().all(|v| v.perms == "r--s"),
        "the mapping is not read-only: {:?}",
        vmas.iter().map(|v| &v.perms).collect::<Vec<_>>()
    );

    assert_denied((&f).write(b"x"), "write");
    assert_denied(f.write_at(b"x", 10), "write_at");
    assert_denied((&f).write_all(b"xyz").map(|()| 3), "write_all");
    assert_denied(
        (&f).write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")]),
        "write_vectored",
    );
    assert_denied(f.write_at(b"append", 8192), "write_at at the end");
    assert_denied(
        f.write_at(&[1; 1 << 20], 1 << 20),
        "write_at far past the end",
    );
    assert_denied(clone.write_at(b"x", 0), "write_at through a clone");
    assert_denied(
        before.write_at(b"x", 0),
        "write_at through a handle opened before",
    );
    assert_denied(
        after.write_at(b"x", 0),
        "write_at through a handle opened after",
    );
    assert_denied(
        f.region(0, 100).unwrap().write_at(b"x", 0),
        "write_at through a region",
    );

    // Nothing changed, in the mapping or the file; reads work.
    assert_eq!(f.len().unwrap(), 8192);
    assert!(read_all_at(&f, 0, 10_000) == orig);
    assert!(read_all_at(&after, 0, 10_000) == orig);
    assert!(fs::read(&path).unwrap() == orig);
    assert_eq!((&f).stream_position().unwrap(), 0);

    // set_len goes through the file.
    f.set_len(10_000).unwrap();
    assert_eq!(f.len().unwrap(), 10_000);
    assert_eq!(fs::metadata(&path).unwrap().len(), 10_000);
    assert!(read_all_at(&f, 8192, 10_000) == vec![0; 10_000 - 8192]);
    f.set_len(8192).unwrap();
    assert!(fs::read(&path).unwrap() == orig);

    // Back to read-write: every handle writes again.
    clone.protect(Protection::ReadWrite).unwrap();
    assert!(vmas_of(&path).iter().all(|v| v.perms == "rw-s"));
    f.write_all_at(b"f", 0).unwrap();
    clone.write_all_at(b"c", 1).unwrap();
    before.write_all_at(b"b", 2).unwrap();
    after.write_all_at(b"a", 3).unwrap();
    (&f).write_all(b"W").unwrap(); // the cursor is at 0
    assert_eq!(read_all_at(&f, 0, 4), b"Wcba");
    let mut want = orig.clone();
    want[..4].copy_from_slice(b"Wcba");
    drop((f, clone, before, after));
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn protect_read_write_on_a_read_only_handle_is_ebadf() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "ro", &pattern(0, 4096));
    let r = MmapFile::open(&path).unwrap();
    assert!(r.is_mapped());
    let e = r.protect(Protection::ReadWrite).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(9), "{e}");
    assert!(vmas_of(&path).iter().all(|v| v.perms == "r--s"));
    assert!(read_all_at(&r, 0, 5000) == pattern(0, 4096));
}
