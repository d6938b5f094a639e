//! Reads and writes of several MiB, against `std::fs::File`: large enough
//! for the copy routine's non-temporal stores (from 2 MiB) and for
//! `read_to_end`'s prefaulting of the buffer (from 1 MiB), at offsets and
//! buffer addresses that are not aligned.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;
use proptest::prelude::*;

mod common;
use common::twin::{Open, Twins};

const MIB: usize = 1 << 20;

/// Bytes that differ at every offset for a long way, so a misplaced copy
/// shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Twin files holding `bytes` (`common::twin`), one opened as `File`, the
/// other as `MmapFile`, both read-write.
fn both(bytes: &[u8]) -> (Twins, File, MmapFile) {
    let t = Twins::new(bytes);
    let (file, mm) = t.open(&Open::RW);
    assert!(mm.is_mapped());
    (t, file, mm)
}

#[test]
fn read_to_end_of_megabytes_matches_file() {
    let data = pattern(5 * MIB + 333, 1);
    let (_twins, mut file, mut mm) = both(&data);
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
    let (_twins, mut file, mut mm) = both(text.as_bytes());
    let (mut want, mut got) = (String::from("x"), String::from("x"));
    file.read_to_string(&mut want).unwrap();
    mm.read_to_string(&mut got).unwrap();
    assert!(got == want);
}

#[test]
fn megabyte_reads_and_writes_at_odd_offsets_match_file() {
    let data = pattern(8 * MIB, 2);
    let (_twins, file, mm) = both(&data);
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
    let (_twins, mut file, mut mm) = both(b"start");
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

/// One step of [`large_ops_match_file`].
#[derive(Debug, Clone)]
enum Step {
    WriteAt {
        offset: u64,
        len: usize,
        seed: u32,
    },
    ReadAt {
        offset: u64,
        len: usize,
        skew: usize,
    },
    ReadToEnd {
        from: u64,
    },
    SetLen {
        size: u64,
    },
}

/// Lengths at the copy routine's boundaries: the 64-byte steps, `rep movsb`
/// from 2 KiB, non-temporal stores from 2 MiB.
fn io_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..200,
        1900usize..2200,
        4090usize..4200,
        (2usize << 20) - 100..(2 << 20) + 100,
        (3usize << 20)..(3 << 20) + 5000,
    ]
}

fn io_offset() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..10_000, 0u64..(7 << 20)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (io_offset(), io_len(), any::<u32>()).prop_map(|(offset, len, seed)| Step::WriteAt {
            offset,
            len,
            seed
        }),
        (io_offset(), io_len(), 0usize..64).prop_map(|(offset, len, skew)| Step::ReadAt {
            offset,
            len,
            skew
        }),
        io_offset().prop_map(|from| Step::ReadToEnd { from }),
        io_offset().prop_map(|size| Step::SetLen { size }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .map_or(32, |n| (n / 20).max(8)),
        ..ProptestConfig::default()
    })]

    /// Large and boundary-sized reads, writes and `read_to_end` give what
    /// `File` gives, at buffer addresses skewed off alignment.
    #[test]
    fn large_ops_match_file(steps in prop::collection::vec(step(), 1..12)) {
        let (_twins, mut file, mut mm) = both(&pattern(MIB + 77, 9));
        for step in &steps {
            match *step {
                Step::WriteAt { offset, len, seed } => {
                    let data = pattern(len, seed);
                    prop_assert_eq!(
                        mm.write_at(&data, offset).map_err(|e| e.kind()),
                        file.write_at(&data, offset).map_err(|e| e.kind())
                    );
                }
                Step::ReadAt { offset, len, skew } => {
                    let mut want = vec![0u8; len + skew];
                    let mut got = vec![0u8; len + skew];
                    let n_want = file.read_at(&mut want[skew..], offset).map_err(|e| e.kind());
                    let n_got = mm.read_at(&mut got[skew..], offset).map_err(|e| e.kind());
                    prop_assert_eq!(n_got, n_want);
                    prop_assert!(got == want, "read_at({}, {})", offset, len);
                }
                Step::ReadToEnd { from } => {
                    file.seek(SeekFrom::Start(from)).unwrap();
                    mm.seek(SeekFrom::Start(from)).unwrap();
                    let (mut want, mut got) = (vec![1u8; 3], vec![1u8; 3]);
                    let n_want = file.read_to_end(&mut want).map_err(|e| e.kind());
                    let n_got = mm.read_to_end(&mut got).map_err(|e| e.kind());
                    prop_assert_eq!(n_got, n_want);
                    prop_assert!(got == want, "read_to_end from {}", from);
                }
                Step::SetLen { size } => {
                    prop_assert_eq!(
                        mm.set_len(size).map_err(|e| e.kind()),
                        file.set_len(size).map_err(|e| e.kind())
                    );
                }
            }
        }
        mm.flush().unwrap();
        prop_assert_eq!(mm.metadata().unwrap().len(), file.metadata().unwrap().len());
    }
}
