//! Issue 11, row 6, and "What must hold" item 4: memfd seals
//! (`F_SEAL_SHRINK`, `F_SEAL_GROW`, `F_SEAL_WRITE`, `F_SEAL_FUTURE_WRITE`),
//! on a memfd made with `MFD_ALLOW_SEALING` and wrapped with
//! `MmapFile::try_from(File)`.
//!
//! What `File` does, and so what `MmapFile` must do:
//! - `F_SEAL_SHRINK` (row 6): `write_all(b"hello")`, `flush`, `metadata`
//!   are `Ok`, size 5; only a `set_len` below the size fails (`EPERM`).
//!   (MmapFile today grows the memfd by a step, then cannot cut it back:
//!   `flush` and `metadata` fail `EPERM`, size 65,536.)
//! - `F_SEAL_GROW`: writes inside the size work, a write or `set_len` past
//!   it fails `EPERM`.
//! - `F_SEAL_WRITE` before the handle is made: writes fail `EPERM`, reads
//!   and `set_len` work. Added while the handle is open, from another
//!   `File` of the memfd: the kernel grants it only if no writable shared
//!   mapping exists; with a `File` open it is granted, so it must be with
//!   an `MmapFile` open, and later writes fail `EPERM`.
//! - `F_SEAL_FUTURE_WRITE` added while the handle is open: later writes
//!   fail `EPERM` (MmapFile today keeps writing through its mapping).

// Unix only: child processes, libc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::ffi::c_uint;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Diffs, Twin, outcome, picture};

fn sealable_memfd() -> File {
    let flags: c_uint = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a valid NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"mmapfile-seals".as_ptr(), flags) };
    assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: memfd_create just returned `fd`, owned by no one else.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn add_seals(file: &File, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: F_ADD_SEALS on an open descriptor, with an int argument.
    match unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// What the memfd holds, seen through another descriptor.
fn contents(observer: &File) -> String {
    let len = observer.metadata().unwrap().len() as usize;
    let mut buf = vec![0; len];
    let n = FileExt::read_at(observer, &mut buf, 0).unwrap();
    picture(&buf[..n])
}

/// A scenario on a fresh sealable memfd: `prepare` works on it through a
/// plain `File` (content, seals) before it is wrapped as `T`; `run` gets the
/// handle and another `File` of the memfd (`try_clone`: the same
/// description) to add seals with. Returns every result and the memfd's
/// final bytes.
fn scenario<T: Twin>(
    prepare: impl FnOnce(&File),
    run: impl FnOnce(&mut T, &File, &mut Vec<String>),
) -> Vec<String> {
    let memfd = sealable_memfd();
    prepare(&memfd);
    let other = memfd.try_clone().unwrap();
    let mut seen = Vec::new();
    let mut h = T::wrap(memfd).unwrap();
    run(&mut h, &other, &mut seen);
    drop(h);
    seen.push(format!(
        "after drop: size {}, {}",
        other.metadata().unwrap().len(),
        contents(&other)
    ));
    seen
}

fn compare<F, R>(what: &str, prepare: F, run: R) -> Diffs
where
    F: Fn(&File),
    R: Fn(&mut dyn Handle, &File, &mut Vec<String>),
{
    let file = scenario::<File>(&prepare, |h, o, s| run(h, o, s));
    let mmap = scenario::<MmapFile>(&prepare, |h, o, s| run(h, o, s));
    let mut diffs = Diffs::default();
    for (i, (f, m)) in file.iter().zip(&mmap).enumerate() {
        diffs.same(&format!("{what}, step {i}"), f, m);
    }
    diffs.same(&format!("{what}, steps"), file.len(), mmap.len());
    diffs
}

/// The calls the scenarios make, on either type.
trait Handle {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()>;
    fn write(&mut self, b: &[u8]) -> io::Result<usize>;
    fn write_at(&self, b: &[u8], off: u64) -> io::Result<usize>;
    fn read_at(&self, b: &mut [u8], off: u64) -> io::Result<usize>;
    fn flush(&mut self) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, n: u64) -> io::Result<()>;
    fn sync_all(&self) -> io::Result<()>;
}

impl<T: Twin> Handle for T {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        io::Write::write_all(self, b)
    }
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        io::Write::write(self, b)
    }
    fn write_at(&self, b: &[u8], off: u64) -> io::Result<usize> {
        FileExt::write_at(self, b, off)
    }
    fn read_at(&self, b: &mut [u8], off: u64) -> io::Result<usize> {
        FileExt::read_at(self, b, off)
    }
    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(self)
    }
    fn len(&self) -> io::Result<u64> {
        Twin::metadata(self).map(|m| m.len())
    }
    fn set_len(&self, n: u64) -> io::Result<()> {
        Twin::set_len(self, n)
    }
    fn sync_all(&self) -> io::Result<()> {
        Twin::sync_all(self)
    }
}

fn read5(h: &dyn Handle) -> String {
    let mut buf = [0u8; 5];
    let r = h.read_at(&mut buf, 0);
    format!(
        "read_at(5, 0): {} {:?}",
        outcome(&r),
        String::from_utf8_lossy(&buf)
    )
}

/// Row 6: F_SEAL_SHRINK, then `write_all(b"hello")`, `flush`, `metadata`:
/// Ok and size 5, as File.
#[test]
fn shrink_seal_write_flush_metadata_as_file() {
    let diffs = compare(
        "F_SEAL_SHRINK before wrapping",
        |m| add_seals(m, libc::F_SEAL_SHRINK).unwrap(),
        |h, _, seen| {
            seen.push(format!(
                "write_all(hello): {}",
                outcome(&h.write_all(b"hello"))
            ));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
            seen.push(format!("sync_all: {}", outcome(&h.sync_all())));
            seen.push(format!("set_len(2): {}", outcome(&h.set_len(2))));
            seen.push(format!("set_len(8): {}", outcome(&h.set_len(8))));
            seen.push(format!(
                "write_all(world): {}",
                outcome(&h.write_all(b"world"))
            ));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
            seen.push(read5(h));
        },
    );
    diffs.check("F_SEAL_SHRINK");
}

