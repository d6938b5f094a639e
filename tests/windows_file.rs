//! Windows' `File` behaviour, call for call (`common::twin`): `seek_read`
//! and `seek_write` move the cursor; clones share it; read-only and
//! write-only handles refuse with `File`'s OS error and change nothing;
//! `set_len`, `metadata` and the syncs. The opens, locks, permissions and
//! times are in tests/windows_opens_and_locks.rs.
#![cfg(windows)]

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::windows::fs::FileExt;

use mmapfile::MmapFile;

mod common;
use common::pattern::pattern;
use common::twin::{
    Diffs, Open, Twins, both, meta_, read_n, read_to_end_, read_vectored_n, refused, seek_read_n,
};
use common::windows::*;
use common::wine_quirk;

#[test]
fn seek_read_and_seek_write_move_the_cursor() {
    let t = Twins::new(&pattern(0, 10_000));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    both(&mut d, "seek_read(100 @ 2000)", &mut f, &mut m, |h| {
        seek_read_n(h, 100, 2000)
    });
    cursors(&mut d, "after seek_read", &mut f, &mut m, 2100);
    both(&mut d, "read from there", &mut f, &mut m, |h| read_n(h, 10));
    cursors(&mut d, "after read", &mut f, &mut m, 2110);
    both(&mut d, "seek_read across the end", &mut f, &mut m, |h| {
        seek_read_n(h, 100, 9950)
    });
    cursors(&mut d, "after a short seek_read", &mut f, &mut m, 10_000);
    both(&mut d, "seek_read at the end", &mut f, &mut m, |h| {
        seek_read_n(h, 10, 10_000)
    });
    both(&mut d, "seek_read past the end", &mut f, &mut m, |h| {
        seek_read_n(h, 10, 50_000)
    });
    both(
        &mut d,
        "cursor after seek_read past the end",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "seek_write(5 @ 10)", &mut f, &mut m, |h| {
        h.seek_write(b"WRITE", 10)
    });
    cursors(&mut d, "after seek_write", &mut f, &mut m, 15);
    both(&mut d, "write from there", &mut f, &mut m, |h| {
        h.write(b"next")
    });
    cursors(&mut d, "after write", &mut f, &mut m, 19);
    both(&mut d, "seek_write past the end", &mut f, &mut m, |h| {
        h.seek_write(b"far", 20_000)
    });
    cursors(
        &mut d,
        "after seek_write past the end",
        &mut f,
        &mut m,
        20_003,
    );
    both(&mut d, "length", &mut f, &mut m, |h| h.h_len());
    both(&mut d, "the hole reads as zeros", &mut f, &mut m, |h| {
        seek_read_n(h, 64, 10_000)
    });
    both(&mut d, "seek_write of nothing", &mut f, &mut m, |h| {
        h.seek_write(b"", 7)
    });
    both(
        &mut d,
        "cursor after seek_write of nothing",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "seek_read of nothing", &mut f, &mut m, |h| {
        seek_read_n(h, 0, 3)
    });
    both(
        &mut d,
        "cursor after seek_read of nothing",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(
        &mut d,
        "read_to_end from the cursor",
        &mut f,
        &mut m,
        read_to_end_,
    );
    drop((f, m));
    t.same_files(&mut d, "after seek_write");
    d.finish();
}

#[test]
fn clones_share_the_cursor_and_other_opens_do_not() {
    let t = Twins::new(&pattern(0, 4096));
    let (mut f, mut m) = t.open(&Open::RW);
    let (mut fc, mut mc) = (f.try_clone().unwrap(), m.try_clone().unwrap());
    let (mut fo, mut mo) = t.open(&Open::RO);
    let mut d = Diffs::default();
    both(&mut d, "seek the original", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(1000))
    });
    cursors(&mut d, "the clone's cursor", &mut fc, &mut mc, 1000);
    cursors(&mut d, "the other open's cursor", &mut fo, &mut mo, 0);
    both(
        &mut d,
        "seek_read through the clone",
        &mut fc,
        &mut mc,
        |h| seek_read_n(h, 10, 3000),
    );
    cursors(&mut d, "the original after it", &mut f, &mut m, 3010);
    both(&mut d, "read through the original", &mut f, &mut m, |h| {
        read_n(h, 6)
    });
    cursors(&mut d, "the clone after it", &mut fc, &mut mc, 3016);
    both(
        &mut d,
        "seek_write through the clone",
        &mut fc,
        &mut mc,
        |h| h.seek_write(b"xy", 5),
    );
    cursors(&mut d, "the original after that", &mut f, &mut m, 7);
    cursors(&mut d, "the other open, still", &mut fo, &mut mo, 0);
    // A clone of a clone, and the clone outliving the original.
    let (mut fcc, mut mcc) = (fc.try_clone().unwrap(), mc.try_clone().unwrap());
    drop((f, m));
    both(
        &mut d,
        "seek End(-1) via the second clone",
        &mut fcc,
        &mut mcc,
        |h| h.seek(SeekFrom::End(-1)),
    );
    cursors(&mut d, "the first clone", &mut fc, &mut mc, 4095);
    both(
        &mut d,
        "write through the first clone",
        &mut fc,
        &mut mc,
        |h| h.write(b"tail"),
    );
    both(&mut d, "length after it", &mut fcc, &mut mcc, |h| h.h_len());
    drop((fc, mc, fcc, mcc, fo, mo));
    t.same_files(&mut d, "after the clones' writes");
    d.finish();
}

