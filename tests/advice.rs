//! `advise`, `advise_range` and the open-time advice options, observed
//! where the kernel lets them be seen: residency (`PopulateRead`,
//! `DontNeed`, `PageOut`, `WillNeed`, `populate(true)`) in the Rss of
//! `/proc/self/smaps` and, for the page cache, which no mapping shows, in
//! `fincore(1)`; the `madvise` flags in `VmFlags`, on the pages advised
//! only, and on the windows and pages the file grows into.

// Unix only: /proc (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use mmapfile::{Advice, MmapFile};

mod common;
use common::pattern::pattern;
use common::smaps::{
    covering, first_flags, make_file, newest_window, rss_kb, total, vmas_of, windows,
};
use common::{KIB, MIB, eventually, page, read_all_at, rw_mapped};

/// Bytes of `path` resident in the page cache, from `fincore(1)`; `None`
/// where it is missing.
fn fincore_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Whether `madvise` advice takes effect here; where it does not (under
/// qemu-user), says why, and the test, which would observe nothing, skips.
fn advice_applies() -> bool {
    match common::emulation::advice_ignored() {
        Some(why) => {
            common::skip(&why);
            false
        }
        None => true,
    }
}

// ---------------------------------------------------------------------------
// Residency: advise, populate
// ---------------------------------------------------------------------------

#[test]
fn populate_read_maps_the_file_and_dont_need_unmaps_it() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let size = 4 * MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "resident", &data);
    let f = rw_mapped(&path);
    assert!(f.is_mapped());
    let size_kb = size / KIB;

    // Nothing touched yet: nothing mapped.
    assert!(rss_kb(&path) < 64, "Rss at open: {} kB", rss_kb(&path));

    f.advise(Advice::PopulateRead).unwrap();
    let rss = rss_kb(&path);
    assert!(
        rss >= size_kb * 95 / 100 && rss <= size_kb + 64,
        "Rss after PopulateRead: {rss} kB of {size_kb} kB"
    );

    f.advise(Advice::DontNeed).unwrap();
    let rss = rss_kb(&path);
    assert!(rss < 64, "Rss after DontNeed: {rss} kB");

    // DontNeed on a shared mapping loses nothing: the bytes come back from
    // the page cache.
    assert!(read_all_at(&f, 0, size as usize) == data);
    let rss = rss_kb(&path);
    assert!(
        rss >= size_kb * 95 / 100,
        "Rss after reading everything back: {rss} kB"
    );

    // A range: that range's pages go, and the kernel may drop up to the
    // 2 MiB block around it with them (a 2 MiB folio mapped by one PMD is
    // unmapped whole when part of it is zapped); the last 2 MiB stay.
    let pmd_mapped = total(&vmas_of(&path), "FilePmdMapped");
    f.advise_range(Advice::DontNeed, MIB, MIB).unwrap();
    let rss = rss_kb(&path);
    assert!(
        rss <= size_kb - KIB + 64 && rss + 64 >= size_kb / 2,
        "FilePmdMapped before: {pmd_mapped} kB; Rss after DontNeed of 1 MiB of 4: {rss} kB"
    );
    f.advise_range(Advice::PopulateRead, MIB, MIB).unwrap();
    assert!(rss_kb(&path) >= size_kb * 95 / 100);
}

#[test]
fn populate_option_maps_the_file_at_open() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let size = 2 * MIB;
    let data = pattern(0, size as usize);
    let plain = make_file(dir.path(), "plain", &data);
    let populated = make_file(dir.path(), "populated", &data);

    let p = MmapFile::options().read(true).open(&plain).unwrap();
    let q = MmapFile::options()
        .read(true)
        .populate(true)
        .open(&populated)
        .unwrap();
    assert!(p.is_mapped() && q.is_mapped());
    let (rss_plain, rss_populated) = (rss_kb(&plain), rss_kb(&populated));
    assert!(rss_plain < 64, "Rss without populate: {rss_plain} kB");
    assert!(
        rss_populated >= size / KIB * 95 / 100,
        "Rss with populate(true): {rss_populated} kB of {} kB",
        size / KIB
    );
    assert!(read_all_at(&q, 0, size as usize) == data);
}

