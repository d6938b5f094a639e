//! Issue 11, row 18, and "What must hold" item 8: "no leaked mappings on
//! any error path", on private handles (`OpenOptions::private(true)`) and
//! shared ones. (Rows 13, 16 and 17: private_like_a_copy.rs.)
//!
//! The file cut to 0 under a private handle, 200 x `write_at` past 1 GiB:
//! whatever each returns, the address space does not grow by a window per
//! call (today: `ENOMEM` each time and some 2 GiB more each, never
//! unmapped), and once every handle is dropped, everything the crate mapped
//! is unmapped. In a child process, whose address space only the test
//! uses.

// Unix only: child processes, /proc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::{Advice, MmapFile};

mod common;
use common::child::{child, child_mode, describe};
use common::outsider::{Opts, outcome};
use common::pattern::pattern_file;

/// This process's address space (`VmSize`), in KiB, and its number of
/// mappings. Where `VmSize` counts more than this process's mappings (an
/// emulator's own memory, under qemu-user), the sum of the ranges in
/// `/proc/self/maps` instead, which on Linux is the same count.
fn address_space() -> (u64, usize) {
    static VMSIZE_WRONG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let wrong = *VMSIZE_WRONG.get_or_init(|| {
        let why = common::emulation::vmsize_beyond_mappings();
        if let Some(why) = &why {
            println!("measuring /proc/self/maps, not VmSize: {why}");
        }
        why.is_some()
    });
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let kb = if wrong {
        common::emulation::mapped_kib()
    } else {
        kb
    };
    let maps = fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    (kb, maps)
}

const GIB: u64 = 1 << 30;

fn row18_child() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    pattern_file(&path, 1 << 20);
    // The crate's once-only state (handler, registry) before the baseline.
    drop(MmapFile::open(&path).unwrap());
    let base = address_space();
    let h = Opts::rw().mmap().private(true).open(&path).unwrap();
    let mut buf = vec![0; 4096];
    h.read_exact_at(&mut buf, 0).unwrap();
    common::cut(&path, 0);
    let opened = address_space();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..200u64 {
        let r = h.write_at(b"x", GIB + 4096 + i * 4096);
        *outcomes.entry(outcome(&r)).or_default() += 1;
    }
    let after = address_space();
    println!("RESULT outcomes of 200 write_at past 1 GiB: {outcomes:?}");
    println!(
        "RESULT address space: {} KiB before open, {} KiB open, {} KiB after the writes",
        base.0, opened.0, after.0
    );
    drop(h);
    let closed = address_space();
    println!(
        "RESULT after drop: {} KiB, {} mappings (before open: {} mappings)",
        closed.0, closed.1, base.1
    );
    println!(
        "VALUES {} {} {} {} {} {}",
        base.0, opened.0, after.0, closed.0, base.1, closed.1
    );
}

/// Parses the child's `VALUES` line.
fn values(out: &std::process::Output) -> Option<Vec<u64>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.find("VALUES ").map(|i| l[i + 7..].to_string()))
        .map(|v| v.split(' ').map(|x| x.parse().unwrap()).collect())
}

/// Growth of the address space allowed over 200 calls: a few windows (the
/// next window past 1 GiB is some 2 GiB, and an old one may stay mapped),
/// not one per call.
const ALLOWED_GROWTH_KIB: u64 = 8 * GIB / 1024;
/// What may remain mapped after every handle is dropped: allocator noise.
const ALLOWED_LEFT_KIB: u64 = 16 << 10;

/// Row 18: a private handle of a file cut to 0, 200 x `write_at` past
/// 1 GiB: no window leaked per call, and nothing left mapped after drop.
#[test]
fn a_private_handle_of_a_cut_file_leaks_no_window() {
    const TEST: &str = "a_private_handle_of_a_cut_file_leaks_no_window";
    if child_mode(TEST).is_some() {
        row18_child();
        return;
    }
    let out = child(TEST, "").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v = values(&out).unwrap_or_else(|| panic!("{}", describe(&out)));
    let (base, opened, after, closed) = (v[0], v[1], v[2], v[3]);
    let mut wrong = Vec::new();
    if after > opened + ALLOWED_GROWTH_KIB {
        wrong.push(format!(
            "200 failing writes grew the address space by {} GiB (allowed: 8 GiB)",
            (after - opened) >> 20
        ));
    }
    if closed > base + ALLOWED_LEFT_KIB {
        wrong.push(format!(
            "after drop, {} MiB more address space than before the open (allowed: 16 MiB)",
            (closed - base) >> 10
        ));
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), describe(&out));
}

