//! Private handles ([`crate::OpenOptions::private`]): a copy-on-write
//! mapping of the file, whose writes and `set_len` stay in the handle's
//! memory and never reach the file.
//!
//! The window maps the file's pages `MAP_PRIVATE` and anonymous memory past
//! them; a handle that cannot read the file (opened write-only) gets
//! anonymous memory only, which is all it needs, since it cannot read. Its
//! length is its own. Pages it has not written still show the file, so:
//! - a [`crate::View`] first makes its pages private copies
//!   (`MADV_POPULATE_WRITE`), so that nobody's write can change them;
//! - if the file shrinks under pages it has not written, reading them is an
//!   error, recovered from the fault; a thread that blocks SIGBUS, which a
//!   fault would kill, first makes the pages private copies instead, which
//!   fails with that error without a fault.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::Advice;
use crate::copy;
use crate::description::{Io, Store};
use crate::inode::{At, check_range, lock};
use crate::os::{self, fault};
use crate::window::{Pins, Window, page_ceil, page_floor, page_span};

/// The error for a fault in a private mapping: the file shrank under pages
/// this handle had not written, and no system call can stand in for them.
fn private_fault() -> io::Error {
    io::Error::other("the file shrank under a private (copy-on-write) mapping")
}

/// A private copy-on-write mapping of a file; see the module docs.
pub(crate) struct PrivateMap {
    /// The current window, the last of `state.windows`.
    window: AtomicPtr<Window>,
    /// This handle's own length.
    len: AtomicU64,
    /// Address space to reserve for a new window.
    reserve: u64,
    /// Set by `MmapFile::protect(ReadOnly)`; changed only under `state`.
    read_only: AtomicBool,
    state: Mutex<PrivateState>,
}

struct PrivateState {
    /// Every window mapped; readers may still hold an old one.
    #[allow(clippy::vec_box)]
    windows: Vec<Box<Window>>,
    /// The live views.
    views: Pins,
    /// Advice given at open, applied to every new window.
    advice: Vec<Advice>,
}

impl PrivateMap {
    /// Maps the file behind `fd` privately (or, for a handle that cannot
    /// read it, anonymous memory of its length).
    pub(crate) fn open(
        fd: BorrowedFd<'_>,
        readable: bool,
        reserve: u64,
        advice: &[Advice],
    ) -> io::Result<PrivateMap> {
        let size = os::file_size(fd)?;
        let cap = usize::try_from(page_ceil(reserve.max(size.saturating_add(size / 2)).max(1)))
            .map_err(|_| io::Error::from(rustix::io::Errno::NOMEM))?;
        let file_part = usize::try_from(page_ceil(size)).unwrap_or(cap).min(cap);
        let window = Box::new(Window {
            base: os::map_private(readable.then_some((fd, file_part)), cap)?,
            cap,
            writable: AtomicBool::new(true),
            via: Default::default(),
        });
        let advice = Advice::lasting(advice);
        window.advise(&advice, 0, cap as u64);
        Ok(PrivateMap {
            window: AtomicPtr::new(&*window as *const Window as *mut Window),
            len: AtomicU64::new(size),
            reserve,
            read_only: AtomicBool::new(false),
            state: Mutex::new(PrivateState {
                windows: vec![window],
                views: Pins::default(),
                advice,
            }),
        })
    }

    #[inline]
    fn current(&self) -> &Window {
        // SAFETY: `window` points at a boxed window in `state.windows`, and
        // windows are freed only when `self` drops.
        unsafe { &*self.window.load(Ordering::Acquire) }
    }

    /// Under the lock: a window covering `..end`, moving to a larger one
    /// (with this handle's bytes copied over) if needed.
    fn window_for(&self, st: &mut PrivateState, end: u64) -> io::Result<&Window> {
        let current = self.current();
        if current.covers(end, true) {
            return Ok(current);
        }
        let wanted = page_ceil(end.max(current.cap as u64 * 2).max(self.reserve));
        let cap = usize::try_from(wanted).map_err(|_| io::Error::from(rustix::io::Errno::NOMEM))?;
        // Anonymous memory only: every byte of ours is copied over. A
        // failure drops (unmaps) the new window.
        let window = Box::new(Window {
            base: os::map_private(None, cap)?,
            cap,
            writable: AtomicBool::new(true),
            via: Default::default(),
        });
        let len = self.len.load(Ordering::Relaxed);
        if fault::sigbus_blocked() {
            self.make_private(st, current, 0, len)?;
        }
        // SAFETY: both windows cover `..len` and are distinct mappings; a
        // fault (the file shrank under a page we had not written) is
        // recovered.
        unsafe { copy::copy(window.base.as_ptr(), current.base.as_ptr(), len as usize) }
            .map_err(|_| private_fault())?;
        window.advise(&st.advice, 0, cap as u64);
        if self.read_only.load(Ordering::Relaxed) {
            // SAFETY: the window is new; nothing has seen it yet.
            unsafe { os::protect(window.base, window.cap, false)? };
        }
        self.window
            .store(&*window as *const Window as *mut Window, Ordering::Release);
        st.windows.push(window);
        Ok(self.current())
    }

