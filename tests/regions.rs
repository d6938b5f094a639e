//! `region`: a view of part of the file that reads and writes the right
//! bytes across remaps, stops at its own end and the file's, and whose
//! controls (lock, advise, sync) act on its pages only.

// Unix only: /proc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Write};

use mmapfile::{Advice, MmapFile};

mod common;
use common::pattern::pattern;
use common::smaps::{dirty_kb, locked_kb, make_file, newest_window, rss_kb, vmas_of, windows};
use common::{KIB, MIB, read_all_at, rw};

#[test]
fn region_reads_the_right_bytes_across_remaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("region");
    let mut f = MmapFile::options()
        .read(true)
        .write(true)
        .create_new(true)
        .reserve(4096)
        .open(&path)
        .unwrap();
    let path = path.canonicalize().unwrap();
    f.write_all(&pattern(0, 8192)).unwrap();
    let mut want = pattern(0, 8192);

    let r = f.region(5000, 100).unwrap();
    assert_eq!((r.offset(), r.len(), r.is_empty()), (5000, 100, false));
    assert_eq!(r.write_at(b"hello region", 0).unwrap(), 12);
    want[5000..5012].copy_from_slice(b"hello region");
    // A region past the current end: nothing to read yet.
    let later = f.region(3 * MIB, 16).unwrap();
    let mut buf = [0; 16];
    assert_eq!(later.read_at(&mut buf, 0).unwrap(), 0);

    let windows_before = windows(&vmas_of(&path)).len();
    // Under a page, so that the appends go through the mapping.
    for chunk in pattern(8192, (4 * MIB - 8192) as usize).chunks(2 * KIB as usize) {
        (&f).write_all(chunk).unwrap();
    }
    want.extend(pattern(8192, (4 * MIB - 8192) as usize));
    let windows_after = windows(&vmas_of(&path)).len();
    assert!(
        windows_after >= windows_before + 3,
        "appending 4 MiB past a 4 KiB reserve made {windows_before} -> {windows_after} windows"
    );

    let mut buf = [0; 100];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 100);
    assert_eq!(&buf[..], &want[5000..5100]);
    assert_eq!(later.read_at(&mut buf[..16], 0).unwrap(), 16);
    assert_eq!(&buf[..16], &want[3 * MIB as usize..3 * MIB as usize + 16]);

    // Writes through the region land in the current window.
    assert_eq!(r.write_at(b"after", 50).unwrap(), 5);
    want[5050..5055].copy_from_slice(b"after");
    assert_eq!(later.write_at(b"later", 3).unwrap(), 5);
    want[3 * MIB as usize + 3..3 * MIB as usize + 8].copy_from_slice(b"later");
    assert!(read_all_at(&f, 0, want.len() + 1) == want);
    f.flush().unwrap();
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn region_io_stops_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 4096);
    let path = make_file(dir.path(), "bounds", &orig);
    let f = rw(&path);
    let r = f.region(1000, 10).unwrap();
    let mut want = orig.clone();

    // Cut at the end.
    assert_eq!(r.write_at(&[0xEE; 20], 5).unwrap(), 5);
    want[1005..1010].fill(0xEE);
    assert!(
        read_all_at(&f, 0, 5000) == want,
        "bytes past the region changed"
    );
    // Starting at or past the end: InvalidInput, nothing written.
    for at in [10, 11, 1 << 40] {
        let e = r.write_at(b"x", at).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "write at {at}: {e}");
    }
    assert_eq!(r.write_at(b"", 10).unwrap(), 0);
    assert!(read_all_at(&f, 0, 5000) == want);
    assert_eq!(f.len().unwrap(), 4096);

    // Reads stop at the end.
    let mut buf = [0; 20];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 10);
    assert_eq!(&buf[..10], &want[1000..1010]);
    assert_eq!(r.read_at(&mut buf, 5).unwrap(), 5);
    assert_eq!(&buf[..5], &want[1005..1010]);
    assert_eq!(r.read_at(&mut buf, 10).unwrap(), 0);
    assert_eq!(r.read_at(&mut buf, 1 << 40).unwrap(), 0);

    // ... and at the file's end, for a region reaching past it.
    let tail = f.region(4090, 100).unwrap();
    assert_eq!(tail.read_at(&mut buf, 0).unwrap(), 6);
    assert_eq!(&buf[..6], &want[4090..]);

    let empty = f.region(10, 0).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.read_at(&mut buf, 0).unwrap(), 0);
    assert_eq!(
        empty.write_at(b"x", 0).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );

    // A region that does not fit in off_t: EINVAL.
    let e = f.region(i64::MAX as u64, 2).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(22), "{e}");
    (&f).flush().unwrap();
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn region_controls_act_on_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let size = MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "region-controls", &data);
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw(&path);
    let (at, len) = (256 * KIB, 256 * KIB);
    let r = f.region(at, len).unwrap();

    r.lock_memory().unwrap();
    assert_eq!(
        locked_kb(&path),
        len / KIB,
        "Locked after Region::lock_memory"
    );
    let window = newest_window(&path);
    let locked: Vec<_> = window.iter().filter(|v| v.has("lo")).collect();
    assert_eq!(locked.len(), 1, "{window:?}");
    assert_eq!(locked[0].file_range(), (at, at + len));
    f.unlock_memory().unwrap();
    assert_eq!(locked_kb(&path), 0);

    // The rest observes advice, and then writes through the region.
    if let Some(why) = common::emulation::advice_ignored() {
        common::skip(&why);
        return;
    }
    f.advise(Advice::PopulateRead).unwrap();
    assert!(rss_kb(&path) >= size / KIB * 95 / 100);
    r.advise(Advice::DontNeed).unwrap();
    let rss = rss_kb(&path);
    assert!(
        rss <= (size - len) / KIB + 16 && rss + 64 >= (size - len) / KIB,
        "Rss after Region::advise(DontNeed) of 256 KiB of 1 MiB: {rss} kB"
    );

    r.advise(Advice::Random).unwrap();
    let window = newest_window(&path);
    let random: Vec<_> = window.iter().filter(|v| v.has("rr")).collect();
    assert_eq!(random.len(), 1, "{window:?}");
    assert_eq!(random[0].file_range(), (at, at + len));

    r.write_at(b"dirty", 10).unwrap();
    assert!(dirty_kb(&path) > 0);
    r.sync().unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after Region::sync");
    let mut want = data.clone();
    want[at as usize + 10..at as usize + 15].copy_from_slice(b"dirty");
    assert!(fs::read(&path).unwrap() == want);
}
