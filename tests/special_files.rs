//! Files that are not regular files, opened through `MmapFile` as through
//! `File`: directories, FIFOs (read and written through, as streams) and
//! Unix sockets. None of them is mapped; every call gives `File`'s answer
//! (the same value, or an error of the same `ErrorKind` and
//! `raw_os_error()`), compared with `common::twin`.
//!
//! A case whose tool is missing is skipped with a message.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use mmapfile::MmapFile;

mod common;
use common::skip;
use common::twin::{
    Diffs, Handle, Outcome, both, meta_, read_at_n, read_exact_at_n, read_n, read_to_end_,
    read_to_string_,
};

/// Runs `f` on another thread, failing if it takes longer than `secs`
/// (a FIFO open that never returns, say) instead of hanging the suite.
fn with_timeout<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

// ---------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------

#[test]
fn directory_opened_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("entry"), b"x").unwrap();
    let mut d = Diffs::default();

    let Some((mut f, mut m)) = d.open("open", File::open(&sub), MmapFile::open(&sub)) else {
        return d.finish();
    };
    d.check(!m.is_mapped(), "a directory must not be mapped");
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 16));
    both(&mut d, "read of 0 bytes", &mut f, &mut m, |h| read_n(h, 0));
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 16, 0));
    both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
        read_exact_at_n(h, 16, 0)
    });
    both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
    both(&mut d, "read_to_string", &mut f, &mut m, read_to_string_);
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(&mut d, "seek Current(1)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Current(1))
    });
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "seek Start(1)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(1))
    });
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"x"));
    both(&mut d, "write_at", &mut f, &mut m, |h| h.write_at(b"x", 0));
    both(&mut d, "set_len", &mut f, &mut m, |h| h.h_set_len(0));
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.same("sync_all", f.sync_all(), m.sync_all());
    d.same(
        "try_clone then read",
        f.try_clone().and_then(|mut c| read_n(&mut c, 4)),
        m.try_clone().and_then(|mut c| read_n(&mut c, 4)),
    );
    let m_len = m.len();
    d.same(
        "len() (File: metadata().len())",
        f.metadata().map(|md| md.len()),
        m_len,
    );
    d.same(
        "into_file then read",
        Ok::<_, io::Error>(()).and_then(|()| read_n(&mut f, 4)),
        m.into_file().and_then(|mut c| read_n(&mut c, 4)),
    );

    // Opening a directory for writing fails.
    d.same(
        "open read+write",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&sub)
            .map(|_| ()),
        MmapFile::options()
            .read(true)
            .write(true)
            .open(&sub)
            .map(|_| ()),
    );
    d.same(
        "create",
        File::create(&sub).map(|_| ()),
        MmapFile::create(&sub).map(|_| ()),
    );
    d.same(
        "append",
        fs::OpenOptions::new().append(true).open(&sub).map(|_| ()),
        MmapFile::options().append(true).open(&sub).map(|_| ()),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// FIFOs
// ---------------------------------------------------------------------------

fn mkfifo(path: &Path) -> bool {
    match std::process::Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => true,
        other => {
            skip(&format!("mkfifo {} failed: {other:?}", path.display()));
            false
        }
    }
}

/// The bytes a FIFO writer sends: more than one pipe buffer, so the reader
/// must wait for more.
fn fifo_message() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

/// What reading a FIFO through `open` gives: the read-side results.
#[derive(Debug, PartialEq)]
struct FifoRead {
    first: Vec<u8>,
    rest: Vec<u8>,
    read_at: Outcome<usize>,
    seek: Outcome<u64>,
    is_fifo: bool,
}

