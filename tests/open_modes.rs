//! What the access mode allows, as for `File` (`common::twin`): write-only
//! handles (`File::create`, `write(true)`) and append-only handles write as
//! `File` does and refuse every read; writes through a read-only handle are
//! refused and change nothing. `into_file` keeps the mode.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;

mod common;
use common::pattern::content;
use common::twin::{
    Diffs, Handle, Open, Pair, Twins, both, meta_, read_at_n, read_exact_at_n, read_n,
    read_to_end_, read_to_string_, read_vectored_n, refused, state,
};

/// An operation whose result is bytes (or a number as bytes).
type Op = fn(&mut dyn Handle) -> io::Result<Vec<u8>>;

// ---------------------------------------------------------------------------
// Write-only handles
// ---------------------------------------------------------------------------

/// The read operations a write-only handle must refuse as File does.
fn reads_refused(d: &mut Diffs, what: &str, f: &mut File, m: &mut MmapFile) {
    let ops: [(&str, Op); 8] = [
        ("read", |h| read_n(h, 4)),
        ("read of 0 bytes", |h| read_n(h, 0)),
        ("read_at", |h| read_at_n(h, 4, 0)),
        ("read_at of 0 bytes", |h| read_at_n(h, 0, 0)),
        ("read_exact_at", |h| read_exact_at_n(h, 2, 0)),
        ("read_vectored", |h| read_vectored_n(h, 2, 2)),
        ("read_to_end", read_to_end_),
        ("read_to_string", |h| {
            read_to_string_(h).map(String::into_bytes)
        }),
    ];
    for (name, op) in ops {
        let Pair { file: fr, .. } = both(d, &format!("{what}: {name}"), f, m, op);
        d.check(
            fr.is_err(),
            format!("{what}: File's {name} on a write-only handle succeeded?"),
        );
    }
}

#[test]
fn write_only_create() {
    let t = Twins::new(b"old content that create truncates");
    let mut f = File::create(&t.file).unwrap();
    let mut m = MmapFile::create(&t.mmap).unwrap();
    let mut d = Diffs::default();
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"hello, "));
    both(&mut d, "write_all", &mut f, &mut m, |h| {
        h.write_all(b"world")
    });
    both(&mut d, "write_at", &mut f, &mut m, |h| h.write_at(b"H", 0));
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    reads_refused(&mut d, "File::create", &mut f, &mut m);
    both(
        &mut d,
        "stream_position after refused reads",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    // into_file: a write-only File with the same cursor.
    let mut mf = m.into_file().unwrap();
    d.same(
        "into_file: stream_position",
        f.stream_position(),
        mf.stream_position(),
    );
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut mf, 4));
    d.same("into_file: write", f.write(b"!"), mf.write(b"!"));
    drop((f, mf));
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        format!(
            "file contents: File wrote {:?}, MmapFile {:?}",
            String::from_utf8_lossy(&fs::read(&t.file).unwrap()),
            String::from_utf8_lossy(&fs::read(&t.mmap).unwrap())
        ),
    );
    d.check(
        fs::read(&t.file).unwrap() == b"Hello, world!",
        "File's own result",
    );
    d.finish();
}

#[test]
fn write_only_open_existing() {
    let t = Twins::new(&content(10_000));
    let (mut f, mut m) = t.open(&Open::WO);
    let mut d = Diffs::default();
    both(&mut d, "write at the start", &mut f, &mut m, |h| {
        h.write(b"overwritten")
    });
    both(&mut d, "write_at inside", &mut f, &mut m, |h| {
        h.write_at(b"middle", 5000)
    });
    both(&mut d, "write_at past the end", &mut f, &mut m, |h| {
        h.write_at(b"tail", 20_000)
    });
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "write at the end", &mut f, &mut m, |h| {
        h.write(b"end")
    });
    both(&mut d, "set_len shrink", &mut f, &mut m, |h| {
        h.h_set_len(19_000)
    });
    reads_refused(&mut d, "write(true)", &mut f, &mut m);
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    let sf = state(&mut f, &t.file);
    let sm = state(&mut m, &t.mmap);
    d.check(sf == sm, "state after writes differs");
    let mf = m.into_file().unwrap();
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut { mf }, 4));
    drop(f);
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "file contents differ",
    );
    d.finish();
}