    /// Under the lock: makes the pages of `from..to` private copies
    /// (`MADV_POPULATE_WRITE`), after which neither a write to the file nor
    /// a shrink of it can reach them. Fails with the shrink error where the
    /// file no longer has a page to copy.
    fn make_private(
        &self,
        _st: &mut PrivateState,
        window: &Window,
        from: u64,
        to: u64,
    ) -> io::Result<()> {
        let (from, to) = (page_floor(from), page_ceil(to).min(window.cap as u64));
        if from >= to {
            return Ok(());
        }
        let read_only = self.read_only.load(Ordering::Relaxed);
        // SAFETY: `from < to <= cap`: whole pages of our window. While it is
        // read-only, writes are refused before they reach memory, under the
        // lock the caller holds; the pages go back to read-only below.
        unsafe {
            let ptr = std::ptr::NonNull::new_unchecked(window.at(from));
            let len = (to - from) as usize;
            if read_only {
                os::protect(ptr, len, true)?;
            }
            let populated = os::advise(ptr.as_ptr(), len, Advice::PopulateWrite);
            if read_only {
                os::protect(ptr, len, false)?;
            }
            populated.map_err(|_| private_fault())
        }
    }

    /// Under the lock: zeroes `from..to` of the current window (bytes past
    /// the length that are about to become part of it, or were just cut).
    fn zero(&self, st: &mut PrivateState, from: u64, to: u64) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        let window = self.current();
        self.make_private(st, window, from, to)?;
        let read_only = self.read_only.load(Ordering::Relaxed);
        let (first, span) = (
            page_floor(from),
            (page_ceil(to) - page_floor(from)) as usize,
        );
        let zeros = [0u8; 4096];
        // SAFETY: `from..to` lies inside the window, whose pages there are
        // private copies now, so the copies cannot fault; while read-only,
        // the pages are made writable under our lock, as in
        // `make_private`. Readers racing the zeroing see old bytes or zeros.
        unsafe {
            let pages = std::ptr::NonNull::new_unchecked(window.at(first));
            if read_only {
                os::protect(pages, span, true)?;
            }
            let mut at = from;
            while at < to {
                let n = (to - at).min(zeros.len() as u64) as usize;
                let _ = copy::copy(window.at(at), zeros.as_ptr(), n);
                at += n as u64;
            }
            if read_only {
                os::protect(pages, span, false)?;
            }
        }
        Ok(())
    }

    /// Under the lock: before the length grows from `len` to cover `to`,
    /// zeroes what lies between in the page holding `len`, which still
    /// shows the file's bytes past the length it had when mapped.
    fn zero_tail(&self, st: &mut PrivateState, len: u64, to: u64) -> io::Result<()> {
        self.zero(st, len, to.min(page_ceil(len)))
    }

    /// `set_len` of a private handle: only this handle's length changes.
    /// Shrinking zeroes what it cuts off, so that growing again reads zeros.
    pub(crate) fn set_len(&self, io: &Io<'_>, size: u64) -> io::Result<()> {
        if !io.access.write {
            return Err(os::invalid()); // what ftruncate says to a read-only file
        }
        if size > i64::MAX as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "out of range integral type conversion attempted",
            ));
        }
        let mut st = lock(&self.state);
        if st.views.past(size) {
            return Err(busy());
        }
        let len = self.len.load(Ordering::Relaxed);
        if size < len {
            self.zero(&mut st, size, page_ceil(size).min(len))?;
            let read_only = self.read_only.load(Ordering::Relaxed);
            self.current()
                .blank(page_ceil(size), page_ceil(len), !read_only)?;
        } else if size > len {
            self.zero_tail(&mut st, len, size)?;
            self.window_for(&mut st, size)?;
        }
        self.len.store(size, Ordering::Release);
        Ok(())
    }

    /// Pins `offset..offset + len` for a [`crate::View`], as
    /// `Inode::pin`, after making its pages private copies.
    pub(crate) fn pin(&self, offset: u64, len: usize) -> io::Result<*const u8> {
        let end = check_range(offset, len)?;
        let mut st = lock(&self.state);
        if end > self.len.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "view past the end of the file",
            ));
        }
        let window = self.window_for(&mut st, end.max(1))?;
        self.make_private(&mut st, window, offset, end)?;
        st.views.pin(end);
        // SAFETY: `offset <= end <= cap`: within (or one past) the window.
        Ok(unsafe { window.at(offset) })
    }

    /// Releases a pin made by [`PrivateMap::pin`].
    pub(crate) fn unpin(&self, end: u64) {
        lock(&self.state).views.unpin(end);
    }

    /// As `Inode::on_pages`, on this handle's own pages.
    pub(crate) fn on_pages(
        &self,
        offset: u64,
        len: usize,
        op: impl FnOnce(*mut u8, usize) -> io::Result<()>,
    ) -> io::Result<()> {
        let Some((start, end)) = page_span(offset, len, self.len.load(Ordering::Acquire)) else {
            return Ok(());
        };
        let _st = lock(&self.state);
        let window = self.current();
        // SAFETY: `start < end <= len <= cap`: inside the window.
        op(unsafe { window.at(start) }, (end - start) as usize)
    }

    /// Makes every window read-only (`true`) or writable again.
    pub(crate) fn protect(&self, read_only: bool) -> io::Result<()> {
        let st = lock(&self.state);
        for window in &st.windows {
            // SAFETY: the window is ours; while read-only, writes are refused
            // under the lock we hold, before they reach memory.
            unsafe { os::protect(window.base, window.cap, !read_only)? };
        }
        self.read_only.store(read_only, Ordering::Relaxed);
        Ok(())
    }

    /// The lock, taken to make pages private copies for a thread that
    /// blocks SIGBUS.
    fn lock(&self) -> MutexGuard<'_, PrivateState> {
        lock(&self.state)
    }
}

