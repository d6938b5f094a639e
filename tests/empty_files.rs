//! Empty files: mapped all the same, every read and seek as `File`'s, and
//! usable after growing and after `set_len(0)` (`common::twin`).

// Unix only: `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::SeekFrom;

use mmapfile::MmapFile;

mod common;
use common::twin::{
    Diffs, Open, Twins, both, meta_, read_at_n, read_exact_at_n, read_exact_n, read_n,
    read_to_end_, read_to_string_, read_vectored_n,
};

#[test]
fn empty_file() {
    let t = Twins::new(b"");
    let mut d = Diffs::default();
    {
        let mut f = File::open(&t.file).unwrap();
        let mut m = MmapFile::open(&t.mmap).unwrap();
        if mmapfile::MAPPED_IO {
            d.check(m.is_mapped(), "an empty regular file must be mapped");
        }
        d.same("len", f.metadata().map(|x| x.len()), m.len());
        d.same("is_empty", Ok(true), m.is_empty());
        both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 16));
        both(&mut d, "read_exact", &mut f, &mut m, |h| read_exact_n(h, 1));
        both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
        both(&mut d, "read_to_string", &mut f, &mut m, read_to_string_);
        both(&mut d, "read_at(16, 0)", &mut f, &mut m, |h| {
            read_at_n(h, 16, 0)
        });
        both(&mut d, "read_at(16, 4096)", &mut f, &mut m, |h| {
            read_at_n(h, 16, 4096)
        });
        both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
            read_exact_at_n(h, 1, 0)
        });
        both(&mut d, "read_vectored", &mut f, &mut m, |h| {
            read_vectored_n(h, 4, 4)
        });
        both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(0))
        });
        both(&mut d, "seek End(-1)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(-1))
        });
        both(&mut d, "seek End(5)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(5))
        });
        both(&mut d, "read past the end", &mut f, &mut m, |h| {
            read_n(h, 4)
        });
        both(&mut d, "metadata", &mut f, &mut m, meta_);
        both(&mut d, "write through read-only", &mut f, &mut m, |h| {
            h.write(b"x")
        });
    }
    // Writing grows it.
    let (mut f, mut m) = t.open(&Open::RW);
    if mmapfile::MAPPED_IO {
        d.check(
            m.is_mapped(),
            "an empty regular file must be mapped read-write",
        );
    }
    both(
        &mut d,
        "read of the empty file",
        &mut f,
        &mut m,
        read_to_end_,
    );
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"grown"));
    both(&mut d, "length", &mut f, &mut m, |h| h.h_len());
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 16, 0));
    both(&mut d, "write_at past the end", &mut f, &mut m, |h| {
        h.write_at(b"!", 10)
    });
    both(&mut d, "read_to_end from the start", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.check(
        fs::read(&t.file).unwrap() == fs::read(&t.mmap).unwrap(),
        "after flush the files on disk differ",
    );
    // Truncated back to empty, it is still usable.
    both(&mut d, "set_len(0)", &mut f, &mut m, |h| h.h_set_len(0));
    both(&mut d, "read_at after set_len(0)", &mut f, &mut m, |h| {
        read_at_n(h, 16, 0)
    });
    both(&mut d, "write after set_len(0)", &mut f, &mut m, |h| {
        h.write(b"z")
    });
    both(&mut d, "final contents", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });
    d.finish();
}