#[test]
fn fifo_reads_what_the_writer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    if !mkfifo(&path) {
        return;
    }
    let run = |use_mmap: bool| -> FifoRead {
        let path = path.clone();
        with_timeout(20, "FIFO read", move || {
            let writer = {
                let path = path.clone();
                thread::spawn(move || {
                    let mut w = fs::OpenOptions::new().write(true).open(&path).unwrap();
                    w.write_all(&fifo_message()).unwrap();
                })
            };
            let mut h: Box<dyn Handle> = if use_mmap {
                Box::new(MmapFile::open(&path).unwrap())
            } else {
                Box::new(File::open(&path).unwrap())
            };
            // One small read, then the rest to the end of the stream.
            let mut first = vec![0u8; 10];
            h.read_exact(&mut first).unwrap();
            let read_at = Outcome::of(h.read_at(&mut [0u8; 4], 0));
            let seek = Outcome::of(h.seek(SeekFrom::Start(0)));
            let mut rest = Vec::new();
            h.read_to_end(&mut rest).unwrap();
            writer.join().unwrap();
            let is_fifo = h.h_metadata().unwrap().file_type().is_fifo();
            FifoRead {
                first,
                rest,
                read_at,
                seek,
                is_fifo,
            }
        })
    };
    let file = run(false);
    let mm = run(true);
    // is_mapped, checked separately: open a handle while a writer waits.
    let mapped = {
        let path = path.clone();
        with_timeout(20, "FIFO is_mapped", move || {
            let w = thread::spawn({
                let path = path.clone();
                move || drop(fs::OpenOptions::new().write(true).open(&path).unwrap())
            });
            let m = MmapFile::open(&path).unwrap();
            w.join().unwrap();
            m.is_mapped()
        })
    };
    let msg = fifo_message();
    assert_eq!(file.first, msg[..10], "File's read of the FIFO");
    assert!(file.rest == msg[10..], "File's read_to_end of the FIFO");
    assert!(
        !mm.first.is_empty() && !mm.rest.is_empty(),
        "MmapFile read nothing from the FIFO"
    );
    assert!(!mapped, "a FIFO must not be mapped");
    let mut d = Diffs::default();
    d.check(
        file == mm,
        format!(
            "FIFO: File gives first {:?}, {} more bytes, read_at {:?}, seek {:?}; \
             MmapFile gives first {:?}, {} more bytes, read_at {:?}, seek {:?}",
            file.first,
            file.rest.len(),
            file.read_at,
            file.seek,
            mm.first,
            mm.rest.len(),
            mm.read_at,
            mm.seek
        ),
    );
    d.finish();
}

#[test]
fn fifo_write_only_handle_writes_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    if !mkfifo(&path) {
        return;
    }
    let run = |use_mmap: bool| -> (Vec<u8>, Outcome<usize>, Outcome<Vec<u8>>, Option<bool>) {
        let path = path.clone();
        with_timeout(20, "FIFO write", move || {
            let reader = {
                let path = path.clone();
                thread::spawn(move || {
                    let mut r = File::open(&path).unwrap();
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).unwrap();
                    got
                })
            };
            let (mut h, mapped): (Box<dyn Handle>, Option<bool>) = if use_mmap {
                let m = MmapFile::options().write(true).open(&path).unwrap();
                let mapped = m.is_mapped();
                (Box::new(m), Some(mapped))
            } else {
                (
                    Box::new(fs::OpenOptions::new().write(true).open(&path).unwrap()),
                    None,
                )
            };
            h.write_all(&fifo_message()).unwrap();
            let write_at = Outcome::of(h.write_at(b"x", 0));
            let read = Outcome::of(read_n(&mut *h, 4));
            h.flush().unwrap();
            drop(h);
            (reader.join().unwrap(), write_at, read, mapped)
        })
    };
    let (f_got, f_write_at, f_read, _) = run(false);
    let (m_got, m_write_at, m_read, mapped) = run(true);
    assert!(f_got == fifo_message(), "File's writes through the FIFO");
    let mut d = Diffs::default();
    d.check(mapped == Some(false), "a FIFO must not be mapped");
    d.check(
        m_got == f_got,
        format!(
            "the reader got {} bytes from MmapFile, {} from File",
            m_got.len(),
            f_got.len()
        ),
    );
    d.check(
        f_write_at == m_write_at,
        format!("write_at on a FIFO: File {f_write_at:?}, MmapFile {m_write_at:?}"),
    );
    d.check(
        f_read == m_read,
        format!("read on a write-only FIFO: File {f_read:?}, MmapFile {m_read:?}"),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

#[test]
fn unix_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let _listener = match std::os::unix::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => return skip(&format!("cannot bind a Unix socket: {e}")),
    };
    let mut d = Diffs::default();
    // Opening a socket's path fails with ENXIO on Linux.
    d.same(
        "open read-only",
        File::open(&path).map(|_| ()),
        MmapFile::open(&path).map(|m| assert!(!m.is_mapped())),
    );
    d.same(
        "open read+write",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map(|_| ()),
        MmapFile::options()
            .read(true)
            .write(true)
            .open(&path)
            .map(|m| assert!(!m.is_mapped())),
    );
    d.same(
        "open append",
        fs::OpenOptions::new().append(true).open(&path).map(|_| ()),
        MmapFile::options()
            .append(true)
            .open(&path)
            .map(|m| assert!(!m.is_mapped())),
    );
    d.finish();
}
