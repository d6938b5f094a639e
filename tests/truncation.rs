//! Reliability: the file is truncated under a live `MmapFile` by someone else
//! (another handle in this process, another process), with and without
//! readers in flight. A naive mapping dies of SIGBUS here; `MmapFile` must
//! keep returning what `File` returns, and the process must live. A SIGBUS
//! that is not the crate's must still kill, as it did before the crate's
//! handler was installed.
//!
//! Child processes: the test binary re-runs itself with `common::child` naming
//! the test, which then plays the child's part.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};

const PATHS_ENV: &str = "MMAPFILE_TRUNCATION_PATHS";
const SIZE_ENV: &str = "MMAPFILE_TRUNCATION_SIZE";

/// The byte the test files hold at `offset`: never zero, never 0xff.
fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pat).collect()
}

// ---------------------------------------------------------------------------
// One call at a time after a truncation, against `File` doing the same.
// ---------------------------------------------------------------------------

/// Size of the file before the truncation: 256 pages.
const SIZE: u64 = 1 << 20;
/// Size after: inside page 24 (98_304..102_400), so that the page holding
/// the new end is still mapped and its tail reads as zeros.
const CUT: u64 = 100_000;

trait Handle: Read + Write + Seek + FileExt {}
impl<T: Read + Write + Seek + FileExt> Handle for T {}

/// What one call returned, and the bytes it read.
#[derive(Debug, PartialEq)]
struct Step {
    what: String,
    res: Result<u64, ErrorKind>,
    data: Vec<u8>,
}

fn step<T: TryInto<u64>>(what: impl Into<String>, res: io::Result<T>, data: &[u8]) -> Step {
    Step {
        what: what.into(),
        res: res
            .map(|n| n.try_into().ok().unwrap())
            .map_err(|e| e.kind()),
        data: data.to_vec(),
    }
}

fn read_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    let mut buf = vec![0xff; len];
    let res = h.read_at(&mut buf, off);
    let n = *res.as_ref().unwrap_or(&0);
    step(format!("read_at({len} @ {off})"), res, &buf[..n])
}

fn read_exact_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    let mut buf = vec![0xff; len];
    let res = h.read_exact_at(&mut buf, off).map(|()| len);
    step(format!("read_exact_at({len} @ {off})"), res, &[])
}

fn seek(h: &mut dyn Handle, to: SeekFrom) -> Step {
    step(format!("seek({to:?})"), h.seek(to), &[])
}

fn read(h: &mut dyn Handle, len: usize) -> Step {
    let mut buf = vec![0xff; len];
    let res = h.read(&mut buf);
    let n = *res.as_ref().unwrap_or(&0);
    step(format!("read({len})"), res, &buf[..n])
}

fn read_exact(h: &mut dyn Handle, len: usize) -> Step {
    let mut buf = vec![0xff; len];
    let res = h.read_exact(&mut buf).map(|()| len);
    step(format!("read_exact({len})"), res, &[])
}

fn write_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    step(
        format!("write_at({len} @ {off})"),
        h.write_at(&vec![0xa5; len], off),
        &[],
    )
}

fn write(h: &mut dyn Handle, len: usize) -> Step {
    step(format!("write({len})"), h.write(&vec![0x5a; len]), &[])
}

fn position(h: &mut dyn Handle) -> Step {
    step("stream_position()", h.stream_position(), &[])
}

