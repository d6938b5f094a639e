//! An open file description over a mapping: the cursor and access mode that
//! clones share, and `File`'s semantics for Read, Write and Seek on top of
//! the shared [`Inode`].

use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::map::{At, Growth, Inode, MapSource, check_range};
use crate::sys::{self, Access};

/// The most buffers one vectored call takes, as std passes at most
/// `IOV_MAX` of them to `readv`/`writev` on Linux.
const IOV_MAX: usize = 1024;

/// What clones of one `MmapFile` share, as clones of a `File` share the
/// kernel's open file description.
pub(crate) struct Description {
    pub(crate) inode: Arc<Inode>,
    pub(crate) access: Access,
    /// How writes past the end grow the file (see `OpenOptions::exact_len`
    /// and `OpenOptions::preallocate`).
    growth: Growth,
    /// The file offset. Held across each cursor-relative call so that
    /// concurrent calls through clones or `&MmapFile` each see and advance it
    /// whole, as the kernel's `f_pos` lock does.
    cursor: Mutex<u64>,
    /// Set once a clone was turned back into a `File` while others remain:
    /// that `File` shares the kernel's file offset with every clone, so from
    /// then on the cursor lives there (a system call per cursor call).
    in_kernel: AtomicBool,
}

/// `read_to_end` backs a fresh buffer this large with memory before copying
/// into it: one system call is cheaper than a page fault per 4 KiB.
const PREFAULT_FROM: usize = 1 << 20;

/// The cursor, held for one call; where it lives in the kernel, read at the
/// start and written back at the end.
pub(crate) struct Cursor<'a> {
    pos: MutexGuard<'a, u64>,
    kernel: Option<(BorrowedFd<'a>, u64)>,
}

impl std::ops::Deref for Cursor<'_> {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.pos
    }
}

impl std::ops::DerefMut for Cursor<'_> {
    fn deref_mut(&mut self) -> &mut u64 {
        &mut self.pos
    }
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        if let Some((fd, start)) = self.kernel
            && *self.pos != start
        {
            // Cannot fail for an offset the kernel or we just validated.
            let _ = sys::seek_to(fd, *self.pos);
        }
    }
}

impl Description {
    /// `maybe_shared`: the descriptor came from a `File` the caller had,
    /// which may share its offset with a `File` made of a clone (see
    /// `share_with_file`); if any such exists for this file, the cursor
    /// starts out in the kernel too.
    pub(crate) fn new(
        inode: Arc<Inode>,
        access: Access,
        growth: Growth,
        cursor: u64,
        maybe_shared: bool,
    ) -> Self {
        let in_kernel = maybe_shared && inode.offsets_shared();
        Description {
            inode,
            access,
            growth,
            cursor: Mutex::new(cursor),
            in_kernel: AtomicBool::new(in_kernel),
        }
    }

    fn cursor<'a>(&'a self, fd: BorrowedFd<'a>) -> Cursor<'a> {
        let mut pos = self.cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kernel = None;
        if self.in_kernel.load(Ordering::Acquire)
            && let Ok(offset) = sys::tell(fd)
        {
            *pos = offset;
            kernel = Some((fd, offset));
        }
        Cursor { pos, kernel }
    }

    /// Hands the cursor to the kernel's file offset, for a `File` made of a
    /// clone while other clones live on.
    pub(crate) fn share_with_file(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let pos = self.cursor(fd);
        sys::seek_to(fd, *pos)?;
        self.in_kernel.store(true, Ordering::Release);
        self.inode.share_offsets();
        Ok(())
    }

