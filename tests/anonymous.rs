//! `MmapFile::anonymous()`: a memfd named after the crate, with the whole
//! API (I/O, clones, controls, `into_file`).

// Unix only: /proc, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};

use mmapfile::{Advice, MmapFile};

mod common;
use common::read_all_at;
use common::smaps::{smaps, total};

#[test]
fn anonymous_file_has_the_whole_api() {
    let mut a = MmapFile::anonymous().unwrap();
    assert!(a.is_mapped());
    assert_eq!(a.len().unwrap(), 0);

    a.write_all(b"hello anonymous").unwrap();
    a.seek(SeekFrom::Start(6)).unwrap();
    let mut s = String::new();
    a.read_to_string(&mut s).unwrap();
    assert_eq!(s, "anonymous");

    a.set_len(4).unwrap();
    a.rewind().unwrap();
    let mut v = Vec::new();
    a.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"hell");
    a.set_len(10_000).unwrap();
    assert_eq!(read_all_at(&a, 9990, 100), vec![0; 10]);
    a.write_all_at(b"far", 20_000).unwrap();
    assert_eq!(a.len().unwrap(), 20_003);
    let mut want = b"hell".to_vec();
    want.resize(20_000, 0);
    want.extend_from_slice(b"far");
    assert!(read_all_at(&a, 0, 30_000) == want);

    // Clones share the cursor.
    let c = a.try_clone().unwrap();
    (&c).seek(SeekFrom::Start(2)).unwrap();
    assert_eq!(a.stream_position().unwrap(), 2);
    assert_eq!(read_all_at(&c, 0, 4), b"hell");

    // The controls work on it too.
    a.advise(Advice::PopulateRead).unwrap();
    a.sync_range(0, 1 << 20).unwrap();
    a.lock_memory().unwrap();
    a.unlock_memory().unwrap();

    // The mapping is a memfd named after the crate.
    let ino = a.metadata().unwrap().ino();
    let vmas: Vec<_> = smaps()
        .into_iter()
        .filter(|v| v.inode == ino && v.path.starts_with("/memfd:"))
        .collect();
    assert!(!vmas.is_empty(), "no memfd mapping with inode {ino}");
    for v in &vmas {
        assert!(v.path.starts_with("/memfd:mmapfile"), "{}", v.path);
    }
    assert!(total(&vmas, "Rss") > 0);

    // into_file: the same bytes and length, the offset at the cursor.
    drop(c);
    a.seek(SeekFrom::Start(3)).unwrap();
    let mut file = a.into_file().unwrap();
    assert_eq!(file.stream_position().unwrap(), 3);
    assert_eq!(file.metadata().unwrap().len(), want.len() as u64);
    file.rewind().unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert!(back == want);
}
