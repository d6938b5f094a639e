//! An open file description: the cursor and access mode that clones share,
//! and `File`'s semantics for Read, Write and Seek on top of a [`Store`]:
//! the shared [`crate::inode::Inode`], or a private copy-on-write mapping
//! ([`crate::private::PrivateMap`]).
//!
//! The cursor lives in user space, so a `read` is a copy and no system
//! call. Once the kernel's file offset may be moved by someone else too (a
//! forked child shares the description, or a clone was turned back into a
//! `File`), the cursor moves there for good (`in_kernel`), and every
//! cursor-relative call is `File`'s own system call.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::inode::{At, Growth, check_range, lock};
use crate::os::{self, Access};
use crate::window::MapSource;

mod send;

/// The most buffers one vectored call takes, as std passes at most
/// `IOV_MAX` of them to `readv`/`writev` on Linux.
const IOV_MAX: usize = 1024;

/// `read_to_end` backs a fresh buffer this large with memory before copying
/// into it: one system call is cheaper than a page fault per 4 KiB.
const PREFAULT_FROM: usize = 1 << 20;

/// What a call brings to the store: the handle's descriptor and how its
/// description was opened.
pub(crate) struct Io<'a> {
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) access: Access,
    pub(crate) growth: Growth,
    /// The description's [`Description::id`].
    pub(crate) via: usize,
}

impl<'a> Io<'a> {
    /// How this call may map the file.
    #[inline]
    pub(crate) fn source(&self) -> MapSource<'a> {
        MapSource {
            fd: self.fd,
            readable: self.access.read,
            writable: self.access.write,
            via: self.via,
        }
    }
}

/// Where a description's bytes live: positional I/O and lengths.
pub(crate) trait Store: Send + Sync + Sized + 'static {
    /// Whether `sendfile` of the file sends what [`Store::read_at`] reads.
    const SENDS_FILE: bool;
    /// The length as this process knows it, without a system call.
    fn len(&self) -> u64;
    /// The length, caught up with changes made elsewhere.
    fn size(&self, fd: BorrowedFd<'_>) -> io::Result<u64>;
    /// Like `pread`.
    fn read_at(&self, io: &Io<'_>, buf: &mut [MaybeUninit<u8>], offset: u64) -> io::Result<usize>;
    /// Like `pwritev` at `at`; the count and the position after the bytes,
    /// `None` where the kernel's file offset tells it (an append made by
    /// `write(2)`).
    fn write(&self, io: &Io<'_>, bufs: &[IoSlice<'_>], at: At) -> io::Result<(usize, Option<u64>)>;
    /// After `read(2)`, `write(2)` or `lseek` at the kernel's file offset
    /// (see the module docs): catch up with the file's length.
    fn caught_up(&self, fd: BorrowedFd<'_>);
    /// Records that a description keeps its cursor in the kernel.
    fn share_offsets(&self) {}
    /// Writes up to `count > 0` bytes at `offset` into `out` straight out
    /// of a mapping (see `description/send.rs`); `None` where the store
    /// cannot.
    fn send_mapped(
        &self,
        _out: BorrowedFd<'_>,
        _offset: u64,
        _count: usize,
    ) -> Option<io::Result<usize>> {
        None
    }
}

/// What clones of one `MmapFile` share, as clones of a `File` share the
/// kernel's open file description.
pub(crate) struct Description<S> {
    pub(crate) store: Arc<S>,
    pub(crate) access: Access,
    /// How writes past the end grow the file (see `OpenOptions::exact_len`
    /// and `OpenOptions::preallocate`).
    pub(crate) growth: Growth,
    /// The file offset. Held across each cursor-relative call so that
    /// concurrent calls through clones or `&MmapFile` each see and advance it
    /// whole, as the kernel's `f_pos` lock does.
    cursor: Mutex<Cursor>,
    /// The cursor's position: stored under `cursor`, except by the only
    /// handle's lock-free writes (see `inode/fast.rs`).
    pos: AtomicU64,
    /// The cursor is the kernel's file offset (see the module docs).
    in_kernel: AtomicBool,
    /// The descriptors of the handles of this description: where a lease
    /// is taken, and the cursor pushed before a fork.
    fds: Mutex<Vec<RawFd>>,
}

/// The cursor of a description whose cursor lives in user space.
pub(crate) struct Cursor {
    /// An append by `write(2)` left the cursor in the kernel's file offset
    /// (only the kernel knows where the file ended): read it before use.
    in_offset: bool,
}

/// The locked cursor's position, stored back when the guard drops.
struct CursorGuard<'a> {
    lock: MutexGuard<'a, Cursor>,
    pos: u64,
    stored: &'a AtomicU64,
}

