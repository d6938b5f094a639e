//! The file is truncated under a live `MmapFile` by someone else: another
//! handle in this process, or another process (a child: this test binary
//! re-run with `common::child::child`). A naive mapping dies of SIGBUS
//! here; `MmapFile` must keep returning what `File` returns, call for call
//! (`common::twin`), reads and writes alike, also where the shrink stays
//! inside one page or cuts below pages made ready for appends.

// Unix only: child processes, SIGBUS, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Read, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};
use common::pattern::pattern;
use common::twin::{
    Diffs, Handle, Open, Outcome, Step, Twins, byte_diff, read_at_n, read_exact_at_n, read_exact_n,
    read_n,
};

const PATHS_ENV: &str = "MMAPFILE_TRUNCATION_PATHS";
const SIZE_ENV: &str = "MMAPFILE_TRUNCATION_SIZE";

// ---------------------------------------------------------------------------
// One call at a time after a truncation, against `File` doing the same.
// ---------------------------------------------------------------------------

/// Size of the file before the truncation: 256 pages.
const SIZE: u64 = 1 << 20;
/// Size after: inside page 24 (98_304..102_400), so that the page holding
/// the new end is still mapped and its tail reads as zeros.
const CUT: u64 = 100_000;

// The calls of the probes, each named for messages.

fn read_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    Step::new(
        format!("read_at({len} @ {off})"),
        Outcome::bytes(read_at_n(h, len, off)),
    )
}

fn read_exact_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    Step::new(
        format!("read_exact_at({len} @ {off})"),
        Outcome::bytes(read_exact_at_n(h, len, off)),
    )
}

fn seek(h: &mut dyn Handle, to: SeekFrom) -> Step {
    Step::new(format!("seek({to:?})"), Outcome::of(h.seek(to)))
}

fn read(h: &mut dyn Handle, len: usize) -> Step {
    Step::new(format!("read({len})"), Outcome::bytes(read_n(h, len)))
}

fn read_exact(h: &mut dyn Handle, len: usize) -> Step {
    Step::new(
        format!("read_exact({len})"),
        Outcome::bytes(read_exact_n(h, len)),
    )
}

fn write_at(h: &mut dyn Handle, len: usize, off: u64) -> Step {
    Step::new(
        format!("write_at({len} @ {off})"),
        Outcome::count(h.write_at(&vec![0xa5; len], off)),
    )
}

fn write(h: &mut dyn Handle, len: usize) -> Step {
    Step::new(
        format!("write({len})"),
        Outcome::count(h.write(&vec![0x5a; len])),
    )
}

fn position(h: &mut dyn Handle) -> Step {
    Step::new("stream_position()", Outcome::of(h.stream_position()))
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
        vec![
            s,
            Step::new("read_to_end", Outcome::count(res).with(buf)),
            position(h),
        ]
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

/// Read-write (read-append if `append`), as the probes open both files.
fn opened<T: Handle>(path: &Path, append: bool, create: bool) -> T {
    let how = Open {
        read: true,
        write: !append,
        append,
        create,
        ..Open::default()
    };
    T::h_open(path, &how).unwrap()
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

/// Runs every probe on an `MmapFile` and on a `File` whose files were both
/// truncated to `CUT` by `truncate`, and returns every difference.
fn run_probes(probes: &[Probe], truncate: &dyn Fn(&[&Path], u64)) -> Diffs {
    let mut d = Diffs::default();
    let mut n = 0;
    for setup in [Setup::Opened, Setup::Appended] {
        for append in [false, true] {
            for (name, probe) in probes {
                n += 1;
                let create = matches!(setup, Setup::Appended);
                let t = if create {
                    Twins::absent()
                } else {
                    Twins::new(&pattern(0, SIZE as usize))
                };
                let mut mm: MmapFile = opened(&t.mmap, append, create);
                assert!(mm.is_mapped());
                let mut fs: File = opened(&t.file, append, create);
                prepare(&mut mm, setup);
                prepare(&mut fs, setup);

                truncate(&[&t.mmap, &t.file], CUT);

                let got = probe(&mut mm);
                let want = probe(&mut fs);
                drop(mm);
                drop(fs);
                let tag = format!("[{setup:?}, append={append}] {name}");
                d.steps(&tag, &want, &got);
                t.same_files(&mut d, &format!("{tag}: afterwards"));
            }
        }
    }
    println!("{n} probe runs, {} differences from File", d.len());
    d
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

#[test]
fn reads_after_truncation_by_another_handle_match_file() {
    run_probes(READ_PROBES, &truncate_here).finish();
}

#[test]
fn writes_after_truncation_by_another_handle_match_file() {
    run_probes(WRITE_PROBES, &truncate_here).finish();
}

#[test]
fn set_len_after_truncation_matches_file() {
    // Kept apart from the probe tables: `set_len` is not in `Handle`.
    let t = Twins::new(&pattern(0, SIZE as usize));
    let (path, twin) = (&t.mmap, &t.file);
    let mm: MmapFile = opened(path, false, false);
    let fs: File = opened(twin, false, false);
    let mut all = Vec::new();
    (&mm).read_to_end(&mut all).unwrap();
    truncate_here(&[path, twin], CUT);
    mm.set_len(CUT + 50_000).unwrap();
    fs.set_len(CUT + 50_000).unwrap();
    let mut a = vec![0xff; 8192];
    let mut b = vec![0xff; 8192];
    let na = mm.read_at(&mut a, CUT - 1000).unwrap();
    let nb = fs.read_at(&mut b, CUT - 1000).unwrap();
    assert_eq!((na, &a[..na]), (nb, &b[..nb]));
    assert_eq!(mm.len().unwrap(), CUT + 50_000);
    drop(mm);
    assert_eq!(fs::read(path).unwrap(), fs::read(twin).unwrap());
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
    let mut d = run_probes(READ_PROBES, &truncate_elsewhere);
    d.merge(run_probes(WRITE_PROBES, &truncate_elsewhere));
    println!(
        "{} truncations by a child process",
        spawns.load(Ordering::Relaxed)
    );
    d.finish();
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
                Box::new(opened::<MmapFile>(&path, false, false))
            } else {
                Box::new(opened::<File>(&path, false, false))
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
            let t = Twins::absent();
            let (path, twin) = (&t.mmap, &t.file);
            let mut mm: MmapFile = opened(path, append, true);
            let mut fs: File = opened(twin, append, true);
            for i in 0..WRITTEN / 100 {
                let record = pattern(i * 100, 100);
                mm.write_all(&record).unwrap();
                fs.write_all(&record).unwrap();
            }
            truncate_here(&[path, twin], WRITTEN - cut_back);
            for i in 0..20_000 / after {
                let record = pattern(i * after + 11, after as usize);
                mm.write_all(&record).unwrap();
                fs.write_all(&record).unwrap();
            }
            drop(mm);
            let (got, want) = (fs::read(path).unwrap(), fs::read(twin).unwrap());
            assert!(
                got == want,
                "append {append}, {after} B records, cut back {cut_back}: {}",
                byte_diff(&got, &want)
            );
        }
    }
}
