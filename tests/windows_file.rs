//! Windows' `File` behaviour, call for call (`common::twin`): `seek_read`
//! and `seek_write` move the cursor; clones share it; read-only and
//! write-only handles refuse with `File`'s OS error and change nothing;
//! `set_len`, `metadata`, the syncs, `set_permissions` and the times; the
//! byte-range locks (a second handle's `try_lock` gets `WouldBlock`, and its
//! reads and writes `ERROR_LOCK_VIOLATION`); the opens (`create_new`,
//! missing files, directories, `OpenOptionsExt`); `into_file` and
//! `TryFrom<File>`.
#![cfg(windows)]

use std::fs::{self, File, FileTimes, TryLockError};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::windows::fs::{FileExt, FileTimesExt, MetadataExt, OpenOptionsExt};

use std::time::{Duration, SystemTime};

use mmapfile::MmapFile;

mod common;
use common::pattern::pattern;
use common::twin::{
    Diffs, Handle, Open, Twins, both, meta_, read_n, read_to_end_, read_vectored_n, refused,
    round_trip, seek_read_n,
};
use common::wine_quirk;

/// Windows' error codes (winerror.h) the tests expect of `File`.
const ERROR_FILE_NOT_FOUND: i32 = 2;
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SHARING_VIOLATION: i32 = 32;
const ERROR_LOCK_VIOLATION: i32 = 33;
const ERROR_FILE_EXISTS: i32 = 80;
const ERROR_INVALID_PARAMETER: i32 = 87;
/// `FILE_FLAG_BACKUP_SEMANTICS`: what opening a directory takes.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
const FILE_ATTRIBUTE_READONLY: u32 = 0x1;

/// Records a difference unless `r` failed with OS error `code`.
fn os_error<T: std::fmt::Debug>(d: &mut Diffs, what: &str, r: &io::Result<T>, code: i32) {
    match r {
        Err(e) if e.raw_os_error() == Some(code) => {}
        other => d.push(format!("{what}: want OS error {code}, got {other:?}")),
    }
}

/// Both cursors, which must agree with each other and with `want`.
fn cursors(d: &mut Diffs, what: &str, f: &mut File, m: &mut MmapFile, want: u64) {
    let p = d.same(what, f.stream_position(), m.stream_position());
    d.check(
        p.file.res == Ok(want),
        format!("{what}: want cursor {want}, File's is {:?}", p.file),
    );
}

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

