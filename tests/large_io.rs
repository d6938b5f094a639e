//! Reads and writes of several MiB, against `std::fs::File`: large enough
//! for the copy routine's non-temporal stores (from 2 MiB) and for
//! `read_to_end`'s prefaulting of the buffer (from 1 MiB), at offsets and
//! buffer addresses that are not aligned.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;

const MIB: usize = 1 << 20;

/// Bytes that differ at every offset for a long way, so a misplaced copy
/// shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// A file holding `bytes`, opened both ways.
fn both(bytes: &[u8]) -> (tempfile::TempDir, File, MmapFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    std::fs::write(&path, bytes).unwrap();
    let file = File::options().read(true).write(true).open(&path).unwrap();
    let mm = MmapFile::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert!(mm.is_mapped());
    (dir, file, mm)
}

#[test]
fn read_to_end_of_megabytes_matches_file() {
    let data = pattern(5 * MIB + 333, 1);
    let (_dir, mut file, mut mm) = both(&data);
    for start in [0u64, 1, 4095, 3 * MIB as u64 + 17] {
        // A buffer that already holds something, so the new bytes land at
        // an address that is not page aligned.
        let mut want = b"head".to_vec();
        let mut got = b"head".to_vec();
        file.seek(SeekFrom::Start(start)).unwrap();
        mm.seek(SeekFrom::Start(start)).unwrap();
        let n_want = file.read_to_end(&mut want).unwrap();
        let n_got = mm.read_to_end(&mut got).unwrap();
        assert_eq!(n_got, n_want, "from {start}");
        assert!(got == want, "read_to_end from {start}");
        assert_eq!(
            mm.stream_position().unwrap(),
            file.stream_position().unwrap()
        );
    }
}

#[test]
fn read_to_string_of_megabytes_matches_file() {
    let text: String = (0..300_000).map(|i| format!("line {i}\n")).collect();
    assert!(text.len() > 2 * MIB);
    let (_dir, mut file, mut mm) = both(text.as_bytes());
    let (mut want, mut got) = (String::from("x"), String::from("x"));
    file.read_to_string(&mut want).unwrap();
    mm.read_to_string(&mut got).unwrap();
    assert!(got == want);
}

#[test]
fn megabyte_reads_and_writes_at_odd_offsets_match_file() {
    let data = pattern(8 * MIB, 2);
    let (_dir, file, mm) = both(&data);
    for (offset, len) in [
        (7u64, 3 * MIB + 5),
        (MIB as u64 + 1, 2 * MIB),
        (13, 6 * MIB),
    ] {
        let mut want = vec![0u8; len + 3];
        let mut got = vec![0u8; len + 3];
        // Unaligned destinations: one byte into the buffers.
        let n_want = file.read_at(&mut want[1..], offset).unwrap();
        let n_got = mm.read_at(&mut got[1..], offset).unwrap();
        assert_eq!(n_got, n_want);
        assert!(got == want, "read_at({offset}, {len})");
    }
    let new = pattern(3 * MIB + 9, 3);
    for offset in [5u64, 2 * MIB as u64 + 4093, 7 * MIB as u64] {
        file.write_all_at(&new[1..], offset).unwrap();
        mm.write_all_at(&new[1..], offset).unwrap();
    }
    let mut file_view = Vec::new();
    let mut mm_view = Vec::new();
    (&file).seek(SeekFrom::Start(0)).unwrap();
    (&file).read_to_end(&mut file_view).unwrap();
    (&mm).seek(SeekFrom::Start(0)).unwrap();
    (&mm).read_to_end(&mut mm_view).unwrap();
    assert_eq!(mm_view.len(), file_view.len());
    assert!(mm_view == file_view, "after the large writes");
}

#[test]
fn megabyte_appends_match_file() {
    let (_dir, mut file, mut mm) = both(b"start");
    let chunk = pattern(2 * MIB + 77, 4);
    for _ in 0..3 {
        file.seek(SeekFrom::End(0)).unwrap();
        mm.seek(SeekFrom::End(0)).unwrap();
        file.write_all(&chunk).unwrap();
        mm.write_all(&chunk).unwrap();
    }
    mm.flush().unwrap();
    assert_eq!(mm.metadata().unwrap().len(), file.metadata().unwrap().len());
    let (mut want, mut got) = (Vec::new(), Vec::new());
    file.rewind().unwrap();
    mm.rewind().unwrap();
    file.read_to_end(&mut want).unwrap();
    mm.read_to_end(&mut got).unwrap();
    assert!(got == want);
}
