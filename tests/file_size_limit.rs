//! The process hits its file-size limit (`RLIMIT_FSIZE`). `MmapFile` must
//! fail as `File` does: with SIGXFSZ ignored, `EFBIG` at the same byte,
//! for cursor writes, positional writes and `set_len`, with every
//! acknowledged byte kept; without, death by SIGXFSZ at the same write.
//!
//! The limit is set on a child process (this test binary re-run with
//! `common::child::wrapped_child`) with `prlimit` (skipped if missing).

// Unix only: child processes, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use mmapfile::MmapFile;

mod common;
use common::acked::{check_contents, fill, kind};
use common::child::{child_mode, describe, prlimit_works, wrapped_child};
use common::pattern::{pat, pattern};

const EFBIG: i32 = 27;
const SIGXFSZ: i32 = 25;

const DIR_ENV: &str = "MMAPFILE_FULL_DISK_DIR";

// ---------------------------------------------------------------------------
// RLIMIT_FSIZE, in a child process started through `prlimit`.
// ---------------------------------------------------------------------------

/// Not page-aligned, so the last write is cut short by the limit.
const LIMIT: u64 = 1_000_000;

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
    if !prlimit_works(&format!("--fsize={LIMIT}")) {
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
    if !prlimit_works(&format!("--fsize={LIMIT}")) {
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
