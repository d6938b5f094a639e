//! Append-mode writes from several threads at once, through shared
//! references, clones and independently opened handles (also `write_at`,
//! which appends on an `O_APPEND` descriptor): every record lands whole,
//! contiguous, exactly once, as with `File`.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::thread;

use mmapfile::MmapFile;

mod common;
use common::assert_mapped;
use common::race::SMALL_RESERVE;
use common::records::{app_record, check_app_records};

#[test]
fn concurrent_appends_land_whole_and_contiguous() {
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 3000;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let base = MmapFile::options()
        .read(true)
        .append(true)
        .create(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    assert_mapped(&base, "append handle");

    let expected: u64 = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |s| app_record(t, s).len() as u64))
        .sum();

    thread::scope(|s| {
        for t in 0..THREADS {
            let base = &base;
            let path = &path;
            s.spawn(move || {
                let clone = base.try_clone().unwrap();
                // Write-only, append: mapped through its own read-write
                // reopen, sharing the inode with the others.
                let own = MmapFile::options()
                    .append(true)
                    .reserve(SMALL_RESERVE)
                    .open(path)
                    .unwrap();
                let own_clone = own.try_clone().unwrap();
                for seq in 0..PER_THREAD {
                    let r = app_record(t, seq);
                    let n = match (seq + u32::from(t)) % 5 {
                        0 => (&*base).write(&r),
                        1 => {
                            let (a, b) = r.split_at(r.len() / 3);
                            let (b, c) = b.split_at(b.len() / 2);
                            (&clone).write_vectored(&[
                                IoSlice::new(a),
                                IoSlice::new(b),
                                IoSlice::new(c),
                            ])
                        }
                        2 => (&own).write(&r),
                        // On Linux, pwrite on an O_APPEND descriptor appends
                        // whatever the offset; File does, so must we.
                        3 if cfg!(target_os = "linux") => own_clone.write_at(&r, 0),
                        _ => (&own_clone).write(&r),
                    }
                    .unwrap_or_else(|e| panic!("thread {t} record {seq}: {e}"));
                    assert_eq!(n, r.len(), "thread {t} record {seq}: short write");
                }
            });
        }
    });

    assert_eq!(base.len().unwrap(), expected, "length after all appends");
    let mut data = vec![0u8; expected as usize];
    base.read_exact_at(&mut data, 0).unwrap();
    // Nothing past the end.
    assert_eq!(base.read_at(&mut [0u8; 16], expected).unwrap(), 0);
    check_app_records(&data, THREADS, PER_THREAD);

    // An append moves the handle's cursor to the new end, wherever it was.
    (&base).seek(SeekFrom::Start(3)).unwrap();
    assert_eq!((&base).write(b"end").unwrap(), 3);
    assert_eq!((&base).stream_position().unwrap(), expected + 3);
    data.extend_from_slice(b"end");
    drop(base);
    assert!(
        fs::read(&path).unwrap() == data,
        "the file on disk differs from what the handle read"
    );
}