type Probe = (&'static str, fn(&mut dyn Handle) -> Vec<Step>);

/// Calls that only read.
const READ_PROBES: &[Probe] = &[
    ("read_at past the new end", |h| {
        vec![read_at(h, 4096, 200_000)]
    }),
    ("read_at far past the new end", |h| {
        vec![read_at(h, 4096, 500_000)]
    }),
    ("read_at across the new end", |h| {
        vec![read_at(h, 8192, 99_000)]
    }),
    // An access that stays inside the page holding the new end cannot
    // fault; the probe of a later page sees the shrink all the same.
    ("read_at in the new end's page, past the end", |h| {
        vec![read_at(h, 100, 100_500)]
    }),
    ("read_at in the new end's page, across the end", |h| {
        vec![read_at(h, 100, CUT - 50)]
    }),
    ("read_at ending exactly at the old end", |h| {
        vec![read_at(h, 4096, SIZE - 4096)]
    }),
    ("read_at before the new end", |h| {
        vec![read_at(h, 4096, 4096)]
    }),
    ("read at the old cursor", |h| vec![read(h, 4096)]),
    ("read across the new end", |h| {
        vec![
            seek(h, SeekFrom::Start(99_000)),
            read(h, 8192),
            read(h, 8192),
            position(h),
        ]
    }),
    ("read in the new end's page, past the end", |h| {
        vec![seek(h, SeekFrom::Start(100_200)), read(h, 100), position(h)]
    }),
    ("read_exact_at across the new end", |h| {
        vec![read_exact_at(h, 4096, 99_000)]
    }),
    ("read_exact_at in the new end's page", |h| {
        vec![read_exact_at(h, 100, 100_100)]
    }),
    ("read_exact across the new end", |h| {
        vec![seek(h, SeekFrom::Start(99_000)), read_exact(h, 4096)]
    }),
    ("read_to_end from 0", |h| {
        let mut buf = Vec::new();
        let s = seek(h, SeekFrom::Start(0));
        let res = h.read_to_end(&mut buf);
        vec![s, step("read_to_end", res, &buf), position(h)]
    }),
    ("seek from the end", |h| vec![seek(h, SeekFrom::End(0))]),
];

/// Calls that write (the files are compared afterwards too).
const WRITE_PROBES: &[Probe] = &[
    ("no call (drop only)", |_| vec![]),
    ("write_at before the new end", |h| {
        vec![write_at(h, 100, 50_000), read_at(h, 200, 49_950)]
    }),
    ("write_at far past the new end", |h| {
        vec![
            write_at(h, 100, 500_000),
            read_at(h, 4096, 499_000),
            seek(h, SeekFrom::End(0)),
        ]
    }),
    ("write_at in the new end's page, past the end", |h| {
        vec![
            write_at(h, 100, 100_500),
            read_at(h, 1000, 99_900),
            seek(h, SeekFrom::End(0)),
        ]
    }),
    ("write_at from the new end's page into the next", |h| {
        vec![
            write_at(h, 1000, 102_000),
            read_at(h, 4096, 99_900),
            seek(h, SeekFrom::End(0)),
        ]
    }),
    ("write_at past the old end", |h| {
        vec![
            write_at(h, 100, SIZE + 100),
            read_at(h, 300, SIZE),
            seek(h, SeekFrom::End(0)),
        ]
    }),
    ("write at the old cursor", |h| {
        vec![write(h, 100), position(h), seek(h, SeekFrom::End(0))]
    }),
    // A page or more goes by `pwrite`, not through the mapping.
    ("write of 8 KiB at the old cursor", |h| {
        vec![write(h, 8192), position(h), seek(h, SeekFrom::End(0))]
    }),
    ("write_at of 8 KiB in the new end's page", |h| {
        vec![write_at(h, 8192, CUT + 10), seek(h, SeekFrom::End(0))]
    }),
    ("write after seek into the vanished part", |h| {
        vec![
            seek(h, SeekFrom::Start(300_000)),
            write(h, 100),
            position(h),
            read_at(h, 200, 299_950),
        ]
    }),
];

#[derive(Clone, Copy, Debug)]
enum Setup {
    /// The file was written by `File`, then opened and read whole.
    Opened,
    /// The file was written through the `MmapFile` (so its size on disk may
    /// run ahead of its length), then read whole.
    Appended,
}

fn std_open(path: &Path, append: bool, create: bool) -> File {
    let mut o = fs::OpenOptions::new();
    o.read(true).append(append).create(create);
    if !append {
        o.write(true);
    }
    o.open(path).unwrap()
}

fn mm_open(path: &Path, append: bool, create: bool) -> MmapFile {
    let mut o = MmapFile::options();
    o.read(true).append(append).create(create);
    if !append {
        o.write(true);
    }
    o.open(path).unwrap()
}

/// Brings `h` to the setup's state: `SIZE` bytes of pattern, all read, the
/// cursor at `SIZE`.
fn prepare(h: &mut dyn Handle, setup: Setup) {
    if let Setup::Appended = setup {
        for chunk in pattern(0, SIZE as usize).chunks(64 << 10) {
            h.write_all(chunk).unwrap();
        }
        h.seek(SeekFrom::Start(0)).unwrap();
    }
    let mut all = Vec::new();
    h.read_to_end(&mut all).unwrap();
    assert_eq!(all.len() as u64, SIZE);
    assert!(all == pattern(0, SIZE as usize));
}

fn summary(d: &[u8]) -> String {
    let zeros = d.iter().filter(|&&b| b == 0).count();
    format!("{} bytes ({zeros} zero)", d.len())
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("first difference at {i}: {:#04x} vs {:#04x}", a[i], b[i]),
        None if a.len() != b.len() => format!("lengths {} vs {}", a.len(), b.len()),
        None => "same".into(),
    }
}

