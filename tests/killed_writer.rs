//! Reliability: the writer is killed (SIGKILL) mid-stream. Every record whose
//! `write_all` returned must be in the file, intact, as with `File` (the
//! pages of a shared mapping belong to the page cache, not to the process).
//! What lies past them is reported: by default the file may carry zero
//! padding up to one growth step (see the crate docs); with
//! `OpenOptions::exact_len(true)` it must end exactly after the last record.
//!
//! The writer is this test binary re-run as a child (`common::child`); it
//! prints `ACK n` after the n-th record's `write_all` returned.

// Unix only: child processes (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode};

const PATH_ENV: &str = "MMAPFILE_KILLED_WRITER_PATH";

const SIGKILL: i32 = 9;

/// One record: 64 bytes, none of them zero, different for every index.
const REC: usize = 64;

fn record(i: u64) -> [u8; REC] {
    let mut r = [0u8; REC];
    for (j, b) in r.iter_mut().enumerate() {
        *b = ((i.wrapping_mul(31) + j as u64) % 251) as u8 + 1;
    }
    let head = format!("rec {i:010} ");
    r[..head.len()].copy_from_slice(head.as_bytes());
    r[REC - 1] = b'\n';
    r
}

/// In the child: append records forever, acknowledging each on stdout.
fn write_records(path: &Path, exact: bool) -> ! {
    let mut f = MmapFile::options()
        .append(true)
        .create(true)
        .exact_len(exact)
        .open(path)
        .unwrap();
    assert!(f.is_mapped());
    let out = std::io::stdout();
    for i in 0u64.. {
        f.write_all(&record(i)).unwrap();
        let mut out = out.lock();
        writeln!(out, "ACK {}", i + 1).unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

/// What the file holds after the kill.
#[derive(Debug)]
struct Found {
    /// Records acknowledged to the parent.
    acked: u64,
    /// Intact records from the start.
    intact: u64,
    /// Bytes of the record after them that were written (a record cut by
    /// the kill), then zeros.
    torn: usize,
    /// The file's length.
    len: u64,
}

fn examine(path: &Path, acked: u64) -> Found {
    let data = fs::read(path).unwrap();
    let intact = data
        .chunks(REC)
        .enumerate()
        .take_while(|(i, c)| *c == record(*i as u64))
        .count() as u64;
    let rest = &data[(intact as usize * REC).min(data.len())..];
    // A cut record: a prefix of the next record, then zeros.
    let next = record(intact);
    let torn = rest
        .iter()
        .zip(next.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let after = &rest[torn..];
    assert!(
        after.iter().all(|&b| b == 0),
        "past {intact} intact records and {torn} bytes of the next, the file holds \
         non-zero bytes that were never written (at {})",
        intact as usize * REC + torn + after.iter().position(|&b| b != 0).unwrap()
    );
    Found {
        acked,
        intact,
        torn,
        len: data.len() as u64,
    }
}

/// Starts the writer, kills it once it has acknowledged `kill_after`
/// records, and returns what the file holds.
fn kill_writer(test: &str, mode: &str, path: &Path, kill_after: u64) -> Found {
    let mut writer = child(test, mode)
        .env(PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    let mut acked = 0u64;
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            // A line is only counted once whole: the kill may cut the last.
            if let Ok(n) = n.parse::<u64>() {
                acked = acked.max(n);
            }
        }
        if !killed && acked >= kill_after {
            writer.kill().unwrap();
            killed = true;
            // Keep reading: lines already in the pipe are acknowledgements.
        }
    }
    let status = writer.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut writer.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(killed, "the writer stopped by itself: {status:?}\n{stderr}");
    assert_eq!(status.signal(), Some(SIGKILL), "{stderr}");
    examine(path, acked)
}

fn run(test: &str, exact: bool) -> Vec<Found> {
    let dir = tempfile::tempdir().unwrap();
    let mut found = Vec::new();
    for round in 0..8u64 {
        let path = dir.path().join(format!("log{round}"));
        // Kill points spread over growth steps (1024 records = one 64 KiB step).
        let kill_after = 500 + round * 3_217;
        let f = kill_writer(
            test,
            if exact { "exact" } else { "default" },
            &path,
            kill_after,
        );
        println!(
            "exact_len={exact}, kill after {kill_after}: {} acknowledged, {} intact in the \
             file, {} bytes of a cut record, file length {} = {} bytes past the intact \
             records",
            f.acked,
            f.intact,
            f.torn,
            f.len,
            f.len as i64 - (f.intact * REC as u64) as i64
        );
        found.push(f);
    }
    found
}

#[test]
fn killed_writer_keeps_every_acknowledged_record() {
    const TEST: &str = "killed_writer_keeps_every_acknowledged_record";
    if let Some(mode) = child_mode(TEST) {
        write_records(
            Path::new(&std::env::var(PATH_ENV).unwrap()),
            mode == "exact",
        );
    }
    for f in run(TEST, false) {
        assert!(
            f.intact >= f.acked,
            "{} records acknowledged, only {} intact in the file: {f:?}",
            f.acked,
            f.intact
        );
        assert!(f.len >= f.intact * REC as u64);
    }
}

#[test]
fn killed_exact_len_writer_leaves_exact_length() {
    const TEST: &str = "killed_exact_len_writer_leaves_exact_length";
    if let Some(mode) = child_mode(TEST) {
        write_records(
            Path::new(&std::env::var(PATH_ENV).unwrap()),
            mode == "exact",
        );
    }
    let mut problems = Vec::new();
    for f in run(TEST, true) {
        assert!(
            f.intact >= f.acked,
            "{} records acknowledged, only {} intact in the file: {f:?}",
            f.acked,
            f.intact
        );
        // `File`'s 64-byte write is all or nothing under SIGKILL, so the
        // file is exactly the records written: no padding, no cut record.
        if f.len != f.intact * REC as u64 {
            problems.push(format!("{f:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "file length is not exactly the intact records:\n{}",
        problems.join("\n")
    );
}
