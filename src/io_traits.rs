//! `File`'s traits for `MmapFile` and `&MmapFile`: `Read`, `Write`,
//! `Seek`, the platform's positional `FileExt`, its descriptor or handle
//! traits, `TryFrom<File>`, `Debug` and `Drop`, each forwarding to the
//! backend as `File`'s own do.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(windows)]
use std::os::windows::fs::FileExt;
#[cfg(windows)]
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, RawHandle};

#[cfg(mapped_io)]
use crate::Backend;
use crate::MmapFile;
#[cfg(mapped_io)]
use crate::description::Store;
use crate::options::MapOptions;

impl Drop for MmapFile {
    fn drop(&mut self) {
        #[cfg(mapped_io)]
        if let Some(d) = self.shared() {
            // Cuts the padding and leaves the inode. Errors cannot be
            // reported from drop; `File` ignores close's too.
            let _ = d.store.release(d, self.fd(), false);
        }
    }
}

impl TryFrom<File> for MmapFile {
    type Error = io::Error;

    /// Maps an open `File`, keeping its access mode, append mode and file
    /// offset (which becomes the cursor).
    ///
    /// # Errors
    /// Those of `fstat`, `fcntl(F_GETFL)` or `lseek` on the file; none
    /// where the handle is not mapped (on Windows, say).
    fn try_from(file: File) -> io::Result<MmapFile> {
        MmapFile::from_file_with(file, &MapOptions::default(), None)
    }
}

impl Read for &MmapFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        dispatch!(self, d => d.read(self.fd(), buf), _ => (&self.file).read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        dispatch!(self, d => d.read_vectored(self.fd(), bufs), _ => (&self.file).read_vectored(bufs))
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        dispatch!(self, d => d.read_to_end(self.fd(), buf), _ => (&self.file).read_to_end(buf))
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        dispatch!(self, d => d.read_to_string(self.fd(), buf), _ => (&self.file).read_to_string(buf))
    }
}

impl Write for &MmapFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        dispatch!(self, d => d.write_vectored(self.fd(), bufs), _ => self.wrote_as_file((&self.file).write_vectored(bufs)))
    }

    /// Cuts the file on disk back to its length, so that other processes see
    /// it exactly; `File::flush` has nothing to do.
    fn flush(&mut self) -> io::Result<()> {
        self.trim()
    }
}

impl Seek for &MmapFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        dispatch!(self, d => d.seek(self.fd(), pos), _ => (&self.file).seek(pos))
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        dispatch!(self, d => d.position(self.fd()), _ => (&self.file).stream_position())
    }
}

// `MmapFile`'s traits forward to those of `&MmapFile`, as `File`'s do
// (after `settle`, which `&mut self` allows).
impl Read for MmapFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.settle();
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.settle();
        (&*self).read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}
impl Write for MmapFile {
    /// As `&MmapFile`'s, but through `&mut self`: where no clone shares
    /// the description, the write may take the lock-free path of the only
    /// writer (see `inode/fast.rs`).
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.settle();
        #[cfg(mapped_io)]
        if let Backend::Shared(d) = &self.backend
            && std::sync::Arc::strong_count(d) == 1
        {
            if let Some(n) = d.write_sole(buf) {
                return Ok(n);
            }
            return self.write_sole_slow(buf);
        }
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
impl MmapFile {
    /// The usual positional write, after which this thread asks for the
    /// lock-free path for the next ones.
    #[cfg(mapped_io)]
    #[inline(never)]
    fn write_at_slow(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let written = dispatch!(self, d => d.write_at(self.fd(), buf, offset), _ => self.wrote_as_file(self.file.write_at(buf, offset)))?;
        if let Some(d) = self.shared() {
            d.bias_thread(self.fd());
        }
        Ok(written)
    }

