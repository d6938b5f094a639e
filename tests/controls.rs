//! The mapping controls, observed where the kernel lets them be seen.
//!
//! `/proc/self/smaps` describes every mapping of this process: its Rss
//! (pages mapped), Locked (pages held by `mlock`), dirty pages, permissions
//! and `VmFlags` (the `madvise` flags). The crate maps each file once per
//! process, so the smaps entries whose path is a test's own file are exactly
//! the crate's mapping of it (a window split in several entries where a
//! control covered only part of it, and several windows after growth).
//! Page-cache residency, which no mapping shows, comes from `fincore(1)`.
//!
//! The refusal of `mlock` under a small `RLIMIT_MEMLOCK` runs in a child
//! process (this test binary re-run with `common::wrapped_child`), as an
//! unprivileged user where we are root, since `CAP_IPC_LOCK` bypasses it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mmapfile::{Advice, MmapFile, Protection};

mod common;
use common::child::{child_mode, describe, wrapped_child};

const KIB: u64 = 1024;
const MIB: u64 = 1 << 20;

fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pat).collect()
}

fn page() -> u64 {
    mmapfile::page_size() as u64
}

/// Writes `bytes` to `dir/name` with std, reads it once (so that it is in
/// the page cache) and returns its canonical path, as smaps shows it.
fn make_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    assert_eq!(fs::read(&path).unwrap().len(), bytes.len());
    path.canonicalize().unwrap()
}

fn rw(path: &Path) -> MmapFile {
    MmapFile::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

fn read_all_at(f: &MmapFile, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    let n = f.read_at(&mut buf, offset).unwrap();
    buf.truncate(n);
    buf
}

// ---------------------------------------------------------------------------
// /proc/self/smaps
// ---------------------------------------------------------------------------

/// One entry of `/proc/self/smaps`.
#[derive(Debug, Clone)]
struct Vma {
    start: u64,
    end: u64,
    perms: String,
    /// Offset in the file of `start`.
    offset: u64,
    inode: u64,
    path: String,
    /// The `Key: N kB` lines.
    kb: HashMap<String, u64>,
    flags: Vec<String>,
}

impl Vma {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn get(&self, key: &str) -> u64 {
        self.kb.get(key).copied().unwrap_or(0)
    }

    /// The part of the file this entry maps.
    fn file_range(&self) -> (u64, u64) {
        (self.offset, self.offset + (self.end - self.start))
    }
}

fn smaps() -> Vec<Vma> {
    let text = fs::read_to_string("/proc/self/smaps").unwrap();
    let mut out: Vec<Vma> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some(key) = first.strip_suffix(':') {
            let Some(vma) = out.last_mut() else { continue };
            if key == "VmFlags" {
                vma.flags = words.map(str::to_string).collect();
            } else if let Some(n) = words.next().and_then(|w| w.parse().ok()) {
                vma.kb.insert(key.to_string(), n);
            }
            continue;
        }
        // A header: `start-end perms offset dev inode [path]`.
        let Some((start, end)) = first.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let perms = words.next().unwrap_or_default().to_string();
        let offset = u64::from_str_radix(words.next().unwrap_or("0"), 16).unwrap_or(0);
        let _dev = words.next();
        let inode = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let path = words.collect::<Vec<_>>().join(" ");
        out.push(Vma {
            start,
            end,
            perms,
            offset,
            inode,
            path,
            kb: HashMap::new(),
            flags: Vec::new(),
        });
    }
    out
}

/// The entries mapping the file at `path` (canonical), in address order.
fn vmas_of(path: &Path) -> Vec<Vma> {
    let path = path.to_str().unwrap();
    smaps().into_iter().filter(|v| v.path == path).collect()
}

/// The sum of `key` (in kB) over `vmas`.
fn total(vmas: &[Vma], key: &str) -> u64 {
    vmas.iter().map(|v| v.get(key)).sum()
}

fn rss_kb(path: &Path) -> u64 {
    total(&vmas_of(path), "Rss")
}

fn locked_kb(path: &Path) -> u64 {
    total(&vmas_of(path), "Locked")
}

fn dirty_kb(path: &Path) -> u64 {
    let v = vmas_of(path);
    total(&v, "Shared_Dirty") + total(&v, "Private_Dirty")
}

/// The windows (whole mappings of the file from offset 0) among `vmas`,
/// each as its entries, in address order: a window starts at offset 0 and
/// continues over the entries that follow it in memory and in the file.
fn windows(vmas: &[Vma]) -> Vec<Vec<Vma>> {
    let mut out: Vec<Vec<Vma>> = Vec::new();
    for v in vmas {
        let continues = out.last().and_then(|w| w.last()).is_some_and(|prev| {
            v.offset != 0 && v.start == prev.end && v.offset == prev.file_range().1
        });
        if continues {
            out.last_mut().unwrap().push(v.clone());
        } else {
            out.push(vec![v.clone()]);
        }
    }
    out
}

