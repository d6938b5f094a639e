//! Lock-free readers of a growing file: one appender publishes records
//! (appends, and `set_len` growth filled in with `write_at`) while three
//! threads read them through `&MmapFile` (the appending handle, a
//! read-write handle, their own read-only ones) without locks, with a tiny
//! mapping reservation so that the file outgrows its window many times
//! during the run. Every published record reads back whole, and `len`
//! never runs behind what was published.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use mmapfile::MmapFile;

mod common;
use common::assert_mapped;
use common::race::{Rng, SMALL_RESERVE, SetOnDrop, mix};
use common::records::checksum;

// ---------------------------------------------------------------------------
// Fixed-size records: index, body derived from it, checksum.
// ---------------------------------------------------------------------------

const REC: usize = 64;

/// Record `i`: `i` (8 bytes LE), 48 bytes derived from `i`, and a checksum
/// of the first 56 bytes.
fn record(i: u64) -> [u8; REC] {
    let mut r = [0u8; REC];
    r[..8].copy_from_slice(&i.to_le_bytes());
    for k in 0..6 {
        let w = mix(i.wrapping_mul(8).wrapping_add(k as u64));
        r[8 + 8 * k..16 + 8 * k].copy_from_slice(&w.to_le_bytes());
    }
    let sum = checksum(&r[..56]);
    r[56..].copy_from_slice(&sum.to_le_bytes());
    r
}

/// Checks that `buf` is record `i`, explaining how it is not.
fn check_record(buf: &[u8], i: u64, what: &str) {
    assert_eq!(buf.len(), REC);
    let index = u64::from_le_bytes(buf[..8].try_into().unwrap());
    let sum = u64::from_le_bytes(buf[56..].try_into().unwrap());
    assert!(
        index == i && sum == checksum(&buf[..56]) && buf == record(i),
        "{what}: record {i} is corrupt: index field {index}, checksum {}, \
         bytes {:02x?}",
        if sum == checksum(&buf[..56]) {
            "ok"
        } else {
            "BAD"
        },
        buf
    );
}