    /// The usual write, through the only handle of its description, which
    /// then asks for the lock-free path for the next ones.
    #[cfg(mapped_io)]
    #[inline(never)]
    fn write_sole_slow(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = (&*self).write(buf)?;
        if let Some(d) = self.shared() {
            d.bias_sole(self.fd());
        }
        Ok(written)
    }
}

impl Seek for MmapFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
    fn stream_position(&mut self) -> io::Result<u64> {
        (&*self).stream_position()
    }
}

#[cfg(unix)]
impl FileExt for MmapFile {
    #[inline(always)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(mapped_io)]
        if let Some(inode) = self.reads()
            && let Some(n) = inode.read_fast(crate::description::as_uninit(buf), offset)
        {
            return Ok(n);
        }
        self.read_at_dispatched(buf, offset)
    }

    /// Where the inode's bias is this thread's, the lock-free path of a
    /// positional writer that writes alone (see `inode/fast.rs`).
    #[inline]
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        #[cfg(mapped_io)]
        if let Some(d) = self.shared() {
            if let Some(n) = d.write_at_fast(buf, offset) {
                return Ok(n);
            }
            return self.write_at_slow(buf, offset);
        }
        dispatch!(self, d => d.write_at(self.fd(), buf, offset), _ => self.wrote_as_file(self.file.write_at(buf, offset)))
    }
}

/// Windows' positional I/O, which also moves the cursor, as `File`'s does.
#[cfg(windows)]
impl FileExt for MmapFile {
    fn seek_read(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.seek_read(buf, offset)
    }

    fn seek_write(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.file.seek_write(buf, offset)
    }
}

impl MmapFile {
    /// `read_at` through the backend.
    #[cfg(unix)]
    #[inline(never)]
    fn read_at_dispatched(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        dispatch!(self, d => d.read_at(self.fd(), buf, offset), _ => self.file.read_at(buf, offset))
    }

    /// The platform's positional read: `read_at`, or on Windows
    /// `seek_read` (which moves the cursor).
    pub(crate) fn read_at_offset(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        return self.read_at(buf, offset);
        #[cfg(windows)]
        return self.seek_read(buf, offset);
    }

    /// The platform's positional write: `write_at`, or on Windows
    /// `seek_write` (which moves the cursor).
    pub(crate) fn write_at_offset(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        return self.write_at(buf, offset);
        #[cfg(windows)]
        return self.seek_write(buf, offset);
    }

    /// Fills `buf` from `offset` by positional reads, as
    /// `FileExt::read_exact_at` does.
    pub(crate) fn read_exact_at_offset(
        &self,
        mut buf: &mut [u8],
        mut offset: u64,
    ) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at_offset(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The descriptor goes outside the crate, which may write through it
    /// or hand it on: appends stop running ahead of the length on disk.
    #[cfg(unix)]
    fn expose(&self) {
        #[cfg(mapped_io)]
        if let Backend::Shared(d) = self.mapped_backend() {
            d.store.expose(d);
        }
    }
}

/// Lending the descriptor ends fast appends for this handle's description:
/// whoever holds it may write or change the size behind the crate's back,
/// so the size on disk is kept exact from then on (see the crate docs).
#[cfg(unix)]
impl AsFd for MmapFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.expose();
        self.file.as_fd()
    }
}

/// As [`AsFd`].
#[cfg(unix)]
impl AsRawFd for MmapFile {
    fn as_raw_fd(&self) -> RawFd {
        self.expose();
        self.file.as_raw_fd()
    }
}

#[cfg(windows)]
impl AsHandle for MmapFile {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.file.as_handle()
    }
}

#[cfg(windows)]
impl AsRawHandle for MmapFile {
    fn as_raw_handle(&self) -> RawHandle {
        self.file.as_raw_handle()
    }
}

impl fmt::Debug for MmapFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("MmapFile");
        s.field("file", &self.file);
        dispatch!(@on self.backend(), d => s.field("len", &d.store.len()).field("pos", &d.position(self.fd()).ok()),
            _ => s.field("mapped", &false));
        s.finish()
    }
}