/// The current window: the largest, since every new window is larger.
fn newest_window(path: &Path) -> Vec<Vma> {
    windows(&vmas_of(path))
        .into_iter()
        .max_by_key(|w| w.last().unwrap().end - w[0].start)
        .unwrap_or_else(|| panic!("no mapping of {}", path.display()))
}

/// The entries of `window` that map any of `from..to` of the file.
fn covering(window: &[Vma], from: u64, to: u64) -> Vec<Vma> {
    window
        .iter()
        .filter(|v| {
            let (a, b) = v.file_range();
            a < to && from < b
        })
        .cloned()
        .collect()
}

/// Polls `f` until it holds or `secs` pass; returns whether it held.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

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

fn uid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

// ---------------------------------------------------------------------------
// page_size
// ---------------------------------------------------------------------------

#[test]
fn page_size_is_getconf_pagesize() {
    let Ok(out) = Command::new("getconf").arg("PAGESIZE").output() else {
        println!("skipped: getconf is not available");
        return;
    };
    assert!(out.status.success(), "getconf PAGESIZE failed");
    let want: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(mmapfile::page_size(), want);
    assert!(want.is_power_of_two());
}

// ---------------------------------------------------------------------------
// Residency: advise, populate
// ---------------------------------------------------------------------------

#[test]
fn populate_read_maps_the_file_and_dont_need_unmaps_it() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4 * MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "resident", &data);
    let f = rw(&path);
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

/// The flags of the entry mapping offset 0 of the newest window.
fn first_flags(path: &Path) -> Vec<String> {
    newest_window(path)[0].flags.clone()
}

#[test]
fn advise_sets_and_clears_vm_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "flags", &pattern(0, MIB as usize));
    let f = rw(&path);
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
    let g = rw(&g_path);
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
    let flags = first_flags(&path);
    assert!(!flags.iter().any(|f| f == "hg"), "{flags:?}");
}

#[test]
fn open_time_advice_is_applied_to_new_windows() {
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
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, initial) in [("opened-empty", 0), ("opened-with-64k", 64 * KIB)] {
        let path = make_file(dir.path(), name, &pattern(0, initial as usize));
        let mut f = MmapFile::options()
            .read(true)
            .write(true)
            .advice(Advice::Random)
            .huge_pages(true)
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

// ---------------------------------------------------------------------------
// Dirty pages: sync_range, sync_range_async, PopulateWrite
// ---------------------------------------------------------------------------

#[test]
fn populate_write_dirties_and_sync_range_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let size = MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "popwrite", &data);
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw(&path);
    f.advise(Advice::PopulateRead).unwrap();
    assert_eq!(dirty_kb(&path), 0, "clean after sync_all and a read fault");

    f.advise(Advice::PopulateWrite).unwrap();
    let dirty = dirty_kb(&path);
    assert!(
        dirty >= size / KIB * 95 / 100,
        "dirty after PopulateWrite: {dirty} kB"
    );
    // Without changing a byte.
    assert!(read_all_at(&f, 0, size as usize) == data);

    f.sync_range(0, size).unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after sync_range over the file");
    assert!(fs::read(&path).unwrap() == data);
}

/// After `sync_range`, the pages of the range are clean (written back and
/// write-protected); pages elsewhere (in another folio: far away) stay
/// dirty until their own sync. `sync_range_async` starts the writeback,
/// which cleans them shortly.
#[test]
fn sync_range_cleans_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let size = 16 * MIB;
    let path = make_file(dir.path(), "sync", &pattern(0, size as usize));
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw(&path);
    assert_eq!(dirty_kb(&path), 0);

    let far = 8 * MIB;
    f.write_all_at(b"near", 100).unwrap();
    f.write_all_at(b"far", far + 100).unwrap();
    let both = dirty_kb(&path);
    assert!(both > 0, "nothing dirty after two writes");

    f.sync_range(0, 4096).unwrap();
    let one = dirty_kb(&path);
    assert!(
        one > 0 && one < both,
        "dirty after syncing the first page: {one} kB (was {both} kB)"
    );
    f.sync_range(far + 100, 3).unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after syncing both writes");

    let mut want = pattern(0, size as usize);
    want[100..104].copy_from_slice(b"near");
    want[far as usize + 100..far as usize + 103].copy_from_slice(b"far");
    assert!(fs::read(&path).unwrap() == want);

    // Async: starts writeback of the range; the pages turn clean.
    f.write_all_at(b"again", 200).unwrap();
    f.write_all_at(b"again", far + 200).unwrap();
    assert!(dirty_kb(&path) > 0);
    f.sync_range_async(0, size).unwrap();
    let mut left = 0;
    let cleaned = eventually(5, || {
        left = dirty_kb(&path);
        left == 0
    });
    assert!(cleaned, "dirty 5 s after sync_range_async: {left} kB");

    // Async over a range only: the far page stays dirty.
    f.write_all_at(b"third", 300).unwrap();
    f.write_all_at(b"third", far + 300).unwrap();
    let both = dirty_kb(&path);
    f.sync_range_async(300, 5).unwrap();
    let mut one = 0;
    let cleaned = eventually(5, || {
        one = dirty_kb(&path);
        one < both
    });
    assert!(
        cleaned && one > 0,
        "dirty after sync_range_async of the first page: {one} kB (was {both} kB)"
    );
}