#[test]
fn permissions_and_times_like_file() {
    let t = Twins::new(b"times");
    let (f, m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    d.same("set_modified", f.set_modified(when), m.set_modified(when));
    let created = when - Duration::from_secs(86_400);
    let accessed = when + Duration::from_secs(60);
    let times = || {
        FileTimes::new()
            .set_accessed(accessed)
            .set_modified(when)
            .set_created(created)
    };
    d.same("set_times", f.set_times(times()), m.set_times(times()));
    let (fm, mm) = (f.metadata().unwrap(), m.metadata().unwrap());
    for (what, a, b) in [
        ("modified", fm.modified().ok(), mm.modified().ok()),
        ("created", fm.created().ok(), mm.created().ok()),
        ("accessed", fm.accessed().ok(), mm.accessed().ok()),
    ] {
        d.check(a == b, format!("{what}: File's {a:?}, MmapFile's {b:?}"));
    }
    d.check(
        mm.modified().ok() == Some(when),
        format!("modified is {:?}, set {when:?}", mm.modified()),
    );
    // Read-only through the handle, then back.
    let mut ro = fm.permissions();
    ro.set_readonly(true);
    d.same(
        "set_permissions(readonly)",
        f.set_permissions(ro.clone()),
        m.set_permissions(ro),
    );
    let (fa, ma) = (
        f.metadata().unwrap().file_attributes(),
        m.metadata().unwrap().file_attributes(),
    );
    d.check(
        fa == ma,
        format!("attributes: File's {fa:#x}, MmapFile's {ma:#x}"),
    );
    d.check(
        ma & FILE_ATTRIBUTE_READONLY != 0,
        format!("set_permissions(readonly) left attributes {ma:#x}"),
    );
    d.same(
        "open a read-only file for writing",
        fs::OpenOptions::new().write(true).open(&t.file).map(drop),
        MmapFile::options().write(true).open(&t.mmap).map(drop),
    );
    let mut rw = f.metadata().unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    rw.set_readonly(false);
    d.same(
        "set_permissions(writable)",
        f.set_permissions(rw.clone()),
        m.set_permissions(rw),
    );
    d.finish();
}

/// Locks are byte-range locks of the whole file on Windows, held by the
/// handle that took them: another handle's `try_lock` gets `WouldBlock`,
/// and, the locks being mandatory, its reads and writes fail with
/// `ERROR_LOCK_VIOLATION`.
#[test]
fn locks_like_file() {
    let t = Twins::new(&pattern(0, 1000));
    let mut d = Diffs::default();
    let (f, m) = t.open(&Open::RW);
    let (mut f2, mut m2) = t.open(&Open::RW);
    let would_block = |r: Result<(), TryLockError>| match r {
        Ok(()) => "Ok".to_string(),
        Err(TryLockError::WouldBlock) => "WouldBlock".to_string(),
        Err(TryLockError::Error(e)) => format!("Error({:?}, {:?})", e.kind(), e.raw_os_error()),
    };
    d.same(
        "try_lock",
        Ok(would_block(f.try_lock())),
        Ok(would_block(m.try_lock())),
    );
    let (a, b) = (would_block(f2.try_lock()), would_block(m2.try_lock()));
    d.check(
        a == b,
        format!("second handle's try_lock: File {a}, MmapFile {b}"),
    );
    d.check(
        a == "WouldBlock",
        format!("second handle's try_lock: File gives {a}"),
    );
    let (a, b) = (
        would_block(f2.try_lock_shared()),
        would_block(m2.try_lock_shared()),
    );
    d.check(
        a == b,
        format!("second handle's try_lock_shared: File {a}, MmapFile {b}"),
    );
    d.check(
        a == "WouldBlock",
        format!("second handle's try_lock_shared: File gives {a}"),
    );
    // A File on the MmapFile's file is held off as well.
    let plain = File::open(&t.mmap).unwrap();
    let c = would_block(plain.try_lock_shared());
    d.check(
        c == "WouldBlock",
        format!("a File's try_lock_shared on MmapFile's lock: {c}"),
    );
    let r = both(&mut d, "second handle's read", &mut f2, &mut m2, |h| {
        read_n(h, 10)
    });
    let w = both(&mut d, "second handle's write", &mut f2, &mut m2, |h| {
        h.write(b"w")
    });
    if !wine_quirk(
        r.file.is_ok() || w.file.is_ok(),
        "reads and writes through another handle under a lock",
        "they succeed (wine does not enforce byte-range locks on ReadFile and \
         WriteFile), where Windows fails them with ERROR_LOCK_VIOLATION",
    ) {
        let (r, w) = (r.mm.res.map_err(fail_error), w.mm.res.map_err(fail_error));
        os_error(&mut d, "second handle's read", &r, ERROR_LOCK_VIOLATION);
        os_error(&mut d, "second handle's write", &w, ERROR_LOCK_VIOLATION);
    }
    both(&mut d, "second handle's metadata", &mut f2, &mut m2, meta_);
    d.same("unlock", f.unlock(), m.unlock());
    d.same(
        "second handle's try_lock now",
        Ok(would_block(f2.try_lock())),
        Ok(would_block(m2.try_lock())),
    );
    d.same(
        "first handle's try_lock_shared now",
        Ok(would_block(f.try_lock_shared())),
        Ok(would_block(m.try_lock_shared())),
    );
    d.same("unlock the second", f2.unlock(), m2.unlock());
    // Shared locks share.
    d.same("lock_shared", f.lock_shared(), m.lock_shared());
    d.same("second lock_shared", f2.lock_shared(), m2.lock_shared());
    d.same(
        "second handle's read under shared locks",
        read_n(&mut f2, 4),
        read_n(&mut m2, 4),
    );
    d.same(
        "try_lock under another's shared lock",
        Ok(would_block(f.try_lock())),
        Ok(would_block(m.try_lock())),
    );
    d.same("unlock", f.unlock(), m.unlock());
    d.same("unlock the second", f2.unlock(), m2.unlock());
    d.same("unlock without a lock", f.unlock(), m.unlock());
    // A clone refers to the same file object as the handle that locked.
    d.same("lock", f.lock(), m.lock());
    let (mut fc, mut mc) = (f.try_clone().unwrap(), m.try_clone().unwrap());
    d.same(
        "clone's try_lock",
        Ok(would_block(fc.try_lock())),
        Ok(would_block(mc.try_lock())),
    );
    both(&mut d, "clone's read", &mut fc, &mut mc, |h| read_n(h, 4));
    drop((f, m, fc, mc));
    // Closing the handles released the lock.
    d.same(
        "try_lock after close",
        Ok(would_block(f2.try_lock())),
        Ok(would_block(m2.try_lock())),
    );
    d.finish();
}

/// An error again from its kind and OS code, for [`os_error`].
fn fail_error(f: common::twin::Fail) -> io::Error {
    match f.os {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(f.kind),
    }
}

/// Opens the twins with the same builder calls on `fs::OpenOptions` and
/// `mmapfile::OpenOptions`, comparing the outcomes (see `Diffs::open`).
macro_rules! open_both {
    ($d:expr, $what:expr, $paths:expr, |$o:ident| $calls:expr) => {{
        let paths = $paths;
        let mut $o = fs::OpenOptions::new();
        $calls;
        let f = $o.open(paths.0);
        let mut $o = MmapFile::options();
        $calls;
        let m = $o.open(paths.1);
        $d.open($what, f, m)
    }};
}

#[test]
fn opens_like_file() {
    let t = Twins::absent();
    let mut d = Diffs::default();
    let r = MmapFile::open(&t.mmap).map(drop);
    os_error(&mut d, "open of a missing file", &r, ERROR_FILE_NOT_FOUND);
    d.same("open of a missing file", File::open(&t.file).map(drop), r);
    d.same(
        "create_new",
        File::create_new(&t.file).map(drop),
        MmapFile::create_new(&t.mmap).map(drop),
    );
    let r = MmapFile::create_new(&t.mmap).map(drop);
    os_error(
        &mut d,
        "create_new of an existing file",
        &r,
        ERROR_FILE_EXISTS,
    );
    d.same("create_new again", File::create_new(&t.file).map(drop), r);
    if let Some((mut f, mut m)) = d.open("create", File::create(&t.file), MmapFile::create(&t.mmap))
    {
        both(&mut d, "create: write", &mut f, &mut m, |h| {
            h.write(b"created")
        });
        both(&mut d, "create: read", &mut f, &mut m, |h| read_n(h, 4));
    }
    for (what, how) in [
        (
            "truncate without write",
            Open {
                read: true,
                truncate: true,
                ..Open::default()
            },
        ),
        (
            "create without write",
            Open {
                read: true,
                create: true,
                ..Open::default()
            },
        ),
        ("no access at all", Open::default()),
        (
            "truncate",
            Open {
                write: true,
                truncate: true,
                ..Open::default()
            },
        ),
        (
            "append with truncate",
            Open {
                append: true,
                truncate: true,
                ..Open::default()
            },
        ),
    ] {
        d.same(
            what,
            File::h_open(&t.file, &how).map(drop),
            MmapFile::h_open(&t.mmap, &how).map(drop),
        );
    }
    // A directory opens only with FILE_FLAG_BACKUP_SEMANTICS.
    let dir = t.file.parent().unwrap();
    d.same(
        "open a directory",
        File::open(dir).map(drop),
        MmapFile::open(dir).map(drop),
    );
    if let Some((mut f, mut m)) = open_both!(
        d,
        "open a directory with FILE_FLAG_BACKUP_SEMANTICS",
        (dir, dir),
        |o| o.read(true).custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
    ) {
        d.check(!m.is_mapped(), "a directory is mapped");
        both(&mut d, "read of a directory", &mut f, &mut m, |h| {
            read_n(h, 4)
        });
        both(&mut d, "directory metadata", &mut f, &mut m, meta_);
    }
    // share_mode(0): no one else may open it meanwhile.
    let excl = (t.file.with_extension("excl"), t.mmap.with_extension("excl"));
    if let Some((f, m)) = open_both!(d, "create with share_mode(0)", (&excl.0, &excl.1), |o| o
        .read(true)
        .write(true)
        .create(true)
        .share_mode(0))
    {
        let r = MmapFile::open(&excl.1).map(drop);
        os_error(
            &mut d,
            "open of a file shared with no one",
            &r,
            ERROR_SHARING_VIOLATION,
        );
        d.same(
            "open of a file shared with no one",
            File::open(&excl.0).map(drop),
            r,
        );
        drop((f, m));
    }
    // attributes and access_mode.
    let hidden = (
        t.file.with_extension("hidden"),
        t.mmap.with_extension("hidden"),
    );
    if let Some((f, m)) = open_both!(d, "create hidden", (&hidden.0, &hidden.1), |o| o
        .write(true)
        .create(true)
        .attributes(FILE_ATTRIBUTE_HIDDEN))
    {
        let (a, b) = (
            f.metadata().unwrap().file_attributes(),
            m.metadata().unwrap().file_attributes(),
        );
        d.check(
            a == b && b & FILE_ATTRIBUTE_HIDDEN != 0,
            format!("attributes: File {a:#x}, MmapFile {b:#x}"),
        );
    }
    const GENERIC_READ: u32 = 0x8000_0000;
    if let Some((mut f, mut m)) =
        open_both!(d, "access_mode(GENERIC_READ)", (&t.file, &t.mmap), |o| o
            .access_mode(GENERIC_READ))
    {
        both(
            &mut d,
            "access_mode(GENERIC_READ): read",
            &mut f,
            &mut m,
            read_to_end_,
        );
        both(
            &mut d,
            "access_mode(GENERIC_READ): write",
            &mut f,
            &mut m,
            |h| h.write(b"no"),
        );
    }
    d.finish();
}

#[test]
fn into_file_and_try_from_keep_the_cursor() {
    let t = Twins::new(&pattern(0, 2000));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    both(&mut d, "seek_read", &mut f, &mut m, |h| {
        seek_read_n(h, 10, 1500)
    });
    let (fc, mc) = (f.try_clone().unwrap(), m.try_clone().unwrap());
    let (pf, f) = round_trip(f);
    let (pm, m) = round_trip(m);
    d.same("into_file: the File's offset", pf, pm);
    let (mut f, mut m) = (f.unwrap(), m.unwrap());
    d.check(!m.is_mapped(), "try_from gave a mapped handle");
    both(&mut d, "cursor after the round trip", &mut f, &mut m, |h| {
        h.stream_position()
    });
    // The clone still shares the cursor with the File.
    let mut mf = m.into_file().unwrap();
    let mut ff = f;
    d.same("File's write", ff.write(b"FILE"), mf.write(b"FILE"));
    let (mut fc, mut mc) = (fc, mc);
    both(
        &mut d,
        "clone's cursor after the File's write",
        &mut fc,
        &mut mc,
        |h| h.stream_position(),
    );
    let mut mm = MmapFile::try_from(mf).unwrap();
    d.same(
        "read after try_from",
        read_n(&mut ff, 8),
        read_n(&mut mm, 8),
    );
    drop((ff, mm, fc, mc));
    t.same_files(&mut d, "after the round trips");
    d.finish();
}