impl std::ops::Deref for CursorGuard<'_> {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.pos
    }
}

impl std::ops::DerefMut for CursorGuard<'_> {
    fn deref_mut(&mut self) -> &mut u64 {
        &mut self.pos
    }
}

impl Drop for CursorGuard<'_> {
    fn drop(&mut self) {
        // Before `lock` unlocks.
        self.stored.store(self.pos, Ordering::Relaxed);
    }
}

/// `fd` as a `File` for one call, not closed after it.
fn as_file(fd: BorrowedFd<'_>) -> ManuallyDrop<File> {
    // SAFETY: `fd` is open for the borrow's lifetime, and `ManuallyDrop`
    // keeps the `File` from closing it.
    ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) })
}

impl<S: Store> Description<S> {
    pub(crate) fn new(
        store: Arc<S>,
        access: Access,
        growth: Growth,
        cursor: u64,
        in_kernel: bool,
        fd: BorrowedFd<'_>,
    ) -> Self {
        Description {
            store,
            access,
            growth,
            cursor: Mutex::new(Cursor { in_offset: false }),
            pos: AtomicU64::new(cursor),
            in_kernel: AtomicBool::new(in_kernel),
            fds: Mutex::new(vec![fd.as_raw_fd()]),
        }
    }

    #[inline]
    pub(crate) fn io<'a>(&self, fd: BorrowedFd<'a>) -> Io<'a> {
        Io {
            fd,
            access: self.access,
            growth: self.growth,
            via: self.id(),
        }
    }

    /// What tells this description from the others of its store: its
    /// address, which stays put inside its `Arc`.
    pub(crate) fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// The cursor's position, for the lock-free writes of `inode/fast.rs`;
    /// `None` once it lives in the kernel for good.
    #[inline(always)]
    pub(crate) fn user_cursor(&self) -> Option<&AtomicU64> {
        (!self.in_kernel.load(Ordering::Relaxed)).then_some(&self.pos)
    }

    /// Whether the cursor lives in user space, and no append left it in
    /// the kernel's offset (checked under its lock).
    pub(crate) fn cursor_is_ours(&self) -> bool {
        let (cursor, in_kernel) = self.cursor_as_left();
        !cursor.lock.in_offset && !in_kernel
    }

    /// A descriptor of this description, if a handle is left.
    pub(crate) fn first_fd(&self) -> Option<RawFd> {
        lock(&self.fds).first().copied()
    }

    /// Records the descriptor of a new handle (a clone).
    pub(crate) fn add_fd(&self, fd: RawFd) {
        lock(&self.fds).push(fd);
    }

    /// Forgets the descriptor of a handle that leaves; how many are left.
    pub(crate) fn remove_fd(&self, fd: RawFd) -> usize {
        let mut fds = lock(&self.fds);
        fds.retain(|&f| f != fd);
        fds.len()
    }

    /// The descriptors' lock, for [`crate::fork`].
    pub(crate) fn fds(&self) -> &Mutex<Vec<RawFd>> {
        &self.fds
    }

    /// The cursor's lock, for [`crate::fork`].
    pub(crate) fn cursor_lock(&self) -> &Mutex<Cursor> {
        &self.cursor
    }

    /// With the cursor locked before a fork, or for a `File` made of a
    /// clone while other clones live on: moves the cursor into the
    /// kernel's file offset for good, which the others share.
    pub(crate) fn move_cursor_to_kernel(
        &self,
        cursor: &mut Cursor,
        fd: BorrowedFd<'_>,
    ) -> io::Result<()> {
        if !self.in_kernel.load(Ordering::Acquire) {
            if !cursor.in_offset {
                os::seek_to(fd, self.pos.load(Ordering::Relaxed))?;
            }
            self.in_kernel.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Hands the cursor to the kernel's file offset, for a `File` made of a
    /// clone while other clones live on.
    pub(crate) fn share_with_file(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.move_cursor_to_kernel(&mut lock(&self.cursor), fd)?;
        self.store.share_offsets();
        Ok(())
    }

    /// Locks the cursor for one cursor-relative call, and says whether it
    /// lives in the kernel for good (checked under the lock, which a fork
    /// takes). A cursor an append left in the kernel's offset is read back.
    fn cursor(&self, fd: BorrowedFd<'_>) -> io::Result<(CursorGuard<'_>, bool)> {
        let (mut cursor, in_kernel) = self.cursor_as_left();
        if cursor.lock.in_offset && !in_kernel {
            *cursor = os::tell(fd)?;
            cursor.lock.in_offset = false;
        }
        Ok((cursor, in_kernel))
    }

    /// As [`Self::cursor`], without reading back a cursor left in the
    /// kernel's offset: for appends, which do not need it.
    fn cursor_as_left(&self) -> (CursorGuard<'_>, bool) {
        let lock = lock(&self.cursor);
        let in_kernel = self.in_kernel.load(Ordering::Acquire);
        let cursor = CursorGuard {
            lock,
            pos: self.pos.load(Ordering::Relaxed),
            stored: &self.pos,
        };
        (cursor, in_kernel)
    }

    /// The cursor, for `stream_position` and `into_file`.
    pub(crate) fn position(&self, fd: BorrowedFd<'_>) -> io::Result<u64> {
        match self.cursor(fd)? {
            (_, true) => os::tell(fd),
            (pos, false) => Ok(*pos),
        }
    }

    #[inline]
    fn check_read(&self) -> io::Result<()> {
        if self.access.read {
            Ok(())
        } else {
            Err(os::bad_fd())
        }
    }

    fn check_write(&self) -> io::Result<()> {
        if self.access.write {
            Ok(())
        } else {
            Err(os::bad_fd())
        }
    }

    #[inline(always)]
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
        self.store.read_at(&self.io(fd), as_uninit(buf), offset)
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
            At::EndPositional
        } else {
            At::Offset(offset)
        };
        self.store
            .write(&self.io(fd), &[IoSlice::new(buf)], at)
            .map(|(n, _)| n)
    }

    pub(crate) fn read_vectored(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> io::Result<usize> {
        let (mut pos, in_kernel) = self.cursor(fd)?;
        if in_kernel {
            return (&*as_file(fd)).read_vectored(bufs);
        }
        self.check_read()?;
        let io = self.io(fd);
        let mut total = 0;
        for buf in bufs.iter_mut().take(IOV_MAX) {
            let want = buf.len();
            let n = self.store.read_at(&io, as_uninit(buf), *pos)?;
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
        let (mut pos, in_kernel) = self.cursor(fd)?;
        if in_kernel {
            let read = (&*as_file(fd)).read_to_end(buf);
            self.store.caught_up(fd);
            return read;
        }
        self.check_read()?;
        let io = self.io(fd);
        let start = buf.len();
        loop {
            let len = self.store.size(fd)?;
            let Some(want) = len.checked_sub(*pos).filter(|&n| n > 0) else {
                break;
            };
            let want = usize::try_from(want).unwrap_or(usize::MAX);
            buf.try_reserve(want)
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            let spare = &mut buf.spare_capacity_mut()[..want];
            if want >= PREFAULT_FROM {
                os::prefault_for_write(spare);
            }
            let n = self.store.read_at(&io, spare, *pos)?;
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
        let (mut pos, in_kernel) = if self.access.append {
            self.cursor_as_left()
        } else {
            self.cursor(fd)?
        };
        if in_kernel {
            let written = (&*as_file(fd)).write_vectored(bufs)?;
            self.store.caught_up(fd);
            return Ok(written);
        }
        self.check_write()?;
        if bufs.iter().all(|b| b.is_empty()) {
            // The kernel returns before an append moves the offset to the end.
            return Ok(0);
        }
        let at = if self.access.append {
            At::End
        } else {
            At::Offset(*pos)
        };
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        let (n, after) = self.store.write(&self.io(fd), bufs, at)?;
        match after {
            Some(after) => {
                *pos = after;
                pos.lock.in_offset = false;
            }
            None => pos.lock.in_offset = true,
        }
        Ok(n)
    }

    pub(crate) fn seek(&self, fd: BorrowedFd<'_>, target: SeekFrom) -> io::Result<u64> {
        let (mut pos, in_kernel) = self.cursor(fd)?;
        if in_kernel {
            let pos = (&*as_file(fd)).seek(target);
            self.store.caught_up(fd);
            return pos;
        }
        let (base, delta) = match target {
            SeekFrom::Start(n) => (0, i128::from(n)),
            SeekFrom::Current(d) => (*pos, i128::from(d)),
            SeekFrom::End(d) => (self.store.size(fd)?, i128::from(d)),
        };
        let new = i128::from(base) + delta;
        let new = u64::try_from(new)
            .ok()
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(os::invalid)?;
        if new > self.store.len() {
            // Past the end: let the kernel check it against the largest file
            // the file system allows, as `lseek` does for File.
            os::seek_to(fd, new)?;
        }
        *pos = new;
        Ok(new)
    }
}

/// Views an initialised buffer as one that `read_at` may fill.
#[inline(always)]
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the callee only ever writes initialised bytes, so
    // `buf` stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}
