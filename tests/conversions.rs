//! The conversions to and from `File`: `into_file` hands over the length
//! (the file cut back to it) and the cursor, also past the end;
//! `TryFrom<File>` keeps the `File`'s offset and access mode
//! (`common::twin`).

// Unix only: `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};

use mmapfile::MmapFile;

mod common;
use common::pattern::content;
use common::twin::{Diffs, Open, Twins, both, read_n, read_to_end_};

#[test]
fn into_file_after_writes() {
    let t = Twins::new(b"");
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    // Small appends: the MmapFile grows the file on disk ahead of them.
    for i in 0..100u32 {
        let rec = format!("record {i}\n");
        both(&mut d, "write", &mut f, &mut m, |h| h.write(rec.as_bytes()));
    }
    both(&mut d, "seek Start(300)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(300))
    });
    let cursor = m.stream_position().unwrap();
    let len = m.len().unwrap();
    let mut mf = m.into_file().unwrap();
    d.same(
        "length of the File",
        f.metadata().map(|x| x.len()),
        mf.metadata().map(|x| x.len()),
    );
    d.check(
        mf.metadata().unwrap().len() == len,
        format!(
            "into_file: File is {} bytes, MmapFile had {len}",
            mf.metadata().unwrap().len()
        ),
    );
    d.check(
        fs::metadata(&t.mmap).unwrap().len() == len,
        "into_file: the file on disk is not cut back to its length",
    );
    d.same("stream_position", f.stream_position(), mf.stream_position());
    d.check(
        mf.stream_position().unwrap() == cursor,
        "into_file: the File's offset is not the MmapFile's cursor",
    );
    d.same("read from there", read_n(&mut f, 20), read_n(&mut mf, 20));
    d.same("write from there", f.write(b"XX"), mf.write(b"XX"));
    drop((f, mf));
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "file contents differ",
    );

    // The cursor past the end survives too.
    let t = Twins::new(&content(10));
    let m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.mmap)
        .unwrap();
    (&m).seek(SeekFrom::Start(1 << 20)).unwrap();
    let mut mf = m.into_file().unwrap();
    d.check(
        mf.stream_position().unwrap() == 1 << 20,
        "into_file: a cursor past the end is lost",
    );
    d.finish();
}

#[test]
fn try_from_file_keeps_offset_and_mode() {
    let mut d = Diffs::default();

    // Read-only, offset 5.
    let t = Twins::new(&content(100));
    let mut f = File::open(&t.file).unwrap();
    f.seek(SeekFrom::Start(5)).unwrap();
    let src = File::open(&t.mmap).unwrap();
    (&src).seek(SeekFrom::Start(5)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    if mmapfile::MAPPED_IO {
        d.check(m.is_mapped(), "TryFrom<File> of a regular file must map it");
    }
    both(&mut d, "read-only: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "read-only: read", &mut f, &mut m, |h| read_n(h, 10));
    both(&mut d, "read-only: write", &mut f, &mut m, |h| {
        h.write(b"x")
    });
    both(&mut d, "read-only: write_at", &mut f, &mut m, |h| {
        h.write_at(b"x", 0)
    });
    both(&mut d, "read-only: set_len", &mut f, &mut m, |h| {
        h.h_set_len(1)
    });

    // Write-only, offset 3.
    let t = Twins::new(&content(100));
    let mut f = fs::OpenOptions::new().write(true).open(&t.file).unwrap();
    f.seek(SeekFrom::Start(3)).unwrap();
    let mut src = fs::OpenOptions::new().write(true).open(&t.mmap).unwrap();
    src.seek(SeekFrom::Start(3)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(&mut d, "write-only: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write-only: read", &mut f, &mut m, |h| read_n(h, 4));
    both(&mut d, "write-only: write", &mut f, &mut m, |h| {
        h.write(b"XY")
    });
    both(
        &mut d,
        "write-only: stream_position after",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    drop((f, m));
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "write-only: contents differ",
    );

    // Append, read+append, offset 7.
    let t = Twins::new(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&t.file)
        .unwrap();
    f.seek(SeekFrom::Start(7)).unwrap();
    let mut src = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&t.mmap)
        .unwrap();
    src.seek(SeekFrom::Start(7)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(&mut d, "append: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "append: read", &mut f, &mut m, |h| read_n(h, 4));
    both(
        &mut d,
        "append: write lands at the end",
        &mut f,
        &mut m,
        |h| h.write(b"tail"),
    );
    both(
        &mut d,
        "append: stream_position after",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(
        &mut d,
        "append: write_at(0) lands at the end",
        &mut f,
        &mut m,
        |h| h.write_at(b"at0", 0),
    );
    both(&mut d, "append: contents", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });

    // Read+write with the offset past the end.
    let t = Twins::new(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.file)
        .unwrap();
    f.seek(SeekFrom::Start(5000)).unwrap();
    let mut src = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.mmap)
        .unwrap();
    src.seek(SeekFrom::Start(5000)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(
        &mut d,
        "past the end: stream_position",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "past the end: read", &mut f, &mut m, |h| {
        read_n(h, 4)
    });
    both(&mut d, "past the end: write", &mut f, &mut m, |h| {
        h.write(b"far")
    });
    both(&mut d, "past the end: length", &mut f, &mut m, |h| {
        h.h_len()
    });
    d.finish();
}