/// Runs every probe on an `MmapFile` and on a `File` whose files were both
/// truncated to `CUT` by `truncate`, and returns every difference.
fn run_probes(probes: &[Probe], truncate: &dyn Fn(&[&Path], u64)) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for setup in [Setup::Opened, Setup::Appended] {
        for append in [false, true] {
            for (name, probe) in probes {
                n += 1;
                let mm_path = dir.path().join(format!("mm{n}"));
                let fs_path = dir.path().join(format!("fs{n}"));
                let create = matches!(setup, Setup::Appended);
                if !create {
                    fs::write(&mm_path, pattern(0, SIZE as usize)).unwrap();
                    fs::write(&fs_path, pattern(0, SIZE as usize)).unwrap();
                }
                let mut mm = mm_open(&mm_path, append, create);
                assert!(mm.is_mapped());
                let mut fs = std_open(&fs_path, append, create);
                prepare(&mut mm, setup);
                prepare(&mut fs, setup);

                truncate(&[&mm_path, &fs_path], CUT);

                let got = probe(&mut mm);
                let want = probe(&mut fs);
                drop(mm);
                drop(fs);
                let tag = format!("[{setup:?}, append={append}] {name}");
                for (g, w) in got.iter().zip(&want) {
                    if g != w {
                        let mut msg = format!(
                            "{tag}: {}: MmapFile {:?} {}, File {:?} {}",
                            g.what,
                            g.res,
                            summary(&g.data),
                            w.res,
                            summary(&w.data)
                        );
                        if g.data != w.data {
                            write!(msg, "; data {}", first_diff(&g.data, &w.data)).unwrap();
                        }
                        failures.push(msg);
                    }
                }
                let got = fs::read(&mm_path).unwrap();
                let want = fs::read(&fs_path).unwrap();
                if got != want {
                    failures.push(format!(
                        "{tag}: file afterwards: MmapFile's {} bytes, File's {} bytes; {}",
                        got.len(),
                        want.len(),
                        first_diff(&got, &want)
                    ));
                }
            }
        }
    }
    println!("{n} probe runs, {} differences from File", failures.len());
    failures
}

fn truncate_here(paths: &[&Path], size: u64) {
    for p in paths {
        fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(size)
            .unwrap();
    }
}

fn check(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} differences from File:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn reads_after_truncation_by_another_handle_match_file() {
    check(run_probes(READ_PROBES, &truncate_here));
}

#[test]
fn writes_after_truncation_by_another_handle_match_file() {
    check(run_probes(WRITE_PROBES, &truncate_here));
}

#[test]
fn set_len_after_truncation_matches_file() {
    // Kept apart from the probe tables: `set_len` is not in `Handle`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let twin = dir.path().join("g");
    fs::write(&path, pattern(0, SIZE as usize)).unwrap();
    fs::write(&twin, pattern(0, SIZE as usize)).unwrap();
    let mm = mm_open(&path, false, false);
    let fs = std_open(&twin, false, false);
    let mut all = Vec::new();
    (&mm).read_to_end(&mut all).unwrap();
    truncate_here(&[&path, &twin], CUT);
    mm.set_len(CUT + 50_000).unwrap();
    fs.set_len(CUT + 50_000).unwrap();
    let mut a = vec![0xff; 8192];
    let mut b = vec![0xff; 8192];
    let na = mm.read_at(&mut a, CUT - 1000).unwrap();
    let nb = fs.read_at(&mut b, CUT - 1000).unwrap();
    assert_eq!((na, &a[..na]), (nb, &b[..nb]));
    assert_eq!(mm.len().unwrap(), CUT + 50_000);
    drop(mm);
    assert_eq!(fs::read(&path).unwrap(), fs::read(&twin).unwrap());
}

