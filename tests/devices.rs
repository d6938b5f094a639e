//! Character devices opened through `MmapFile` as through `File`:
//! `/dev/null`, `/dev/zero`, `/dev/urandom`, `/dev/full`. None is mapped;
//! every call gives `File`'s answer (`common::twin`).
//!
//! A device that cannot be opened here is skipped with a message.

// Unix only: `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Read, SeekFrom};

use mmapfile::MmapFile;

mod common;
use common::skip;
use common::twin::{
    Diffs, Pair, both, meta_, read_at_n, read_exact_at_n, read_exact_n, read_n, read_to_end_,
    read_vectored_n,
};

/// Opens `path` read+write with both types, or skips.
fn open_device(path: &str) -> Option<(File, MmapFile)> {
    match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => {
            let m = MmapFile::options()
                .read(true)
                .write(true)
                .open(path)
                .unwrap_or_else(|e| panic!("File opens {path}, MmapFile fails: {e}"));
            assert!(!m.is_mapped(), "{path} must not be mapped");
            Some((f, m))
        }
        Err(e) => {
            skip(&format!("cannot open {path}: {e}"));
            None
        }
    }
}

#[test]
fn dev_null() {
    let Some((mut f, mut m)) = open_device("/dev/null") else {
        return;
    };
    let mut d = Diffs::default();
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 64));
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"hello"));
    both(&mut d, "write_all", &mut f, &mut m, |h| {
        h.write_all(&[7u8; 100_000])
    });
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 64, 10));
    both(&mut d, "write_at", &mut f, &mut m, |h| {
        h.write_at(b"abc", 10)
    });
    both(&mut d, "read_exact", &mut f, &mut m, |h| read_exact_n(h, 1));
    both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
    both(&mut d, "seek Start(100)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(100))
    });
    both(&mut d, "seek End(-5)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(-5))
    });
    both(&mut d, "set_len", &mut f, &mut m, |h| h.h_set_len(10));
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.finish();
}

#[test]
fn dev_zero() {
    let Some((mut f, mut m)) = open_device("/dev/zero") else {
        return;
    };
    let mut d = Diffs::default();
    let Pair { mm: got, .. } = both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 100_000));
    d.check(
        matches!(&got.res, Ok(v) if v.len() == 100_000 && v.iter().all(|&b| b == 0)),
        format!(
            "MmapFile read of /dev/zero must be 100000 zeros, got {:?} bytes",
            got.res.as_ref().map(Vec::len)
        ),
    );
    both(&mut d, "read_exact", &mut f, &mut m, |h| {
        read_exact_n(h, 4097)
    });
    both(&mut d, "read_at", &mut f, &mut m, |h| {
        read_at_n(h, 5000, 12345)
    });
    both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
        read_exact_at_n(h, 5000, 1 << 40)
    });
    both(&mut d, "read_vectored", &mut f, &mut m, |h| {
        read_vectored_n(h, 3, 5000)
    });
    both(&mut d, "take(300000).read_to_end", &mut f, &mut m, |h| {
        let mut v = Vec::new();
        h.take(300_000).read_to_end(&mut v)?;
        Ok(v)
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"abc"));
    both(&mut d, "seek Start(1<<40)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(1 << 40))
    });
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    d.finish();
}

#[test]
fn dev_urandom() {
    let Some((mut f, mut m)) = open_device("/dev/urandom") else {
        return;
    };
    let mut d = Diffs::default();
    // Random bytes: compare how many, and that they are not all zero.
    let Pair { file: fr, mm: mr } = both(&mut d, "read length", &mut f, &mut m, |h| {
        read_n(h, 4096).map(|v| v.len())
    });
    d.check(
        fr.res == Ok(4096) && mr.res == Ok(4096),
        "reads of 4096 random bytes",
    );
    let mut buf = [0u8; 64];
    m.read_exact(&mut buf).unwrap();
    d.check(buf != [0u8; 64], "64 bytes of /dev/urandom are all zero");
    both(&mut d, "read_at length", &mut f, &mut m, |h| {
        read_at_n(h, 100, 0).map(|v| v.len())
    });
    both(&mut d, "seek Start(7)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(7))
    });
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    d.finish();
}

#[test]
fn dev_full() {
    let Some((mut f, mut m)) = open_device("/dev/full") else {
        return;
    };
    let mut d = Diffs::default();
    // Writes fail with ENOSPC; reads give zeros.
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"abc"));
    both(&mut d, "write_at", &mut f, &mut m, |h| {
        h.write_at(b"abc", 0)
    });
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 1000));
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.finish();
}
