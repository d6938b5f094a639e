//! Readers racing a file that shrinks and grows under them: `set_len`
//! through the crate and behind its back, truncation and extension by
//! another handle. Their copies fault; they must survive, never fail, and
//! only ever see bytes that were in the file (the pattern, or zeros where a
//! truncation made them), and afterwards read exactly what is on disk.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use mmapfile::MmapFile;

mod common;
use common::assert_mapped;
use common::pattern::{pat, pattern};
use common::race::{Rng, SMALL_RESERVE, SetOnDrop};

// ---------------------------------------------------------------------------
// Readers racing set_len.
// ---------------------------------------------------------------------------

/// Checks that every byte of `buf`, read at `off`, is the pattern or zero.
fn check_pat_or_zero(buf: &[u8], off: u64, what: &str) -> Result<(), String> {
    match buf
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != 0 && b != pat(off + i as u64))
    {
        None => Ok(()),
        Some((i, &b)) => Err(format!(
            "{what}: byte {} is {b:#04x}, never in the file (pattern {:#04x} or 0)",
            off + i as u64,
            pat(off + i as u64)
        )),
    }
}

#[test]
fn readers_survive_set_len_shrinking_and_growing() {
    const MAX: u64 = 2 << 20;
    const READERS: usize = 3;
    const ROUNDS: u64 = 400;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, pattern(0, MAX as usize)).unwrap();
    let w = MmapFile::options()
        .read(true)
        .write(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    // Behind the crate's back: its mapping is not told.
    let outside = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let readers: Vec<(MmapFile, MmapFile)> = (0..READERS)
        .map(|_| {
            let r = MmapFile::options()
                .read(true)
                .reserve(SMALL_RESERVE)
                .open(&path)
                .unwrap();
            let cursor = MmapFile::open(&path).unwrap();
            (r, cursor)
        })
        .collect();
    assert_mapped(&w, "writer");
    for (r, c) in &readers {
        assert_mapped(r, "reader");
        assert_mapped(c, "cursor reader");
    }

    let stop = AtomicBool::new(false);
    let started = AtomicU64::new(0);
    let bad = Mutex::new(Vec::<String>::new());

    let stats: Vec<(u64, u64, u64)> = thread::scope(|s| {
        let handles: Vec<_> = readers
            .iter()
            .enumerate()
            .map(|(t, (r, cursor))| {
                let (w, stop, started, bad) = (&w, &stop, &started, &bad);
                s.spawn(move || {
                    let mut rng = Rng::new(100 + t as u64);
                    let mut buf = vec![0u8; 256 << 10];
                    let (mut reads, mut short, mut eof) = (0u64, 0u64, 0u64);
                    let mut cursor = cursor;
                    started.fetch_add(1, Ordering::AcqRel);
                    while !stop.load(Ordering::Acquire) || reads == 0 {
                        let off = rng.below(MAX + 8192);
                        let max = if rng.chance(20) {
                            buf.len() as u64
                        } else {
                            8 << 10
                        };
                        let len = 1 + rng.below(max) as usize;
                        let buf = &mut buf[..len];
                        let h = if rng.chance(50) { r } else { w };
                        let res = match rng.below(3) {
                            0 => h.read_at(buf, off).map(|n| (n, "read_at")),
                            1 => match h.read_exact_at(buf, off) {
                                Ok(()) => Ok((len, "read_exact_at")),
                                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                                    eof += 1;
                                    Ok((0, "read_exact_at"))
                                }
                                Err(e) => Err(e),
                            },
                            _ => cursor
                                .seek(SeekFrom::Start(off))
                                .and_then(|_| cursor.read(buf))
                                .map(|n| (n, "seek+read")),
                        };
                        reads += 1;
                        match res {
                            Ok((n, what)) => {
                                if n > len {
                                    bad.lock().unwrap().push(format!("{what}: {n} > {len}"));
                                } else {
                                    if n < len {
                                        short += 1;
                                    }
                                    if let Err(e) = check_pat_or_zero(&buf[..n], off, what) {
                                        bad.lock().unwrap().push(e);
                                    }
                                }
                            }
                            // A read of a regular file past its end is 0,
                            // never an error.
                            Err(e) => bad
                                .lock()
                                .unwrap()
                                .push(format!("read of {len} at {off} failed: {e}")),
                        }
                        if let Ok(l) = h.len()
                            && l > MAX
                        {
                            bad.lock().unwrap().push(format!("len() {l} > {MAX}"));
                        }
                    }
                    (reads, short, eof)
                })
            })
            .collect();

        // The resizer: shrink and grow through the crate and behind its
        // back, putting the pattern back half the time.
        let _stop = SetOnDrop(&stop);
        while started.load(Ordering::Acquire) < READERS as u64 {
            thread::yield_now();
        }
        let mut rng = Rng::new(7);
        for round in 0..ROUNDS {
            let cut = if round % 5 == 0 { 0 } else { rng.below(MAX) };
            if rng.chance(50) {
                w.set_len(cut).unwrap();
            } else {
                outside.set_len(cut).unwrap();
            }
            thread::yield_now();
            let to = cut + rng.below(MAX - cut + 1);
            if rng.chance(50) {
                w.set_len(to).unwrap();
            } else {
                outside.set_len(to).unwrap();
            }
            if round % 2 == 0 {
                let fill = pattern(cut, (to - cut) as usize);
                if rng.chance(50) {
                    w.write_all_at(&fill, cut).unwrap();
                } else {
                    outside.write_all_at(&fill, cut).unwrap();
                }
            }
        }
        drop(_stop);
        handles
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .collect()
    });

    let bad = bad.into_inner().unwrap();
    assert!(
        bad.is_empty(),
        "{} bad reads:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    for (t, (reads, _, _)) in stats.iter().enumerate() {
        assert!(*reads > 0, "reader {t} made no reads");
    }
    println!("readers (reads, short, read_exact_at EOF): {stats:?}");

    // Settled: every handle reads exactly what is on disk.
    w.set_len(MAX).unwrap();
    w.write_all_at(&pattern(0, MAX as usize), 0).unwrap();
    let want = pattern(0, MAX as usize);
    for (r, c) in &readers {
        assert_eq!(r.len().unwrap(), MAX);
        let mut got = vec![0u8; MAX as usize];
        r.read_exact_at(&mut got, 0).unwrap();
        assert!(got == want, "read_exact_at after the race");
        let mut c = c;
        c.seek(SeekFrom::Start(0)).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert!(got == want, "read_to_end after the race");
    }
    drop(w);
    assert!(
        fs::read(&path).unwrap() == want,
        "file on disk after the race"
    );
}

