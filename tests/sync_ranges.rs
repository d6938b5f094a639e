//! `sync_range` (`msync(MS_SYNC)` over a range: the pages covering it are
//! clean when it returns) and `sync_range_async` (starts their writeback),
//! seen in the dirty pages of `/proc/self/smaps`; `PopulateWrite` dirties
//! pages without changing a byte; ranges past the end are clamped to the
//! file, ranges past `off_t` are `EINVAL`.

// Unix only: /proc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::os::unix::fs::FileExt;

use mmapfile::Advice;

mod common;
use common::pattern::pattern;
use common::smaps::{dirty_kb, locked_kb, make_file};
use common::{KIB, MIB, eventually, read_all_at, rw_mapped};

#[test]
fn populate_write_dirties_and_sync_range_cleans() {
    if let Some(why) = common::emulation::advice_ignored() {
        common::skip(&why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let size = MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "popwrite", &data);
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw_mapped(&path);
    f.advise(Advice::PopulateRead).unwrap();
    assert_eq!(dirty_kb(&path), 0, "clean after sync_all and a read fault");

    f.advise(Advice::PopulateWrite).unwrap();
    let dirty = dirty_kb(&path);
    assert!(
        dirty >= size / KIB * 95 / 100,
        "dirty after PopulateWrite: {dirty} kB"
    );
    // Without changing a byte.
    assert!(read_all_at(&f, 0, size as usize) == data);

    f.sync_range(0, size).unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after sync_range over the file");
    assert!(fs::read(&path).unwrap() == data);
}

/// After `sync_range`, the pages of the range are clean (written back and
/// write-protected); pages elsewhere (in another folio: far away) stay
/// dirty until their own sync. `sync_range_async` starts the writeback,
/// which cleans them shortly.
///
/// Dirty memory shows in whole folios (up to 2 MiB here, a PMD), so the two
/// writes are 8 MiB apart, and the test checks that they did land in
/// different folios. `sync_range_async` is `sync_file_range(WRITE)`, which
/// skips a page still under the writeback of an earlier call: before a
/// page is written again for the next async check, that writeback is
/// waited for (`fdatasync`), or the page may stay dirty for the 30 s of the
/// kernel's own writeback.
#[test]
fn sync_range_cleans_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let size = 16 * MIB;
    let path = make_file(dir.path(), "sync", &pattern(0, size as usize));
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw_mapped(&path);
    assert_eq!(dirty_kb(&path), 0);

    let far = 8 * MIB;
    f.write_all_at(b"near", 100).unwrap();
    let near = dirty_kb(&path);
    f.write_all_at(b"far", far + 100).unwrap();
    let both = dirty_kb(&path);
    assert!(both > 0, "nothing dirty after two writes");
    assert!(
        near > 0 && both > near,
        "the writes 8 MiB apart share a folio? dirty {near} kB after the first, {both} kB after both"
    );

    f.sync_range(0, 4096).unwrap();
    let one = dirty_kb(&path);
    assert!(
        one > 0 && one < both,
        "dirty after syncing the first page: {one} kB (was {both} kB)"
    );
    f.sync_range(far + 100, 3).unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after syncing both writes");

    let mut want = pattern(0, size as usize);
    want[100..104].copy_from_slice(b"near");
    want[far as usize + 100..far as usize + 103].copy_from_slice(b"far");
    assert!(fs::read(&path).unwrap() == want);

    // Async: starts writeback of the range; the pages turn clean.
    f.write_all_at(b"again", 200).unwrap();
    f.write_all_at(b"again", far + 200).unwrap();
    assert!(dirty_kb(&path) > 0);
    f.sync_range_async(0, size).unwrap();
    let mut left = 0;
    let cleaned = eventually(5, || {
        left = dirty_kb(&path);
        left == 0
    });
    assert!(cleaned, "dirty 5 s after sync_range_async: {left} kB");

    // Async over a range only: the far page stays dirty. First the
    // writeback started above must end (`cleaned` saw it start): a page
    // written again while under writeback is skipped by the next call.
    File::open(&path).unwrap().sync_data().unwrap();
    assert_eq!(dirty_kb(&path), 0);
    f.write_all_at(b"third", 300).unwrap();
    f.write_all_at(b"third", far + 300).unwrap();
    let both = dirty_kb(&path);
    f.sync_range_async(300, 5).unwrap();
    let mut one = 0;
    let cleaned = eventually(5, || {
        one = dirty_kb(&path);
        one < both
    });
    assert!(
        cleaned && one > 0,
        "dirty after sync_range_async of the first page: {one} kB (was {both} kB)"
    );
}

#[test]
fn sync_ranges_are_clamped_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let size = 64 * KIB;
    let path = make_file(dir.path(), "clamp", &pattern(0, size as usize));
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw_mapped(&path);
    f.write_all_at(b"tail", size - 4).unwrap();
    assert!(dirty_kb(&path) > 0);
    // From inside the file to far past its end: clamped, and it cleans the
    // part that exists.
    f.sync_range(size - 10, 1 << 40).unwrap();
    assert_eq!(dirty_kb(&path), 0);
    f.sync_range_async(size - 10, 1 << 40).unwrap();
    // Entirely past the end, or empty: nothing to do, no error.
    f.sync_range(size + 4096, 4096).unwrap();
    f.sync_range(10 * MIB, 1 << 30).unwrap();
    f.sync_range(0, 0).unwrap();
    f.sync_range_async(size + 4096, 4096).unwrap();
    f.sync_range_async(0, 0).unwrap();
    // The whole of a large region that is all past the end.
    f.sync_range(i64::MAX as u64 - 10, 10).unwrap();
    // The same for the other range controls.
    f.advise_range(Advice::WillNeed, size + 4096, 1 << 40)
        .unwrap();
    f.lock_memory_range(size + 4096, 1 << 40).unwrap();
    assert_eq!(locked_kb(&path), 0);
    // Past off_t: EINVAL, as for pread.
    for e in [
        f.sync_range(i64::MAX as u64, 2).unwrap_err(),
        f.sync_range_async(u64::MAX, 1).unwrap_err(),
        f.advise_range(Advice::Normal, i64::MAX as u64, 2)
            .unwrap_err(),
        f.lock_memory_range(1, u64::MAX).unwrap_err(),
    ] {
        assert_eq!(e.raw_os_error(), Some(22), "{e}");
    }
    // An empty file.
    let empty = make_file(dir.path(), "empty", b"");
    let e = rw_mapped(&empty);
    e.sync_range(0, 1 << 20).unwrap();
    e.sync_range_async(0, 1 << 20).unwrap();
    e.lock_memory().unwrap();
    e.unlock_memory().unwrap();
    e.advise(Advice::DontNeed).unwrap();
    assert!(fs::read(&path).unwrap().ends_with(b"tail"));
}
