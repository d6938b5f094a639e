//! What the test files share. Each test file is its own crate and declares
//! `mod common;`, so each compiles all of this and uses a part of it (hence
//! `allow(dead_code)` here).
//!
//! - [`child`]: running one test again as a child process, for what must
//!   happen in another process or may kill the one that does it;
//! - [`twin`]: the File-against-MmapFile harness (twin files, one call on
//!   both, every difference reported);
//! - [`pattern`]: the bytes the test files hold;
//! - [`smaps`]: `/proc/self/smaps`, which shows what the mapping controls
//!   did;
//! - [`tmpfs`]: a small tmpfs mounted for a test, to fill up;
//! - [`acked`]: writing until an error, then checking what was
//!   acknowledged;
//! - [`outsider`]: a second process with a `File` on the path, and one
//!   test body run on `File` and on `MmapFile`, compared;
//! - [`race`]: seeded randomness and stop flags for tests that race threads;
//! - [`records`]: self-checking records for concurrent appends;
//! - [`sigbus`]: SIGBUS scenarios run in a child process per world;
//! - [`emulation`]: probes for what a user-mode emulator (qemu-user)
//!   answers differently from the kernel, for the checks that must skip
//!   there;
//! - below: a few small helpers.
#![allow(dead_code)]

pub mod acked;
pub mod child;
pub mod emulation;
pub mod outsider;
pub mod pattern;
pub mod race;
pub mod records;
pub mod sigbus;
pub mod smaps;
pub mod tmpfs;
pub mod twin;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use mmapfile::MmapFile;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1 << 20;

pub fn page() -> u64 {
    mmapfile::page_size() as u64
}

pub fn assert_mapped(f: &MmapFile, what: &str) {
    if mmapfile::MAPPED_IO {
        assert!(f.is_mapped(), "{what}: a regular file must be mapped");
    }
}

/// Says why a case is skipped (its file or tool is missing).
pub fn skip(why: &str) {
    println!("SKIPPED: {why}");
}

/// `path` opened read-write.
pub fn rw(path: &Path) -> MmapFile {
    MmapFile::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// Up to `len` bytes at `offset`: what `read_at` returned.
pub fn read_all_at(f: &MmapFile, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    let n = f.read_at(&mut buf, offset).unwrap();
    buf.truncate(n);
    buf
}

/// Another handle (a plain write-only `File`, closed after) sets the
/// length of `path` to `len`: a cut from outside the handles under test.
pub fn cut(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Polls `f` until it holds or `secs` pass; returns whether it held.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
