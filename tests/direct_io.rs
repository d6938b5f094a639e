//! Issue 11, "What must hold" item 3: the open flag O_DIRECT. `File`'s
//! reads and writes go to the device, and an unaligned buffer, length or
//! offset is `EINVAL`; every result, errors included, must be `File`'s.
//! (O_SYNC and O_DSYNC, row 5: sync_writes.rs.)

// Unix only: child processes, libc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fs::{self, File};
use std::io::{SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Diffs, Opts, Twin, outcome, picture};

const MIB: usize = 1 << 20;

/// A zeroed buffer of `len` bytes aligned to 4 KiB, with one more page, so
/// that `unaligned` can start it one byte on.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
    len: usize,
}

impl Aligned {
    fn new(len: usize, byte: u8) -> Aligned {
        let layout = Layout::from_size_align(len + 4096, 4096).unwrap();
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        let mut a = Aligned { ptr, layout, len };
        a.slice_mut().fill(byte);
        a
    }

    fn slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `len + 4096` bytes, ours alone while `self`
        // is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The same length, starting one byte past the alignment.
    fn unaligned_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `slice_mut`; `1 + len` is within the allocation.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(1), self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

/// A run of O_DIRECT calls, aligned and not; every result and the bytes
/// read.
fn direct_io<T: Twin>(path: &Path) -> Vec<String> {
    let opts = Opts {
        flags: libc::O_DIRECT,
        ..Opts::rw()
    };
    let mut h = match T::open_with(&opts, path) {
        Ok(h) => h,
        Err(e) => return vec![format!("open: {}", outcome::<()>(&Err(e)))],
    };
    let mut seen = Vec::new();
    let mut log = |what: &str, r: String| seen.push(format!("{what}: {r}"));
    let mut a4k = Aligned::new(4096, b'a');
    let mut b8k = Aligned::new(8192, b'b');
    let mut r16k = Aligned::new(16384, 0xee);
    let mut small = Aligned::new(100, b'c');

    log(
        "write_at(aligned 4 KiB, 0)",
        outcome(&h.write_at(a4k.slice_mut(), 0)),
    );
    log(
        "write_at(aligned 100 B, 4096)",
        outcome(&h.write_at(small.slice_mut(), 4096)),
    );
    log(
        "write_at(aligned 4 KiB, 100)",
        outcome(&h.write_at(a4k.slice_mut(), 100)),
    );
    log(
        "write_at(unaligned 4 KiB, 4096)",
        outcome(&h.write_at(a4k.unaligned_mut(), 4096)),
    );
    log("write(aligned 8 KiB)", outcome(&h.write(b8k.slice_mut())));
    log("stream_position", outcome(&h.stream_position()));
    log(
        "write(unaligned 4 KiB)",
        outcome(&h.write(a4k.unaligned_mut())),
    );
    log("stream_position", outcome(&h.stream_position()));
    let r = h.read_at(r16k.slice_mut(), 0);
    log(
        "read_at(aligned 16 KiB, 0)",
        format!(
            "{} {}",
            outcome(&r),
            picture(&r16k.slice_mut()[..*r.as_ref().unwrap_or(&0)])
        ),
    );
    log(
        "read_at(unaligned 4 KiB, 0)",
        outcome(&h.read_at(a4k.unaligned_mut(), 0)),
    );
    log(
        "read_at(aligned 4 KiB, 1)",
        outcome(&h.read_at(a4k.slice_mut(), 1)),
    );
    log(
        "read_at(aligned 100 B, 0)",
        outcome(&h.read_at(small.slice_mut(), 0)),
    );
    log("set_len(10000)", outcome(&h.set_len(10_000)));
    let r = h.read_at(r16k.slice_mut(), 0);
    log(
        "read_at(aligned 16 KiB, 0) after set_len",
        format!(
            "{} {}",
            outcome(&r),
            picture(&r16k.slice_mut()[..*r.as_ref().unwrap_or(&0)])
        ),
    );
    log(
        "read_at(aligned 4 KiB, 8192)",
        outcome(&h.read_at(a4k.slice_mut(), 8192)),
    );
    log(
        "read_at(aligned 4 KiB, 12288)",
        outcome(&h.read_at(a4k.slice_mut(), 12288)),
    );
    log("seek(Start(4096))", outcome(&h.seek(SeekFrom::Start(4096))));
    log(
        "read(unaligned 4 KiB)",
        outcome(&h.read(a4k.unaligned_mut())),
    );
    log("read(aligned 4 KiB)", outcome(&h.read(a4k.slice_mut())));
    log("stream_position", outcome(&h.stream_position()));
    log(
        "write_at(aligned 4 KiB, 1 MiB)",
        outcome(&h.write_at(a4k.slice_mut(), MIB as u64)),
    );
    log("metadata().len()", outcome(&h.metadata().map(|m| m.len())));
    drop(h);
    seen.push(format!("on disk: {}", picture(&fs::read(path).unwrap())));
    seen
}

/// O_DIRECT: `File`'s results, errors included: an unaligned buffer,
/// length or offset is `EINVAL`, aligned I/O works, short reads at the end.
#[test]
fn o_direct_gives_file_results_errors_included() {
    let dir = tempfile::tempdir().unwrap();
    let file = direct_io::<File>(&dir.path().join("file"));
    if file.len() == 1 || !file[1].contains("os error 22") {
        println!(
            "SKIPPED: O_DIRECT is not enforced on {:?}: {file:?}",
            dir.path()
        );
        return;
    }
    let mmap = direct_io::<MmapFile>(&dir.path().join("mmap"));
    let mut diffs = Diffs::default();
    for (f, m) in file.iter().zip(&mmap) {
        let what = f.split(':').next().unwrap();
        diffs.same(what, f, m);
    }
    diffs.same("call count", file.len(), mmap.len());
    diffs.check("O_DIRECT");
}

/// An O_DIRECT handle stays on system calls (the kernel's alignment rules
/// are `File`'s); its writes still reach the `len()` of the file's mapped
/// handles in this process, as every `MmapFile` write does.
#[test]
fn o_direct_writes_reach_the_mapped_handles_len() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    let mut mapped = MmapFile::options()
        .read(true)
        .write(true)
        .create(true)
        .map_after(0)
        .open(&path)
        .unwrap();
    mapped.write_all(&[b'm'; 4096]).unwrap();
    let opts = Opts {
        flags: libc::O_DIRECT,
        ..Opts::rw()
    };
    let direct = match MmapFile::open_with(&opts, &path) {
        Ok(h) => h,
        Err(e) => {
            println!("SKIPPED: no O_DIRECT on {:?}: {e}", dir.path());
            return;
        }
    };
    assert!(!direct.is_mapped());
    let mut page = Aligned::new(4096, b'd');
    assert_eq!(direct.write_at(page.slice_mut(), 4096).unwrap(), 4096);
    assert_eq!(
        mapped.len().unwrap(),
        8192,
        "the mapped handle missed the write"
    );
    direct.set_len(12288).unwrap();
    assert_eq!(
        mapped.len().unwrap(),
        12288,
        "the mapped handle missed set_len"
    );
    let mut back = [0; 4096];
    mapped.read_exact_at(&mut back, 4096).unwrap();
    assert!(back.iter().all(|&b| b == b'd'));
}