#[test]
fn sync_ranges_are_clamped_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let size = 64 * KIB;
    let path = make_file(dir.path(), "clamp", &pattern(0, size as usize));
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw(&path);
    f.write_all_at(b"tail", size - 4).unwrap();
    assert!(dirty_kb(&path) > 0);
    // From inside the file to far past its end: clamped, and it cleans the
    // part that exists.
    f.sync_range(size - 10, 1 << 40).unwrap();
    assert_eq!(dirty_kb(&path), 0);
    f.sync_range_async(size - 10, 1 << 40).unwrap();
    // Entirely past the end, or empty: nothing to do, no error.
    f.sync_range(size + 4096, 4096).unwrap();
    f.sync_range(10 * MIB, 1 << 30).unwrap();
    f.sync_range(0, 0).unwrap();
    f.sync_range_async(size + 4096, 4096).unwrap();
    f.sync_range_async(0, 0).unwrap();
    // The whole of a large region that is all past the end.
    f.sync_range(i64::MAX as u64 - 10, 10).unwrap();
    // The same for the other range controls.
    f.advise_range(Advice::WillNeed, size + 4096, 1 << 40)
        .unwrap();
    f.lock_memory_range(size + 4096, 1 << 40).unwrap();
    assert_eq!(locked_kb(&path), 0);
    // Past off_t: EINVAL, as for pread.
    for e in [
        f.sync_range(i64::MAX as u64, 2).unwrap_err(),
        f.sync_range_async(u64::MAX, 1).unwrap_err(),
        f.advise_range(Advice::Normal, i64::MAX as u64, 2)
            .unwrap_err(),
        f.lock_memory_range(1, u64::MAX).unwrap_err(),
    ] {
        assert_eq!(e.raw_os_error(), Some(22), "{e}");
    }
    // An empty file.
    let empty = make_file(dir.path(), "empty", b"");
    let e = rw(&empty);
    e.sync_range(0, 1 << 20).unwrap();
    e.sync_range_async(0, 1 << 20).unwrap();
    e.lock_memory().unwrap();
    e.unlock_memory().unwrap();
    e.advise(Advice::DontNeed).unwrap();
    assert!(fs::read(&path).unwrap().ends_with(b"tail"));
}

// ---------------------------------------------------------------------------
// lock_memory
// ---------------------------------------------------------------------------

#[test]
fn lock_memory_shows_in_locked_and_unlock_memory_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let size = MIB;
    let path = make_file(dir.path(), "locked", &pattern(0, size as usize));
    let f = rw(&path);
    assert_eq!(locked_kb(&path), 0);

    f.lock_memory().unwrap();
    assert_eq!(locked_kb(&path), size / KIB, "Locked after lock_memory");
    let window = newest_window(&path);
    assert!(covering(&window, 0, size).iter().all(|v| v.has("lo")));
    assert!(
        covering(&window, size, u64::MAX)
            .iter()
            .all(|v| !v.has("lo"))
    );

    // Pages the file grows into are not locked (documented).
    f.write_all_at(&pattern(size, size as usize), size).unwrap();
    assert_eq!(locked_kb(&path), size / KIB, "Locked after growing");

    f.unlock_memory().unwrap();
    assert_eq!(locked_kb(&path), 0, "Locked after unlock_memory");
    assert!(vmas_of(&path).iter().all(|v| !v.has("lo")));

    // A range: its pages only.
    f.lock_memory_range(4096 + 1, 8192).unwrap();
    let want = (4096u64 + 1 + 8192).div_ceil(page()) * page() - 4096 / page() * page();
    assert_eq!(
        locked_kb(&path),
        want / KIB,
        "Locked after lock_memory_range"
    );
    f.unlock_memory().unwrap();
    assert_eq!(locked_kb(&path), 0);
    assert!(read_all_at(&f, 0, 2 * size as usize) == pattern(0, 2 * size as usize));
}