#[test]
fn read_only_handles_refuse_writes_like_file() {
    let t = Twins::new(&pattern(0, 5000));
    let (mut f, mut m) = t.open(&Open::RO);
    let mut d = Diffs::default();
    f.seek(SeekFrom::Start(100)).unwrap();
    m.seek(SeekFrom::Start(100)).unwrap();
    refused(&mut d, "write", &t, &mut f, &mut m, |h| h.write(b"x"));
    refused(&mut d, "write_all", &t, &mut f, &mut m, |h| {
        h.write_all(b"xyz")
    });
    refused(&mut d, "write_vectored", &t, &mut f, &mut m, |h| {
        h.write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")])
    });
    refused(&mut d, "seek_write inside", &t, &mut f, &mut m, |h| {
        h.seek_write(b"x", 10)
    });
    refused(&mut d, "seek_write past the end", &t, &mut f, &mut m, |h| {
        h.seek_write(b"x", 90_000)
    });
    refused(&mut d, "set_len(10)", &t, &mut f, &mut m, |h| {
        h.h_set_len(10)
    });
    refused(&mut d, "set_len(90000)", &t, &mut f, &mut m, |h| {
        h.h_set_len(90_000)
    });
    refused(&mut d, "sync_all", &t, &mut f, &mut m, |h| h.h_sync_all());
    refused(&mut d, "sync_data", &t, &mut f, &mut m, |h| h.h_sync_data());
    refused(&mut d, "flush", &t, &mut f, &mut m, |h| h.flush());
    // What Windows says: ERROR_ACCESS_DENIED, for File and MmapFile alike.
    for (what, r) in [
        ("File::write", f.write(b"x").map(drop)),
        ("MmapFile::write", m.write(b"x").map(drop)),
        ("File::seek_write", f.seek_write(b"x", 0).map(drop)),
        ("MmapFile::seek_write", m.seek_write(b"x", 0).map(drop)),
    ] {
        os_error(&mut d, what, &r, ERROR_ACCESS_DENIED);
    }
    // Windows checks the handle's FILE_WRITE_DATA access for
    // FileEndOfFileInformation; wine 8 does not, and its ftruncate of the
    // read-only Unix descriptor fails with EINVAL.
    let file_says = f.set_len(1);
    if !wine_quirk(
        file_says.as_ref().err().and_then(io::Error::raw_os_error) == Some(ERROR_INVALID_PARAMETER),
        "set_len on a read-only handle",
        "File gets ERROR_INVALID_PARAMETER (wine truncates with ftruncate on the \
         read-only Unix descriptor, EINVAL), where Windows gives ERROR_ACCESS_DENIED",
    ) {
        os_error(&mut d, "File::set_len", &file_says, ERROR_ACCESS_DENIED);
        os_error(
            &mut d,
            "MmapFile::set_len",
            &m.set_len(1),
            ERROR_ACCESS_DENIED,
        );
    }
    both(&mut d, "reads still work", &mut f, &mut m, |h| {
        seek_read_n(h, 20, 0)
    });
    drop((f, m));
    t.same_files(&mut d, "after refused writes");
    d.finish();
}