fn busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "the bytes are borrowed by a live mmapfile::View",
    )
}

impl Store for PrivateMap {
    const SENDS_FILE: bool = false;

    #[inline]
    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    fn size(&self, _fd: BorrowedFd<'_>) -> io::Result<u64> {
        Ok(self.len())
    }

    fn read_at(&self, _io: &Io<'_>, buf: &mut [MaybeUninit<u8>], offset: u64) -> io::Result<usize> {
        check_range(offset, buf.len())?;
        let len = self.len();
        if buf.is_empty() || offset >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - offset) as usize);
        let end = offset + n as u64;
        let mut window = self.current();
        if fault::sigbus_blocked() || !window.covers(end, false) {
            let mut st = self.lock();
            window = self.current();
            self.make_private(&mut st, window, offset, end)?;
        }
        // SAFETY: `offset + n <= len <= cap` of the window loaded after the
        // length; `buf` is ours. A fault (the file shrank under a page we
        // have not written) is recovered.
        unsafe { copy::copy(buf.as_mut_ptr().cast(), window.at(offset), n) }
            .map_err(|_| private_fault())?;
        Ok(n)
    }

    fn write(&self, io: &Io<'_>, bufs: &[IoSlice<'_>], at: At) -> io::Result<(usize, Option<u64>)> {
        let _ = io;
        let mut st = lock(&self.state);
        let len = self.len();
        let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        let offset = match at {
            At::Offset(offset) => offset,
            At::End | At::EndPositional => len,
        };
        let end = check_range(offset, total)?;
        if total == 0 {
            return Ok((0, Some(offset)));
        }
        if st.views.past(offset) {
            return Err(busy());
        }
        if self.read_only.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the mapping is protected read-only",
            ));
        }
        if offset > len {
            self.zero_tail(&mut st, len, offset)?;
        }
        let window = self.window_for(&mut st, end)?;
        if fault::sigbus_blocked() {
            self.make_private(&mut st, window, offset, end)?;
        }
        let mut at = offset;
        for buf in bufs {
            // SAFETY: `at + buf.len() <= end <= cap`, the window is writable
            // and `buf` is not in it. A fault is recovered.
            unsafe { copy::copy(window.at(at), buf.as_ptr(), buf.len()) }
                .map_err(|_| private_fault())?;
            at += buf.len() as u64;
        }
        if end > len {
            self.len.store(end, Ordering::Release);
        }
        Ok((total, Some(end)))
    }

    fn caught_up(&self, _fd: BorrowedFd<'_>) {}
}
