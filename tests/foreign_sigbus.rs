//! A SIGBUS that is not the crate's must still do what it did before the
//! crate's handler was installed: a fault on a truncated mapping made
//! outside the crate (with memmap2) still kills, and a SIGBUS sent with
//! `kill` ends the process as it would without the crate. Each case runs in
//! a child process (this test binary re-run with `common::child::child`),
//! without and with an `MmapFile` open.

// Unix only: child processes, SIGBUS, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};
use common::pattern::{pat, pattern};

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
    common::cut(&path, 0);
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
