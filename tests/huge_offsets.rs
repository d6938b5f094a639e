//! Offsets and lengths near `u64::MAX` and `i64::MAX` (positional I/O,
//! `set_len`, `seek`) through handles of every access mode, writes at the
//! file system's largest offset, and writes 1 TiB past the end: the same
//! answers as `File`, and where `File` refuses, nothing changes
//! (`common::twin::refused`).
//!
//! A case the file system cannot show is skipped with a message.

// Unix only: `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::pattern::content;
use common::skip;
use common::twin::{
    Diffs, Handle, Open, Pair, Twins, both, meta_, read_at_n, read_exact_at_n, read_n, refused,
};

// ---------------------------------------------------------------------------
// Offsets and lengths near u64::MAX and i64::MAX
// ---------------------------------------------------------------------------

const I64_MAX: u64 = i64::MAX as u64;

/// A result of the operations of [`huge_offsets`].
#[derive(Debug, PartialEq)]
enum Val {
    N(usize),
    Bytes(Vec<u8>),
    Unit,
}

/// Positional reads and writes at huge offsets, through handles of the
/// given access, each on fresh twin files with the cursor moved to 10.
fn huge_offsets(how: Open) {
    let mut d = Diffs::default();
    let mut run = |what: String, op: &dyn Fn(&mut dyn Handle) -> io::Result<Val>| {
        let t = Twins::new(&content(100));
        let (mut f, mut m) = t.open(&how);
        if mmapfile::MAPPED_IO {
            assert!(m.is_mapped());
        }
        f.seek(SeekFrom::Start(10)).unwrap();
        m.seek(SeekFrom::Start(10)).unwrap();
        refused(&mut d, &what, &t, &mut f, &mut m, op);
    };
    let offsets = [
        u64::MAX,
        u64::MAX - 1,
        I64_MAX + 1,
        I64_MAX,
        I64_MAX - 1,
        I64_MAX - 4096,
        1 << 62,
    ];
    for off in offsets {
        for len in [0usize, 1, 2, 4096] {
            run(format!("write_at({len}, {off})"), &|h| {
                h.write_at(&vec![b'w'; len], off).map(Val::N)
            });
            run(format!("read_at({len}, {off})"), &|h| {
                read_at_n(h, len, off).map(Val::Bytes)
            });
            run(format!("read_exact_at({len}, {off})"), &|h| {
                read_exact_at_n(h, len, off).map(Val::Bytes)
            });
        }
        run(format!("write_all_at(3, {off})"), &|h| {
            h.write_all_at(b"abc", off).map(|()| Val::Unit)
        });
    }
    // A range that starts in the file and would end past i64::MAX cannot be
    // built (the buffer would not fit in memory); one starting just below
    // the end of the file and running past it is an ordinary short read.
    run("read_at(4096, 90)".into(), &|h| {
        read_at_n(h, 4096, 90).map(Val::Bytes)
    });
    d.finish();
}

#[test]
fn huge_offsets_read_write_handle() {
    huge_offsets(Open::RW);
}

#[test]
fn huge_offsets_read_only_handle() {
    // The kernel rejects a negative offset before it looks at the access
    // mode: EINVAL, not EBADF.
    huge_offsets(Open::RO);
}

#[test]
fn huge_offsets_write_only_handle() {
    huge_offsets(Open::WO);
}

#[test]
fn huge_offsets_append_handle() {
    huge_offsets(Open::READ_APPEND);
}

#[test]
fn set_len_huge() {
    let t = Twins::new(&content(100));
    let (mut f, mut m) = t.open(&Open::RW);
    f.seek(SeekFrom::Start(10)).unwrap();
    m.seek(SeekFrom::Start(10)).unwrap();
    let mut d = Diffs::default();
    for size in [
        u64::MAX,
        u64::MAX - 1,
        I64_MAX + 1,
        I64_MAX,
        I64_MAX - 1,
        1 << 62,
    ] {
        refused(
            &mut d,
            &format!("set_len({size})"),
            &t,
            &mut f,
            &mut m,
            |h| h.h_set_len(size),
        );
    }
    // Through a read-only handle: EINVAL for a size that fits, InvalidInput
    // for one that does not.
    let mut fr = File::open(&t.file).unwrap();
    let mut mr = MmapFile::open(&t.mmap).unwrap();
    for size in [0, 50, 100, 200, I64_MAX, u64::MAX] {
        refused(
            &mut d,
            &format!("set_len({size}) through a read-only handle"),
            &t,
            &mut fr,
            &mut mr,
            |h| h.h_set_len(size),
        );
    }
    d.finish();
}

#[test]
fn seek_huge() {
    let t = Twins::new(&content(100));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    let targets = [
        SeekFrom::Start(u64::MAX),
        SeekFrom::Start(I64_MAX + 1),
        SeekFrom::Start(I64_MAX),
        SeekFrom::Start(I64_MAX - 1),
        SeekFrom::Start(1 << 62),
        SeekFrom::Start(1 << 44),
        SeekFrom::Current(i64::MAX),
        SeekFrom::Current(i64::MAX - 10),
        SeekFrom::Current(i64::MAX - 9),
        SeekFrom::Current(i64::MIN),
        SeekFrom::Current(-10),
        SeekFrom::Current(-11),
        SeekFrom::End(i64::MIN),
        SeekFrom::End(i64::MAX),
        SeekFrom::End(i64::MAX - 100),
        SeekFrom::End(i64::MAX - 99),
        SeekFrom::End(-100),
        SeekFrom::End(-101),
    ];
    for target in targets {
        // From 10 each time.
        f.seek(SeekFrom::Start(10)).unwrap();
        m.seek(SeekFrom::Start(10)).unwrap();
        let what = format!("seek({target:?}) from 10");
        // Same result; where it fails, the cursor, length and bytes stay.
        refused(&mut d, &what, &t, &mut f, &mut m, |h| h.seek(target));
        both(&mut d, &format!("{what}: then read"), &mut f, &mut m, |h| {
            read_n(h, 8)
        });
        both(
            &mut d,
            &format!("{what}: then stream_position"),
            &mut f,
            &mut m,
            |h| h.stream_position(),
        );
    }
    d.finish();
}