const MEMLOCK_TEST: &str = "lock_memory_is_refused_under_a_small_memlock_limit";
const MEMLOCK_PATH_ENV: &str = "MMAPFILE_CONTROLS_MEMLOCK_FILE";
const MEMLOCK_LIMIT: u64 = 64 * KIB;

/// The wrapper that runs a child without `CAP_IPC_LOCK` under a 64 KiB
/// `RLIMIT_MEMLOCK`, if this machine has one.
fn memlock_wrapper() -> Option<Vec<&'static str>> {
    let limit = "--memlock=65536";
    let candidates: Vec<Vec<&'static str>> = if uid() == 0 {
        vec![vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "prlimit",
            limit,
        ]]
    } else {
        vec![vec!["prlimit", limit]]
    };
    candidates.into_iter().find(|w| {
        Command::new(w[0])
            .args(&w[1..])
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn memlock_child() {
    let path = PathBuf::from(std::env::var(MEMLOCK_PATH_ENV).unwrap());
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .unwrap();
    println!("child: uid {}, {line}", uid());
    let f = rw(&path);
    assert!(f.is_mapped());
    let size = f.len().unwrap();
    assert!(size > MEMLOCK_LIMIT);

    let e = f.lock_memory().unwrap_err();
    println!("child: lock_memory: {e} ({:?})", e.kind());
    assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "{e}");
    assert!(e.to_string().contains("RLIMIT_MEMLOCK"), "{e}");
    assert_eq!(locked_kb(&path), 0, "a refused lock locked something");

    // The process carries on: I/O works, and a lock within the limit holds.
    f.write_all_at(b"still here", 0).unwrap();
    assert_eq!(read_all_at(&f, 0, 10), b"still here");
    f.lock_memory_range(0, 1).unwrap();
    assert_eq!(locked_kb(&path), page() / KIB);
    f.unlock_memory().unwrap();
    assert_eq!(locked_kb(&path), 0);
    let e = f.region(0, size).unwrap().lock_memory().unwrap_err();
    assert!(e.to_string().contains("RLIMIT_MEMLOCK"), "{e}");
    println!("child: memlock refusal observed");
}

#[test]
fn lock_memory_is_refused_under_a_small_memlock_limit() {
    if child_mode(MEMLOCK_TEST).is_some() {
        memlock_child();
        return;
    }
    let Some(wrapper) = memlock_wrapper() else {
        println!(
            "skipped: cannot run a child without CAP_IPC_LOCK under RLIMIT_MEMLOCK \
             (setpriv/prlimit missing or refused)"
        );
        return;
    };
    // A file the unprivileged child can open read-write.
    let dir = tempfile::Builder::new()
        .prefix("mmapfile-controls-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = make_file(dir.path(), "locked", &pattern(0, MIB as usize));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();

    let out = wrapped_child(&wrapper, MEMLOCK_TEST, "")
        .env(MEMLOCK_PATH_ENV, &path)
        .output()
        .unwrap();
    let text = describe(&out);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(i) = line.find("child:") {
            println!("{}", &line[i..]);
        }
    }
    assert!(out.status.success(), "child failed: {text}");
    assert!(
        text.contains("child: memlock refusal observed"),
        "the child did not run the test: {text}"
    );
    // The child's write reached the file.
    assert!(fs::read(&path).unwrap().starts_with(b"still here"));
}

// ---------------------------------------------------------------------------
// private
// ---------------------------------------------------------------------------

#[test]
fn private_writes_stay_in_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 10_000);
    let path = make_file(dir.path(), "private", &orig);
    let unchanged = |what: &str| {
        assert!(
            fs::read(&path).unwrap() == orig,
            "the file changed after {what}"
        );
    };
    let mut p = MmapFile::options()
        .read(true)
        .write(true)
        .private(true)
        .reserve(4096)
        .open(&path)
        .unwrap();
    assert!(p.is_mapped());
    let mut want = orig.clone();

    p.write_all_at(b"PRIVATE", 100).unwrap();
    want[100..107].copy_from_slice(b"PRIVATE");
    p.write_all(b"cursor").unwrap();
    want[..6].copy_from_slice(b"cursor");
    assert!(read_all_at(&p, 0, 20_000) == want);
    unchanged("write_at and write");

    // A shared handle of the same file sees the file, not the private bytes.
    let shared = MmapFile::open(&path).unwrap();
    assert!(read_all_at(&shared, 0, 20_000) == orig);

    // set_len: shrink, then grow again (zeros), all in the handle.
    p.set_len(5000).unwrap();
    want.truncate(5000);
    assert_eq!(p.len().unwrap(), 5000);
    assert!(read_all_at(&p, 0, 20_000) == want);
    assert_eq!(read_all_at(&p, 5000, 10), b"");
    p.set_len(8000).unwrap();
    want.resize(8000, 0);
    assert!(read_all_at(&p, 0, 20_000) == want);
    unchanged("set_len");
    assert_eq!(fs::metadata(&path).unwrap().len(), orig.len() as u64);

    // Appends far past the 4 KiB reserve: moved to larger windows, carrying
    // the handle's bytes over.
    let windows_before = windows(&vmas_of(&path)).len();
    p.seek(SeekFrom::End(0)).unwrap();
    for chunk in pattern(8000, 2 * MIB as usize).chunks(100_000) {
        p.write_all(chunk).unwrap();
    }
    want.extend(pattern(8000, 2 * MIB as usize));
    assert_eq!(p.len().unwrap(), want.len() as u64);
    assert!(read_all_at(&p, 0, want.len() + 10) == want);
    let mut back = Vec::new();
    p.rewind().unwrap();
    p.read_to_end(&mut back).unwrap();
    assert!(back == want);
    unchanged("appending past the reserve");
    // The current private window is mostly anonymous memory, so the remap
    // shows as a new file-backed entry at offset 0.
    let windows_after = windows(&vmas_of(&path)).len();
    assert!(
        windows_after > windows_before,
        "no new window after appending 2 MiB past a 4 KiB reserve \
         ({windows_before} -> {windows_after})"
    );

    // Nothing to write back.
    p.flush().unwrap();
    p.sync_all().unwrap();
    p.sync_data().unwrap();
    p.sync_range(0, u64::MAX >> 2).unwrap();
    p.sync_range_async(0, 1 << 30).unwrap();
    unchanged("flush and the syncs");
    assert_eq!(p.metadata().unwrap().len(), orig.len() as u64);

    // DontNeed would throw the handle's writes away: refused.
    for e in [
        p.advise(Advice::DontNeed).unwrap_err(),
        p.advise_range(Advice::DontNeed, 0, 10).unwrap_err(),
        p.region(0, 4096)
            .unwrap()
            .advise(Advice::DontNeed)
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
    // Other advice is fine and harmless.
    p.advise(Advice::Random).unwrap();
    p.advise(Advice::PopulateRead).unwrap();
    assert!(read_all_at(&p, 0, want.len()) == want);

    drop(p);
    unchanged("dropping the handle");
    assert!(read_all_at(&shared, 0, 20_000) == orig);
}

