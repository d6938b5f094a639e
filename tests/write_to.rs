//! `MmapFile::write_to` sends what `io::copy` from a `File` sends: the
//! bytes from the cursor to the end, leaving the cursor at the end. Into a
//! Unix-domain stream socket it writes straight out of the mapping where
//! the inode is Exclusive, and by `sendfile` elsewhere (see
//! src/description/send.rs); each way is checked here against the file's
//! bytes, for every kind of destination, Exclusive and Shared, with a
//! socket that cannot take it all at once, and from a handle that cannot
//! read. The model test (tests/model, `Op::WriteTo`) checks it against
//! `File` among the other operations, fork children and the outsider.

// Unix only: `write_to` takes a descriptor there (tests/windows_unmapped.rs
// covers Windows).
#![cfg(unix)]

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread::{self, JoinHandle};

use mmapfile::MmapFile;

mod common;
use common::pattern::pattern_file;
use common::twin::Scratch;

/// More than one socket buffer and not a whole number of pages.
const LEN: usize = (3 << 20) + 123;

/// A thread that reads `rx` to its end and returns what it read.
fn drain<R: Read + Send + 'static>(mut rx: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut got = Vec::new();
        rx.read_to_end(&mut got).expect("read the other end");
        got
    })
}

/// `write_to` a fresh Unix socket pair; returns the count and what the
/// other end received.
fn to_unix_socket(m: &mut MmapFile) -> (io::Result<u64>, Vec<u8>) {
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let reader = drain(rx);
    let sent = m.write_to(&mut tx);
    drop(tx);
    (sent, reader.join().unwrap())
}

/// A scratch directory with a file of `LEN` pattern bytes; its path and
/// bytes.
fn data_file() -> (Scratch, PathBuf, Vec<u8>) {
    let dir = Scratch::new("write-to").unwrap();
    let path = dir.path().join("data");
    let bytes = pattern_file(&path, LEN);
    (dir, path, bytes)
}

/// From a cursor in the middle, then again from the end: the bytes past
/// the cursor once, and then nothing.
fn sends_from_the_cursor(m: &mut MmapFile, bytes: &[u8]) {
    let from = 100_001;
    m.seek(SeekFrom::Start(from as u64)).unwrap();
    let (sent, got) = to_unix_socket(m);
    assert_eq!(sent.unwrap(), (LEN - from) as u64);
    assert!(got == bytes[from..], "the socket got other bytes");
    assert_eq!(m.stream_position().unwrap(), LEN as u64);
    let (sent, got) = to_unix_socket(m);
    assert_eq!((sent.unwrap(), got.len()), (0, 0));
}

#[test]
fn into_a_unix_socket_while_exclusive() {
    let (_dir, path, bytes) = data_file();
    let mut m = MmapFile::open(&path).unwrap();
    assert!(m.is_mapped());
    sends_from_the_cursor(&mut m, &bytes);
}

/// Into a socket whose owner enlarged its send buffer, where the turns are
/// longer (see src/description/send.rs): the same bytes, and the buffer
/// as its owner left it.
#[test]
fn into_a_unix_socket_with_a_larger_send_buffer() {
    use rustix::net::sockopt::{set_socket_send_buffer_size, socket_send_buffer_size};
    let (_dir, path, bytes) = data_file();
    let mut m = MmapFile::open(&path).unwrap();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    set_socket_send_buffer_size(&tx, 1 << 20).unwrap();
    let size = socket_send_buffer_size(&tx).unwrap();
    let reader = drain(rx);
    assert_eq!(m.write_to(&mut tx).unwrap(), LEN as u64);
    assert_eq!(socket_send_buffer_size(&tx).unwrap(), size);
    drop(tx);
    assert!(
        reader.join().unwrap() == bytes,
        "the socket got other bytes"
    );
}

#[test]
fn into_a_unix_socket_while_shared() {
    let (_dir, path, bytes) = data_file();
    let mut m = MmapFile::open(&path).unwrap();
    // Another description open for writing: the inode is Shared.
    let _writer = OpenOptions::new().write(true).open(&path).unwrap();
    sends_from_the_cursor(&mut m, &bytes);
}