/// The largest offset the file system takes (`s_maxbytes`): the largest
/// `lseek` target it accepts, found by bisection with a `File`.
fn fs_max_offset(path: &Path) -> u64 {
    let mut f = File::open(path).unwrap();
    if f.seek(SeekFrom::Start(I64_MAX)).is_ok() {
        return I64_MAX;
    }
    let (mut ok, mut bad) = (0u64, I64_MAX);
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if f.seek(SeekFrom::Start(mid)).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

#[test]
fn writes_at_the_file_systems_largest_offset() {
    let probe = Twins::new(b"");
    let max = fs_max_offset(&probe.file);
    println!(
        "largest offset on this file system: {max} ({:.1} TiB)",
        max as f64 / 2f64.powi(40)
    );
    if max == I64_MAX {
        return skip("the file system has no limit below i64::MAX");
    }
    let mut d = Diffs::default();
    // (offset, bytes): the last byte, a write cut short at the limit, a
    // write at the limit, and cursor writes there.
    for (off, n) in [
        (max - 1, 1usize),
        (max - 1, 2),
        (max, 1),
        (max - 4096, 10_000),
    ] {
        let t = Twins::new(&content(100));
        let (mut f, mut m) = t.open(&Open::RW);
        let what = format!("write_at({n}, {off})");
        let Pair { file: fr, .. } = both(&mut d, &what, &mut f, &mut m, |h| {
            h.write_at(&vec![b'x'; n], off)
        });
        both(&mut d, &format!("{what}: length"), &mut f, &mut m, |h| {
            h.h_len()
        });
        both(&mut d, &format!("{what}: metadata"), &mut f, &mut m, meta_);
        if fr.is_ok() {
            both(&mut d, &format!("{what}: read back"), &mut f, &mut m, |h| {
                read_at_n(h, n + 10, off)
            });
            both(
                &mut d,
                &format!("{what}: read the gap"),
                &mut f,
                &mut m,
                |h| read_at_n(h, 64, off - 64),
            );
        }
        // The same through the cursor.
        let what = format!("seek({off}) + write({n})");
        both(&mut d, &what, &mut f, &mut m, |h| {
            h.seek(SeekFrom::Start(off))?;
            h.write(&vec![b'y'; n])
        });
        both(&mut d, &format!("{what}: cursor"), &mut f, &mut m, |h| {
            h.stream_position()
        });
        both(&mut d, &format!("{what}: length"), &mut f, &mut m, |h| {
            h.h_len()
        });
        drop((f, m));
        d.check(
            fs::metadata(&t.file).unwrap().len() == fs::metadata(&t.mmap).unwrap().len(),
            format!(
                "{what}: on disk, File's file is {} bytes, MmapFile's {}",
                fs::metadata(&t.file).unwrap().len(),
                fs::metadata(&t.mmap).unwrap().len()
            ),
        );
    }
    d.finish();
}

#[test]
fn write_far_past_the_end() {
    const TIB: u64 = 1 << 40;
    let t = Twins::new(&content(100));
    let (mut f, mut m) = t.open(&Open::RW);
    let mut d = Diffs::default();
    let Pair { file: fr, .. } = both(&mut d, "write_at(5, 1 TiB)", &mut f, &mut m, |h| {
        h.write_at(b"far!!", TIB)
    });
    if let Err(e) = &fr.res {
        println!("this file system refuses a write at 1 TiB: {e:?}");
    }
    both(&mut d, "length", &mut f, &mut m, |h| h.h_len());
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "read back", &mut f, &mut m, |h| {
        read_at_n(h, 16, TIB - 3)
    });
    for gap in [100, 4096, TIB / 2, TIB - 4096, TIB - 1] {
        let Pair { mm: mr, .. } = both(
            &mut d,
            &format!("read the gap at {gap}"),
            &mut f,
            &mut m,
            |h| read_at_n(h, 64.min((TIB - gap) as usize), gap),
        );
        if fr.is_ok() {
            d.check(
                matches!(&mr.res, Ok(v) if !v.is_empty() && v.iter().all(|&b| b == 0)),
                format!("gap at {gap} must read as zeros: {mr:?}"),
            );
        }
    }
    both(
        &mut d,
        "read_exact_at across the gap's end",
        &mut f,
        &mut m,
        |h| read_exact_at_n(h, 8, TIB - 4),
    );
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "read at the end", &mut f, &mut m, |h| read_n(h, 8));
    both(&mut d, "write at the end", &mut f, &mut m, |h| {
        h.write(b"more")
    });
    both(&mut d, "length after", &mut f, &mut m, |h| h.h_len());
    // Shrinking it back.
    both(&mut d, "set_len(50)", &mut f, &mut m, |h| h.h_set_len(50));
    both(&mut d, "read after shrinking", &mut f, &mut m, |h| {
        read_at_n(h, 100, 0)
    });
    drop((f, m));
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "file contents after shrinking differ",
    );
    d.finish();
}
