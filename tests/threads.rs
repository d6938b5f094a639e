//! Concurrency: one `MmapFile` (and its clones, and other handles of the
//! same path) used from many threads at once.
//!
//! - an appender publishes records while readers read them lock-free through
//!   `&MmapFile`, with a tiny mapping reservation so that the file outgrows
//!   its window many times during the run;
//! - append-mode writes from several threads through shared references,
//!   clones and independent handles land whole and contiguous;
//! - readers race `set_len` shrinking and growing the file (through the
//!   crate and behind its back), which makes their copies fault: they must
//!   survive and only ever see bytes that were in the file;
//! - a time-bounded stress run (`MMAPFILE_STRESS_SECS`, default 2) mixing
//!   every operation, checked against a model;
//! - clones share one cursor, and concurrent cursor reads and writes each
//!   take a distinct range, as the kernel's `f_pos` lock makes them do for
//!   `File`.

use std::fs;
use std::io::{ErrorKind, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use mmapfile::MmapFile;

/// A small reservation, so that growing past it forces new windows.
const SMALL_RESERVE: u64 = 64 << 10;

/// Whether this platform maps files (elsewhere every handle uses system
/// calls, and the tests still check results but not `is_mapped`).
fn maps_files() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

fn assert_mapped(f: &MmapFile, what: &str) {
    if maps_files() {
        assert!(f.is_mapped(), "{what}: a regular file must be mapped");
    }
}

/// splitmix64's finaliser: a cheap, good hash of a `u64`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic pseudo-random generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform-ish in `0..n`; `n > 0`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The time budget of the stress test.
fn stress_duration() -> Duration {
    let secs = std::env::var("MMAPFILE_STRESS_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

// ---------------------------------------------------------------------------
// Fixed-size records: index, body derived from it, checksum.
// ---------------------------------------------------------------------------

const REC: usize = 64;

fn checksum(bytes: &[u8]) -> u64 {
    bytes.chunks(8).fold(0xCBF2_9CE4_8422_2325, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        mix(h ^ u64::from_le_bytes(w))
    })
}

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

// ---------------------------------------------------------------------------
// One appender, three lock-free readers, many remaps.
// ---------------------------------------------------------------------------

/// Sets `done` when dropped, so that readers stop even if the appender
/// panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
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

// ---------------------------------------------------------------------------
// Concurrent appends from many threads and handles.
// ---------------------------------------------------------------------------

/// Record `seq` of thread `t`: magic, thread, length, sequence number, a body
/// derived from all of them, and a checksum; 16 to 271 bytes, so that two
/// records mixed into each other cannot pass.
fn app_record(t: u8, seq: u32) -> Vec<u8> {
    let key = (u64::from(t) << 32) | u64::from(seq);
    let len = 16 + (mix(key) % 256) as usize;
    let mut r = Vec::with_capacity(len);
    r.push(0xA5);
    r.push(t);
    r.extend_from_slice(&(len as u16).to_le_bytes());
    r.extend_from_slice(&seq.to_le_bytes());
    let mut k = 0u64;
    while r.len() < len - 4 {
        r.push(mix(key ^ (k << 40)) as u8);
        k += 1;
    }
    let sum = checksum(&r) as u32;
    r.extend_from_slice(&sum.to_le_bytes());
    r
}

/// Parses `data` as back-to-back records of `threads` threads, `per_thread`
/// each; every record must be whole, in its thread's order, and present
/// exactly once.
fn check_app_records(data: &[u8], threads: u8, per_thread: u32) {
    let mut next = vec![0u32; threads as usize];
    let mut pos = 0usize;
    while pos < data.len() {
        assert!(
            pos + 8 <= data.len(),
            "truncated record header at {pos} of {}",
            data.len()
        );
        let h = &data[pos..pos + 8];
        assert_eq!(h[0], 0xA5, "no record starts at {pos}: {:02x?}", h);
        let t = h[1];
        let len = u16::from_le_bytes([h[2], h[3]]) as usize;
        let seq = u32::from_le_bytes(h[4..8].try_into().unwrap());
        assert!(t < threads, "record at {pos}: thread {t}");
        assert!(pos + len <= data.len(), "record at {pos} runs past the end");
        assert_eq!(
            seq, next[t as usize],
            "record at {pos}: thread {t} seq {seq}, expected the next in order"
        );
        let want = app_record(t, seq);
        assert!(
            data[pos..pos + len] == want[..],
            "record at {pos} (thread {t}, seq {seq}, {len} bytes) is not intact: \
             another write landed inside it"
        );
        next[t as usize] += 1;
        pos += len;
    }
    for (t, n) in next.iter().enumerate() {
        assert_eq!(*n, per_thread, "thread {t}: records found");
    }
}

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

// ---------------------------------------------------------------------------
// Readers racing set_len.
// ---------------------------------------------------------------------------

/// Byte `o` of the fill pattern: never zero, so a zero is always a byte a
/// truncation or extension made.
fn pat(o: u64) -> u8 {
    (o % 251) as u8 + 1
}

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pat).collect()
}

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
// Stress: everything at once, against a model.
// ---------------------------------------------------------------------------

