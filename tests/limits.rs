//! Reliability at the process's limits: many files open at once (address
//! space, mappings, descriptors), a small address space (`RLIMIT_AS`) and
//! few descriptors (`RLIMIT_NOFILE`). `MmapFile` must keep working (falling
//! back to smaller mappings or to system calls), give `File`'s errors, and
//! release every mapping when the handles go.
//!
//! The limits are set on a child process (the test binary re-run with
//! `common::child::wrapped_child`) with `prlimit`; skipped with a message where it is missing.

// Unix only: child processes, /proc, tmpfs, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Output;

use mmapfile::MmapFile;

mod common;
use common::child::{child_mode, describe, prlimit_works, wrapped_child};
use common::pattern::pattern;

const DIR_ENV: &str = "MMAPFILE_LIMITS_DIR";

const EMFILE: i32 = 24;

fn maps_lines() -> usize {
    fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// A line of `/proc/self/limits`: (soft, hard) as text.
fn limit(name: &str) -> String {
    fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(name))
        .map(|l| {
            l[name.len()..]
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn is_child(test: &str) -> bool {
    child_mode(test).is_some()
}

/// Runs only `test` again in a child under `prlimit <arg>`.
fn limited_child(test: &str, arg: &str, dir: &Path) -> Output {
    wrapped_child(&["prlimit", arg], test, "")
        .env(DIR_ENV, dir)
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Ten thousand files at once.
// ---------------------------------------------------------------------------

#[test]
fn ten_thousand_open_files_then_every_mapping_released() {
    let soft: usize = limit("Max open files")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    // Leave room for the test harness and the other tests' descriptors.
    let n = 10_000.min(soft.saturating_sub(256));
    if n < 10_000 {
        println!("RLIMIT_NOFILE is {soft}: opening {n} files instead of 10000");
    }
    // Each file reserves 1 GiB of address space, which costs nothing on
    // Linux; where it costs memory (qemu-user), 10 TiB of it is more than
    // the machine has.
    if let Some(kib) = common::emulation::reservation_cost_kib() {
        common::skip(&format!(
            "reserving 1 GiB of address space takes {kib} KiB of memory here (an emulator's \
             per-page bookkeeping, as qemu-user's): {n} files of 1 GiB each would take {} GiB",
            (kib * n as u64) >> 20
        ));
        return;
    }
    // The subject is mappings and descriptors, not the disk: on a tmpfs
    // where there is one, since creating, growing (fallocate) and trimming
    // 10,000 files on a disk file system mounted with `discard` takes a
    // minute.
    let dir = match tempfile::tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(_) => tempfile::tempdir().unwrap(),
    };
    println!("in {}", dir.path().display());
    let t = std::time::Instant::now();
    let before = maps_lines();
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let mut f = MmapFile::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join(i.to_string()))
            .unwrap();
        assert!(f.is_mapped(), "file {i} is not mapped");
        f.write_all(format!("file {i:05} ").as_bytes()).unwrap();
        f.write_all(&pattern(i as u64, 100 + i % 300)).unwrap();
        files.push(f);
    }
    let during = maps_lines();
    println!("opened+written in {:?}", t.elapsed());
    for (i, f) in files.iter().enumerate() {
        let mut want = format!("file {i:05} ").into_bytes();
        want.extend(pattern(i as u64, 100 + i % 300));
        let mut got = vec![0; want.len() + 10];
        let n = f.read_at(&mut got, 0).unwrap();
        assert_eq!(&got[..n], &want[..], "file {i}");
        assert_eq!(f.len().unwrap(), want.len() as u64);
    }
    println!("read in {:?}", t.elapsed());
    drop(files);
    println!("dropped in {:?}", t.elapsed());
    let after = maps_lines();
    println!(
        "/proc/self/maps: {before} lines before, {during} with {n} files open, {after} after \
         dropping them"
    );
    assert!(during >= before + n, "each open file should hold a mapping");
    assert!(
        after <= before + 16,
        "mappings left behind: {before} lines before, {after} after"
    );
    // And each file is exactly what was written (cut back to its length).
    for i in (0..n).step_by(97) {
        let got = fs::read(dir.path().join(i.to_string())).unwrap();
        assert_eq!(got.len(), 11 + 100 + i % 300, "file {i} on disk");
    }
}

// ---------------------------------------------------------------------------
// A small address space.
// ---------------------------------------------------------------------------

const AS_LIMIT: u64 = 512 << 20;

/// In the child: open, write and read under `AS_LIMIT` with several
/// reservations; everything must work and match the bytes on disk.
fn small_address_space(dir: &Path) {
    println!(
        "child: Max address space {}; {}",
        limit("Max address space"),
        fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmSize"))
            .unwrap_or("")
    );
    const DATA: usize = 8 << 20;
    let reserves: [(&str, Option<u64>); 4] = [
        ("default (1 GiB)", None),
        ("reserve(1 << 46)", Some(1 << 46)),
        ("reserve(u64::MAX)", Some(u64::MAX)),
        ("reserve(0)", Some(0)),
    ];
    for (i, (what, reserve)) in reserves.into_iter().enumerate() {
        let path = dir.join(format!("f{i}"));
        let mut o = MmapFile::options();
        o.read(true).write(true).create_new(true);
        if let Some(r) = reserve {
            o.reserve(r);
        }
        let mut f = o.open(&path).unwrap();
        let mapped = f.is_mapped();
        for chunk in pattern(0, DATA).chunks(100_003) {
            f.write_all(chunk).unwrap();
        }
        let mut back = vec![0; DATA];
        f.read_exact_at(&mut back, 0).unwrap();
        assert!(back == pattern(0, DATA), "{what}: read back");
        // A write far beyond anything this address space can map.
        let far = 6u64 << 30;
        f.write_all_at(&pattern(far, 1 << 20), far).unwrap();
        let mut back = vec![0; 1 << 20];
        f.read_exact_at(&mut back, far).unwrap();
        assert!(back == pattern(far, 1 << 20), "{what}: read back far");
        assert_eq!(f.len().unwrap(), far + (1 << 20));
        drop(f);
        let file = File::open(&path).unwrap();
        assert_eq!(file.metadata().unwrap().len(), far + (1 << 20));
        let mut head = vec![0; DATA];
        file.read_exact_at(&mut head, 0).unwrap();
        assert!(head == pattern(0, DATA), "{what}: on disk");
        let mut tail = vec![0; 1 << 20];
        file.read_exact_at(&mut tail, far).unwrap();
        assert!(tail == pattern(far, 1 << 20), "{what}: on disk far");
        println!("{what}: mapped={mapped}; 8 MiB and a write at 6 GiB read back intact");
        assert!(
            mapped,
            "{what}: a smaller reservation should have been taken"
        );
    }

    // A file already larger than the address space: opened (mapped or not),
    // read and written correctly.
    let path = dir.join("huge");
    let file = File::create_new(&path).unwrap();
    file.set_len(4 << 30).unwrap();
    file.write_all_at(b"near the end", (4 << 30) - 100).unwrap();
    drop(file);
    let mut f = MmapFile::options()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut buf = [0; 12];
    f.read_exact_at(&mut buf, (4 << 30) - 100).unwrap();
    assert_eq!(&buf, b"near the end");
    f.write_all(b"at the start").unwrap();
    let mut all = Vec::new();
    // Not the whole 4 GiB: the first megabyte through the cursor.
    (&f).take(1 << 20).read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 1 << 20);
    assert!(all.iter().all(|&b| b == 0));
    println!(
        "a 4 GiB file under a {AS_LIMIT}-byte address space: mapped={}, reads and writes correct",
        f.is_mapped()
    );
    f.flush().unwrap();
    drop(f);
    let mut head = [0; 12];
    File::open(&path)
        .unwrap()
        .read_exact_at(&mut head, 0)
        .unwrap();
    assert_eq!(&head, b"at the start");
}

