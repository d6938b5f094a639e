//! Reads that return what they read ([`read_n`], [`read_at_n`], ...), into
//! buffers filled with [`FILL`] first, and [`meta_`]: the comparable part
//! of metadata.

use std::io::{self, IoSliceMut};
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, MetadataExt};
#[cfg(windows)]
use std::os::windows::fs::MetadataExt;

use super::Handle;

/// What read buffers hold before a call, so that bytes it did not write
/// show.
pub const FILL: u8 = 0xEE;

/// `read` into `n` bytes: the bytes read.
pub fn read_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    let got = h.read(&mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

#[cfg(unix)]
pub fn read_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    let got = h.read_at(&mut buf, off)?;
    buf.truncate(got);
    Ok(buf)
}

/// Windows' `seek_read` into `n` bytes (it moves the cursor): the bytes
/// read.
#[cfg(windows)]
pub fn seek_read_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    let got = h.seek_read(&mut buf, off)?;
    buf.truncate(got);
    Ok(buf)
}

/// `read_exact_at` of `n` bytes: the buffer (whose content is unspecified
/// after an error, so then only the error).
#[cfg(unix)]
pub fn read_exact_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    h.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

pub fn read_exact_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    h.read_exact(&mut buf)?;
    Ok(buf)
}

/// `read_vectored` into two buffers of `a` and `b` bytes: the bytes read.
pub fn read_vectored_n(h: &mut dyn Handle, a: usize, b: usize) -> io::Result<Vec<u8>> {
    let (mut x, mut y) = (vec![FILL; a], vec![FILL; b]);
    let n = h.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])?;
    x.extend_from_slice(&y);
    x.truncate(n);
    Ok(x)
}

pub fn read_to_end_(h: &mut dyn Handle) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    h.read_to_end(&mut v)?;
    Ok(v)
}

pub fn read_to_string_(h: &mut dyn Handle) -> io::Result<String> {
    let mut s = String::new();
    h.read_to_string(&mut s)?;
    Ok(s)
}

/// The comparable part of metadata: on Unix with the mode, on Windows
/// with the file attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct Meta {
    pub is_file: bool,
    pub is_dir: bool,
    #[cfg(unix)]
    pub is_char_device: bool,
    pub len: u64,
    #[cfg(unix)]
    pub mode: u32,
    #[cfg(windows)]
    pub attributes: u32,
}

pub fn meta_(h: &mut dyn Handle) -> io::Result<Meta> {
    let m = h.h_metadata()?;
    Ok(Meta {
        is_file: m.is_file(),
        is_dir: m.is_dir(),
        #[cfg(unix)]
        is_char_device: m.file_type().is_char_device(),
        len: m.len(),
        #[cfg(unix)]
        mode: m.mode(),
        #[cfg(windows)]
        attributes: m.file_attributes(),
    })
}