/// Two fill patterns, both never zero and never equal to each other, so a
/// lock-free read can tell a byte that was written from one that was not.
fn fill_a(o: u64) -> u8 {
    1 + (o % 127) as u8
}
fn fill_b(o: u64) -> u8 {
    128 + (o % 127) as u8
}
fn fill(from: u64, len: usize, alt: bool) -> Vec<u8> {
    (from..from + len as u64)
        .map(|o| if alt { fill_b(o) } else { fill_a(o) })
        .collect()
}

/// What the file and the cursors must be.
struct Model {
    data: Vec<u8>,
    /// Cursors of the three open file descriptions: A (read-write), B
    /// (read + append), R (read-only).
    cursor: [u64; 3],
}

const A: usize = 0;
const B: usize = 1;
const R: usize = 2;

/// The handles of the stress test: two per description (the second a
/// clone), and the read-only one.
struct World {
    a: [MmapFile; 2],
    b: [MmapFile; 2],
    r: MmapFile,
}

impl World {
    /// A handle of description `d`, picked at random.
    fn pick(&self, d: usize, rng: &mut Rng) -> &MmapFile {
        let i = rng.below(2) as usize;
        match d {
            A => &self.a[i],
            B => &self.b[i],
            _ => &self.r,
        }
    }
    fn all(&self) -> [(usize, &MmapFile); 5] {
        [
            (A, &self.a[0]),
            (A, &self.a[1]),
            (B, &self.b[0]),
            (B, &self.b[1]),
            (R, &self.r),
        ]
    }
}

const STRESS_CAP: u64 = 4 << 20;
const OPS: u64 = 11;

