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
//! - [`small_fs`]: a small tmpfs or ext4 mounted for a test, to fill up;
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
//!
//! `pattern`, `race`, `records`, `twin` and the helpers without a
//! `cfg(unix)` build on Windows too (for tests/windows_*.rs); the rest
//! needs Unix (fork, signals, `/proc`, tmpfs, `FileExt::read_at`).
#![allow(dead_code)]

#[cfg(unix)]
pub mod acked;
#[cfg(unix)]
pub mod child;
#[cfg(unix)]
pub mod emulation;
#[cfg(unix)]
pub mod outsider;
pub mod pattern;
pub mod race;
pub mod records;
#[cfg(unix)]
pub mod sigbus;
#[cfg(unix)]
pub mod small_fs;
#[cfg(unix)]
pub mod smaps;
pub mod twin;
#[cfg(windows)]
pub mod windows;

use std::fs;
#[cfg(unix)]
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

/// `path` opened read-write and mapped at open (`map_after(0)`): for the
/// tests that look at the mapping itself, in `/proc/self/smaps`.
pub fn rw_mapped(path: &Path) -> MmapFile {
    MmapFile::options()
        .read(true)
        .write(true)
        .map_after(0)
        .open(path)
        .unwrap()
}

/// Up to `len` bytes at `offset`: what `read_at` returned.
#[cfg(unix)]
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

/// The version of wine this test runs under (`wine_get_version`, which
/// wine's ntdll exports and Windows' does not), or `None` on Windows.
#[cfg(windows)]
pub fn wine() -> Option<&'static str> {
    use std::ffi::{CStr, c_char, c_void};
    use std::sync::OnceLock;
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetModuleHandleA(name: *const c_char) -> *mut c_void;
        fn GetProcAddress(module: *mut c_void, name: *const c_char) -> *mut c_void;
    }
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            // SAFETY: both names are NUL-terminated; ntdll stays loaded for
            // the life of the process; `wine_get_version` takes nothing and
            // returns a static NUL-terminated string.
            unsafe {
                let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr());
                if ntdll.is_null() {
                    return None;
                }
                let f = GetProcAddress(ntdll, c"wine_get_version".as_ptr());
                if f.is_null() {
                    return None;
                }
                let f: extern "C" fn() -> *const c_char = std::mem::transmute(f);
                Some(CStr::from_ptr(f()).to_string_lossy().into_owned())
            }
        })
        .as_deref()
}

/// Whether `File` showed the wine behaviour `why` describes (`seen`) where
/// Windows behaves otherwise, while running under wine: then says so, as a
/// skipped check, and the caller skips the check of Windows' behaviour.
/// On Windows (or if wine behaved as Windows does) it returns `false`.
#[cfg(windows)]
pub fn wine_quirk(seen: bool, what: &str, why: &str) -> bool {
    match wine() {
        Some(version) if seen => {
            skip(&format!("{what}: wine {version}: {why}"));
            true
        }
        _ => false,
    }
}
