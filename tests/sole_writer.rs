//! Writes through the only handle of a file take a lock-free path (see
//! src/inode/fast.rs): the inode's lock is biased towards that writer, and
//! everyone else who takes the lock revokes the bias first and waits for a
//! write in flight. These tests race the revokers against a writer that
//! appends short records through `&mut MmapFile` as fast as it can:
//! - opens of the file (each breaks the handle's lease; the lease thread
//!   then cuts the file to its length and makes the inode Shared, and the
//!   writer takes the lease and the bias back as the file grows);
//! - `fork` on another thread (the fork handlers move the cursor into the
//!   kernel and make the inode Shared for good).
//!
//! After each, every record must be in the file once, in order, with
//! nothing after the last, and the cursor must be at the end: a write whose
//! bytes a cut removed, or that a cut did not see, would show as a gap, a
//! record of zeros or a short file.
//!
//! The model test (tests/model, `Mix::Sole` cases) checks the path against
//! `File` one operation at a time, with the outsider process and fork
//! children as the other actors.

// Unix only: fork, child processes, libc (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};

/// Bytes per record: a sequence number and its complement.
const RECORD: usize = 16;

fn record(i: u64) -> [u8; RECORD] {
    let mut r = [0; RECORD];
    r[..8].copy_from_slice(&i.to_le_bytes());
    r[8..].copy_from_slice(&(!i).to_le_bytes());
    r
}

/// Checks that `bytes` are whole records, that the last `tail` of them
/// (all if `None`) are in order, and that there are `expected` of them
/// where given; returns how many there are.
fn check_records(bytes: &[u8], tail: Option<usize>, expected: Option<u64>, what: &str) -> u64 {
    assert_eq!(
        bytes.len() % RECORD,
        0,
        "{what}: {} bytes is not whole records",
        bytes.len()
    );
    let count = bytes.len() / RECORD;
    let from = tail.map_or(0, |tail| count.saturating_sub(tail));
    for (i, r) in bytes.chunks(RECORD).enumerate().skip(from) {
        assert_eq!(r, record(i as u64), "{what}: record {i} of {count}");
    }
    if let Some(expected) = expected {
        assert_eq!(count as u64, expected, "{what}: records in the file");
    }
    count as u64
}

/// The most records a writer appends (16 MiB), so that checking them
/// stays quick.
const MOST: u64 = 1 << 20;

/// Appends records 0, 1, ... through `f`, one `write_all` each, until
/// `stop` (or [`MOST`], then setting `stop`), counting them in `written`. Returns the handle and the count.
fn append_until(mut f: MmapFile, stop: &AtomicBool, written: &AtomicU64) -> (MmapFile, u64) {
    let mut count = 0;
    while !stop.load(Ordering::Relaxed) && count < MOST {
        for _ in 0..64 {
            f.write_all(&record(count)).expect("append a record");
            count += 1;
        }
        written.store(count, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    (f, count)
}

/// Waits (up to 10 s) until the writer has written `count` records.
fn wait_for_records(written: &AtomicU64, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while written.load(Ordering::Relaxed) < count && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (up to 2 s, or until `stop`) until the file on disk reaches well
/// past what was written: the writer grew it by a step while alone with
/// it, so it holds its lease again and writes on the lock-free path.
fn wait_until_alone(path: &Path, stop: &AtomicBool, written: &AtomicU64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let padded = written.load(Ordering::Relaxed) * RECORD as u64 + 4096;
        if fs::metadata(path).is_ok_and(|m| m.len() > padded) {
            thread::sleep(Duration::from_micros(500));
            return;
        }
        thread::sleep(Duration::from_micros(200));
    }
}

/// Opens the log; `background`: with `background_growth`, whose grower
/// thread makes the steps ahead while the bias stands (it takes the lock
/// without revoking the bias, so it races the writer and the revokers too).
fn open_log(path: &Path, append: bool, background: bool) -> MmapFile {
    let f = MmapFile::options()
        .read(true)
        .write(!append)
        .append(append)
        .create(true)
        .background_growth(background)
        .open(path)
        .expect("open the log");
    common::assert_mapped(&f, "the log");
    f
}

/// Opens of the file (by `File`, in this process, as another process's
/// would) while the only handle appends: each open waits for the lease
/// thread to cut the file to its length, and must read whole records in
/// order. Through a cursor handle and an `O_APPEND` one.
#[test]
fn short_appends_race_opens_of_the_file() {
    for (append, background) in [(false, false), (true, false), (false, true), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        File::create(&path).unwrap();
        let (stop, written) = (AtomicBool::new(false), AtomicU64::new(0));
        let (f, count) = thread::scope(|s| {
            let writer =
                s.spawn(|| append_until(open_log(&path, append, background), &stop, &written));
            if background {
                // Past the 4 MiB from which the grower serves the file.
                wait_for_records(&written, (6 << 20) / RECORD as u64);
            }
            for open in 0..40u64 {
                wait_until_alone(&path, &stop, &written);
                let mut bytes = Vec::new();
                File::open(&path)
                    .and_then(|mut r| r.read_to_end(&mut bytes))
                    .expect("read the log");
                // Where a cut lost a write, the records near the end show it.
                let what = format!("open {open}, during the appends");
                check_records(&bytes, Some(4096), None, &what);
            }
            stop.store(true, Ordering::Relaxed);
            writer.join().expect("the writer")
        });
        let mut f = f;
        assert_eq!(f.stream_position().unwrap(), count * RECORD as u64);
        assert_eq!(f.len().unwrap(), count * RECORD as u64);
        drop(f);
        let bytes = fs::read(&path).unwrap();
        check_records(&bytes, None, Some(count), "the log after the appends");
    }
}

const FORK_TEST: &str = "short_appends_race_a_fork";

/// A fork on another thread while the only handle appends, at a different
/// moment in each round; the child leaves at once. Runs in a process of
/// its own (see tests/fork.rs: forking the test harness is hazardous).
#[test]
fn short_appends_race_a_fork() {
    if child_mode(FORK_TEST).is_some() {
        return fork_rounds();
    }
    let out = child(FORK_TEST, "").output().expect("run the test binary");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        describe(&out)
    );
}

fn fork_rounds() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20u64 {
        let path = dir.path().join(format!("log{round}"));
        let (stop, written) = (AtomicBool::new(false), AtomicU64::new(0));
        let append = round % 2 == 1;
        let background = round % 4 >= 2;
        let (f, count) = thread::scope(|s| {
            let writer =
                s.spawn(|| append_until(open_log(&path, append, background), &stop, &written));
            wait_until_alone(&path, &stop, &written);
            thread::sleep(Duration::from_micros(100 * round));
            // SAFETY: the child calls only `_exit`, which is
            // async-signal-safe.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                // SAFETY: leaves the child without running anything else.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: waits for the child just forked; `status` is ours.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
            thread::sleep(Duration::from_millis(2));
            stop.store(true, Ordering::Relaxed);
            writer.join().expect("the writer")
        });
        let mut f = f;
        let what = format!("round {round}");
        assert_eq!(
            f.stream_position().unwrap(),
            count * RECORD as u64,
            "{what}: cursor"
        );
        drop(f);
        check_records(&fs::read(&path).unwrap(), None, Some(count), &what);
    }
}