/// One operation of the stress test; returns an error message on a
/// discrepancy.
fn stress_op(
    op: u64,
    w: &World,
    model: &RwLock<Model>,
    path: &Path,
    rng: &mut Rng,
) -> Result<(), String> {
    let alt = rng.chance(50);
    match op {
        // Lock-free read_at: only pattern bytes or zeros.
        0 => {
            let d = rng.below(3) as usize;
            let h = w.pick(d, rng);
            let off = rng.below(STRESS_CAP + 4096);
            let mut buf = vec![0u8; rng.below(16 << 10) as usize];
            let n = h
                .read_at(&mut buf, off)
                .map_err(|e| format!("lock-free read_at({}, {off}): {e}", buf.len()))?;
            if n > buf.len() {
                return Err(format!("read_at returned {n} > {}", buf.len()));
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                let o = off + i as u64;
                if b != 0 && b != fill_a(o) && b != fill_b(o) {
                    return Err(format!("lock-free read_at: byte {o} is {b:#04x}"));
                }
            }
            Ok(())
        }
        // read_at while no mutation runs: exactly the model.
        1 => {
            let m = model.read().unwrap();
            let h = w.pick(rng.below(3) as usize, rng);
            let len = m.data.len() as u64;
            let off = rng.below(len + 100);
            let mut buf = vec![0u8; rng.below(16 << 10) as usize];
            let n = h
                .read_at(&mut buf, off)
                .map_err(|e| format!("read_at({}, {off}): {e}", buf.len()))?;
            let want: &[u8] = if off >= len {
                &[]
            } else {
                &m.data[off as usize..(off as usize + buf.len()).min(len as usize)]
            };
            if buf[..n] != *want {
                return Err(format!(
                    "read_at({}, {off}) of a {len}-byte file: {n} bytes, model has {}, \
                     or the bytes differ",
                    buf.len(),
                    want.len()
                ));
            }
            for (d, h) in w.all() {
                let l = h.len().map_err(|e| e.to_string())?;
                if l != len {
                    return Err(format!("len() of description {d}: {l}, model {len}"));
                }
            }
            Ok(())
        }
        // Append through B.
        2 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let n = 1 + rng.below(8 << 10) as usize;
            if len + n as u64 > STRESS_CAP {
                let to = rng.below(STRESS_CAP / 2);
                w.a[0]
                    .set_len(to)
                    .map_err(|e| format!("set_len({to}): {e}"))?;
                m.data.truncate(to as usize);
                return Ok(());
            }
            let bytes = fill(len, n, alt);
            let h = w.pick(B, rng);
            let got = if rng.chance(30) {
                // Through a fresh clone, dropped right after.
                let c = h.try_clone().map_err(|e| e.to_string())?;
                (&c).write(&bytes)
            } else {
                (&*h).write(&bytes)
            }
            .map_err(|e| format!("append of {n}: {e}"))?;
            if got != n {
                return Err(format!("append of {n} wrote {got}"));
            }
            m.data.extend_from_slice(&bytes);
            m.cursor[B] = m.data.len() as u64;
            Ok(())
        }
        // write_at through A, inside the file or a little past its end.
        3 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let off = rng.below((len + 2000).min(STRESS_CAP));
            let n = (1 + rng.below(8 << 10)).min(STRESS_CAP - off) as usize;
            let bytes = fill(off, n, alt);
            let got = w
                .pick(A, rng)
                .write_at(&bytes, off)
                .map_err(|e| format!("write_at({n}, {off}): {e}"))?;
            if got != n {
                return Err(format!("write_at({n}, {off}) wrote {got}"));
            }
            let end = off as usize + n;
            if m.data.len() < end {
                m.data.resize(end, 0);
            }
            m.data[off as usize..end].copy_from_slice(&bytes);
            Ok(())
        }
        // Cursor write through A.
        4 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let off = rng.below((len + 100).min(STRESS_CAP));
            let n = (1 + rng.below(4 << 10)).min(STRESS_CAP - off) as usize;
            let mut h = w.pick(A, rng);
            let pos = match rng.below(3) {
                0 => h.seek(SeekFrom::Start(off)),
                1 => h.seek(SeekFrom::Current(off as i64 - m.cursor[A] as i64)),
                _ => h.seek(SeekFrom::End(off as i64 - len as i64)),
            }
            .map_err(|e| format!("seek to {off}: {e}"))?;
            if pos != off {
                return Err(format!("seek to {off} gave {pos}"));
            }
            m.cursor[A] = off;
            let bytes = fill(off, n, alt);
            let got = h
                .write(&bytes)
                .map_err(|e| format!("write({n}) at {off}: {e}"))?;
            if got != n {
                return Err(format!("write({n}) at {off} wrote {got}"));
            }
            let end = off as usize + n;
            if m.data.len() < end {
                m.data.resize(end, 0);
            }
            m.data[off as usize..end].copy_from_slice(&bytes);
            m.cursor[A] = end as u64;
            Ok(())
        }
        // Cursor read through any description.
        5 => {
            let mut m = model.write().unwrap();
            let d = rng.below(3) as usize;
            let mut h = w.pick(d, rng);
            let len = m.data.len() as u64;
            let off = rng.below(len + 100);
            h.seek(SeekFrom::Start(off))
                .map_err(|e| format!("seek({off}): {e}"))?;
            m.cursor[d] = off;
            let mut buf = vec![0u8; rng.below(8 << 10) as usize];
            let n = h
                .read(&mut buf)
                .map_err(|e| format!("read({}) at {off}: {e}", buf.len()))?;
            let want: &[u8] = if off >= len {
                &[]
            } else {
                &m.data[off as usize..(off as usize + buf.len()).min(len as usize)]
            };
            if buf[..n] != *want {
                return Err(format!(
                    "read({}) at {off} of description {d}: {n} bytes, model {}, or bytes differ",
                    buf.len(),
                    want.len()
                ));
            }
            m.cursor[d] = off + n as u64;
            Ok(())
        }
        // set_len, shrinking or growing.
        6 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let to = if rng.chance(50) {
                rng.below(len + 1)
            } else {
                (len + rng.below(64 << 10)).min(STRESS_CAP)
            };
            let h = if rng.chance(50) {
                w.pick(A, rng)
            } else {
                w.pick(B, rng)
            };
            h.set_len(to).map_err(|e| format!("set_len({to}): {e}"))?;
            m.data.resize(to as usize, 0);
            Ok(())
        }
        // flush / sync_data / metadata: the file on disk is then exact.
        7 => {
            // Mutations take the write lock, so the length holds still.
            let m = model.read().unwrap();
            let d = if rng.chance(50) { A } else { B };
            let h = w.pick(d, rng);
            // sync_data rarely: an fsync costs milliseconds.
            match rng.below(20) {
                0..=9 => (&*h).flush().map_err(|e| format!("flush: {e}"))?,
                10 => h.sync_data().map_err(|e| format!("sync_data: {e}"))?,
                _ => {
                    let md = h.metadata().map_err(|e| format!("metadata: {e}"))?;
                    if md.len() != m.data.len() as u64 {
                        return Err(format!(
                            "metadata().len() {}, model {}",
                            md.len(),
                            m.data.len()
                        ));
                    }
                }
            }
            let disk = fs::metadata(path).map_err(|e| e.to_string())?.len();
            if disk != m.data.len() as u64 {
                return Err(format!(
                    "after flush/sync/metadata the file on disk is {disk} bytes, model {}",
                    m.data.len()
                ));
            }
            Ok(())
        }
        // Cursors agree with the model, through fresh clones too.
        8 => {
            let m = model.read().unwrap();
            for (d, h) in w.all() {
                let c = h.try_clone().map_err(|e| format!("try_clone: {e}"))?;
                for (what, mut x) in [("handle", h), ("clone", &c)] {
                    let p = x.stream_position().map_err(|e| e.to_string())?;
                    if p != m.cursor[d] {
                        return Err(format!(
                            "stream_position of a {what} of description {d}: {p}, model {}",
                            m.cursor[d]
                        ));
                    }
                }
            }
            Ok(())
        }
        // A write through the read-only handle fails and changes nothing.
        9 => {
            let m = model.read().unwrap();
            let e =
                w.r.write_at(b"x", rng.below(m.data.len() as u64 + 1))
                    .expect_err("write_at through a read-only handle succeeded");
            if e.raw_os_error() != Some(9) {
                return Err(format!("write_at through read-only handle: {e}, not EBADF"));
            }
            Ok(())
        }
        // A fresh, independent handle (joining the shared mapping while
        // others write) reads everything through its own cursor, lock-free:
        // only pattern bytes or zeros, never past the cap.
        _ => {
            let mut h = MmapFile::options()
                .read(true)
                .reserve(SMALL_RESERVE)
                .open(path)
                .map_err(|e| format!("open: {e}"))?;
            let mut all = Vec::new();
            h.read_to_end(&mut all)
                .map_err(|e| format!("read_to_end of a fresh handle: {e}"))?;
            if all.len() as u64 > STRESS_CAP {
                return Err(format!("read_to_end gave {} > cap {STRESS_CAP}", all.len()));
            }
            for (o, &b) in all.iter().enumerate() {
                let o = o as u64;
                if b != 0 && b != fill_a(o) && b != fill_b(o) {
                    return Err(format!(
                        "read_to_end of a fresh handle: byte {o} is {b:#04x}"
                    ));
                }
            }
            let pos = h.stream_position().map_err(|e| e.to_string())?;
            if pos != all.len() as u64 {
                return Err(format!(
                    "fresh handle: cursor {pos} after reading {} bytes",
                    all.len()
                ));
            }
            Ok(())
        }
    }
}

