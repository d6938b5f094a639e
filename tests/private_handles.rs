//! `OpenOptions::private(true)`: a copy-on-write mapping whose writes stay
//! in the handle (across `set_len` and remaps to larger windows) and never
//! reach the file; the syncs have nothing to write, `DontNeed` (which would
//! throw the writes away) is refused; a read-only private handle refuses
//! writes as `File` does.

// Unix only: /proc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use mmapfile::{Advice, MmapFile};

mod common;
use common::pattern::pattern;
use common::smaps::make_file;
use common::{MIB, read_all_at};

#[test]
fn private_writes_stay_in_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 10_000);
    let path = make_file(dir.path(), "private", &orig);
    let unchanged = |what: &str| {
        assert!(
            fs::read(&path).unwrap() == orig,
            "the file changed after {what}"
        );
    };
    let mut p = MmapFile::options()
        .read(true)
        .write(true)
        .private(true)
        .reserve(4096)
        .open(&path)
        .unwrap();
    assert!(p.is_mapped());
    let mut want = orig.clone();

    p.write_all_at(b"PRIVATE", 100).unwrap();
    want[100..107].copy_from_slice(b"PRIVATE");
    p.write_all(b"cursor").unwrap();
    want[..6].copy_from_slice(b"cursor");
    assert!(read_all_at(&p, 0, 20_000) == want);
    unchanged("write_at and write");

    // A shared handle of the same file sees the file, not the private bytes.
    let shared = MmapFile::open(&path).unwrap();
    assert!(read_all_at(&shared, 0, 20_000) == orig);

    // set_len: shrink, then grow again (zeros), all in the handle.
    p.set_len(5000).unwrap();
    want.truncate(5000);
    assert_eq!(p.len().unwrap(), 5000);
    assert!(read_all_at(&p, 0, 20_000) == want);
    assert_eq!(read_all_at(&p, 5000, 10), b"");
    p.set_len(8000).unwrap();
    want.resize(8000, 0);
    assert!(read_all_at(&p, 0, 20_000) == want);
    unchanged("set_len");
    assert_eq!(fs::metadata(&path).unwrap().len(), orig.len() as u64);

    // Appends far past the 4 KiB reserve: moved to larger windows (anonymous
    // memory), carrying the handle's bytes over.
    p.seek(SeekFrom::End(0)).unwrap();
    for chunk in pattern(8000, 2 * MIB as usize).chunks(100_000) {
        p.write_all(chunk).unwrap();
    }
    want.extend(pattern(8000, 2 * MIB as usize));
    assert_eq!(p.len().unwrap(), want.len() as u64);
    assert!(read_all_at(&p, 0, want.len() + 10) == want);
    let mut back = Vec::new();
    p.rewind().unwrap();
    p.read_to_end(&mut back).unwrap();
    assert!(back == want);
    unchanged("appending past the reserve");

    // Nothing to write back.
    p.flush().unwrap();
    p.sync_all().unwrap();
    p.sync_data().unwrap();
    p.sync_range(0, u64::MAX >> 2).unwrap();
    p.sync_range_async(0, 1 << 30).unwrap();
    unchanged("flush and the syncs");
    assert_eq!(p.metadata().unwrap().len(), orig.len() as u64);

    // DontNeed would throw the handle's writes away: refused.
    for e in [
        p.advise(Advice::DontNeed).unwrap_err(),
        p.advise_range(Advice::DontNeed, 0, 10).unwrap_err(),
        p.region(0, 4096)
            .unwrap()
            .advise(Advice::DontNeed)
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
    // Other advice is fine and harmless.
    p.advise(Advice::Random).unwrap();
    p.advise(Advice::PopulateRead).unwrap();
    assert!(read_all_at(&p, 0, want.len()) == want);

    drop(p);
    unchanged("dropping the handle");
    assert!(read_all_at(&shared, 0, 20_000) == orig);
}

#[test]
fn read_only_private_handle_refuses_writes_like_file() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 5000);
    let path = make_file(dir.path(), "ro-private", &orig);
    let p = MmapFile::options()
        .read(true)
        .private(true)
        .open(&path)
        .unwrap();
    let file = File::open(&path).unwrap();
    assert!(p.is_mapped());
    assert!(read_all_at(&p, 0, 10_000) == orig);

    let same = |ours: io::Error, std: io::Error, what: &str| {
        assert_eq!(
            (ours.kind(), ours.raw_os_error()),
            (std.kind(), std.raw_os_error()),
            "{what}: ours {ours}, File's {std}"
        );
    };
    same(
        p.write_at(b"x", 0).unwrap_err(),
        file.write_at(b"x", 0).unwrap_err(),
        "write_at",
    );
    same(
        (&p).write(b"x").unwrap_err(),
        (&file).write(b"x").unwrap_err(),
        "write",
    );
    same(
        (&p).write_vectored(&[IoSlice::new(b"x")]).unwrap_err(),
        (&file).write_vectored(&[IoSlice::new(b"x")]).unwrap_err(),
        "write_vectored",
    );
    same(
        p.set_len(10).unwrap_err(),
        file.set_len(10).unwrap_err(),
        "set_len",
    );
    assert_eq!(p.len().unwrap(), orig.len() as u64);
    assert!(fs::read(&path).unwrap() == orig);
}