    #[inline]
    fn source<'a>(&self, fd: BorrowedFd<'a>) -> MapSource<'a> {
        MapSource {
            fd,
            readable: self.access.read,
            writable: self.access.write,
            private: false,
        }
    }

    #[inline]
    fn check_read(&self) -> io::Result<()> {
        if self.access.read {
            Ok(())
        } else {
            Err(sys::bad_fd())
        }
    }

    fn check_write(&self) -> io::Result<()> {
        if self.access.write {
            Ok(())
        } else {
            Err(sys::bad_fd())
        }
    }

    /// The cursor, for `stream_position` and `into_file`.
    pub(crate) fn position(&self, fd: BorrowedFd<'_>) -> u64 {
        *self.cursor(fd)
    }

    #[inline]
    pub(crate) fn read_at(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        if !self.access.read || check_range(offset, 0).is_err() {
            // pread's order: a negative offset, then the open mode.
            check_range(offset, 0)?;
            self.check_read()?;
        }
        self.inode.read_at(self.source(fd), as_uninit(buf), offset)
    }

    pub(crate) fn write_at(
        &self,
        fd: BorrowedFd<'_>,
        buf: &[u8],
        offset: u64,
    ) -> io::Result<usize> {
        // pwrite's order: a negative offset, then the open mode, then the
        // range.
        check_range(offset, 0)?;
        self.check_write()?;
        // On Linux, pwrite on an O_APPEND descriptor appends whatever the
        // offset (once the offset passed the usual checks); File inherits
        // that and so do we.
        check_range(offset, buf.len())?;
        let at = if self.access.append {
            At::End
        } else {
            At::Offset(offset)
        };
        self.write_locked(fd, &[IoSlice::new(buf)], at)
            .map(|(n, _)| n)
    }

    fn write_locked(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
    ) -> io::Result<(usize, u64)> {
        self.inode.write(self.source(fd), bufs, at, self.growth)
    }

    pub(crate) fn read_vectored(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> io::Result<usize> {
        self.check_read()?;
        let mut pos = self.cursor(fd);
        let mut total = 0;
        for buf in bufs.iter_mut().take(IOV_MAX) {
            let want = buf.len();
            let n = self.inode.read_at(self.source(fd), as_uninit(buf), *pos)?;
            *pos += n as u64;
            total += n;
            if n < want {
                break;
            }
        }
        Ok(total)
    }

    pub(crate) fn read(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        self.read_vectored(fd, &mut [IoSliceMut::new(buf)])
    }

    /// Reads from the cursor to the end into `buf`, reserving once and
    /// copying once.
    pub(crate) fn read_to_end(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.check_read()?;
        let mut pos = self.cursor(fd);
        let start = buf.len();
        loop {
            let len = self.inode.refresh(fd)?;
            let Some(want) = len.checked_sub(*pos).filter(|&n| n > 0) else {
                break;
            };
            let want = usize::try_from(want).unwrap_or(usize::MAX);
            buf.try_reserve(want)
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            let spare = &mut buf.spare_capacity_mut()[..want];
            if want >= PREFAULT_FROM {
                sys::prefault_for_write(spare);
            }
            let n = self.inode.read_at(self.source(fd), spare, *pos)?;
            // SAFETY: `read_at` initialised the first `n` spare bytes.
            unsafe { buf.set_len(buf.len() + n) };
            *pos += n as u64;
            if n == 0 {
                break;
            }
        }
        Ok(buf.len() - start)
    }

    /// As `read_to_end`, keeping `buf` unchanged unless what was read is
    /// UTF-8, with std's errors.
    pub(crate) fn read_to_string(&self, fd: BorrowedFd<'_>, buf: &mut String) -> io::Result<usize> {
        let mut bytes = std::mem::take(buf).into_bytes();
        let start = bytes.len();
        let result = self.read_to_end(fd, &mut bytes);
        let valid = std::str::from_utf8(&bytes[start..]).is_ok();
        if !valid {
            bytes.truncate(start);
        }
        // SAFETY: `bytes[..start]` came from a String, and the rest was just
        // checked to be UTF-8 or cut off.
        *buf = unsafe { String::from_utf8_unchecked(bytes) };
        match result {
            Ok(_) if !valid => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )),
            other => other,
        }
    }

    pub(crate) fn write_vectored(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        self.check_write()?;
        if bufs.iter().all(|b| b.is_empty()) {
            // The kernel returns before an append moves the offset to the end.
            return Ok(0);
        }
        let mut pos = self.cursor(fd);
        let at = if self.access.append {
            At::End
        } else {
            At::Offset(*pos)
        };
        let (n, after) = self.write_locked(fd, &bufs[..bufs.len().min(IOV_MAX)], at)?;
        *pos = after;
        Ok(n)
    }

    pub(crate) fn seek(&self, fd: BorrowedFd<'_>, target: SeekFrom) -> io::Result<u64> {
        let mut pos = self.cursor(fd);
        let (base, delta) = match target {
            SeekFrom::Start(n) => (0, i128::from(n)),
            SeekFrom::Current(d) => (*pos, i128::from(d)),
            SeekFrom::End(d) => (self.inode.refresh(fd)?, i128::from(d)),
        };
        let new = i128::from(base) + delta;
        let new = u64::try_from(new)
            .ok()
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(sys::invalid)?;
        if new > self.inode.len() {
            // Past the end: let the kernel check it against the largest file
            // the file system allows, as `lseek` does for File.
            sys::seek_to(fd, new)?;
        }
        *pos = new;
        Ok(new)
    }

    /// Sends the bytes from the cursor to the end to `out` with `sendfile`,
    /// advancing the cursor by what was sent. `Unsupported` if `out` cannot
    /// take `sendfile` and nothing was sent.
    pub(crate) fn send_to(&self, fd: BorrowedFd<'_>, out: BorrowedFd<'_>) -> io::Result<u64> {
        self.check_read()?;
        let mut pos = self.cursor(fd);
        let start = *pos;
        loop {
            let len = self.inode.refresh(fd)?;
            let Some(left) = len.checked_sub(*pos).filter(|&n| n > 0) else {
                break;
            };
            // Linux sends at most about 2 GiB a call.
            let count = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
            match sys::sendfile(out, fd, &mut pos, count) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Unsupported && *pos > start => {
                    return Err(sys::invalid());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(*pos - start)
    }

    /// Makes the file's size the logical length, where this description may.
    pub(crate) fn trim(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.access.write {
            self.inode.trim(fd)
        } else {
            Ok(())
        }
    }
}

/// Views an initialised buffer as one that `read_at` may fill.
#[inline]
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the callee only ever writes initialised bytes, so
    // `buf` stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}
