//! Issue 11, rows 13, 16, 17 and 18, and "What must hold" item 8: private
//! handles (`OpenOptions::private(true)`) as a backend of their own.
//!
//! A private handle reads the file and keeps its own writes and length in
//! memory, never in the file. `File` has no such mode; its results are
//! those of a `File` on a copy of the file, which is what a private handle
//! promises to look like, and the original file must stay as it was. So
//! each test runs the same calls on a `File` of a copy and on a private
//! `MmapFile` of the original, and compares.
//!
//! - row 13: `protect(ReadOnly)`, then `set_len(5000)`: `Ok` (`File`'s
//!   `set_len` on the copy), never a crash (MmapFile today: SIGSEGV from
//!   safe calls, as the shrink zeroes the tail through the read-only
//!   mapping). In a child process.
//! - row 16: `write(true).private(true)` without read: `write_at` and
//!   `set_len(2)` give `File`'s results and the file is untouched (today:
//!   the handle cannot be mapped, falls back to system calls and writes the
//!   real file).
//! - row 17: length 5 or 6000 (and other unaligned lengths),
//!   `set_len(len - 3)`: `Ok`, the length is `len - 3`, growing again reads
//!   zeros (today: `EINVAL` after the tail was zeroed; `len()` unchanged).
//! - row 18 and "no leaked mappings on any error path": the file cut to 0
//!   under a private handle, 200 x `write_at` past 1 GiB: whatever each
//!   returns, the address space does not grow by a window per call (today:
//!   `ENOMEM` each time and some 2 GiB more each, never unmapped), and once
//!   every handle is dropped, everything the crate mapped is unmapped. In a
//!   child process, whose address space only the test uses.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::{Advice, MmapFile, Protection};

mod common;
use common::child::{child, child_mode, describe};
use common::outsider::{Diffs, Opts, outcome, picture};

/// The byte at `offset` of the test files: never zero.
fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

fn make_file(path: &Path, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len as u64).map(pat).collect();
    fs::write(path, &bytes).unwrap();
    bytes
}

/// The calls the private-handle scenarios make, on a `File` (of a copy)
/// or a private `MmapFile`.
trait Handle: Read + Write + Seek + FileExt {
    fn set_len(&self, n: u64) -> io::Result<()>;
    /// `File`: `metadata().len()`; a private `MmapFile`: `len()`, its own.
    fn length(&self) -> io::Result<u64>;
}

impl Handle for File {
    fn set_len(&self, n: u64) -> io::Result<()> {
        File::set_len(self, n)
    }
    fn length(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
}

impl Handle for MmapFile {
    fn set_len(&self, n: u64) -> io::Result<()> {
        MmapFile::set_len(self, n)
    }
    fn length(&self) -> io::Result<u64> {
        self.len()
    }
}

fn read_all(h: &dyn Handle, from: u64, len: usize) -> String {
    let mut buf = vec![0xff; len];
    let r = h.read_at(&mut buf, from);
    match r {
        Ok(n) => format!(
            "read_at({len} @ {from}): Ok({n}) {}",
            picture_of(&buf[..n], from)
        ),
        Err(e) => format!("read_at({len} @ {from}): {}", outcome::<()>(&Err(e))),
    }
}

/// A picture where the file's own pattern shows as `<N file bytes>`.
fn picture_of(bytes: &[u8], from: u64) -> String {
    let same = bytes
        .iter()
        .zip(from..)
        .take_while(|&(&b, o)| b == pat(o))
        .count();
    if same == bytes.len() {
        format!("<{same} file bytes>")
    } else {
        format!("<{same} file bytes> then {}", picture(&bytes[same..]))
    }
}

/// Opens the twins: a `File` on a copy of `original` with `opts`, and a
/// private `MmapFile` on `original` with `opts`.
fn twins(original: &Path, copy: &Path, opts: Opts) -> (io::Result<File>, io::Result<MmapFile>) {
    fs::copy(original, copy).unwrap();
    let file = opts.std().open(copy);
    let mmap = opts.mmap().private(true).open(original);
    (file, mmap)
}

// ---------------------------------------------------------------------------
// Row 13: protect(ReadOnly), then set_len, in a child process
// ---------------------------------------------------------------------------

/// The steps after `protect`, on either twin.
fn after_protect(h: &dyn Handle, size: u64, len: usize) -> Vec<String> {
    vec![
        format!("set_len({size}): {}", outcome(&h.set_len(size))),
        format!("length: {}", outcome(&h.length())),
        read_all(h, 0, len + 100),
        format!("set_len({len}): {}", outcome(&h.set_len(len as u64))),
        read_all(h, 0, len + 100),
    ]
}

const ROW13: [(&str, usize, u64); 4] = [
    ("shrink 10000 to 5000", 10_000, 5000),
    ("shrink 6000 to 5000", 6000, 5000),
    ("shrink 8192 to 4096", 8192, 4096),
    ("grow 100 to 5000", 100, 5000),
];

fn row13_child(case: &str) {
    let &(_, len, size) = ROW13.iter().find(|c| c.0 == case).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let original = make_file(&path, len);
    let h = Opts::rw().mmap().private(true).open(&path).unwrap();
    println!(
        "RESULT protect(ReadOnly): {}",
        outcome(&h.protect(Protection::ReadOnly))
    );
    for line in after_protect(&h, size, len) {
        println!("RESULT {line}");
    }
    drop(h);
    let untouched = fs::read(&path).unwrap() == original;
    println!("RESULT file untouched: {untouched}");
}

/// Row 13: a private handle, `protect(ReadOnly)`, `set_len`: File's results
/// (on a copy), no crash, the file untouched.
#[test]
fn protect_then_set_len_on_a_private_handle_never_crashes() {
    const TEST: &str = "protect_then_set_len_on_a_private_handle_never_crashes";
    if let Some(case) = child_mode(TEST) {
        row13_child(&case);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for (case, len, size) in ROW13 {
        make_file(&dir.path().join("original"), len);
        let copy = dir.path().join("copy");
        fs::copy(dir.path().join("original"), &copy).unwrap();
        let file = Opts::rw().std().open(&copy).unwrap();
        let mut expected = vec!["protect(ReadOnly): Ok(())".to_string()];
        expected.extend(after_protect(&file, size, len));
        expected.push("file untouched: true".into());
        let out = child(TEST, case).output().unwrap();
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.find("RESULT ").map(|i| l[i + 7..].to_string()))
            .collect();
        if !out.status.success() || got != expected {
            diffs.fail(format!(
                "{case}:\n    File (on a copy) gave {expected:?}\n    private MmapFile gave {got:?}, {}",
                describe(&out).lines().next().unwrap_or_default()
            ));
        }
    }
    diffs.check("protect(ReadOnly), then set_len, on a private handle");
}

// ---------------------------------------------------------------------------
// Row 16: a write-only private handle
// ---------------------------------------------------------------------------

fn write_only_steps(h: &mut dyn Handle) -> Vec<String> {
    let mut buf = [0u8; 4];
    vec![
        format!("write_at(XY, 0): {}", outcome(&h.write_at(b"XY", 0))),
        format!("write(abc): {}", outcome(&h.write(b"abc"))),
        format!("set_len(2): {}", outcome(&h.set_len(2))),
        format!(
            "write_at(far, 100000): {}",
            outcome(&h.write_at(b"far", 100_000))
        ),
        format!("read_at: {}", outcome(&h.read_at(&mut buf, 0))),
        format!("read: {}", outcome(&h.read(&mut buf))),
        format!("seek(End(0)): {}", outcome(&h.seek(SeekFrom::End(0)))),
    ]
}

/// Row 16: `write(true).private(true)` without read: File's results (on a
/// copy), and the original file untouched.
#[test]
fn a_write_only_private_handle_never_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let before = make_file(&original, 10_000);
    let mut diffs = Diffs::default();
    let write_only = Opts {
        write: true,
        ..Opts::default()
    };
    let (file, mmap) = twins(&original, &dir.path().join("copy"), write_only);
    let (mut file, mut mmap) = (file.unwrap(), mmap.unwrap());
    let f = write_only_steps(&mut file);
    let m = write_only_steps(&mut mmap);
    for (f, m) in f.iter().zip(&m) {
        diffs.same(f.split(':').next().unwrap(), f, m);
    }
    drop(mmap);
    let after = fs::read(&original).unwrap();
    if after != before {
        diffs.fail(format!(
            "the original file changed under a private handle: now {}",
            picture_of(&after, 0)
        ));
    }
    diffs.check("a write-only private handle");
}