/// `WillNeed` on a file mapping is readahead into the page cache: it maps
/// nothing (Rss stays 0), but the file becomes resident. `PageOut` unmaps
/// the pages and, when they are clean, evicts them.
#[test]
fn page_out_evicts_and_will_need_reads_ahead_without_mapping() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let size = 2 * MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "willneed", &data);
    File::open(&path).unwrap().sync_all().unwrap(); // clean pages can be evicted
    let f = MmapFile::open(&path).unwrap();

    f.advise(Advice::PopulateRead).unwrap();
    assert!(rss_kb(&path) >= size / KIB * 95 / 100);
    f.advise(Advice::PageOut).unwrap();
    let rss = rss_kb(&path);
    assert!(rss < 64, "Rss after PageOut: {rss} kB");

    let Some(cached) = fincore_bytes(&path) else {
        println!("skipped the page-cache half: fincore is not available");
        return;
    };
    if cached > size / 4 {
        println!(
            "skipped the WillNeed half: PageOut left {cached} of {size} bytes in the page cache"
        );
        return;
    }
    f.advise(Advice::WillNeed).unwrap();
    let mut cached = 0;
    let read_ahead = eventually(5, || {
        cached = fincore_bytes(&path).unwrap_or(0);
        cached >= size * 95 / 100
    });
    assert!(
        read_ahead,
        "page cache after WillNeed: {cached} of {size} bytes"
    );
    let rss = rss_kb(&path);
    assert!(rss < 64, "WillNeed mapped pages: Rss {rss} kB");
    assert!(read_all_at(&f, 0, size as usize) == data);
}

// ---------------------------------------------------------------------------
// Advice flags (VmFlags)
// ---------------------------------------------------------------------------

#[test]
fn advise_sets_and_clears_vm_flags() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "flags", &pattern(0, MIB as usize));
    let f = rw_mapped(&path);
    let has = |flag: &str| first_flags(&path).iter().any(|f| f == flag);
    for flag in ["rr", "sr", "hg", "nh", "dd"] {
        assert!(
            !has(flag),
            "{flag} before any advice: {:?}",
            first_flags(&path)
        );
    }

    f.advise(Advice::Random).unwrap();
    assert!(has("rr") && !has("sr"), "{:?}", first_flags(&path));
    f.advise(Advice::Sequential).unwrap();
    assert!(has("sr") && !has("rr"), "{:?}", first_flags(&path));
    f.advise(Advice::Normal).unwrap();
    assert!(!has("sr") && !has("rr"), "{:?}", first_flags(&path));

    f.advise(Advice::HugePage).unwrap();
    assert!(has("hg") && !has("nh"), "{:?}", first_flags(&path));
    f.advise(Advice::NoHugePage).unwrap();
    assert!(has("nh") && !has("hg"), "{:?}", first_flags(&path));

    f.advise(Advice::DontDump).unwrap();
    assert!(has("dd"), "{:?}", first_flags(&path));
    f.advise(Advice::DoDump).unwrap();
    assert!(!has("dd"), "{:?}", first_flags(&path));

    // Advice covers the file, not the rest of the window: the entry past
    // the file's end does not carry it.
    f.advise(Advice::Random).unwrap();
    let window = newest_window(&path);
    let inside = covering(&window, 0, MIB);
    let beyond = covering(&window, MIB, u64::MAX);
    assert!(inside.iter().all(|v| v.has("rr")), "{inside:?}");
    assert!(beyond.iter().all(|v| !v.has("rr")), "{beyond:?}");

    // A range: only the pages holding it.
    let g_path = make_file(dir.path(), "range", &pattern(0, MIB as usize));
    let g = rw_mapped(&g_path);
    g.advise_range(Advice::Random, 256 * KIB, 100).unwrap();
    let window = newest_window(&g_path);
    let advised: Vec<_> = window.iter().filter(|v| v.has("rr")).collect();
    assert_eq!(advised.len(), 1, "{window:?}");
    assert_eq!(advised[0].file_range(), (256 * KIB, 256 * KIB + page()));

    // Cold has nothing to see in smaps; it must at least be accepted, and
    // leave the bytes alone.
    f.advise(Advice::Cold).unwrap();
    assert!(read_all_at(&f, 0, MIB as usize) == pattern(0, MIB as usize));
}

