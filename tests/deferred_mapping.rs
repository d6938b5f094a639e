//! A handle maps its file at its `map_after`-th call, not at open
//! (`OpenOptions::map_after`): `File`'s system calls until then, the
//! mapping from then on, with the cursor carried over, and `File`'s results
//! throughout, from several threads at once and across a fork. A writer
//! maps sooner where its pages add up, or where the file has mapped
//! handles in the process already.

// Unix only: /proc/self/smaps, fork, `read_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};
use common::smaps::vmas_of;

/// A file whose every 8-byte record holds its own offset.
fn records_file(dir: &Path, records: u64) -> std::path::PathBuf {
    let path = dir.join("records");
    let bytes: Vec<u8> = (0..records).flat_map(|i| (i * 8).to_le_bytes()).collect();
    fs::write(&path, bytes).unwrap();
    path
}

fn reader(path: &Path, map_after: u32) -> MmapFile {
    MmapFile::options()
        .read(true)
        .map_after(map_after)
        .open(path)
        .unwrap()
}

fn mapped(path: &Path) -> bool {
    !vmas_of(path).is_empty()
}

fn next_record(f: &mut impl Read) -> u64 {
    let mut buf = [0; 8];
    f.read_exact(&mut buf).unwrap();
    u64::from_le_bytes(buf)
}

#[test]
fn a_reader_maps_at_its_nth_call_and_keeps_its_cursor() {
    if !mmapfile::MAPPED_IO {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 1000);
    let mut f = reader(&path, 4);
    assert!(!mapped(&path), "mapped at open");
    for i in 0..3 {
        assert_eq!(next_record(&mut f), i * 8);
    }
    assert!(!mapped(&path), "mapped before its 4th call");
    assert_eq!(next_record(&mut f), 24, "the cursor carried over");
    assert!(mapped(&path), "not mapped at its 4th call");
    assert_eq!(f.seek(SeekFrom::Current(8)).unwrap(), 40);
    assert_eq!(next_record(&mut f), 40);
    let mut buf = [0; 8];
    f.read_exact_at(&mut buf, 800).unwrap();
    assert_eq!(u64::from_le_bytes(buf), 800);
    assert!(f.is_mapped());
}

/// `map_after(0)` maps at open, and so does an append-mode handle
/// whatever its `map_after`.
#[test]
fn map_after_0_and_append_mode_map_at_open() {
    if !mmapfile::MAPPED_IO {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 10);
    let at_open = reader(&path, 0);
    assert!(mapped(&path));
    drop(at_open);
    assert!(!mapped(&path));
    let writer_at_open = writer(&path, 0);
    assert!(mapped(&path), "a writer with map_after(0) waited to map");
    drop(writer_at_open);
    assert!(!mapped(&path));
    let _log = MmapFile::options()
        .read(true)
        .append(true)
        .map_after(1000)
        .open(&path)
        .unwrap();
    assert!(mapped(&path), "an append-mode handle waited to map");
}

fn writer(path: &Path, map_after: u32) -> MmapFile {
    MmapFile::options()
        .read(true)
        .write(true)
        .map_after(map_after)
        .open(path)
        .unwrap()
}

/// A writer alone with its file maps at its `map_after`-th call, or
/// sooner where it wrote whole pages (each counts four calls): what it
/// wrote before and after is the file's, at the cursor it carried over.
#[test]
fn a_writer_maps_at_its_nth_call_or_when_its_pages_add_up() {
    if !mmapfile::MAPPED_IO {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 0);
    let mut f = writer(&path, 4);
    assert!(!mapped(&path), "mapped at open");
    for i in 0..3u64 {
        f.write_all(&(i * 8).to_le_bytes()).unwrap();
    }
    assert!(!mapped(&path), "mapped before its 4th call");
    f.write_all(&24u64.to_le_bytes()).unwrap();
    assert!(mapped(&path), "not mapped at its 4th call");
    f.write_all(&32u64.to_le_bytes()).unwrap();
    assert_eq!(f.len().unwrap(), 40);
    f.seek(SeekFrom::Start(8)).unwrap();
    assert_eq!(next_record(&mut f), 8);
    drop(f);
    assert_eq!(fs::read(&path).unwrap().len(), 40);

    // 16 calls' worth in one write of four pages: the next call maps.
    let f = writer(&path, 17);
    let page: Vec<u8> = (0..4 * 4096u32).map(|i| i as u8).collect();
    f.write_all_at(&page, 40).unwrap();
    assert!(!mapped(&path), "mapped before the call after the pages");
    assert_eq!(f.len().unwrap(), 40 + page.len() as u64);
    assert!(mapped(&path), "not mapped once the pages added up");
    drop(f);
    assert!(fs::read(&path).unwrap()[40..] == page[..]);
}