// ---------------------------------------------------------------------------
// Truncation while other threads are in the middle of large reads.
// ---------------------------------------------------------------------------

#[test]
fn concurrent_reads_survive_truncate_and_extend() {
    const FILE: u64 = 4 << 20;
    /// Never truncated below: bytes here are always the pattern.
    const FLOOR: u64 = 1 << 20;
    const BLOCK: usize = 1 << 20;
    const ROUNDS: u64 = 200;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let full = pattern(0, FILE as usize);
    fs::write(&path, &full).unwrap();
    let mm = MmapFile::open(&path).unwrap();
    assert!(mm.is_mapped());
    let other = fs::OpenOptions::new().write(true).open(&path).unwrap();

    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let short = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let zeros = AtomicU64::new(0);
    let bad = Mutex::new(Vec::<String>::new());

    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (mm, stop, reads, short, errors, zeros, bad) =
                (&mm, &stop, &reads, &short, &errors, &zeros, &bad);
            s.spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                let mut buf = vec![0u8; BLOCK];
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Anywhere, page-aligned or not, often across the end.
                    let off = rng % FILE;
                    buf.fill(0xff);
                    match mm.read_at(&mut buf, off) {
                        Ok(n) => {
                            reads.fetch_add(1, Ordering::Relaxed);
                            if n > BLOCK {
                                bad.lock()
                                    .unwrap()
                                    .push(format!("read_at {off}: {n} > {BLOCK}"));
                                continue;
                            }
                            if n < BLOCK {
                                short.fetch_add(1, Ordering::Relaxed);
                            }
                            for (i, &b) in buf[..n].iter().enumerate() {
                                let p = off + i as u64;
                                if b == pat(p) {
                                    continue;
                                }
                                if b == 0 && p >= FLOOR {
                                    zeros.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                bad.lock().unwrap().push(format!(
                                    "read_at({BLOCK} @ {off}) = {n}: byte {p} is {b:#04x}, \
                                     written {:#04x}",
                                    pat(p)
                                ));
                                break;
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        for round in 0..ROUNDS {
            let cut = FLOOR + (round * 7919 * 4099 + round * 13) % (FILE - FLOOR);
            other.set_len(cut).unwrap();
            // Let the readers run into the shorter file for a moment.
            std::thread::yield_now();
            other.set_len(FILE).unwrap();
            // Half the time the extension stays zeros; otherwise the
            // pattern is written back.
            if round % 2 == 0 {
                other.write_all_at(&full[cut as usize..], cut).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let bad = bad.into_inner().unwrap();
    println!(
        "{} reads of {BLOCK} bytes during {ROUNDS} truncate+extend rounds: {} short, \
         {} errors, {} zero bytes seen (all where truncation made them), {} bad",
        reads.load(Ordering::Relaxed),
        short.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        zeros.load(Ordering::Relaxed),
        bad.len()
    );
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert!(bad.is_empty(), "{}", bad[..bad.len().min(20)].join("\n"));

    // Afterwards the handle reads exactly what is on disk.
    let mut got = Vec::new();
    (&mm).read_to_end(&mut got).unwrap();
    assert!(got == fs::read(&path).unwrap());
}