#[test]
fn read_only_private_handle_refuses_writes_like_file() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 5000);
    let path = make_file(dir.path(), "ro-private", &orig);
    let p = MmapFile::options()
        .read(true)
        .private(true)
        .open(&path)
        .unwrap();
    let file = File::open(&path).unwrap();
    assert!(p.is_mapped());
    assert!(read_all_at(&p, 0, 10_000) == orig);

    let same = |ours: io::Error, std: io::Error, what: &str| {
        assert_eq!(
            (ours.kind(), ours.raw_os_error()),
            (std.kind(), std.raw_os_error()),
            "{what}: ours {ours}, File's {std}"
        );
    };
    same(
        p.write_at(b"x", 0).unwrap_err(),
        file.write_at(b"x", 0).unwrap_err(),
        "write_at",
    );
    same(
        (&p).write(b"x").unwrap_err(),
        (&file).write(b"x").unwrap_err(),
        "write",
    );
    same(
        (&p).write_vectored(&[IoSlice::new(b"x")]).unwrap_err(),
        (&file).write_vectored(&[IoSlice::new(b"x")]).unwrap_err(),
        "write_vectored",
    );
    same(
        p.set_len(10).unwrap_err(),
        file.set_len(10).unwrap_err(),
        "set_len",
    );
    assert_eq!(p.len().unwrap(), orig.len() as u64);
    assert!(fs::read(&path).unwrap() == orig);
}

// ---------------------------------------------------------------------------
// protect
// ---------------------------------------------------------------------------

fn assert_denied(r: io::Result<usize>, what: &str) {
    match r {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{what}: {e}"),
        Ok(n) => panic!("{what}: wrote {n} bytes through a read-only mapping"),
    }
}