/// A clone shares the cursor, so writes through the original stop taking
/// the lock-free path while it lives, and take it again after: every
/// record lands once, in order, through either handle.
#[test]
fn a_clone_shares_the_cursor_with_the_sole_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut f = open_log(&path, false, false);
    let mut i = 0;
    for _ in 0..50 {
        for _ in 0..500 {
            f.write_all(&record(i)).unwrap();
            i += 1;
        }
        let mut clone = f.try_clone().unwrap();
        for _ in 0..7 {
            clone.write_all(&record(i)).unwrap();
            i += 1;
            f.write_all(&record(i)).unwrap();
            i += 1;
        }
        drop(clone);
    }
    assert_eq!(f.stream_position().unwrap(), i * RECORD as u64);
    drop(f);
    check_records(&fs::read(&path).unwrap(), None, Some(i), "the log");
}

/// Positional appends by one thread, which takes the bias as a thread,
/// while two readers check every record below the length, another thread
/// rewrites records in bursts (taking the bias in turn: each move revokes
/// it from a writer that may be mid-copy), and opens break the lease.
#[test]
fn positional_appends_race_readers_rewriters_and_opens() {
    for background in [false, true] {
        positional_appends_race(background);
    }
}

fn positional_appends_race(background: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    File::create(&path).unwrap();
    let f = open_log(&path, false, background);
    // With a grower, past the 4 MiB from which it serves the file.
    let count: u64 = if background { 500_000 } else { 200_000 };
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let (f, done) = (&f, &done);
        s.spawn(move || {
            for i in 0..count {
                f.write_all_at(&record(i), i * RECORD as u64)
                    .expect("append");
            }
            done.store(true, Ordering::Release);
        });
        for seed in 1..=2u64 {
            s.spawn(move || {
                let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut r = [0; RECORD];
                while !done.load(Ordering::Acquire) {
                    let records = f.len().unwrap() / RECORD as u64;
                    if records == 0 {
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % records;
                    f.read_exact_at(&mut r, k * RECORD as u64)
                        .expect("read a record");
                    assert_eq!(
                        r,
                        record(k),
                        "record {k} of {records}, read while appending"
                    );
                }
            });
        }
        s.spawn(move || {
            while !done.load(Ordering::Acquire) {
                let records = f.len().unwrap() / RECORD as u64;
                for k in records.saturating_sub(20)..records {
                    f.write_all_at(&record(k), k * RECORD as u64)
                        .expect("rewrite");
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        for open in 0.. {
            if done.load(Ordering::Acquire) {
                break;
            }
            thread::sleep(Duration::from_millis(3));
            let bytes = fs::read(&path).expect("read the log");
            check_records(&bytes, Some(4096), None, &format!("open {open}"));
        }
    });
    assert_eq!(f.len().unwrap(), count * RECORD as u64);
    drop(f);
    check_records(
        &fs::read(&path).unwrap(),
        None,
        Some(count),
        "the log after the appends",
    );
}
