//! Issue 11, row 8, and "What must hold" item 6: a write far past the end
//! allocates what `File`'s does.
//!
//! `File`'s `write_at(b"x", 4.5 GiB)` on an empty file leaves a hole and one
//! written block (ext4: 4 KiB; tmpfs: one page of memory). MmapFile today
//! reserves its growth step from the old end to past the write with
//! `fallocate`: 4,608 MiB of disk on ext4, kept after close, and as much
//! memory on tmpfs (where that fits).
//!
//! The bound: the fixed crate writes far past the end by `pwrite` (the
//! design note), which allocates exactly what `File`'s does; "reserve only
//! the step the write lands in" allows at most one growth step near the
//! write, and the first step is 64 KiB. So `MmapFile`'s `st_blocks` may
//! exceed `File`'s by at most 1 MiB (a step, with room for file-system
//! metadata such as extent blocks), while the open handle lives and after
//! it closes: three orders of magnitude below what today's code allocates.
//!
//! On tmpfs: a small tmpfs (64 MiB, mounted for the test; skipped with a
//! message where mounting is refused), where `MmapFile` must not fail where
//! `File` succeeds, and `/dev/shm` (large), with a 512 MiB offset so that
//! today's code costs at most 512 MiB of memory while it runs.

// Unix only: child processes, /proc, tmpfs, libc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Diffs, Opts, Twin, outcome};
use common::small_fs::SmallFs;

const GIB: u64 = 1 << 30;
/// 1 MiB in `st_blocks` units (512 bytes).
const SLACK_BLOCKS: u64 = (1 << 20) / 512;

/// The write's result, the size, and `st_blocks` with the handle open and
/// after it closed.
#[derive(Debug)]
struct Allocated {
    result: String,
    size: u64,
    open_blocks: u64,
    closed_blocks: u64,
}

fn far_write<T: Twin>(path: &Path, offset: u64) -> Allocated {
    let h = T::open_with(&Opts::rw(), path).unwrap();
    let result = outcome(&h.write_at(b"x", offset));
    let open_blocks = fs::metadata(path).unwrap().blocks();
    drop(h);
    let m = fs::metadata(path).unwrap();
    let a = Allocated {
        result,
        size: m.len(),
        open_blocks,
        closed_blocks: m.blocks(),
    };
    fs::remove_file(path).unwrap();
    a
}

fn compare(diffs: &mut Diffs, where_: &str, dir: &Path, offset: u64) {
    let file = far_write::<File>(&dir.join("file"), offset);
    assert_eq!(file.result, "Ok(1)", "File itself on {where_}: {file:?}");
    let mmap = far_write::<MmapFile>(&dir.join("mmap"), offset);
    let at = format!("{where_}, write_at(b\"x\", {} MiB)", offset >> 20);
    diffs.same(&format!("{at}: result"), &file.result, &mmap.result);
    diffs.same(&format!("{at}: size"), file.size, mmap.size);
    for (when, f, m) in [
        ("with the handle open", file.open_blocks, mmap.open_blocks),
        ("after close", file.closed_blocks, mmap.closed_blocks),
    ] {
        if m > f + SLACK_BLOCKS {
            diffs.fail(format!(
                "{at}: st_blocks {when}: File's {f} ({} KiB), MmapFile's {m} ({} KiB), \
                 more than File's + 1 MiB",
                f / 2,
                m / 2
            ));
        }
    }
}

/// Row 8 on ext4 (the temp dir).
#[test]
fn a_far_write_allocates_what_files_does_on_the_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    compare(&mut diffs, "temp dir", dir.path(), 4 * GIB + GIB / 2);
    diffs.check("a write far past the end of an empty file");
}

/// Row 8 on a small tmpfs (64 MiB): MmapFile must succeed where File does,
/// and allocate what File's does.
#[test]
fn a_far_write_allocates_what_files_does_on_a_small_tmpfs() {
    let Some(tmpfs) = SmallFs::tmpfs("64m") else {
        return;
    };
    let mut diffs = Diffs::default();
    compare(&mut diffs, "64 MiB tmpfs", tmpfs.dir(), 4 * GIB + GIB / 2);
    diffs.check("a write far past the end on a small tmpfs");
}

/// Row 8 on `/dev/shm` (a large tmpfs): memory, not disk, is what a
/// reserved step costs there.
#[test]
fn a_far_write_allocates_what_files_does_on_dev_shm() {
    let shm = Path::new("/dev/shm");
    let is_tmpfs = fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/dev/shm") && l.split(' ').nth(2) == Some("tmpfs"));
    if !is_tmpfs {
        println!("SKIPPED: /dev/shm is not a tmpfs here");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let mut diffs = Diffs::default();
    compare(&mut diffs, "/dev/shm", dir.path(), GIB / 2);
    diffs.check("a write far past the end on /dev/shm");
}