#[test]
fn protect_read_only_refuses_writes_through_every_handle() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 8192);
    let path = make_file(dir.path(), "protected", &orig);
    let f = rw(&path);
    let clone = f.try_clone().unwrap();
    let before = rw(&path); // opened before protect; shares the mapping
    assert!(vmas_of(&path).iter().all(|v| v.perms == "rw-s"));

    f.protect(Protection::ReadOnly).unwrap();
    let after = rw(&path); // opened after protect; shares it too
    let vmas = vmas_of(&path);
    assert!(!vmas.is_empty());
    assert!(
        vmas.iter().all(|v| v.perms == "r--s"),
        "the mapping is not read-only: {:?}",
        vmas.iter().map(|v| &v.perms).collect::<Vec<_>>()
    );

    assert_denied((&f).write(b"x"), "write");
    assert_denied(f.write_at(b"x", 10), "write_at");
    assert_denied((&f).write_all(b"xyz").map(|()| 3), "write_all");
    assert_denied(
        (&f).write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")]),
        "write_vectored",
    );
    assert_denied(f.write_at(b"append", 8192), "write_at at the end");
    assert_denied(
        f.write_at(&[1; 1 << 20], 1 << 20),
        "write_at far past the end",
    );
    assert_denied(clone.write_at(b"x", 0), "write_at through a clone");
    assert_denied(
        before.write_at(b"x", 0),
        "write_at through a handle opened before",
    );
    assert_denied(
        after.write_at(b"x", 0),
        "write_at through a handle opened after",
    );
    assert_denied(
        f.region(0, 100).unwrap().write_at(b"x", 0),
        "write_at through a region",
    );

    // Nothing changed, in the mapping or the file; reads work.
    assert_eq!(f.len().unwrap(), 8192);
    assert!(read_all_at(&f, 0, 10_000) == orig);
    assert!(read_all_at(&after, 0, 10_000) == orig);
    assert!(fs::read(&path).unwrap() == orig);
    assert_eq!((&f).stream_position().unwrap(), 0);

    // set_len goes through the file.
    f.set_len(10_000).unwrap();
    assert_eq!(f.len().unwrap(), 10_000);
    assert_eq!(fs::metadata(&path).unwrap().len(), 10_000);
    assert!(read_all_at(&f, 8192, 10_000) == vec![0; 10_000 - 8192]);
    f.set_len(8192).unwrap();
    assert!(fs::read(&path).unwrap() == orig);

    // Back to read-write: every handle writes again.
    clone.protect(Protection::ReadWrite).unwrap();
    assert!(vmas_of(&path).iter().all(|v| v.perms == "rw-s"));
    f.write_all_at(b"f", 0).unwrap();
    clone.write_all_at(b"c", 1).unwrap();
    before.write_all_at(b"b", 2).unwrap();
    after.write_all_at(b"a", 3).unwrap();
    (&f).write_all(b"W").unwrap(); // the cursor is at 0
    assert_eq!(read_all_at(&f, 0, 4), b"Wcba");
    let mut want = orig.clone();
    want[..4].copy_from_slice(b"Wcba");
    drop((f, clone, before, after));
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn protect_read_write_on_a_read_only_handle_is_ebadf() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_file(dir.path(), "ro", &pattern(0, 4096));
    let r = MmapFile::open(&path).unwrap();
    assert!(r.is_mapped());
    let e = r.protect(Protection::ReadWrite).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(9), "{e}");
    assert!(vmas_of(&path).iter().all(|v| v.perms == "r--s"));
    assert!(read_all_at(&r, 0, 5000) == pattern(0, 4096));
}

// ---------------------------------------------------------------------------
// region
// ---------------------------------------------------------------------------