/// A writer maps as soon as another handle of the file in this process
/// has: it joins their inode, so that `len()` is exact for each write and
/// the mapping controls (`protect`, views) bind it too.
#[test]
fn a_writer_joins_the_mapped_handles_of_its_file() {
    if !mmapfile::MAPPED_IO {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 10);
    // Opened first, then a mapped handle beside it.
    let mut w = writer(&path, 1000);
    w.seek(SeekFrom::End(0)).unwrap();
    let mapped_handle = common::rw_mapped(&path);
    w.write_all(b"first").unwrap();
    assert_eq!(mapped_handle.len().unwrap(), 85);
    // Opened after the mapped handle: its first call joins.
    let late = writer(&path, 1000);
    late.write_all_at(b"second", 85).unwrap();
    assert_eq!(mapped_handle.len().unwrap(), 91);
    mapped_handle.set_len(80).unwrap();
    assert_eq!((w.len().unwrap(), late.len().unwrap()), (80, 80));
    assert!(w.is_mapped() && late.is_mapped());
    let mut all = Vec::new();
    (&mapped_handle).read_to_end(&mut all).unwrap();
    assert_eq!(all, fs::read(&path).unwrap());
}

/// The default: a small file read whole is two `read`s, and never mapped.
#[test]
fn a_small_file_read_whole_is_never_mapped() {
    if !mmapfile::MAPPED_IO || std::env::var_os("MMAPFILE_MAP_AFTER").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 100);
    let mut f = MmapFile::open(&path).unwrap();
    let mut all = Vec::new();
    f.read_to_end(&mut all).unwrap();
    assert_eq!(all, fs::read(&path).unwrap());
    assert!(!mapped(&path));
}

/// Four threads read 8-byte records through one `&MmapFile`'s cursor, and
/// positionally, while it maps the file: as with a `File`, every record is
/// read once and whole, and the positional reads read the file.
#[test]
fn threads_reading_across_the_mapping_share_one_cursor() {
    const RECORDS: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), RECORDS);
    for map_after in [1, 7, 60, 1000] {
        let f = reader(&path, map_after);
        let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u64)
                .map(|t| {
                    let f = &f;
                    s.spawn(move || {
                        let mut got = Vec::new();
                        let mut buf = [0; 8];
                        loop {
                            let n = (&mut &*f).read(&mut buf).unwrap();
                            if n == 0 {
                                return got;
                            }
                            // Records are read 8 bytes at a time by every
                            // thread, so none is split.
                            assert_eq!(n, 8);
                            got.push(u64::from_le_bytes(buf));
                            let at = (got.len() as u64 * 7919 + t) % RECORDS * 8;
                            f.read_exact_at(&mut buf, at).unwrap();
                            assert_eq!(u64::from_le_bytes(buf), at);
                        }
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let all: Vec<u64> = seen.iter().flatten().copied().collect();
        let distinct: BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(all.len() as u64, RECORDS, "map_after {map_after}");
        assert_eq!(
            distinct,
            (0..RECORDS).map(|i| i * 8).collect(),
            "map_after {map_after}"
        );
        assert_eq!((&f).stream_position().unwrap(), RECORDS * 8);
    }
}

/// A mapped writer's `len()` catches up with a size set outside the
/// process once a reader that has not mapped yet reads the end, as it does
/// after a mapped reader's read.
#[test]
fn a_read_before_the_mapping_catches_the_writers_length_up() {
    if !mmapfile::MAPPED_IO {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = records_file(dir.path(), 10);
    let writer = common::rw_mapped(&path);
    let mut r = reader(&path, 1000);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"outside")
        .unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 87);
    assert_eq!(writer.len().unwrap(), 87);
}

/// Forked before it mapped the file, a reader stays on system calls in
/// parent and child: they share its file offset, as `File`s do.
#[test]
fn a_reader_forked_before_it_maps_shares_the_offset_and_never_maps() {
    const TEST: &str = "a_reader_forked_before_it_maps_shares_the_offset_and_never_maps";
    if !mmapfile::MAPPED_IO {
        return;
    }
    if child_mode(TEST).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let path = records_file(dir.path(), 1000);
        let mut f = reader(&path, 4);
        assert_eq!(next_record(&mut f), 0);
        // SAFETY: the forked child reads through the handle and exits
        // with `_exit`, running nothing else.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let ok = (1..11).all(|i| next_record(&mut f) == i * 8) && !f.is_mapped();
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child: {status}"
        );
        for i in 11..100 {
            assert_eq!(next_record(&mut f), i * 8, "after the child's reads");
        }
        assert!(!f.is_mapped(), "mapped after a fork");
        println!("RESULT ok");
        return;
    }
    let out = child(TEST, "").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// A default that is not a number fails the open, naming the variable; an
/// explicit `map_after` needs no default.
#[test]
fn a_bad_map_after_variable_fails_the_open() {
    const TEST: &str = "a_bad_map_after_variable_fails_the_open";
    if child_mode(TEST).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let path = records_file(dir.path(), 1);
        if mmapfile::MAPPED_IO {
            let e = MmapFile::open(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("MMAPFILE_MAP_AFTER"), "{e}");
        }
        reader(&path, 3);
        println!("RESULT ok");
        return;
    }
    let out = child(TEST, "")
        .env("MMAPFILE_MAP_AFTER", "soon")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}
