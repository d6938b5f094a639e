//! Reliability: the disk fills up, or the process hits its file-size limit.
//! A naive mapping dies of SIGBUS when a page cannot be backed; `MmapFile`
//! must return the error `File` returns (`ENOSPC`, `EFBIG`), keep every byte
//! it acknowledged, and leave the file exactly as long as what it
//! acknowledged.
//!
//! The full disk is a 1 MiB tmpfs mounted for the test (root only; skipped
//! with a message otherwise). The file-size limit is set on a child process
//! with `prlimit` (skipped if missing).

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mmapfile::MmapFile;

mod common;
use common::child::{child_mode, describe, wrapped_child};

const ENOSPC: i32 = 28;
const EFBIG: i32 = 27;
const SIGXFSZ: i32 = 25;

const DIR_ENV: &str = "MMAPFILE_FULL_DISK_DIR";

/// The byte the test files hold at `offset`: never zero.
fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pat).collect()
}

/// A tmpfs of the given size mounted on a fresh temporary directory,
/// unmounted when dropped (also when the test panics).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying so) where mounting is not allowed.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                println!(
                    "skipped: cannot mount tmpfs ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot mount tmpfs ({e})");
                None
            }
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Free bytes, as `statfs` reports them.
    fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut it = text.split_whitespace().map(|s| s.parse::<u64>().unwrap());
        it.next().unwrap() * it.next().unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it open (a failed test's handle): detach.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn kind(e: &io::Error) -> String {
    format!("{:?} (os error {:?})", e.kind(), e.raw_os_error())
}

/// Writes `chunk`-byte pieces of the pattern with `write` until it fails;
/// returns the bytes acknowledged, the error, and any `Ok(0)` seen.
fn fill(w: &mut dyn Write, chunk: usize, cap: u64) -> (u64, Option<io::Error>) {
    let mut acked = 0u64;
    loop {
        if acked > cap {
            return (acked, None);
        }
        match w.write(&pattern(acked, chunk)) {
            Ok(0) => panic!("write returned Ok(0) after {acked} bytes"),
            Ok(n) => {
                assert!(n <= chunk);
                acked += n as u64;
            }
            Err(e) => return (acked, Some(e)),
        }
    }
}

/// Every acknowledged byte is there, and nothing else.
fn check_contents(path: &Path, acked: u64, who: &str) {
    let got = fs::read(path).unwrap();
    assert_eq!(
        got.len() as u64,
        acked,
        "{who}: file length after close vs bytes acknowledged"
    );
    if let Some(i) = got
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pat(i as u64))
    {
        panic!(
            "{who}: acknowledged byte {i} is {:#04x}, written {:#04x}",
            got[i],
            pat(i as u64)
        );
    }
}

fn append_until_full(chunk: usize, append: bool, preallocate: bool) {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let capacity = fs.free();

    // MmapFile first, then File on the emptied file system.
    let mm_path = fs.path("mm");
    let mut mm = MmapFile::options()
        .read(true)
        .write(true)
        .append(append)
        .create(true)
        .preallocate(preallocate)
        .open(&mm_path)
        .unwrap();
    assert!(mm.is_mapped());
    let (mm_acked, mm_err) = fill(&mut mm, chunk, 4 * capacity);
    let mm_err = mm_err.unwrap_or_else(|| panic!("MmapFile: no error after {mm_acked} bytes"));
    // The next write fails the same way, and changes nothing.
    let again = mm.write(&pattern(mm_acked, chunk));
    assert_eq!(mm.len().unwrap(), mm_acked);
    drop(mm);
    check_contents(&mm_path, mm_acked, "MmapFile");
    fs::remove_file(&mm_path).unwrap();
    // A child forked meanwhile by a test running beside this one holds a
    // copy of the mapping until it execs: the space comes back after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fs.free() < capacity && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let fs_path = fs.path("fs");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .append(append)
        .create(true)
        .open(&fs_path)
        .unwrap();
    let (fs_acked, fs_err) = fill(&mut file, chunk, 4 * capacity);
    let fs_err = fs_err.unwrap();
    let fs_again = file.write(&pattern(fs_acked, chunk));
    drop(file);
    check_contents(&fs_path, fs_acked, "File");

    println!(
        "{chunk}-byte writes (append={append}, preallocate={preallocate}) \
         on a tmpfs of {capacity} bytes: \
         MmapFile acknowledged {mm_acked} then {}; File acknowledged {fs_acked} then {}",
        kind(&mm_err),
        kind(&fs_err)
    );
    assert_eq!(mm_err.kind(), ErrorKind::StorageFull, "{mm_err:?}");
    assert_eq!(mm_err.raw_os_error(), Some(ENOSPC));
    assert_eq!(
        again.map_err(|e| e.raw_os_error()),
        fs_again.map_err(|e| e.raw_os_error()),
        "the write after the first error"
    );
    assert_eq!(mm_acked, fs_acked, "bytes acknowledged: MmapFile vs File");
}