#[test]
fn stress_mixed_operations_against_model() {
    const WORKERS: u64 = 4;
    let budget = stress_duration();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let initial = fill(0, 100_000, false);
    fs::write(&path, &initial).unwrap();
    let open = |o: &mut mmapfile::OpenOptions| o.reserve(SMALL_RESERVE).open(&path).unwrap();
    let a = open(MmapFile::options().read(true).write(true));
    let a2 = a.try_clone().unwrap();
    let b = open(MmapFile::options().read(true).append(true));
    let b2 = b.try_clone().unwrap();
    let r = open(MmapFile::options().read(true));
    let world = World {
        a: [a, a2],
        b: [b, b2],
        r,
    };
    for (_, h) in world.all() {
        assert_mapped(h, "stress handle");
    }
    let model = RwLock::new(Model {
        data: initial,
        cursor: [0; 3],
    });

    let deadline = Instant::now() + budget;
    let counts: Vec<[u64; OPS as usize]> = thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|t| {
                let (world, model, path) = (&world, &model, &path);
                s.spawn(move || {
                    let mut rng = Rng::new(1000 + t);
                    let mut counts = [0u64; OPS as usize];
                    let mut i = 0u64;
                    // Every operation at least once, then at random until
                    // the deadline.
                    while i < OPS || Instant::now() < deadline {
                        let op = if i < OPS {
                            (i + t) % OPS
                        } else if rng.chance(35) {
                            0
                        } else {
                            rng.below(OPS)
                        };
                        if let Err(e) = stress_op(op, world, model, path, &mut rng) {
                            panic!("worker {t}, operation {i} (kind {op}): {e}");
                        }
                        counts[op as usize] += 1;
                        i += 1;
                    }
                    counts
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect()
    });

    // Final state against the model.
    let m = model.into_inner().unwrap();
    let len = m.data.len() as u64;
    for (d, h) in world.all() {
        assert_eq!(h.len().unwrap(), len, "final len() of description {d}");
        let mut hh = h;
        assert_eq!(
            hh.stream_position().unwrap(),
            m.cursor[d],
            "final cursor of description {d}"
        );
        let mut got = vec![0u8; len as usize];
        h.read_exact_at(&mut got, 0).unwrap();
        assert!(got == m.data, "final bytes through description {d}");
    }
    let mut r = &world.r;
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert!(got == m.data, "final read_to_end");
    drop(world);
    assert!(
        fs::read(&path).unwrap() == m.data,
        "file on disk after every handle closed"
    );
    let total: u64 = counts.iter().flatten().sum();
    println!("stress: {total} operations in {budget:?}; per worker and kind: {counts:?}");
    for (t, c) in counts.iter().enumerate() {
        assert!(c.iter().all(|&n| n > 0), "worker {t} skipped a kind: {c:?}");
    }
}

// ---------------------------------------------------------------------------
// The shared cursor.
// ---------------------------------------------------------------------------

#[test]
fn clones_share_the_cursor_like_file() {
    let dir = tempfile::tempdir().unwrap();
    let fp = dir.path().join("file");
    let mp = dir.path().join("mmap");
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    fs::write(&fp, &data).unwrap();
    fs::write(&mp, &data).unwrap();

    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fp)
        .unwrap();
    let mut fc = f.try_clone().unwrap();
    let mut fo = fs::File::open(&fp).unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&mp)
        .unwrap();
    let mut mc = m.try_clone().unwrap();
    let mut mo = MmapFile::open(&mp).unwrap();

    let trace = |what: &str, file: (u64, u64, u64), mm: (u64, u64, u64)| {
        assert_eq!(file, mm, "{what}: positions (handle, clone, other open)");
    };
    let mut buf = [0u8; 10];
    let mut mbuf = [0u8; 10];
    f.read_exact(&mut buf).unwrap();
    m.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf);
    trace(
        "after reading 10 through the handle",
        (
            f.stream_position().unwrap(),
            fc.stream_position().unwrap(),
            fo.stream_position().unwrap(),
        ),
        (
            m.stream_position().unwrap(),
            mc.stream_position().unwrap(),
            mo.stream_position().unwrap(),
        ),
    );
    fc.seek(SeekFrom::Start(500)).unwrap();
    mc.seek(SeekFrom::Start(500)).unwrap();
    f.read_exact(&mut buf).unwrap();
    m.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf, "the handle reads where its clone seeked");
    fc.write_all(b"xyz").unwrap();
    mc.write_all(b"xyz").unwrap();
    trace(
        "after a seek and write through the clone",
        (
            f.stream_position().unwrap(),
            fc.stream_position().unwrap(),
            fo.stream_position().unwrap(),
        ),
        (
            m.stream_position().unwrap(),
            mc.stream_position().unwrap(),
            mo.stream_position().unwrap(),
        ),
    );
    // A clone of a clone still shares it; dropping clones keeps it.
    let fcc = fc.try_clone().unwrap();
    let mcc = mc.try_clone().unwrap();
    drop((fc, mc));
    (&fcc).seek(SeekFrom::End(-1)).unwrap();
    (&mcc).seek(SeekFrom::End(-1)).unwrap();
    assert_eq!(f.stream_position().unwrap(), 999);
    assert_eq!(m.stream_position().unwrap(), 999);
    let mut rest = Vec::new();
    m.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [data[999]]);
    assert_eq!((&mcc).stream_position().unwrap(), 1000);
    fo.read_exact(&mut buf).unwrap();
    mo.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf, "an independent open has its own cursor at 0");
    assert_eq!(mo.stream_position().unwrap(), 10);
}