#[test]
fn region_reads_the_right_bytes_across_remaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("region");
    let mut f = MmapFile::options()
        .read(true)
        .write(true)
        .create_new(true)
        .reserve(4096)
        .open(&path)
        .unwrap();
    let path = path.canonicalize().unwrap();
    f.write_all(&pattern(0, 8192)).unwrap();
    let mut want = pattern(0, 8192);

    let r = f.region(5000, 100).unwrap();
    assert_eq!((r.offset(), r.len(), r.is_empty()), (5000, 100, false));
    assert_eq!(r.write_at(b"hello region", 0).unwrap(), 12);
    want[5000..5012].copy_from_slice(b"hello region");
    // A region past the current end: nothing to read yet.
    let later = f.region(3 * MIB, 16).unwrap();
    let mut buf = [0; 16];
    assert_eq!(later.read_at(&mut buf, 0).unwrap(), 0);

    let windows_before = windows(&vmas_of(&path)).len();
    // Under a page, so that the appends go through the mapping.
    for chunk in pattern(8192, (4 * MIB - 8192) as usize).chunks(2 * KIB as usize) {
        (&f).write_all(chunk).unwrap();
    }
    want.extend(pattern(8192, (4 * MIB - 8192) as usize));
    let windows_after = windows(&vmas_of(&path)).len();
    assert!(
        windows_after >= windows_before + 3,
        "appending 4 MiB past a 4 KiB reserve made {windows_before} -> {windows_after} windows"
    );

    let mut buf = [0; 100];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 100);
    assert_eq!(&buf[..], &want[5000..5100]);
    assert_eq!(later.read_at(&mut buf[..16], 0).unwrap(), 16);
    assert_eq!(&buf[..16], &want[3 * MIB as usize..3 * MIB as usize + 16]);

    // Writes through the region land in the current window.
    assert_eq!(r.write_at(b"after", 50).unwrap(), 5);
    want[5050..5055].copy_from_slice(b"after");
    assert_eq!(later.write_at(b"later", 3).unwrap(), 5);
    want[3 * MIB as usize + 3..3 * MIB as usize + 8].copy_from_slice(b"later");
    assert!(read_all_at(&f, 0, want.len() + 1) == want);
    f.flush().unwrap();
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn region_io_stops_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let orig = pattern(0, 4096);
    let path = make_file(dir.path(), "bounds", &orig);
    let f = rw(&path);
    let r = f.region(1000, 10).unwrap();
    let mut want = orig.clone();

    // Cut at the end.
    assert_eq!(r.write_at(&[0xEE; 20], 5).unwrap(), 5);
    want[1005..1010].fill(0xEE);
    assert!(
        read_all_at(&f, 0, 5000) == want,
        "bytes past the region changed"
    );
    // Starting at or past the end: InvalidInput, nothing written.
    for at in [10, 11, 1 << 40] {
        let e = r.write_at(b"x", at).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "write at {at}: {e}");
    }
    assert_eq!(r.write_at(b"", 10).unwrap(), 0);
    assert!(read_all_at(&f, 0, 5000) == want);
    assert_eq!(f.len().unwrap(), 4096);

    // Reads stop at the end.
    let mut buf = [0; 20];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 10);
    assert_eq!(&buf[..10], &want[1000..1010]);
    assert_eq!(r.read_at(&mut buf, 5).unwrap(), 5);
    assert_eq!(&buf[..5], &want[1005..1010]);
    assert_eq!(r.read_at(&mut buf, 10).unwrap(), 0);
    assert_eq!(r.read_at(&mut buf, 1 << 40).unwrap(), 0);

    // ... and at the file's end, for a region reaching past it.
    let tail = f.region(4090, 100).unwrap();
    assert_eq!(tail.read_at(&mut buf, 0).unwrap(), 6);
    assert_eq!(&buf[..6], &want[4090..]);

    let empty = f.region(10, 0).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.read_at(&mut buf, 0).unwrap(), 0);
    assert_eq!(
        empty.write_at(b"x", 0).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );

    // A region that does not fit in off_t: EINVAL.
    let e = f.region(i64::MAX as u64, 2).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(22), "{e}");
    (&f).flush().unwrap();
    assert!(fs::read(&path).unwrap() == want);
}

#[test]
fn region_controls_act_on_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let size = MIB;
    let data = pattern(0, size as usize);
    let path = make_file(dir.path(), "region-controls", &data);
    File::open(&path).unwrap().sync_all().unwrap();
    let f = rw(&path);
    let (at, len) = (256 * KIB, 256 * KIB);
    let r = f.region(at, len).unwrap();

    r.lock_memory().unwrap();
    assert_eq!(
        locked_kb(&path),
        len / KIB,
        "Locked after Region::lock_memory"
    );
    let window = newest_window(&path);
    let locked: Vec<_> = window.iter().filter(|v| v.has("lo")).collect();
    assert_eq!(locked.len(), 1, "{window:?}");
    assert_eq!(locked[0].file_range(), (at, at + len));
    f.unlock_memory().unwrap();
    assert_eq!(locked_kb(&path), 0);

    f.advise(Advice::PopulateRead).unwrap();
    assert!(rss_kb(&path) >= size / KIB * 95 / 100);
    r.advise(Advice::DontNeed).unwrap();
    let rss = rss_kb(&path);
    assert!(
        rss <= (size - len) / KIB + 16 && rss + 64 >= (size - len) / KIB,
        "Rss after Region::advise(DontNeed) of 256 KiB of 1 MiB: {rss} kB"
    );

    r.advise(Advice::Random).unwrap();
    let window = newest_window(&path);
    let random: Vec<_> = window.iter().filter(|v| v.has("rr")).collect();
    assert_eq!(random.len(), 1, "{window:?}");
    assert_eq!(random[0].file_range(), (at, at + len));

    r.write_at(b"dirty", 10).unwrap();
    assert!(dirty_kb(&path) > 0);
    r.sync().unwrap();
    assert_eq!(dirty_kb(&path), 0, "dirty after Region::sync");
    let mut want = data.clone();
    want[at as usize + 10..at as usize + 15].copy_from_slice(b"dirty");
    assert!(fs::read(&path).unwrap() == want);
}