#[test]
fn open_time_advice_sets_vm_flags() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(0, MIB as usize);
    // `None`: huge_pages(true).
    let cases = [
        ("random", "rr", Some(Advice::Random)),
        ("sequential", "sr", Some(Advice::Sequential)),
        ("huge", "hg", None),
        ("dontdump", "dd", Some(Advice::DontDump)),
    ];
    let mut handles = Vec::new();
    for (name, flag, advice) in cases {
        let path = make_file(dir.path(), name, &data);
        let mut o = MmapFile::options();
        o.read(true).write(true);
        match advice {
            Some(advice) => o.advice(advice),
            None => o.huge_pages(true),
        };
        let f = o.open(&path).unwrap();
        assert!(f.is_mapped());
        let flags = first_flags(&path);
        assert!(
            flags.iter().any(|f| f == flag),
            "{name}: {flag} not in {flags:?}"
        );
        handles.push(f);
    }

    // huge_pages(false) takes the request back.
    let path = make_file(dir.path(), "huge-off", &data);
    let _f = MmapFile::options()
        .read(true)
        .huge_pages(true)
        .huge_pages(false)
        .open(&path)
        .unwrap();
    assert!(_f.is_mapped());
    let flags = first_flags(&path);
    assert!(!flags.iter().any(|f| f == "hg"), "{flags:?}");
}

#[test]
fn open_time_advice_is_applied_to_new_windows() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let start = 64 * KIB;
    let data = pattern(0, start as usize);
    let cases = [
        ("random", "rr", Advice::Random),
        ("sequential", "sr", Advice::Sequential),
        ("huge", "hg", Advice::HugePage),
    ];
    for (name, flag, advice) in cases {
        let path = make_file(dir.path(), name, &data);
        let mut f = MmapFile::options()
            .read(true)
            .write(true)
            .reserve(4096)
            .advice(advice)
            .map_after(0)
            .open(&path)
            .unwrap();
        let first = first_flags(&path);
        assert!(first.iter().any(|f| f == flag), "{name} at open: {first:?}");
        f.seek(SeekFrom::End(0)).unwrap();
        // Appends under a page go through the mapping (larger ones by
        // `pwrite`), so they move it to new windows.
        for chunk in pattern(start, (4 * MIB - start) as usize).chunks(2 * KIB as usize) {
            f.write_all(chunk).unwrap();
        }
        let windows = windows(&vmas_of(&path));
        assert!(
            windows.len() >= 3,
            "{name}: 4 MiB appended past a 4 KiB reserve made only {} window(s)",
            windows.len()
        );
        for (i, w) in windows.iter().enumerate() {
            assert!(
                w[0].has(flag),
                "{name}: window {i} of {} (at {:#x}) lacks {flag}: {:?}",
                windows.len(),
                w[0].start,
                w[0].flags
            );
        }
        assert!(read_all_at(&f, 0, 4 * MIB as usize) == pattern(0, 4 * MIB as usize));
    }
}

/// Advice given at open is "applied to the mapping": a file opened empty,
/// or grown inside its window, must have it on the pages that hold its
/// bytes too, not only on those that existed at open.
#[test]
fn open_time_advice_covers_what_the_file_grows_into() {
    if !advice_applies() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, initial) in [("opened-empty", 0), ("opened-with-64k", 64 * KIB)] {
        let path = make_file(dir.path(), name, &pattern(0, initial as usize));
        let mut f = MmapFile::options()
            .read(true)
            .write(true)
            .advice(Advice::Random)
            .huge_pages(true)
            .map_after(0)
            .open(&path)
            .unwrap();
        f.seek(SeekFrom::End(0)).unwrap();
        f.write_all(&pattern(initial, (2 * MIB - initial) as usize))
            .unwrap();
        let window = newest_window(&path);
        assert_eq!(
            windows(&vmas_of(&path)).len(),
            1,
            "2 MiB fits the default reserve"
        );
        for v in covering(&window, 0, 2 * MIB) {
            for flag in ["rr", "hg"] {
                if !v.has(flag) {
                    failures.push(format!(
                        "{name}: file bytes {:#x}..{:#x} mapped without {flag} ({:?})",
                        v.file_range().0,
                        v.file_range().1.min(2 * MIB),
                        v.flags
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
