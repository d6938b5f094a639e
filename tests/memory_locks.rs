//! `lock_memory`, `lock_memory_range` and `unlock_memory`, seen in the
//! Locked pages and `lo` flags of `/proc/self/smaps`; and their refusal
//! under a small `RLIMIT_MEMLOCK`, in a child process (this test binary
//! re-run with `common::child::wrapped_child`), as an unprivileged user
//! where we are root, since `CAP_IPC_LOCK` bypasses the limit.

// Unix only: child processes, /proc, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;
use common::child::{child_mode, describe, wrapped_child};
use common::pattern::pattern;
use common::smaps::{covering, locked_kb, make_file, newest_window, vmas_of};
use common::{KIB, MIB, page, read_all_at, rw};

fn uid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

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