#[test]
fn append_4k_until_full() {
    append_until_full(4096, false, true);
}

#[test]
fn append_100_bytes_until_full() {
    append_until_full(100, false, true);
}

#[test]
fn append_mode_4k_until_full() {
    append_until_full(4096, true, true);
}

#[test]
fn append_mode_100_bytes_until_full() {
    append_until_full(100, true, true);
}

/// Sparse growth: the disk fills up on the first write to a page, which
/// faults in the copy routine; the write is redone by `pwrite`.
#[test]
fn sparse_growth_4k_until_full() {
    append_until_full(4096, false, false);
}

#[test]
fn sparse_growth_100_bytes_until_full() {
    append_until_full(100, false, false);
}

/// By default a growth step's blocks are allocated when it is taken (so the
/// disk cannot run out under a page already handed to a write); with
/// `preallocate(false)` the step is a hole, but for the first MiB, which is
/// faulted in ahead of the writes. Seen in `st_blocks` of the file while it
/// is padded, on tmpfs and on the temporary directory's file system.
#[test]
fn growth_steps_reserve_their_blocks() {
    use std::os::unix::fs::MetadataExt;
    let fs = Tmpfs::mount("64m");
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [fs.as_ref().map(|fs| fs.dir.path()), Some(tmp.path())];
    for dir in dirs.into_iter().flatten() {
        for preallocate in [true, false] {
            let path = dir.join(format!("grown-{preallocate}"));
            let mut mm = MmapFile::options()
                .read(true)
                .write(true)
                .create(true)
                .preallocate(preallocate)
                .open(&path)
                .unwrap();
            // Append until a step of 2 MiB or more has just been taken.
            let mut written = 0;
            let meta = loop {
                mm.write_all(&pattern(written, 4096)).unwrap();
                written += 4096;
                let meta = fs::metadata(&path).unwrap();
                if meta.len() >= written + (2 << 20) || written > 32 << 20 {
                    break meta;
                }
            };
            let allocated = meta.blocks() * 512;
            println!(
                "{}: preallocate={preallocate}: size on disk {}, allocated {allocated}",
                dir.display(),
                meta.len()
            );
            assert!(meta.len() >= written + (2 << 20), "a growth step is taken");
            if preallocate {
                assert!(allocated >= meta.len(), "the whole step is allocated");
            } else {
                assert!(allocated < meta.len(), "the step is a hole");
            }
            drop(mm);
            check_contents(&path, written, "MmapFile");
        }
    }
}

/// `set_len` far beyond what the file system holds, then reads of the hole.
#[test]
fn set_len_beyond_capacity_then_read_hole_matches_file() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    const BIG: u64 = 16 << 20;
    let mm_path = fs.path("mm");
    let fs_path = fs.path("fs");
    let mm = MmapFile::create_new(&mm_path).unwrap();
    let file = File::create_new(&fs_path).unwrap();
    let r_mm = mm.set_len(BIG).map_err(|e| kind(&e));
    let r_fs = file.set_len(BIG).map_err(|e| kind(&e));
    println!("set_len({BIG}) on a 1 MiB tmpfs: MmapFile {r_mm:?}, File {r_fs:?}");
    assert_eq!(r_mm, r_fs);
    assert_eq!(mm.len().unwrap(), file.metadata().unwrap().len());

    // Writing into the middle of the hole while the file system has room.
    let w_mm = mm.write_at(b"middle", BIG / 2).map_err(|e| kind(&e));
    let w_fs = file.write_at(b"middle", BIG / 2).map_err(|e| kind(&e));
    assert_eq!(w_mm, w_fs);
    // Reading the whole hole: zeros, like File, and no crash even though
    // a tmpfs backs every page touched through a mapping.
    let free_before = fs.free();
    let mut got = Vec::new();
    (&mm).read_to_end(&mut got).unwrap();
    let free_after_mm = fs.free();
    let mut want = Vec::new();
    (&file).read_to_end(&mut want).unwrap();
    let free_after_fs = fs.free();
    println!(
        "read_to_end of the {BIG}-byte hole: MmapFile {} bytes ({} zero), File {} bytes; \
         free space {free_before} -> {free_after_mm} after MmapFile's read -> \
         {free_after_fs} after File's",
        got.len(),
        got.iter().filter(|&&b| b == 0).count(),
        want.len()
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    drop(mm);
    drop(file);
    assert_eq!(
        fs::metadata(&mm_path).unwrap().len(),
        fs::metadata(&fs_path).unwrap().len()
    );
    // A documented difference: on tmpfs a page touched through a shared
    // mapping is allocated, even by a read, so reading a hole takes space
    // that File's read does not. File's read takes none.
    assert_eq!(
        free_after_fs, free_after_mm,
        "File's read of the hole used space"
    );
    assert!(free_after_mm <= free_before);
}