#[test]
fn small_address_space_still_maps_and_is_correct() {
    const TEST: &str = "small_address_space_still_maps_and_is_correct";
    if is_child(TEST) {
        small_address_space(Path::new(&std::env::var(DIR_ENV).unwrap()));
        return;
    }
    let arg = format!("--as={AS_LIMIT}");
    if !prlimit_works(&arg) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = limited_child(TEST, &arg, dir.path());
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "child: {}", describe(&out));
}

// ---------------------------------------------------------------------------
// Few descriptors.
// ---------------------------------------------------------------------------

const NOFILE: usize = 64;

/// In the child: open until `EMFILE`, with MmapFile and with File.
fn few_descriptors(dir: &Path) -> io::Result<()> {
    let count = |open: &dyn Fn(&Path) -> io::Result<()>| -> (usize, Option<i32>) {
        let mut n = 0;
        loop {
            match open(&dir.join(format!("{n}"))) {
                Ok(()) => n += 1,
                Err(e) => return (n, e.raw_os_error()),
            }
            if n > 10 * NOFILE {
                return (n, None);
            }
        }
    };
    let mut report = Vec::new();
    for write_only in [false, true] {
        let held = std::cell::RefCell::new(Vec::new());
        let (mm_n, mm_err) = count(&|p| {
            let mut f = MmapFile::options()
                .read(!write_only)
                .write(true)
                .create(true)
                .open(p)?;
            f.write_all(p.to_str().unwrap().as_bytes())?;
            held.borrow_mut().push(f);
            Ok(())
        });
        let mapped = held.borrow().iter().filter(|f| f.is_mapped()).count();
        // Every handle still reads (or, write-only, writes) correctly.
        for f in held.borrow().iter() {
            f.write_all_at(b"!", 0)?;
        }
        drop(held);
        let held = std::cell::RefCell::new(Vec::new());
        let (fs_n, fs_err) = count(&|p| {
            let mut f = fs::OpenOptions::new()
                .read(!write_only)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)?;
            f.write_all(p.to_str().unwrap().as_bytes())?;
            held.borrow_mut().push(f);
            Ok(())
        });
        drop(held);
        let line = format!(
            "write_only={write_only}: MmapFile opened {mm_n} ({mapped} mapped) then \
             {mm_err:?}; File opened {fs_n} then {fs_err:?}"
        );
        println!("{line}");
        if mm_err != Some(EMFILE) || (mm_n, mm_err) != (fs_n, fs_err) {
            report.push(line);
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    Ok(())
}

#[test]
fn few_descriptors_give_emfile_like_file() {
    const TEST: &str = "few_descriptors_give_emfile_like_file";
    if is_child(TEST) {
        few_descriptors(Path::new(&std::env::var(DIR_ENV).unwrap())).unwrap();
        return;
    }
    let arg = format!("--nofile={NOFILE}");
    if !prlimit_works(&arg) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = limited_child(TEST, &arg, dir.path());
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "child: {}", describe(&out));
}