#[test]
fn appender_and_lock_free_readers_across_many_remaps() {
    /// 32 MiB of records through a 64 KiB reservation: the window must be
    /// replaced (at least doubling each time) about ten times.
    const TOTAL: u64 = 32 << 20;
    const RECORDS: u64 = TOTAL / REC as u64;
    /// Records per phase; every fourth phase grows the file with `set_len`
    /// first and fills it with `write_at`, the others append.
    const PHASE: u64 = 1024;
    const READERS: u64 = 3;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = MmapFile::options()
        .read(true)
        .append(true)
        .create(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    // Same file, positional writes and set_len (not in append mode).
    let direct = MmapFile::options()
        .read(true)
        .write(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    let readonly: Vec<MmapFile> = (0..READERS)
        .map(|_| {
            MmapFile::options()
                .read(true)
                .reserve(SMALL_RESERVE)
                .open(&path)
                .unwrap()
        })
        .collect();
    assert_mapped(&log, "append handle");
    assert_mapped(&direct, "read-write handle");
    for r in &readonly {
        assert_mapped(r, "read-only handle");
    }

    let published = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let start = Instant::now();

    let reads: Vec<u64> = thread::scope(|s| {
        let readers: Vec<_> = readonly
            .iter()
            .enumerate()
            .map(|(t, own)| {
                let (log, direct, published, done) = (&log, &direct, &published, &done);
                s.spawn(move || {
                    let handles = [log, direct, own];
                    let mut rng = Rng::new(t as u64 + 1);
                    let mut reads = 0u64;
                    let mut span = vec![0u8; 32 * REC];
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        let n = published.load(Ordering::Acquire);
                        if n == 0 {
                            if finished {
                                break;
                            }
                            thread::yield_now();
                            continue;
                        }
                        let h = handles[rng.below(3) as usize];
                        // A random published record.
                        let i = rng.below(n);
                        let mut buf = [0u8; REC];
                        h.read_exact_at(&mut buf, i * REC as u64)
                            .unwrap_or_else(|e| panic!("read_exact_at of record {i} of {n}: {e}"));
                        check_record(&buf, i, "random record");
                        // The newest one, written a moment ago.
                        h.read_exact_at(&mut buf, (n - 1) * REC as u64)
                            .unwrap_or_else(|e| panic!("read of newest record {}: {e}", n - 1));
                        check_record(&buf, n - 1, "newest record");
                        // A span of several records, often across a window
                        // boundary near the end.
                        let k = 1 + rng.below(n.min(32));
                        let first = n - k - rng.below((n - k).min(4096) + 1);
                        let span = &mut span[..(k as usize) * REC];
                        let got = h.read_at(span, first * REC as u64).unwrap_or_else(|e| {
                            panic!("read_at of records {first}..{}: {e}", first + k)
                        });
                        // Regular files give full reads of what exists.
                        assert_eq!(
                            got,
                            span.len(),
                            "short read_at of published records {first}..{}",
                            first + k
                        );
                        for (j, rec) in span.chunks(REC).enumerate() {
                            check_record(rec, first + j as u64, "span");
                        }
                        // Everything published is within the length.
                        let len = h.len().unwrap();
                        assert!(
                            len >= n * REC as u64,
                            "len() {len} below published records {n}"
                        );
                        reads += 1;
                        if finished {
                            break;
                        }
                    }
                    reads
                })
            })
            .collect();

        let appender = s.spawn(|| {
            let _done = SetOnDrop(&done);
            for phase in 0..RECORDS / PHASE {
                let base = phase * PHASE;
                if phase % 4 == 3 {
                    // Grow first (zeros), then fill in place.
                    let new_len = (base + PHASE) * REC as u64;
                    direct.set_len(new_len).unwrap();
                    assert_eq!(log.len().unwrap(), new_len, "len after set_len growth");
                    for i in base..base + PHASE {
                        direct.write_all_at(&record(i), i * REC as u64).unwrap();
                        published.store(i + 1, Ordering::Release);
                    }
                } else {
                    for i in base..base + PHASE {
                        let r = record(i);
                        // One call per record: append mode puts it whole at
                        // the end.
                        let n = if i % 3 == 0 {
                            (&log)
                                .write_vectored(&[IoSlice::new(&r[..20]), IoSlice::new(&r[20..])])
                                .unwrap()
                        } else {
                            (&log).write(&r).unwrap()
                        };
                        assert_eq!(n, REC, "short append of record {i}");
                        published.store(i + 1, Ordering::Release);
                    }
                }
            }
        });
        appender.join().expect("appender panicked");
        readers
            .into_iter()
            .map(|r| r.join().expect("reader panicked"))
            .collect()
    });
    let elapsed = start.elapsed();

    assert_eq!(log.len().unwrap(), TOTAL);
    assert_eq!(direct.len().unwrap(), TOTAL);
    for (t, n) in reads.iter().enumerate() {
        assert!(*n > 0, "reader {t} made no reads");
    }
    // Every record, read back through a fresh handle and through `Read`.
    let mut all = Vec::new();
    MmapFile::open(&path)
        .unwrap()
        .read_to_end(&mut all)
        .unwrap();
    assert_eq!(all.len() as u64, TOTAL);
    for (i, rec) in all.chunks(REC).enumerate() {
        check_record(rec, i as u64, "final read");
    }
    drop((log, direct, readonly));
    // With every handle closed, the file on disk is exact.
    assert_eq!(fs::metadata(&path).unwrap().len(), TOTAL);
    assert!(fs::read(&path).unwrap() == all);
    println!(
        "{RECORDS} records ({TOTAL} bytes, reserve {SMALL_RESERVE}) in {elapsed:?}; \
         reader rounds: {reads:?}"
    );
}