/// Writes into holes of sparse files once the file system is full.
#[test]
fn write_into_hole_on_full_fs_matches_file() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    const SPARSE: u64 = 8 << 20;
    let mm_path = fs.path("mm");
    let fs_path = fs.path("fs");
    let mm = MmapFile::create_new(&mm_path).unwrap();
    let file = File::create_new(&fs_path).unwrap();
    // Some data at the start, then a hole to SPARSE.
    mm.write_all_at(&pattern(0, 8192), 0).unwrap();
    file.write_all_at(&pattern(0, 8192), 0).unwrap();
    mm.set_len(SPARSE).unwrap();
    file.set_len(SPARSE).unwrap();

    // Fill the rest of the file system.
    let mut filler = File::create_new(fs.path("filler")).unwrap();
    let (filled, err) = fill(&mut filler, 4096, 8 << 20);
    assert_eq!(err.unwrap().raw_os_error(), Some(ENOSPC));
    println!("filler took {filled} bytes; {} free", fs.free());

    type Call = (&'static str, fn(&dyn FileExt) -> io::Result<usize>);
    let calls: [Call; 6] = [
        ("write_at 4096 into the hole", |f| {
            f.write_at(&[0xa5; 4096], SPARSE / 2)
        }),
        ("write_at 100 into the hole", |f| {
            f.write_at(&[0xa5; 100], SPARSE / 2 + 10_000)
        }),
        ("write_at 100 past the end", |f| {
            f.write_at(&[0xa5; 100], SPARSE + 10_000)
        }),
        ("write_at over data", |f| f.write_at(&[0x5a; 4096], 4096)),
        ("read_at in the hole", |f| {
            let mut buf = [0xff; 4096];
            let n = f.read_at(&mut buf, SPARSE / 4)?;
            assert!(buf[..n].iter().all(|&b| b == 0));
            Ok(n)
        }),
        ("read_at over data", |f| {
            let mut buf = [0; 4096];
            f.read_at(&mut buf, 0)
        }),
    ];
    let mut differences = Vec::new();
    for (what, call) in calls {
        let r_mm = call(&mm).map_err(|e| kind(&e));
        let r_fs = call(&file).map_err(|e| kind(&e));
        println!("{what}: MmapFile {r_mm:?}, File {r_fs:?}");
        if r_mm != r_fs {
            differences.push(format!("{what}: MmapFile {r_mm:?}, File {r_fs:?}"));
        }
    }
    // The cursor's write and an append, too.
    let r_mm = (&mm).write(&[1; 100]).map_err(|e| kind(&e));
    let r_fs = (&file).write(&[1; 100]).map_err(|e| kind(&e));
    println!("write at cursor 0 (over data): MmapFile {r_mm:?}, File {r_fs:?}");
    if r_mm != r_fs {
        differences.push(format!("write at cursor: MmapFile {r_mm:?}, File {r_fs:?}"));
    }
    drop(mm);
    drop(file);
    let (a, b) = (fs::read(&mm_path).unwrap(), fs::read(&fs_path).unwrap());
    if a != b {
        differences.push(format!(
            "files afterwards differ: {} vs {} bytes, first difference at {:?}",
            a.len(),
            b.len(),
            a.iter().zip(&b).position(|(x, y)| x != y)
        ));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

// ---------------------------------------------------------------------------
// RLIMIT_FSIZE, in a child process started through `prlimit`.
// ---------------------------------------------------------------------------

/// Not page-aligned, so the last write is cut short by the limit.
const LIMIT: u64 = 1_000_000;

fn prlimit_works() -> bool {
    let ok = Command::new("prlimit")
        .args([&format!("--fsize={LIMIT}"), "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: prlimit is not available");
    }
    ok
}

/// The test binary, running only `test` as a child under `prlimit`, with
/// SIGXFSZ ignored (`trap ''` survives the `exec`s) if `ignore_xfsz`.
fn limited_child(test: &str, mode: &str, dir: &Path, ignore_xfsz: bool) -> Output {
    let trap = if ignore_xfsz { "trap '' XFSZ; " } else { "" };
    let script = format!("{trap}exec prlimit --fsize={LIMIT} \"$0\" \"$@\"");
    wrapped_child(&["sh", "-c", &script], test, mode)
        .env(DIR_ENV, dir)
        .output()
        .unwrap()
}

/// In the child, SIGXFSZ ignored: every way of meeting the limit, MmapFile
/// against File.
fn efbig_in_child(dir: &Path) {
    let mut differences = Vec::new();
    for chunk in [4096, 100, 65_536] {
        for exact in [false, true] {
            let mm_path = dir.join(format!("mm-{chunk}-{exact}"));
            let fs_path = dir.join(format!("fs-{chunk}-{exact}"));
            let mut mm = MmapFile::options()
                .read(true)
                .write(true)
                .create(true)
                .exact_len(exact)
                .open(&mm_path)
                .unwrap();
            assert!(mm.is_mapped());
            let mut file = File::create(&fs_path).unwrap();
            let (mm_acked, mm_err) = fill(&mut mm, chunk, 4 * LIMIT);
            let (fs_acked, fs_err) = fill(&mut file, chunk, 4 * LIMIT);
            let mm_err = mm_err.unwrap_or_else(|| panic!("MmapFile: no error"));
            let fs_err = fs_err.unwrap();
            // Beyond the limit, positional and set_len: both refused alike.
            let mm_more = (
                mm.write_at(b"x", LIMIT + 10).map_err(|e| e.raw_os_error()),
                mm.set_len(LIMIT + 1).map_err(|e| e.raw_os_error()),
                mm.write_at(b"x", LIMIT - 1).map_err(|e| e.raw_os_error()),
            );
            let fs_more = (
                file.write_at(b"x", LIMIT + 10)
                    .map_err(|e| e.raw_os_error()),
                file.set_len(LIMIT + 1).map_err(|e| e.raw_os_error()),
                file.write_at(b"x", LIMIT - 1).map_err(|e| e.raw_os_error()),
            );
            // Undo the one-byte overwrite so the contents check holds.
            mm.write_all_at(&[pat(LIMIT - 1)], LIMIT - 1).unwrap();
            file.write_all_at(&[pat(LIMIT - 1)], LIMIT - 1).unwrap();
            drop(mm);
            drop(file);
            check_contents(&mm_path, mm_acked, "MmapFile");
            check_contents(&fs_path, fs_acked, "File");
            let line = format!(
                "{chunk}-byte writes, exact_len={exact}: MmapFile acknowledged {mm_acked} then \
                 {}, File {fs_acked} then {}; past the limit (write_at, set_len, write_at \
                 below): MmapFile {mm_more:?}, File {fs_more:?}",
                kind(&mm_err),
                kind(&fs_err)
            );
            println!("{line}");
            if mm_err.raw_os_error() != Some(EFBIG)
                || mm_err.kind() != ErrorKind::FileTooLarge
                || mm_acked != fs_acked
                || mm_err.raw_os_error() != fs_err.raw_os_error()
                || mm_more != fs_more
            {
                differences.push(line);
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn file_size_limit_gives_efbig_like_file() {
    const TEST: &str = "file_size_limit_gives_efbig_like_file";
    if child_mode(TEST).is_some() {
        efbig_in_child(Path::new(&std::env::var(DIR_ENV).unwrap()));
        return;
    }
    if !prlimit_works() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = limited_child(TEST, "efbig", dir.path(), true);
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "child: {}", describe(&out));
}

/// Without SIGXFSZ ignored, `File` dies of it at the limit; so must
/// `MmapFile`, at the same write, with every acknowledged byte kept.
#[test]
fn file_size_limit_kills_like_file() {
    const TEST: &str = "file_size_limit_kills_like_file";
    if let Some(mode) = child_mode(TEST) {
        let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
        let path = dir.join(&mode);
        let mut w: Box<dyn Write> = if mode == "mmapfile" {
            let f = MmapFile::create(&path).unwrap();
            assert!(f.is_mapped());
            Box::new(f)
        } else {
            Box::new(File::create(&path).unwrap())
        };
        let mut acked = 0u64;
        loop {
            let n = w.write(&pattern(acked, 4096)).unwrap();
            acked += n as u64;
            println!("ACK {acked}");
            io::stdout().flush().unwrap();
        }
    }
    if !prlimit_works() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    for mode in ["file", "mmapfile"] {
        let out = limited_child(TEST, mode, dir.path(), false);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let acked: u64 = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("ACK "))
            .filter_map(|n| n.parse().ok())
            .max()
            .unwrap_or(0);
        let len = fs::metadata(dir.path().join(mode)).unwrap().len();
        println!(
            "{mode}: child ended by signal {:?}, last acknowledged total {acked}, \
             file length {len}",
            out.status.signal()
        );
        assert_eq!(
            out.status.signal(),
            Some(SIGXFSZ),
            "{mode}: {}",
            describe(&out)
        );
        check_contents(&dir.path().join(mode), acked, mode);
        outcomes.push(acked);
    }
    assert_eq!(outcomes[0], outcomes[1], "acknowledged: File vs MmapFile");
}
