//! Handles that are not mapped (a `/proc` file, a directory) refuse every
//! mapping control with `Unsupported`; their regions still read, through
//! system calls.

// Unix only: /proc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::io;

use mmapfile::{Advice, MmapFile, Protection};

#[test]
fn unmapped_handles_refuse_the_controls() {
    let dir = tempfile::tempdir().unwrap();
    let handles = [
        (
            "/proc/self/status",
            MmapFile::open("/proc/self/status").unwrap(),
        ),
        ("a directory", MmapFile::open(dir.path()).unwrap()),
    ];
    for (what, f) in &handles {
        assert!(!f.is_mapped(), "{what} is mapped");
        let r = f.region(0, 100).unwrap();
        let results: [(&str, io::Result<()>); 13] = [
            ("advise", f.advise(Advice::WillNeed)),
            ("advise_range", f.advise_range(Advice::Random, 0, 10)),
            ("advise(DontNeed)", f.advise(Advice::DontNeed)),
            ("sync_range", f.sync_range(0, 10)),
            ("sync_range_async", f.sync_range_async(0, 10)),
            ("lock_memory", f.lock_memory()),
            ("lock_memory_range", f.lock_memory_range(0, 10)),
            ("unlock_memory", f.unlock_memory()),
            ("protect(ReadOnly)", f.protect(Protection::ReadOnly)),
            ("protect(ReadWrite)", f.protect(Protection::ReadWrite)),
            ("Region::advise", r.advise(Advice::Normal)),
            ("Region::sync", r.sync()),
            ("Region::lock_memory", r.lock_memory()),
        ];
        for (name, result) in results {
            match result {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{what}: {name}: {e}"),
                Ok(()) => panic!("{what}: {name} succeeded on an unmapped handle"),
            }
        }
    }
    // A region of an unmapped file still reads, through system calls.
    let (_, status) = &handles[0];
    let mut buf = [0; 5];
    assert_eq!(
        status.region(0, 5).unwrap().read_at(&mut buf, 0).unwrap(),
        5
    );
    assert_eq!(&buf, b"Name:");
}