// ---------------------------------------------------------------------------
// anonymous
// ---------------------------------------------------------------------------

#[test]
fn anonymous_file_has_the_whole_api() {
    let mut a = MmapFile::anonymous().unwrap();
    assert!(a.is_mapped());
    assert_eq!(a.len().unwrap(), 0);

    a.write_all(b"hello anonymous").unwrap();
    a.seek(SeekFrom::Start(6)).unwrap();
    let mut s = String::new();
    a.read_to_string(&mut s).unwrap();
    assert_eq!(s, "anonymous");

    a.set_len(4).unwrap();
    a.rewind().unwrap();
    let mut v = Vec::new();
    a.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"hell");
    a.set_len(10_000).unwrap();
    assert_eq!(read_all_at(&a, 9990, 100), vec![0; 10]);
    a.write_all_at(b"far", 20_000).unwrap();
    assert_eq!(a.len().unwrap(), 20_003);
    let mut want = b"hell".to_vec();
    want.resize(20_000, 0);
    want.extend_from_slice(b"far");
    assert!(read_all_at(&a, 0, 30_000) == want);

    // Clones share the cursor.
    let c = a.try_clone().unwrap();
    (&c).seek(SeekFrom::Start(2)).unwrap();
    assert_eq!(a.stream_position().unwrap(), 2);
    assert_eq!(read_all_at(&c, 0, 4), b"hell");

    // The controls work on it too.
    a.advise(Advice::PopulateRead).unwrap();
    a.sync_range(0, 1 << 20).unwrap();
    a.lock_memory().unwrap();
    a.unlock_memory().unwrap();

    // The mapping is a memfd named after the crate.
    let ino = a.metadata().unwrap().ino();
    let vmas: Vec<_> = smaps()
        .into_iter()
        .filter(|v| v.inode == ino && v.path.starts_with("/memfd:"))
        .collect();
    assert!(!vmas.is_empty(), "no memfd mapping with inode {ino}");
    for v in &vmas {
        assert!(v.path.starts_with("/memfd:mmapfile"), "{}", v.path);
    }
    assert!(total(&vmas, "Rss") > 0);

    // into_file: the same bytes and length, the offset at the cursor.
    drop(c);
    a.seek(SeekFrom::Start(3)).unwrap();
    let mut file = a.into_file().unwrap();
    assert_eq!(file.stream_position().unwrap(), 3);
    assert_eq!(file.metadata().unwrap().len(), want.len() as u64);
    file.rewind().unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert!(back == want);
}

// ---------------------------------------------------------------------------
// Unmapped handles
// ---------------------------------------------------------------------------

#[test]
fn unmapped_handles_refuse_the_controls() {
    let dir = tempfile::tempdir().unwrap();
    let handles = [
        (
            "/proc/self/status",
            MmapFile::open("/proc/self/status").unwrap(),
        ),
        ("a directory", MmapFile::open(dir.path()).unwrap()),
    ];
    for (what, f) in &handles {
        assert!(!f.is_mapped(), "{what} is mapped");
        let r = f.region(0, 100).unwrap();
        let results: [(&str, io::Result<()>); 13] = [
            ("advise", f.advise(Advice::WillNeed)),
            ("advise_range", f.advise_range(Advice::Random, 0, 10)),
            ("advise(DontNeed)", f.advise(Advice::DontNeed)),
            ("sync_range", f.sync_range(0, 10)),
            ("sync_range_async", f.sync_range_async(0, 10)),
            ("lock_memory", f.lock_memory()),
            ("lock_memory_range", f.lock_memory_range(0, 10)),
            ("unlock_memory", f.unlock_memory()),
            ("protect(ReadOnly)", f.protect(Protection::ReadOnly)),
            ("protect(ReadWrite)", f.protect(Protection::ReadWrite)),
            ("Region::advise", r.advise(Advice::Normal)),
            ("Region::sync", r.sync()),
            ("Region::lock_memory", r.lock_memory()),
        ];
        for (name, result) in results {
            match result {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{what}: {name}: {e}"),
                Ok(()) => panic!("{what}: {name} succeeded on an unmapped handle"),
            }
        }
    }
    // A region of an unmapped file still reads, through system calls.
    let (_, status) = &handles[0];
    let mut buf = [0; 5];
    assert_eq!(
        status.region(0, 5).unwrap().read_at(&mut buf, 0).unwrap(),
        5
    );
    assert_eq!(&buf, b"Name:");
}