/// Many failing calls of every kind, on private and shared handles.
fn failing_calls(dir: &Path) -> Vec<String> {
    let path = dir.join("data");
    pattern_file(&path, 1 << 20);
    let mut seen = Vec::new();
    let mut note = |what: &str, r: String| seen.push(format!("{what}: {r}"));
    let shared = Opts::rw().mmap().open(&path).unwrap();
    let private = Opts::rw().mmap().private(true).open(&path).unwrap();
    let small = Opts::rw()
        .mmap()
        .private(true)
        .reserve(1 << 20)
        .open(&path)
        .unwrap();
    let mut buf = vec![0; 4096];
    private.read_exact_at(&mut buf, 0).unwrap();
    for _ in 0..20 {
        // SAFETY: nothing writes the file while the view would live.
        note(
            "view past the end",
            outcome(&unsafe { shared.view(2 << 20, 10) }.map(|v| v.len())),
        );
        // SAFETY: as above.
        note(
            "view at u64::MAX",
            outcome(&unsafe { shared.view(u64::MAX, 1) }.map(|v| v.len())),
        );
        note(
            "region(u64::MAX, 1)",
            outcome(&shared.region(u64::MAX, 1).map(|r| r.len())),
        );
        note(
            "advise_range overflow",
            outcome(&shared.advise_range(Advice::WillNeed, u64::MAX, 2)),
        );
        note("set_len(u64::MAX)", outcome(&shared.set_len(u64::MAX)));
        note(
            "write_at(i64::MAX - 10)",
            outcome(&shared.write_at(b"x", i64::MAX as u64 - 10)),
        );
        note(
            "private set_len(u64::MAX)",
            outcome(&private.set_len(u64::MAX)),
        );
        note(
            "private write_at 40 GiB",
            outcome(&private.write_at(b"x", 40 * GIB)),
        );
        note(
            "small private write_at 3 GiB",
            outcome(&small.write_at(b"x", 3 * GIB)),
        );
        // SAFETY: as above.
        note(
            "private view past the end",
            outcome(&unsafe { private.view(2 << 40, 1) }.map(|v| v.len())),
        );
        note(
            "advise DontNeed on private",
            outcome(&private.advise(Advice::DontNeed)),
        );
        let reserve = Opts::rw()
            .mmap()
            .reserve(u64::MAX)
            .open(&path)
            .map(|h| h.is_mapped());
        note("open with reserve(u64::MAX)", outcome(&reserve));
        let write_only = Opts {
            write: true,
            ..Opts::default()
        };
        let wo = write_only
            .mmap()
            .private(true)
            .open(&path)
            .map(|h| h.is_mapped());
        note("write-only private open", outcome(&wo));
    }
    // The file cut under the private handles: their reads of pages they
    // never wrote fail, and growing copies what was written.
    common::cut(&path, 0);
    for i in 0..20u64 {
        note(
            "private read after the cut",
            outcome(&private.read_at(&mut buf, 8192)),
        );
        note(
            "private write_at past 1 GiB after the cut",
            outcome(&private.write_at(b"x", GIB + i * 4096)),
        );
        note(
            "private set_len(3 GiB) after the cut",
            outcome(&private.set_len(3 * GIB)),
        );
        note(
            "small private write_at 2 MiB after the cut",
            outcome(&small.write_at(b"x", 2 << 20)),
        );
        // Past their windows (3 GiB and 40 GiB by now): a larger one each.
        note(
            "small private write_at 5 GiB after the cut",
            outcome(&small.write_at(b"x", 5 * GIB + i * 4096)),
        );
        note(
            "private write_at 100 GiB after the cut",
            outcome(&private.write_at(b"x", 100 * GIB + i * 4096)),
        );
    }
    seen
}

/// "No leaked mappings on any error path": after many failing calls on
/// shared and private handles, dropping every handle unmaps everything.
#[test]
fn no_mapping_outlives_its_handles_after_failing_calls() {
    const TEST: &str = "no_mapping_outlives_its_handles_after_failing_calls";
    if child_mode(TEST).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let warm = dir.path().join("warm");
        fs::write(&warm, b"warm").unwrap();
        // Mapped, so that the crate's threads exist before `base`.
        drop(
            MmapFile::options()
                .read(true)
                .map_after(0)
                .open(&warm)
                .unwrap(),
        );
        let base = address_space();
        let seen = failing_calls(dir.path());
        let closed = address_space();
        let kinds: std::collections::BTreeSet<&String> = seen.iter().collect();
        println!("RESULT {} calls; distinct: {kinds:?}", seen.len());
        println!("VALUES {} 0 0 {} {} {}", base.0, closed.0, base.1, closed.1);
        return;
    }
    let out = child(TEST, "").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v = values(&out).unwrap_or_else(|| panic!("{}", describe(&out)));
    let (base, closed, base_maps, closed_maps) = (v[0], v[3], v[4], v[5]);
    assert!(
        closed <= base + ALLOWED_LEFT_KIB && closed_maps <= base_maps + 4,
        "after every handle was dropped: {} MiB more address space and {} more mappings \
         than before (allowed: 16 MiB, 4)\n{}",
        closed.saturating_sub(base) >> 10,
        closed_maps as i64 - base_maps as i64,
        describe(&out)
    );
}