/// F_SEAL_SHRINK added through another File after our writes: the next
/// `flush` and `metadata` are Ok, as File's.
#[test]
fn shrink_seal_added_while_open_as_file() {
    let diffs = compare(
        "F_SEAL_SHRINK added while open",
        |_| {},
        |h, other, seen| {
            seen.push(format!(
                "write_all(hello): {}",
                outcome(&h.write_all(b"hello"))
            ));
            seen.push(format!(
                "add F_SEAL_SHRINK: {}",
                outcome(&add_seals(other, libc::F_SEAL_SHRINK))
            ));
            seen.push(format!("write_all(!): {}", outcome(&h.write_all(b"!"))));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
        },
    );
    diffs.check("F_SEAL_SHRINK added while open");
}

/// F_SEAL_GROW on a memfd of 10 bytes: writes inside work, past the end
/// fail EPERM, as File's.
#[test]
fn grow_seal_as_file() {
    let diffs = compare(
        "F_SEAL_GROW",
        |m| {
            m.write_all_at(b"0123456789", 0).unwrap();
            add_seals(m, libc::F_SEAL_GROW).unwrap();
        },
        |h, _, seen| {
            seen.push(format!(
                "write_at(abc, 0): {}",
                outcome(&h.write_at(b"abc", 0))
            ));
            seen.push(format!(
                "write_at(x, 10): {}",
                outcome(&h.write_at(b"x", 10))
            ));
            seen.push(format!(
                "write_at(xyz, 8): {}",
                outcome(&h.write_at(b"xyz", 8))
            ));
            seen.push(format!(
                "write(12 bytes): {}",
                outcome(&h.write(b"ABCDEFGHIJKL"))
            ));
            seen.push(format!("write(4 bytes): {}", outcome(&h.write(b"ABCD"))));
            seen.push(format!("set_len(20): {}", outcome(&h.set_len(20))));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
            seen.push(format!("set_len(5): {}", outcome(&h.set_len(5))));
            seen.push(format!("write_at(x, 5): {}", outcome(&h.write_at(b"x", 5))));
            seen.push(read5(h));
        },
    );
    diffs.check("F_SEAL_GROW");
}

/// F_SEAL_WRITE before wrapping: writes fail EPERM, reads and set_len work,
/// as File's.
#[test]
fn write_seal_before_open_as_file() {
    let diffs = compare(
        "F_SEAL_WRITE before wrapping",
        |m| {
            m.write_all_at(b"hello", 0).unwrap();
            add_seals(m, libc::F_SEAL_WRITE).unwrap();
        },
        |h, _, seen| {
            seen.push(format!("write(x): {}", outcome(&h.write(b"x"))));
            seen.push(format!("write_at(x, 2): {}", outcome(&h.write_at(b"x", 2))));
            seen.push(format!(
                "write_at(x, 100): {}",
                outcome(&h.write_at(b"x", 100))
            ));
            seen.push(read5(h));
            seen.push(format!("set_len(10): {}", outcome(&h.set_len(10))));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
        },
    );
    diffs.check("F_SEAL_WRITE before wrapping");
}

/// F_SEAL_WRITE added through another File while the handle is open (and
/// has written): granted with a File open, so it must be with an MmapFile
/// open; then writes fail EPERM.
#[test]
fn write_seal_added_while_open_as_file() {
    let diffs = compare(
        "F_SEAL_WRITE added while open",
        |m| m.write_all_at(b"hello", 0).unwrap(),
        |h, other, seen| {
            seen.push(format!("write_all(abc): {}", outcome(&h.write_all(b"abc"))));
            seen.push(format!(
                "add F_SEAL_WRITE: {}",
                outcome(&add_seals(other, libc::F_SEAL_WRITE))
            ));
            seen.push(format!("write(x): {}", outcome(&h.write(b"x"))));
            seen.push(format!("write_at(x, 1): {}", outcome(&h.write_at(b"x", 1))));
            seen.push(format!(
                "write_at(x, 10): {}",
                outcome(&h.write_at(b"x", 10))
            ));
            seen.push(read5(h));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
        },
    );
    diffs.check("F_SEAL_WRITE added while open");
}

/// F_SEAL_FUTURE_WRITE added while the handle is open: later writes fail
/// EPERM, inside the size and past it, as File's.
#[test]
fn future_write_seal_added_while_open_as_file() {
    let diffs = compare(
        "F_SEAL_FUTURE_WRITE added while open",
        |_| {},
        |h, other, seen| {
            seen.push(format!(
                "write_all(hello): {}",
                outcome(&h.write_all(b"hello"))
            ));
            seen.push(format!(
                "add F_SEAL_FUTURE_WRITE: {}",
                outcome(&add_seals(other, libc::F_SEAL_FUTURE_WRITE))
            ));
            seen.push(format!("write_at(J, 0): {}", outcome(&h.write_at(b"J", 0))));
            seen.push(format!("write(more): {}", outcome(&h.write(b"more"))));
            seen.push(format!(
                "write_at(x, 4096): {}",
                outcome(&h.write_at(b"x", 4096))
            ));
            seen.push(read5(h));
            seen.push(format!("flush: {}", outcome(&h.flush())));
            seen.push(format!("metadata().len(): {}", outcome(&h.len())));
        },
    );
    diffs.check("F_SEAL_FUTURE_WRITE added while open");
}