// ---------------------------------------------------------------------------
// Row 17: unaligned shrinks of a private handle
// ---------------------------------------------------------------------------

fn shrink_steps(h: &mut dyn Handle, len: u64) -> Vec<String> {
    let short = len - 3;
    let mut seen = vec![
        format!("set_len({short}): {}", outcome(&h.set_len(short))),
        format!("length: {}", outcome(&h.length())),
        read_all(h, 0, len as usize + 10),
        format!("seek(End(0)): {}", outcome(&h.seek(SeekFrom::End(0)))),
        format!("set_len({len}): {}", outcome(&h.set_len(len))),
        read_all(h, short.saturating_sub(2), 10),
        format!("length: {}", outcome(&h.length())),
    ];
    seen.push(format!(
        "write_at(z, {short}): {}",
        outcome(&h.write_at(b"z", short))
    ));
    seen.push(read_all(h, short.saturating_sub(2), 10));
    seen
}

/// Row 17: a private handle of an unaligned length, `set_len(len - 3)`:
/// File's results on a copy, the original untouched.
#[test]
fn a_private_handle_shrinks_to_any_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for len in [5u64, 6000, 4096, 4099, 8195, 100_000] {
        let original = dir.path().join(format!("original-{len}"));
        let before = make_file(&original, len as usize);
        let (file, mmap) = twins(
            &original,
            &dir.path().join(format!("copy-{len}")),
            Opts::rw(),
        );
        let (mut file, mut mmap) = (file.unwrap(), mmap.unwrap());
        let f = shrink_steps(&mut file, len);
        let m = shrink_steps(&mut mmap, len);
        for (f, m) in f.iter().zip(&m) {
            diffs.same(
                &format!("length {len}: {}", f.split(':').next().unwrap()),
                f,
                m,
            );
        }
        drop(mmap);
        if fs::read(&original).unwrap() != before {
            diffs.fail(format!("length {len}: the original file changed"));
        }
    }
    diffs.check("set_len(len - 3) on a private handle");
}

// ---------------------------------------------------------------------------
// Row 18 and leaked mappings, in a child process
// ---------------------------------------------------------------------------

/// This process's address space (`VmSize`), in KiB, and its number of
/// mappings.
fn address_space() -> (u64, usize) {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
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
    make_file(&path, 1 << 20);
    // The crate's once-only state (handler, registry) before the baseline.
    drop(MmapFile::open(&path).unwrap());
    let base = address_space();
    let h = Opts::rw().mmap().private(true).open(&path).unwrap();
    let mut buf = vec![0; 4096];
    h.read_exact_at(&mut buf, 0).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
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
    make_file(&path, 1 << 20);
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
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
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
        drop(MmapFile::open(&warm).unwrap());
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
