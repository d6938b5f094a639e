//! Vectored I/O with more buffers than one system call takes (`IOV_MAX`):
//! the same counts, cursor and bytes as `File` (`common::twin`).

use std::fs;
use std::io::{IoSlice, IoSliceMut, Seek, SeekFrom};

mod common;
use common::pattern::content;
use common::twin::{Diffs, Open, Twins, both};

/// More buffers than `IOV_MAX` (1024 on Linux): `File` passes the first
/// `IOV_MAX` to one `readv`/`writev` and reports what those moved.
#[test]
fn vectored_io_with_more_buffers_than_iov_max() {
    const BUFS: usize = 2000;
    let t = Twins::new(&content(10_000));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    both(
        &mut d,
        "read_vectored of 2000 one-byte buffers",
        &mut f,
        &mut m,
        |h| {
            let mut bytes = vec![0u8; BUFS];
            let mut bufs: Vec<IoSliceMut<'_>> = bytes.chunks_mut(1).map(IoSliceMut::new).collect();
            let n = h.read_vectored(&mut bufs)?;
            // How many bytes, and whether they are the file's.
            Ok((n, bytes[..n] == content(10_000)[..n]))
        },
    );
    both(&mut d, "cursor after read_vectored", &mut f, &mut m, |h| {
        h.stream_position()
    });
    // From the same place, whatever the reads did.
    f.seek(SeekFrom::Start(5000)).unwrap();
    m.seek(SeekFrom::Start(5000)).unwrap();
    both(
        &mut d,
        "write_vectored of 2000 one-byte buffers",
        &mut f,
        &mut m,
        |h| {
            let bytes = vec![b'v'; BUFS];
            let bufs: Vec<IoSlice<'_>> = bytes.chunks(1).map(IoSlice::new).collect();
            h.write_vectored(&bufs)
        },
    );
    both(&mut d, "cursor after write_vectored", &mut f, &mut m, |h| {
        h.stream_position()
    });
    drop((f, m));
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "file contents after write_vectored differ",
    );
    d.finish();
}