#[test]
fn write_only_and_append_handles_like_file() {
    let t = Twins::new(&pattern(0, 3000));
    let mut d = Diffs::default();
    {
        let (mut f, mut m) = t.open(&Open::WO);
        refused(&mut d, "write-only: read", &t, &mut f, &mut m, |h| {
            read_n(h, 10)
        });
        refused(
            &mut d,
            "write-only: read_to_end",
            &t,
            &mut f,
            &mut m,
            read_to_end_,
        );
        refused(&mut d, "write-only: seek_read", &t, &mut f, &mut m, |h| {
            seek_read_n(h, 10, 0)
        });
        refused(
            &mut d,
            "write-only: read_vectored",
            &t,
            &mut f,
            &mut m,
            |h| read_vectored_n(h, 3, 3),
        );
        let r = m.read(&mut [0; 4]);
        os_error(
            &mut d,
            "write-only: MmapFile::read",
            &r,
            ERROR_ACCESS_DENIED,
        );
        both(&mut d, "write-only: write", &mut f, &mut m, |h| {
            h.write(b"WO")
        });
        both(&mut d, "write-only: seek_write", &mut f, &mut m, |h| {
            h.seek_write(b"wo", 2500)
        });
        both(&mut d, "write-only: cursor", &mut f, &mut m, |h| {
            h.stream_position()
        });
        both(&mut d, "write-only: set_len", &mut f, &mut m, |h| {
            h.h_set_len(2800)
        });
        both(&mut d, "write-only: metadata", &mut f, &mut m, meta_);
    }
    for (name, how) in [("append", Open::APPEND), ("read+append", Open::READ_APPEND)] {
        let (mut f, mut m) = t.open(&how);
        both(
            &mut d,
            &format!("{name}: seek Start(5)"),
            &mut f,
            &mut m,
            |h| h.seek(SeekFrom::Start(5)),
        );
        both(&mut d, &format!("{name}: write"), &mut f, &mut m, |h| {
            h.write(b"appended")
        });
        both(
            &mut d,
            &format!("{name}: cursor after it"),
            &mut f,
            &mut m,
            |h| h.stream_position(),
        );
        both(
            &mut d,
            &format!("{name}: seek_write at 0"),
            &mut f,
            &mut m,
            |h| h.seek_write(b"at0", 0),
        );
        both(
            &mut d,
            &format!("{name}: cursor after that"),
            &mut f,
            &mut m,
            |h| h.stream_position(),
        );
        both(&mut d, &format!("{name}: length"), &mut f, &mut m, |h| {
            h.h_len()
        });
        both(&mut d, &format!("{name}: seek_read"), &mut f, &mut m, |h| {
            seek_read_n(h, 16, 0)
        });
        both(&mut d, &format!("{name}: set_len"), &mut f, &mut m, |h| {
            h.h_set_len(100)
        });
        drop((f, m));
        t.same_files(&mut d, name);
    }
    t.same_files(&mut d, "after write-only and append handles");
    d.finish();
}

#[test]
fn set_len_metadata_and_syncs_like_file() {
    let t = Twins::new(&pattern(0, 8192));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    both(&mut d, "seek to 6000", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(6000))
    });
    for size in [100, 0, 70_000, 4096, 4097, 1 << 32] {
        both(&mut d, &format!("set_len({size})"), &mut f, &mut m, |h| {
            h.h_set_len(size)
        });
        // The cursor does not move.
        cursors(
            &mut d,
            &format!("after set_len({size})"),
            &mut f,
            &mut m,
            6000,
        );
        both(
            &mut d,
            &format!("length after set_len({size})"),
            &mut f,
            &mut m,
            |h| h.h_len(),
        );
        both(
            &mut d,
            &format!("metadata after set_len({size})"),
            &mut f,
            &mut m,
            meta_,
        );
        both(
            &mut d,
            &format!("read after set_len({size})"),
            &mut f,
            &mut m,
            |h| seek_read_n(h, 16, 6000),
        );
        h_seek(&mut d, &mut f, &mut m, 6000);
    }
    d.same(
        "len() is metadata's",
        f.metadata().map(|x| x.len()),
        m.len(),
    );
    d.same(
        "is_empty",
        Ok(f.metadata().unwrap().len() == 0),
        m.is_empty(),
    );
    for size in [i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        both(&mut d, &format!("set_len({size})"), &mut f, &mut m, |h| {
            h.h_set_len(size)
        });
    }
    both(&mut d, "length after huge set_len", &mut f, &mut m, |h| {
        h.h_len()
    });
    both(&mut d, "set_len(300) at last", &mut f, &mut m, |h| {
        h.h_set_len(300)
    });
    both(&mut d, "sync_all", &mut f, &mut m, |h| h.h_sync_all());
    both(&mut d, "sync_data", &mut f, &mut m, |h| h.h_sync_data());
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    both(&mut d, "seek End(-10)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(-10))
    });
    both(&mut d, "seek End(-301)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(-301))
    });
    both(&mut d, "seek Current(-1000)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Current(-1000))
    });
    both(&mut d, "seek Current(i64::MAX)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Current(i64::MAX))
    });
    both(&mut d, "cursor after the seeks", &mut f, &mut m, |h| {
        h.stream_position()
    });
    drop((f, m));
    t.same_files(&mut d, "after set_len");
    d.finish();
}

/// Seeks both to `to`, recording a difference if they disagree.
fn h_seek(d: &mut Diffs, f: &mut File, m: &mut MmapFile, to: u64) {
    both(d, &format!("seek Start({to})"), f, m, |h| {
        h.seek(SeekFrom::Start(to))
    });
}
