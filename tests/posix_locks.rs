//! Issue 11, row 9, and "What must hold" item 3: a write-only handle keeps
//! the process's POSIX locks. Closing any descriptor of a file drops every
//! fcntl lock the process holds on it, so a handle that opens and closes a
//! second descriptor (today's write-only `MmapFile` reopens through
//! `/proc/self/fd` to map) drops the caller's lock. With `File` the lock
//! stays until the caller closes a descriptor; another process checks it
//! with `F_GETLK`.

// Unix only: child processes, /proc, libc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::child::child_mode;
use common::outsider::{self, Diffs, Op, Opts, Twin, outcome, outsider};

fn set_write_lock(file: &File) {
    // SAFETY: all-zero is a valid `flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_SETLK on an open descriptor with a valid `flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
    assert_eq!(rc, 0, "F_SETLK: {}", io::Error::last_os_error());
}

/// Holds a write lock through a read-write `File`, opens a `T` with `opts`,
/// writes through it; another process checks the lock after each step.
fn lock_kept<T: Twin>(test: &str, path: &Path, opts: Opts) -> Vec<String> {
    let holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    holder.write_all_at(b"locked file", 0).unwrap();
    set_write_lock(&holder);
    let check = |what: &str| format!("{what}: {}", outsider(test, path, &[Op::LockHolder])[0]);
    let mut seen = vec![check("lock taken")];
    let mut h = T::open_with(&opts, path).unwrap();
    seen.push(check("write-only handle opened"));
    seen.push(format!("write: {}", outcome(&h.write(b"0123456789"))));
    seen.push(check("after a write"));
    seen.push(format!("set_len(100000): {}", outcome(&h.set_len(100_000))));
    seen.push(format!(
        "write_at(2 MiB): {}",
        outcome(&h.write_at(b"far", 2 << 20))
    ));
    seen.push(check("after set_len and a write past the end"));
    // Past the default 1 GiB reservation: MmapFile maps a larger window.
    seen.push(format!(
        "write_at(1 GiB + 4 KiB): {}",
        outcome(&h.write_at(b"farther", (1 << 30) + 4096))
    ));
    seen.push(check("after a write past 1 GiB"));
    seen.push(format!(
        "metadata: {}",
        outcome(&h.metadata().map(|m| m.len()))
    ));
    seen.push(format!("flush: {}", outcome(&h.flush())));
    seen.push(check("after metadata and flush"));
    drop(h);
    // Closing a descriptor of the file drops the lock, for File as for any.
    seen.push(check("write-only handle dropped"));
    drop(holder);
    seen
}

/// Row 9. File: the lock stays while the write-only handle lives and is
/// used (and goes when a descriptor of the file is closed). MmapFile today:
/// gone as soon as the handle opens (its `/proc/self/fd` reopen is closed).
#[test]
fn a_write_only_handle_keeps_the_processes_posix_locks() {
    const TEST: &str = "a_write_only_handle_keeps_the_processes_posix_locks";
    if let Some(mode) = child_mode(TEST) {
        outsider::serve(&mode);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    let write_only = Opts {
        write: true,
        ..Opts::default()
    };
    let append_only = Opts {
        append: true,
        ..Opts::default()
    };
    for (what, opts) in [("write-only", write_only), ("append-only", append_only)] {
        let file = lock_kept::<File>(TEST, &dir.path().join(format!("file-{what}")), opts);
        assert_eq!(
            file[1], "write-only handle opened: write lock held by parent",
            "File itself"
        );
        let mmap = lock_kept::<MmapFile>(TEST, &dir.path().join(format!("mmap-{what}")), opts);
        for (f, m) in file.iter().zip(&mmap) {
            diffs.same(&format!("{what}: {}", f.split(':').next().unwrap()), f, m);
        }
    }
    diffs.check("a POSIX lock, then a write-only handle");
}