#[test]
fn truncation_by_child_process_matches_file() {
    const TEST: &str = "truncation_by_child_process_matches_file";
    if child_mode(TEST).is_some() {
        let size: u64 = std::env::var(SIZE_ENV).unwrap().parse().unwrap();
        for p in std::env::var(PATHS_ENV).unwrap().split('\n') {
            fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(size)
                .unwrap();
        }
        return;
    }
    let spawns = AtomicU64::new(0);
    let truncate_elsewhere = |paths: &[&Path], size: u64| {
        let paths: Vec<_> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        let out = child(TEST, "truncate")
            .env(PATHS_ENV, paths.join("\n"))
            .env(SIZE_ENV, size.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "child: {}", describe(&out));
        spawns.fetch_add(1, Ordering::Relaxed);
    };
    let mut failures = run_probes(READ_PROBES, &truncate_elsewhere);
    failures.extend(run_probes(WRITE_PROBES, &truncate_elsewhere));
    println!(
        "{} truncations by a child process",
        spawns.load(Ordering::Relaxed)
    );
    check(failures);
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

// ---------------------------------------------------------------------------
// A SIGBUS that is not the crate's still does what it did without the crate.
// ---------------------------------------------------------------------------

/// In the child: maps the crate's handler in (or not), then faults on a
/// truncated mapping made with memmap2, outside the crate.
fn fault_outside_the_crate(with_mmapfile: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut _keep = None;
    if with_mmapfile {
        let path = dir.path().join("ours");
        let mut f = MmapFile::create_new(&path).unwrap();
        assert!(
            f.is_mapped(),
            "the handler is installed with the first mapping"
        );
        f.write_all(&pattern(0, 10_000)).unwrap();
        let mut back = vec![0; 10_000];
        f.read_exact_at(&mut back, 0).unwrap();
        assert!(back == pattern(0, 10_000));
        _keep = Some(f);
    }
    let path = dir.path().join("theirs");
    fs::write(&path, pattern(0, 8192)).unwrap();
    let file = File::open(&path).unwrap();
    let map = memmap2::MmapOptions::new()
        .map_raw_read_only(&file)
        .unwrap();
    // SAFETY: in bounds of the live mapping.
    let before = unsafe { map.as_ptr().add(4096).read_volatile() };
    assert_eq!(before, pat(4096));
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    println!("about to fault");
    io::stdout().flush().unwrap();
    // SAFETY: in bounds of the mapping; the page is past the end of the file
    // now, so this raises SIGBUS, which is the point.
    let after = unsafe { map.as_ptr().add(4096).read_volatile() };
    println!("survived the fault, read {after:#04x}");
}

#[test]
fn foreign_sigbus_still_kills() {
    const TEST: &str = "foreign_sigbus_still_kills";
    if let Some(mode) = child_mode(TEST) {
        fault_outside_the_crate(mode == "with");
        return;
    }
    for mode in ["without", "with"] {
        let out = child(TEST, mode).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!(
            "{mode} an MmapFile open: child {:?}, signal {:?}",
            out.status,
            out.status.signal()
        );
        assert!(stdout.contains("about to fault"), "{}", describe(&out));
        assert!(!stdout.contains("survived"), "{}", describe(&out));
        assert_eq!(out.status.signal(), Some(7), "SIGBUS: {}", describe(&out));
    }
}

#[test]
fn sent_sigbus_behaves_as_without_the_crate() {
    const TEST: &str = "sent_sigbus_behaves_as_without_the_crate";
    if let Some(mode) = child_mode(TEST) {
        let dir = tempfile::tempdir().unwrap();
        let mut _keep = None;
        if mode == "with" {
            let f = MmapFile::create_new(dir.path().join("ours")).unwrap();
            (&f).write_all(b"installed").unwrap();
            assert!(f.is_mapped());
            _keep = Some(f);
        }
        println!("sending SIGBUS to myself");
        io::stdout().flush().unwrap();
        let status = Command::new("kill")
            .args(["-s", "BUS", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(std::time::Duration::from_millis(300));
        println!("survived a sent SIGBUS");
        return;
    }
    let mut outcomes = Vec::new();
    for mode in ["without", "with"] {
        let out = child(TEST, mode).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("sending SIGBUS"), "{}", describe(&out));
        let outcome = (
            out.status.signal(),
            out.status.code(),
            stdout.contains("survived"),
        );
        println!("{mode} an MmapFile open: (signal, code, survived) = {outcome:?}");
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes[0], outcomes[1],
        "the crate changed what a sent SIGBUS does"
    );
}

/// A shrink that leaves every byte asked for inside one page, where no
/// access faults, is seen all the same: below the file's last page by the
/// probe of a later page, inside it by asking the kernel. Each case cuts a
/// file of `size` bytes to `cut` with another handle, then reads and writes
/// around the new end through a `File` and an `MmapFile` (opened before the
/// cut, both read whole) and compares every answer and the files after.
#[test]
fn a_shrink_inside_one_page_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    for (size, cut) in [
        (SIZE, CUT),
        (10_000, 9_000),
        (10_000, 8_193),
        (4096, 100),
        (100, 0),
        (SIZE, SIZE - 10),
    ] {
        let mut answers = Vec::new();
        let mut contents = Vec::new();
        for mapped in [false, true] {
            let path = dir.path().join(format!("{size}-{cut}-{mapped}"));
            fs::write(&path, pattern(0, size as usize)).unwrap();
            let mut h: Box<dyn Handle> = if mapped {
                Box::new(mm_open(&path, false, false))
            } else {
                Box::new(std_open(&path, false, false))
            };
            let mut all = Vec::new();
            h.read_to_end(&mut all).unwrap();
            truncate_here(&[&path], cut);
            let steps = {
                let h = &mut *h;
                vec![
                    read_at(h, 10, cut),
                    read_at(h, 20, cut.saturating_sub(10)),
                    read_exact_at(h, 5, cut),
                    seek(h, SeekFrom::Start(cut)),
                    read(h, 10),
                    write_at(h, 10, cut + 30),
                    read_at(h, 100, cut.saturating_sub(20)),
                    seek(h, SeekFrom::End(0)),
                ]
            };
            answers.push(steps);
            drop(h);
            contents.push(fs::read(&path).unwrap());
        }
        assert_eq!(answers[0], answers[1], "size {size}, cut to {cut}");
        assert!(
            contents[0] == contents[1],
            "size {size}, cut to {cut}: files differ"
        );
    }
}

/// Appends fault in the pages of a growth step ahead of them. A file cut
/// short by someone else between appends, below pages made ready that way,
/// must not come back longer: after the cut, more appends (or writes at
/// the cursor, now past the end) leave the file as `File`'s leave it. Small
/// records go through the mapping, records of a page or more by `pwrite`.
#[test]
fn writes_after_a_cut_behind_populated_pages_match_file() {
    const WRITTEN: u64 = 300_000;
    for (append, after) in [(true, 37), (false, 37), (true, 4096), (false, 8195)] {
        for cut_back in [1u64, 100, 4096, 5000, 70_000] {
            let dir = tempfile::tempdir().unwrap();
            let (path, twin) = (dir.path().join("f"), dir.path().join("g"));
            let mut mm = mm_open(&path, append, true);
            let mut fs = std_open(&twin, append, true);
            for i in 0..WRITTEN / 100 {
                let record = pattern(i * 100, 100);
                mm.write_all(&record).unwrap();
                fs.write_all(&record).unwrap();
            }
            truncate_here(&[&path, &twin], WRITTEN - cut_back);
            for i in 0..20_000 / after {
                let record = pattern(i * after + 11, after as usize);
                mm.write_all(&record).unwrap();
                fs.write_all(&record).unwrap();
            }
            drop(mm);
            let (got, want) = (fs::read(&path).unwrap(), fs::read(&twin).unwrap());
            assert!(
                got == want,
                "append {append}, {after} B records, cut back {cut_back}: {}",
                first_diff(&got, &want)
            );
        }
    }
}