#[test]
fn append_only() {
    let t = Twins::new(b"start;");
    let (mut f, mut m) = t.open(&Open::APPEND);
    let mut d = Diffs::default();
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"one;"));
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(
        &mut d,
        "write after seeking to 0 appends",
        &mut f,
        &mut m,
        |h| h.write(b"two;"),
    );
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write_at(0) on O_APPEND", &mut f, &mut m, |h| {
        h.write_at(b"three;", 0)
    });
    both(
        &mut d,
        "stream_position after write_at",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "write_vectored", &mut f, &mut m, |h| {
        h.write_vectored(&[IoSlice::new(b"fo"), IoSlice::new(b"ur;")])
    });
    both(&mut d, "set_len shrink", &mut f, &mut m, |h| h.h_set_len(8));
    both(&mut d, "write after set_len", &mut f, &mut m, |h| {
        h.write(b"after;")
    });
    reads_refused(&mut d, "append(true)", &mut f, &mut m);
    let mut mf = m.into_file().unwrap();
    d.same(
        "into_file: stream_position",
        f.stream_position(),
        mf.stream_position(),
    );
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut mf, 4));
    d.same(
        "into_file: write_at(0) still appends",
        f.write_at(b"five", 0),
        mf.write_at(b"five", 0),
    );
    drop((f, mf));
    let (fb, mb) = (fs::read(&t.file).unwrap(), fs::read(&t.mmap).unwrap());
    d.check(
        fb == mb,
        format!(
            "file contents: File {:?}, MmapFile {:?}",
            String::from_utf8_lossy(&fb),
            String::from_utf8_lossy(&mb)
        ),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Writing through a read-only handle
// ---------------------------------------------------------------------------

#[test]
fn write_through_read_only_handle() {
    let t = Twins::new(&content(1000));
    let mut f = File::open(&t.file).unwrap();
    let mut m = MmapFile::open(&t.mmap).unwrap();
    f.seek(SeekFrom::Start(10)).unwrap();
    m.seek(SeekFrom::Start(10)).unwrap();
    let mut d = Diffs::default();
    let ops: [(&str, Op); 11] = [
        ("write", |h| h.write(b"abc").map(|n| vec![n as u8])),
        ("write of 0 bytes", |h| h.write(b"").map(|n| vec![n as u8])),
        ("write_all", |h| h.write_all(b"abc").map(|()| Vec::new())),
        ("write_vectored", |h| {
            h.write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")])
                .map(|n| vec![n as u8])
        }),
        ("write_at", |h| h.write_at(b"abc", 0).map(|n| vec![n as u8])),
        ("write_at of 0 bytes", |h| {
            h.write_at(b"", 0).map(|n| vec![n as u8])
        }),
        ("write_at past the end", |h| {
            h.write_at(b"abc", 5000).map(|n| vec![n as u8])
        }),
        ("write_all_at", |h| {
            h.write_all_at(b"abc", 3).map(|()| Vec::new())
        }),
        ("set_len shrink", |h| h.h_set_len(5).map(|()| Vec::new())),
        ("set_len grow", |h| h.h_set_len(5000).map(|()| Vec::new())),
        ("flush", |h| h.flush().map(|()| Vec::new())),
    ];
    for (name, op) in ops {
        refused(&mut d, name, &t, &mut f, &mut m, op);
    }
    d.same("sync_all", f.sync_all(), m.sync_all());
    d.same("sync_data", f.sync_data(), m.sync_data());
    d.same(
        "into_file then write",
        f.try_clone().and_then(|mut c| c.write(b"x")),
        m.into_file().and_then(|mut c| c.write(b"x")),
    );
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap()
            && fs::read(&t.mmap).unwrap() == content(1000),
        "a refused write changed the file",
    );
    d.finish();
}