#[test]
fn concurrent_reads_consume_distinct_bytes() {
    const WORDS: u64 = 1 << 20;
    const THREADS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data: Vec<u8> = (0..WORDS).flat_map(|k| k.to_le_bytes()).collect();
    fs::write(&path, &data).unwrap();
    let f = MmapFile::options()
        .read(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    assert_mapped(&f, "reader");
    let clones = [f.try_clone().unwrap(), f.try_clone().unwrap()];
    let go = Barrier::new(THREADS as usize);

    let chunks: Vec<Vec<(u64, u64)>> = thread::scope(|s| {
        let ts: Vec<_> = (0..THREADS)
            .map(|t| {
                let h: &MmapFile = match t % 3 {
                    0 => &f,
                    1 => &clones[0],
                    _ => &clones[1],
                };
                let go = &go;
                s.spawn(move || {
                    let mut rng = Rng::new(50 + t);
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 8 * 512];
                    let mut h = h;
                    go.wait();
                    loop {
                        let want = {
                            let max = if rng.chance(10) { 512 } else { 16 };
                            8 * (1 + rng.below(max) as usize)
                        };
                        let n = h.read(&mut buf[..want]).unwrap();
                        if n == 0 {
                            break;
                        }
                        // A regular file gives full reads of what is left,
                        // and what is left is whole words.
                        assert_eq!(n % 8, 0, "read of {want} returned {n}");
                        let first = u64::from_le_bytes(buf[..8].try_into().unwrap());
                        for (j, w) in buf[..n].chunks(8).enumerate() {
                            let k = u64::from_le_bytes(w.try_into().unwrap());
                            assert_eq!(k, first + j as u64, "a read returned non-contiguous bytes");
                        }
                        got.push((first * 8, n as u64));
                        // Give the other readers a turn at the cursor.
                        thread::yield_now();
                    }
                    got
                })
            })
            .collect();
        ts.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let mut all: Vec<(u64, u64)> = chunks.iter().flatten().copied().collect();
    all.sort_unstable();
    let mut at = 0u64;
    for (start, len) in &all {
        assert_eq!(
            *start, at,
            "reads overlapped or skipped bytes: a read started at {start}, expected {at}"
        );
        at += len;
    }
    assert_eq!(at, WORDS * 8, "every byte read exactly once");
    for (t, c) in chunks.iter().enumerate() {
        println!("thread {t}: {} reads", c.len());
    }
    for mut h in [&f, &clones[0], &clones[1]] {
        assert_eq!(h.stream_position().unwrap(), WORDS * 8);
        assert_eq!(h.read(&mut [0u8; 8]).unwrap(), 0);
    }
}

#[test]
fn concurrent_cursor_writes_take_distinct_ranges() {
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let f = MmapFile::options()
        .read(true)
        .write(true)
        .create(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    assert_mapped(&f, "writer");
    let clone = f.try_clone().unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let h = if t % 2 == 0 { &f } else { &clone };
            s.spawn(move || {
                let mut h = h;
                for seq in 0..PER_THREAD {
                    let r = app_record(t, seq);
                    let n = h.write(&r).unwrap();
                    assert_eq!(n, r.len(), "short write");
                }
            });
        }
    });
    let expected: u64 = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |s| app_record(t, s).len() as u64))
        .sum();
    assert_eq!(f.len().unwrap(), expected);
    assert_eq!((&f).stream_position().unwrap(), expected);
    let mut data = Vec::new();
    let mut r = &f;
    r.seek(SeekFrom::Start(0)).unwrap();
    r.read_to_end(&mut data).unwrap();
    check_app_records(&data, THREADS, PER_THREAD);
    drop((f, clone));
    assert!(fs::read(&path).unwrap() == data);
}
