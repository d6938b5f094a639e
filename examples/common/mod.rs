//! What the measuring examples share: the file they read, the
//! pseudo-random numbers that fill it and pick offsets, and on Windows
//! Unix's `read_at` ([`FileExt`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

const MIB: u64 = 1 << 20;

/// Unix's `FileExt::read_at` on Windows: `seek_read`, which also moves the
/// cursor (the examples do not use it).
#[cfg(windows)]
#[allow(dead_code)] // sequential_reads has no use for it.
pub trait FileExt: std::os::windows::fs::FileExt {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.seek_read(buf, offset)
    }
}

#[cfg(windows)]
impl<T: std::os::windows::fs::FileExt + ?Sized> FileExt for T {}

/// xorshift64: the same sequence on every run, for every contender.
pub struct Offsets(pub u64);

impl Offsets {
    /// The next number of the sequence, below `n`.
    pub fn next_below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A file of pseudo-random bytes, synced, in a fresh temporary directory
/// (kept alive by the returned guard), of as many MiB as the command
/// line's first argument says (128 without one). Returns the directory,
/// the file's path and its size in MiB.
pub fn data_file(name: &str) -> io::Result<(tempfile::TempDir, PathBuf, u64)> {
    let size_mb: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a size in MiB: {arg:?}"),
            )
        })?,
        None => 128,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(name);
    let mut out = BufWriter::new(File::create(&path)?);
    let mut fill = Offsets(0x2545_f491_4f6c_dd1d);
    for _ in 0..size_mb * MIB / 8 {
        out.write_all(&fill.next_below(u64::MAX).to_le_bytes())?;
    }
    out.into_inner()?.sync_all()?;
    Ok((dir, path, size_mb))
}
