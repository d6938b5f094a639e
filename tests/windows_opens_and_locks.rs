//! Windows' `File` behaviour, call for call (`common::twin`), for what
//! goes beyond bytes and cursors: `set_permissions` and the times; the
//! byte-range locks (a second handle's `try_lock` gets `WouldBlock`, and its
//! reads and writes `ERROR_LOCK_VIOLATION`); the opens (`create_new`,
//! missing files, directories, `OpenOptionsExt`); `into_file` and
//! `TryFrom<File>`.
#![cfg(windows)]

use std::fs::{self, File, FileTimes, TryLockError};
use std::io::{self, Write};
use std::os::windows::fs::{FileTimesExt, MetadataExt, OpenOptionsExt};
use std::time::{Duration, SystemTime};

use mmapfile::MmapFile;

mod common;
use common::pattern::pattern;
use common::twin::{
    Diffs, Handle, Open, Twins, both, meta_, read_n, read_to_end_, round_trip, seek_read_n,
};
use common::windows::*;
use common::wine_quirk;

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