/// The file grew through the handle past the address space it reserved,
/// into a window of its own: what the handle wrote is what it sends.
#[test]
fn after_the_file_grew_past_its_reservation() {
    let dir = Scratch::new("write-to").unwrap();
    let path = dir.path().join("data");
    let mut bytes = pattern_file(&path, 10_000);
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .reserve(64 << 10)
        .open(&path)
        .unwrap();
    let tail: Vec<u8> = (0..LEN - bytes.len()).map(|i| (i % 253) as u8).collect();
    m.write_all_at(&tail, bytes.len() as u64).unwrap();
    bytes.extend_from_slice(&tail);
    sends_from_the_cursor(&mut m, &bytes);
}

/// Into TCP, a pipe and a file: `sendfile`, with the same bytes.
#[test]
fn into_tcp_a_pipe_and_a_file() {
    let (dir, path, bytes) = data_file();
    let mut m = MmapFile::open(&path).unwrap();

    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let reader = drain(listener.accept().unwrap().0);
    assert_eq!(m.write_to(&mut tx).unwrap(), LEN as u64);
    drop(tx);
    assert!(reader.join().unwrap() == bytes, "TCP got other bytes");

    let (rx, mut tx) = io::pipe().unwrap();
    let reader = drain(rx);
    m.rewind().unwrap();
    assert_eq!(m.write_to(&mut tx).unwrap(), LEN as u64);
    drop(tx);
    assert!(reader.join().unwrap() == bytes, "the pipe got other bytes");

    let out_path = dir.path().join("out");
    let mut out = File::create(&out_path).unwrap();
    m.rewind().unwrap();
    assert_eq!(m.write_to(&mut out).unwrap(), LEN as u64);
    drop(out);
    assert!(
        std::fs::read(&out_path).unwrap() == bytes,
        "the file differs"
    );
}

/// A non-blocking socket that fills up: `write_to` fails with `WouldBlock`
/// and the cursor has moved by what the socket took, so calling it again
/// once the reader has drained some sends the rest: every byte once, in
/// order. (`io::copy` from a `File` loses what it read and could not
/// write.)
#[test]
fn a_full_nonblocking_socket_keeps_the_count() {
    let (_dir, path, bytes) = data_file();
    for shared in [false, true] {
        let mut m = MmapFile::open(&path).unwrap();
        let _writer = shared.then(|| OpenOptions::new().write(true).open(&path).unwrap());
        let (mut tx, mut rx) = UnixStream::pair().unwrap();
        tx.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut blocked = 0;
        loop {
            let before = m.stream_position().unwrap();
            match m.write_to(&mut tx) {
                Ok(n) => {
                    assert_eq!(before + n, LEN as u64);
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    blocked += 1;
                    let n = rx.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                Err(e) => panic!("write_to: {e}"),
            }
        }
        drop(tx);
        rx.read_to_end(&mut got).unwrap();
        assert!(blocked > 0, "the socket never filled up");
        assert_eq!(got.len(), LEN, "shared: {shared}");
        assert!(got == bytes, "shared: {shared}: other bytes");
    }
}

/// A handle that cannot read: `File`'s error from `io::copy`, and nothing
/// sent.
#[test]
fn from_a_write_only_handle_is_files_error() {
    let dir = Scratch::new("write-to").unwrap();
    let path = dir.path().join("data");
    pattern_file(&path, 10_000);
    let mut file = OpenOptions::new().write(true).open(&path).unwrap();
    let mut m = MmapFile::options().write(true).open(&path).unwrap();
    let (mut tx, _rx) = UnixStream::pair().unwrap();
    let want = io::copy(&mut file, &mut tx).unwrap_err();
    let (got, received) = to_unix_socket(&mut m);
    let got = got.unwrap_err();
    assert_eq!(
        (got.kind(), got.raw_os_error()),
        (want.kind(), want.raw_os_error())
    );
    assert!(received.is_empty());
    assert_eq!(m.stream_position().unwrap(), 0);
    let _ = file.flush();
}
