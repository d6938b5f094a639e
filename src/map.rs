//! The shared mapping of one file: its windows, its two lengths, and growth.
//!
//! Every `MmapFile` of the same file in this process shares one [`Inode`]
//! (found through a registry keyed by device and inode number), as every
//! `File` shares the kernel's inode. So in-process handles always agree on
//! the length, and a file is mapped once however often it is opened.
//!
//! # Windows
//! A window maps the file `MAP_SHARED` from offset 0 for far more bytes than
//! the file has. Growing the file inside the window is a `fallocate` (or an
//! `ftruncate`) only: no remap, no TLB shootdown, and the address does not
//! move. When the file
//! outgrows the window, a larger one is mapped and becomes current; the old one
//! stays mapped until the `Inode` is dropped, so a reader that loaded it still
//! reads valid memory and readers never take a lock. Windows at least double,
//! so the retired ones add up to less than the current one.
//!
//! # Lengths
//! `len` is the logical length, the one the API reports. `physical` is the
//! file's size on disk, which runs ahead of `len` while appending, so that
//! most appends need no system call. Bytes in `len..physical` are always
//! zero. [`Inode::trim`] cuts the file back to `len`.
//!
//! # A shrink by someone else
//! When another process (or a `File`) cuts the file short, pages past the new
//! end fault, and the copy routine recovers. The page holding the new end
//! does not fault: past the end it reads zeros, and writes there are lost.
//! So an access ending at or before `fast_end` (below the file's last page)
//! first probes one byte of a later page of the file, which faults if the
//! file no longer reaches it, and an access reaching into the last page asks
//! the kernel for the size (`statx`), as does an append of a page or more,
//! which goes by `pwrite`. Either way a shrink is seen before the access
//! returns, and the answer is `File`'s.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::copy::{self, Fault};
use crate::sys;

/// Address space reserved for a file by default, before it must move to a
/// larger window.
pub(crate) const DEFAULT_RESERVE: u64 = if cfg!(target_pointer_width = "64") {
    1 << 30
} else {
    64 << 20
};

/// How many writes after a `sync_data`/`sync_all` go by `pwrite`, because a
/// sync of pages written that way is cheaper (see `Inode::write`).
const SYNC_STREAK: u32 = 16;

/// How much of a new growth step is faulted in at once.
const POPULATE_AHEAD: u64 = 1 << 20;

/// Smallest and largest step by which appends grow the file on disk.
const MIN_GROWTH: u64 = 64 << 10;
const MAX_GROWTH: u64 = 64 << 20;

/// The largest offset a read or write may reach, as for `pread`/`pwrite`:
/// offsets are `off_t`, a signed 64-bit integer.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// One mapping of the file.
pub(crate) struct Window {
    base: NonNull<u8>,
    cap: usize,
    writable: bool,
}

impl Window {
    /// Whether this window covers `..end` with the access needed.
    #[inline]
    fn covers(&self, end: u64, write: bool) -> bool {
        end <= self.cap as u64 && (self.writable || !write)
    }
}

/// What only a writer may change; the mutex also serialises writes, as the
/// kernel's inode lock does for `write(2)`.
struct WriterState {
    /// Every window ever mapped; the last is the current one. Boxed so that
    /// the pointer readers load from `Inode::window` stays put.
    #[allow(clippy::vec_box)]
    windows: Vec<Box<Window>>,
    /// Advice given at open, applied to every new window.
    advice: Vec<crate::Advice>,
    /// Writes since the last `sync_data`/`sync_all`, up to `SYNC_STREAK`.
    writes_since_sync: u32,
    /// Ends of the live [`crate::View`]s. While one lives, no write may
    /// start below its end and the file may not shrink below it.
    views: Vec<u64>,
}

impl WriterState {
    /// Whether a change at `offset..` would alias a live view.
    fn viewed_past(&self, offset: u64) -> bool {
        self.views.iter().any(|&end| end > offset)
    }
}

/// The error for a fault in a private mapping: the file shrank under pages
/// this handle had not written, and no system call can stand in for them.
fn private_fault() -> io::Error {
    io::Error::other("the file shrank under a private (copy-on-write) mapping")
}

/// The error for a write that would alias a live view.
fn busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "the bytes are borrowed by a live mmapfile::View",
    )
}

/// The shared state of one file.
pub(crate) struct Inode {
    /// `(st_dev, st_ino)` in the registry; `None` for a private mapping,
    /// which no other handle shares.
    key: Option<(u64, u64)>,
    /// The current window, owned by `writer.windows`.
    window: AtomicPtr<Window>,
    /// Logical length: what readers may read.
    len: AtomicU64,
    /// Size of the file on disk; changed only under `writer`.
    physical: AtomicU64,
    /// Reads ending at or before this may skip asking the kernel for the
    /// size, if a probe of the page at `fast_end` rounded up to a page does
    /// not fault (see "A shrink by someone else" above): the smaller of
    /// `len` and the start of the file's last page. For a private mapping,
    /// just `len`. Set by [`Inode::publish`] whenever a length changes.
    fast_end: AtomicU64,
    /// Address space to reserve when mapping a new window.
    reserve: u64,
    /// Set once a description of this file keeps its cursor in the kernel
    /// (see `Description::share_with_file`).
    offsets_shared: std::sync::atomic::AtomicBool,
    /// A copy-on-write mapping (`OpenOptions::private`): writes stay in
    /// memory, the file is never changed, and `len` is this handle's own.
    private: bool,
    /// Set by `MmapFile::protect(ReadOnly)`: every window is read-only and
    /// writes fail. Changed only under `writer`.
    read_only: std::sync::atomic::AtomicBool,
    writer: Mutex<WriterState>,
}

// SAFETY: the raw pointers in `Window` point at shared file mappings that
// live as long as the `Inode`; every access to the bytes goes through
// `copy::copy`, which is race-free, and the bookkeeping is atomics and a mutex.
unsafe impl Send for Inode {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inode {}

/// The `Inode` of every file mapped in this process, by `(st_dev, st_ino)`.
type Registry = HashMap<(u64, u64), Weak<Inode>>;
static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic never leaves the state half-changed (the lengths are atomics
    // stored last), so a poisoned lock is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `n` rounded up to a whole page (saturating near `u64::MAX`).
#[inline]
fn page_ceil(n: u64) -> u64 {
    let mask = sys::page_size() as u64 - 1;
    n.saturating_add(mask) & !mask
}

/// Where the last page of a file of `size` bytes starts (0 if empty).
fn last_page_start(size: u64) -> u64 {
    let mask = sys::page_size() as u64 - 1;
    size.saturating_sub(1) & !mask
}

/// How a handle gives the inode a descriptor to map from.
#[derive(Clone, Copy)]
pub(crate) struct MapSource<'a> {
    /// The handle's own descriptor.
    pub(crate) fd: BorrowedFd<'a>,
    /// Whether `fd` can be mapped directly; if not (opened write-only), the
    /// file is reopened read-write through `/proc` for the mapping.
    pub(crate) readable: bool,
    /// Whether to map for writing.
    pub(crate) writable: bool,
    /// Map copy-on-write, the rest of the window anonymous.
    pub(crate) private: bool,
}

impl MapSource<'_> {
    fn map(&self, len: usize) -> io::Result<NonNull<u8>> {
        if self.private {
            let size = sys::file_size(self.fd)?;
            return sys::map_private(self.fd, page_ceil(size).min(len as u64) as usize, len);
        }
        if self.readable {
            sys::map_shared(self.fd, len, self.writable)
        } else {
            let rw = sys::reopen_read_write(self.fd)?;
            sys::map_shared(rw.as_fd(), len, self.writable)
        }
    }
}

/// How appends grow the file on disk (see `OpenOptions::preallocate` and
/// `OpenOptions::exact_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Growth {
    /// In steps ahead of the writes, with blocks reserved (`fallocate`).
    Reserved,
    /// In steps ahead of the writes, as a hole (`ftruncate`).
    Sparse,
    /// Never past the logical length: a write past the end is a `pwrite`.
    Exact,
}

/// Where a write lands.
#[derive(Clone, Copy)]
pub(crate) enum At {
    /// At this offset.
    Offset(u64),
    /// At the end, whatever it is when the write takes the lock.
    End,
}

/// Checks an offset and length as `pread`/`pwrite` do: `EINVAL` if the range
/// does not fit in `off_t`.
pub(crate) fn check_range(offset: u64, len: usize) -> io::Result<u64> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= MAX_OFFSET => Ok(end),
        _ => Err(sys::invalid()),
    }
}

impl Inode {
    /// The shared state for the file behind `src.fd`, mapping it if this
    /// process has no `MmapFile` of it yet.
    pub(crate) fn open(
        src: MapSource<'_>,
        key: (u64, u64),
        reserve: u64,
        advice: &[crate::Advice],
    ) -> io::Result<Arc<Inode>> {
        let mut registry = lock(&REGISTRY);
        let shared = registry.get(&key).filter(|_| !src.private);
        if let Some(inode) = shared.and_then(Weak::upgrade) {
            drop(registry);
            let mut w = lock(&inode.writer);
            let advice: Vec<_> = advice.iter().copied().filter(|a| a.is_lasting()).collect();
            advise_window(inode.current(), &advice);
            w.advice.extend(advice);
            drop(w);
            // The open may have truncated the file; adopt what disk says.
            inode.refresh(src.fd)?;
            return Ok(inode);
        }
        let size = sys::file_size(src.fd)?;
        let wanted = page_ceil(reserve.max(size.saturating_add(size / 2)).max(1));
        let window = map_window(src, wanted, page_ceil(size.max(1)))?;
        let window = Box::new(window);
        let advice: Vec<_> = advice.iter().copied().filter(|a| a.is_lasting()).collect();
        advise_window(&window, &advice);
        let inode = Arc::new(Inode {
            key: (!src.private).then_some(key),
            private: src.private,
            window: AtomicPtr::new(&*window as *const Window as *mut Window),
            len: AtomicU64::new(size),
            physical: AtomicU64::new(size),
            fast_end: AtomicU64::new(0),
            reserve,
            read_only: Default::default(),
            offsets_shared: Default::default(),
            writer: Mutex::new(WriterState {
                windows: vec![window],
                advice,
                writes_since_sync: SYNC_STREAK,
                views: Vec::new(),
            }),
        });
        inode.publish();
        if !src.private {
            registry.insert(key, Arc::downgrade(&inode));
        }
        Ok(inode)
    }

    /// The logical length as this process knows it.
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Under the writer lock (or before the inode is shared): derives
    /// `fast_end` from the lengths, after either changed.
    fn publish(&self) {
        let len = self.len.load(Ordering::Relaxed);
        let fast_end = if self.private {
            len
        } else {
            len.min(last_page_start(self.physical.load(Ordering::Relaxed)))
        };
        self.fast_end.store(fast_end, Ordering::Release);
    }

    /// Under the writer lock: sets both lengths to `size`, the file's size
    /// on disk.
    fn set_lengths(&self, size: u64) {
        self.physical.store(size, Ordering::Release);
        self.len.store(size, Ordering::Release);
        self.publish();
    }

    #[inline]
    fn current(&self) -> &Window {
        // SAFETY: `window` always points at a boxed window in
        // `writer.windows`, and windows are freed only when `self` drops.
        unsafe { &*self.window.load(Ordering::Acquire) }
    }

    /// Catches up with changes made outside this process (or by `File`
    /// handles): if the size on disk is not the one we left it at, someone
    /// else set it, and it becomes the logical length too. Returns the length.
    pub(crate) fn refresh(&self, fd: BorrowedFd<'_>) -> io::Result<u64> {
        if self.private {
            return Ok(self.len());
        }
        if sys::file_size(fd)? == self.physical.load(Ordering::Acquire) {
            return Ok(self.len());
        }
        let _w = lock(&self.writer);
        self.adopt_disk_size(fd)?;
        Ok(self.len())
    }

    /// Under the writer lock: make both lengths the size on disk if it
    /// changed behind our back; says whether it did.
    fn adopt_disk_size(&self, fd: BorrowedFd<'_>) -> io::Result<bool> {
        let size = sys::file_size(fd)?;
        let changed = size != self.physical.load(Ordering::Relaxed);
        if changed {
            self.set_lengths(size);
        }
        Ok(changed)
    }

    /// A window covering `..end`, mapping a larger one if needed. `None`
    /// when no such mapping can be made: the caller uses system calls.
    #[inline]
    fn window_for(&self, w: &mut WriterState, src: MapSource<'_>, end: u64) -> Option<&Window> {
        let current = self.current();
        if current.covers(end, src.writable) {
            return Some(current);
        }
        self.map_larger(w, src, end)
    }

    /// The slow half of [`Self::window_for`]: maps a window covering `..end`
    /// and makes it current.
    #[cold]
    #[inline(never)]
    fn map_larger(&self, w: &mut WriterState, src: MapSource<'_>, end: u64) -> Option<&Window> {
        let current = self.current();
        let src = MapSource {
            private: self.private,
            ..src
        };
        let wanted = page_ceil(end.max(current.cap as u64 * 2).max(self.reserve));
        let window = Box::new(map_window(src, wanted, page_ceil(end)).ok()?);
        if self.private {
            // The old window holds this handle's writes; carry them over.
            let len = self.len() as usize;
            // SAFETY: both windows cover `..len` and are distinct mappings.
            unsafe { copy::copy(window.base.as_ptr(), current.base.as_ptr(), len) }.ok()?;
        }
        advise_window(&window, &w.advice);
        if window.writable && self.read_only.load(Ordering::Relaxed) {
            // SAFETY: the window is new; nothing has seen it yet.
            unsafe { sys::protect(window.base, window.cap, false) }.ok()?;
        }
        self.window
            .store(&*window as *const Window as *mut Window, Ordering::Release);
        w.windows.push(window);
        Some(self.current())
    }

    /// Reads into `buf` at `offset`, like `pread`.
    ///
    /// The common case (ending at or before `fast_end`, the probe inside
    /// the current window, no fault) is inlined into the caller; all else
    /// is [`Self::read_slow`].
    #[inline]
    pub(crate) fn read_at(
        &self,
        src: MapSource<'_>,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
    ) -> io::Result<usize> {
        let n = buf.len();
        let fast_end = self.fast_end.load(Ordering::Acquire);
        let current = self.current();
        if let Some(end) = offset.checked_add(n as u64)
            && n > 0
            && end <= fast_end
        {
            // A page of the file past `end` (see `Inode::fast_end`).
            let probe = page_ceil(fast_end);
            if probe < current.cap as u64 {
                return self.copy_out(src, current, buf, offset, probe);
            }
        }
        self.read_slow(src, buf, offset)
    }

    /// `read_at` where the fast path does not apply: an empty or
    /// out-of-range request, a read reaching into the file's last page
    /// (where only the kernel knows the end: the file may have grown, or
    /// shrunk inside that page, behind our back), or past the current window.
    #[cold]
    #[inline(never)]
    fn read_slow(
        &self,
        src: MapSource<'_>,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
    ) -> io::Result<usize> {
        check_range(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(0);
        }
        let len = self.refresh(src.fd)?;
        if offset >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - offset) as usize);
        let buf = &mut buf[..n];
        let end = offset + n as u64;
        let mut current = self.current();
        // Cover the page the fast path probes too, so that later reads take it.
        let probed = if self.private {
            end
        } else {
            end.max(page_ceil(self.fast_end.load(Ordering::Acquire)) + 1)
        };
        if !current.covers(probed, false) {
            let mut w = lock(&self.writer);
            let src = MapSource {
                writable: false,
                ..src
            };
            match self
                .window_for(&mut w, src, probed)
                .or_else(|| self.window_for(&mut w, src, end))
            {
                Some(window) => current = window,
                None => return sys::pread(src.fd, buf, offset),
            }
        }
        // The size was just asked: the read's own first byte is the probe.
        self.copy_out(src, current, buf, offset, offset)
    }

    /// Copies `buf.len()` bytes at `offset` out of `window`, which covers
    /// them and `probe` (see [`copy::copy_checked`]), handing a fault to
    /// [`Self::read_fault`].
    #[inline]
    fn copy_out(
        &self,
        src: MapSource<'_>,
        window: &Window,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
        probe: u64,
    ) -> io::Result<usize> {
        let n = buf.len();
        let base = window.base.as_ptr();
        // SAFETY: the callers checked `offset + n <= cap` and `probe < cap`,
        // so the source and the probe lie in the window, which stays mapped
        // while `self` lives; `buf` is ours to write. Pages past the end of
        // the file fault, and `copy_checked` recovers.
        let result = unsafe {
            copy::copy_checked(
                buf.as_mut_ptr().cast(),
                base.add(offset as usize),
                n,
                base.add(probe as usize),
            )
        };
        match result {
            Ok(()) => Ok(n),
            Err(fault) => self.read_fault(src, window, buf, (offset, probe), fault),
        }
    }

    /// A read that faulted: the file shrank under us (the probe or the
    /// bytes themselves are past its end now), or a page could not be read.
    /// The kernel says what `pread` gives for the rest.
    #[cold]
    #[inline(never)]
    fn read_fault(
        &self,
        src: MapSource<'_>,
        window: &Window,
        buf: &mut [MaybeUninit<u8>],
        (offset, probe): (u64, u64),
        Fault { copied }: Fault,
    ) -> io::Result<usize> {
        if self.private {
            // Only the bytes asked for count here: they may be this
            // handle's own, though the probed page of the file is gone.
            if probe != offset {
                return self.copy_out(src, window, buf, offset, offset);
            }
            return Err(private_fault());
        }
        // The tail of the file's last page reads as zeros without a fault:
        // keep only what lies within the length it has now.
        let len = self.refresh(src.fd)?;
        let copied = copied.min(len.saturating_sub(offset) as usize);
        match sys::pread(src.fd, &mut buf[copied..], offset + copied as u64) {
            Ok(more) => Ok(copied + more),
            Err(_) if copied > 0 => Ok(copied),
            Err(e) => Err(e),
        }
    }

    /// Writes `bufs` at `at`, like `pwritev` (or `write` in append mode).
    /// Returns the bytes written and the position after them (where the
    /// cursor goes).
    pub(crate) fn write(
        &self,
        src: MapSource<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        growth: Growth,
    ) -> io::Result<(usize, u64)> {
        let mut w = lock(&self.writer);
        let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        let mut offset = match at {
            At::Offset(offset) => offset,
            At::End => self.len(),
        };
        let mut end = check_range(offset, total)?;
        if total == 0 {
            return Ok((0, offset));
        }
        if w.viewed_past(offset) {
            return Err(busy());
        }
        if self.read_only.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the mapping is protected read-only",
            ));
        }
        if self.private {
            return self.write_private(&mut w, src, bufs, offset, end);
        }
        if w.writes_since_sync < SYNC_STREAK {
            // Durable writes: `fdatasync` of a page dirtied through the
            // mapping costs several times that of one written by `pwrite`
            // (and an append would grow the file only for the sync to cut
            // it back), so writes that follow a sync go as `File`'s do.
            w.writes_since_sync += 1;
            return self.write_by_syscall(src.fd, bufs, at, offset, None);
        }
        let exact = growth == Growth::Exact;
        let before = self.physical.load(Ordering::Relaxed);
        // An append of a page or more goes by `pwrite` (see
        // `append_by_syscall`) and asks the kernel for the size instead of
        // probing: a first fault on the tail page reads the pages around it
        // in as zeros, for the `pwrite`s to overwrite, which cost 4 KiB
        // appends a sixth.
        let page_append = total >= sys::page_size() && end > self.len();
        // Below the file's last page, a probe of that page shows that the
        // file still reaches past the write (see "A shrink by someone else").
        let tail = last_page_start(before);
        let probe_tail = end <= tail && tail < self.current().cap as u64 && !page_append;
        if !probe_tail || (exact && end > self.len()) {
            // The write reaches into the last page, or past the end: first
            // catch up with any change of size made behind our back, so
            // that an append lands at the real end, growth starts from the
            // real size, and nothing goes into a page past a new end.
            if self.adopt_disk_size(src.fd)? && matches!(at, At::End) {
                offset = self.len();
                end = check_range(offset, total)?;
            }
            // With `exact`, a write past the end is one `pwrite`: the size
            // and the bytes change together, as with `File`. Else a write
            // past the end grows the file to leave it below the last page,
            // so that the writes that follow can probe.
            let tail = last_page_start(self.physical.load(Ordering::Relaxed));
            let extends = end > self.len();
            if extends && (exact || (end > tail && self.grow(src.fd, end, growth).is_err())) {
                return self.write_by_syscall(src.fd, bufs, at, offset, Some(0));
            }
        }
        let physical = self.physical.load(Ordering::Relaxed);
        if page_append
            && end <= physical
            && let Some(done) = self.append_by_syscall(src.fd, bufs, at, offset)
        {
            return done;
        }
        // The window covers the whole file where it can, so that later
        // writes can probe its last page.
        let Some(window) = self
            .window_for(&mut w, src, end.max(physical))
            .or_else(|| self.window_for(&mut w, src, end))
        else {
            return self.write_by_syscall(src.fd, bufs, at, offset, Some(0));
        };
        if physical > before {
            populate_step(window, before.max(offset), physical);
        }
        // Without a probe of the tail, the size was just asked: the write's
        // own first byte is the probe.
        let probe = if probe_tail { tail } else { offset };
        if let Err(Fault { copied }) = copy_into(window, offset, bufs, probe) {
            return self.write_by_syscall(src.fd, bufs, at, offset, Some(copied));
        }
        self.extend_len(end);
        Ok((total, end))
    }

    /// Under the writer lock: a write to a private mapping, which never
    /// touches the file, so no system call can stand in for it.
    fn write_private(
        &self,
        w: &mut WriterState,
        src: MapSource<'_>,
        bufs: &[IoSlice<'_>],
        offset: u64,
        end: u64,
    ) -> io::Result<(usize, u64)> {
        let window = self
            .window_for(w, src, end)
            .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        copy_into(window, offset, bufs, offset).map_err(|_| private_fault())?;
        self.extend_len(end);
        Ok(((end - offset) as usize, end))
    }

    /// Under the writer lock: the file on disk reaches at least `end`.
    fn extend_physical(&self, end: u64) {
        if end > self.physical.load(Ordering::Relaxed) {
            self.physical.store(end, Ordering::Release);
            self.publish();
        }
    }

    /// Under the writer lock (the only place `len` changes, so no atomic
    /// read-modify-write is needed): publishes bytes written up to `end`.
    fn extend_len(&self, end: u64) {
        if end > self.len.load(Ordering::Relaxed) {
            self.len.store(end, Ordering::Release);
            self.publish();
        }
    }

    /// Under the writer lock: an append of a page or more, inside the file's
    /// size on disk (a growth step), goes by `pwritev`. The kernel fills fresh
    /// page-cache pages without the page fault and the zeroing that each
    /// costs through the mapping (4 KiB appends ran at half `File`'s speed
    /// that way), and its large folios read back faster.
    ///
    /// `None` where the kernel cannot write at `offset` on an `O_APPEND`
    /// descriptor (`At::End`; `RWF_NOAPPEND` needs Linux 6.9, else `pwrite`
    /// would land past the growth step): the mapping takes the write.
    fn append_by_syscall(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        offset: u64,
    ) -> Option<io::Result<(usize, u64)>> {
        use std::sync::atomic::AtomicBool;
        static NO_NOAPPEND: AtomicBool = AtomicBool::new(false);
        let written = match at {
            At::Offset(_) => sys::pwritev(fd, bufs, offset),
            At::End if NO_NOAPPEND.load(Ordering::Relaxed) => return None,
            At::End => match sys::pwritev_at(fd, bufs, offset) {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                    NO_NOAPPEND.store(true, Ordering::Relaxed);
                    return None;
                }
                written => written,
            },
        };
        Some(match written {
            Ok(n) => {
                self.extend_len(offset + n as u64);
                Ok((n, offset + n as u64))
            }
            // The general path gives `File`'s answer.
            Err(_) => self.write_by_syscall(fd, bufs, at, offset, Some(0)),
        })
    }

    /// Under the writer lock: writes `bufs` at `offset` with `pwritev`, for
    /// what the mapping cannot take (a full disk, a file-size limit, a file
    /// shrunk under us) and for exact-length writes. The kernel's answer is
    /// then exactly `File`'s. `copied` is `None` for a write that follows a
    /// sync, where nothing went wrong; else what reached the mapping before
    /// a fault. Those bytes are written again, because a shrink by someone
    /// else may have left some of them past the new end, where the mapping
    /// does not reach the file.
    fn write_by_syscall(
        &self,
        fd: BorrowedFd<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        offset: u64,
        copied: Option<usize>,
    ) -> io::Result<(usize, u64)> {
        // Make the file's size the logical length first (or adopt a size set
        // behind our back), so that an O_APPEND descriptor writes where we
        // would.
        let result = self
            .trim_locked(fd)
            .and_then(|()| sys::pwritev(fd, bufs, offset));
        if let (Ok(n), None, At::Offset(_)) = (&result, copied, at) {
            let n = *n;
            // A write after a sync, with nothing amiss: the kernel wrote
            // where we asked, so both lengths are known without asking it.
            // (Asking would cost a system call per durable write.)
            self.extend_physical(offset + n as u64);
            self.extend_len(offset + n as u64);
            return Ok((n, offset + n as u64));
        }
        // The file is now as the kernel left it; so are both lengths.
        let size = sys::file_size(fd);
        if let Ok(size) = size {
            self.set_lengths(size);
        }
        let written = match result {
            Ok(n) => n,
            // The bytes the mapping took before the fault are in the file.
            Err(e) => match (copied, &size) {
                (Some(copied), Ok(size)) if copied > 0 && offset + copied as u64 <= *size => copied,
                _ => return Err(e),
            },
        };
        // An append (whose descriptor is O_APPEND, on which Linux's pwrite
        // appends) went to the end, which is where a cursor follows it.
        let after = match size {
            Ok(size) if matches!(at, At::End) => size,
            _ => offset + written as u64,
        };
        Ok((written, after))
    }

    /// Under the writer lock: extends the file so that `..end` lies below
    /// its last page, a growth step ahead for the appends that follow.
    ///
    /// With [`Growth::Reserved`] the step's blocks are allocated
    /// (`fallocate`), so that a full disk or quota is an error here, before
    /// any byte is copied, and the caller's `pwrite` reports it as `File`
    /// would; where the file system cannot allocate ahead, or with
    /// [`Growth::Sparse`], the step is a hole (`ftruncate`), and a write into
    /// a page the disk cannot back faults in the copy routine and is redone
    /// by `pwrite` instead. The error for a step too large is retried with
    /// just `end`.
    fn grow(&self, fd: BorrowedFd<'_>, end: u64, growth: Growth) -> io::Result<()> {
        let physical = self.physical.load(Ordering::Relaxed);
        let limit = sys::file_size_limit();
        if end > limit {
            // `File` would raise SIGXFSZ here; let `pwrite` do exactly that.
            return Err(sys::invalid());
        }
        let step = (physical / 2).clamp(MIN_GROWTH, MAX_GROWTH);
        let page = sys::page_size() as u64;
        let ahead = page_ceil(end.saturating_add(page).max(physical.saturating_add(step)))
            .min(limit)
            .min(MAX_OFFSET);
        let extend = |size: u64| match growth {
            Growth::Reserved => {
                sys::allocate(fd, physical, size - physical).or_else(|e| match e.raw_os_error() {
                    Some(code) if code == rustix::io::Errno::OPNOTSUPP.raw_os_error() => {
                        sys::truncate(fd, size)
                    }
                    _ => Err(e),
                })
            }
            Growth::Sparse | Growth::Exact => sys::truncate(fd, size),
        };
        let result = match extend(ahead) {
            Err(_) if end > physical => extend(end),
            // The write fits as it is; only the ones after it need growth.
            Err(_) => Ok(()),
            grown => grown,
        };
        let size = sys::file_size(fd)?;
        if result.is_err() && size != physical {
            // A failed `fallocate` may leave part of its step behind.
            sys::truncate(fd, physical)?;
        } else if size != physical {
            self.physical.store(size, Ordering::Release);
            self.publish();
        }
        result
    }

    /// Under the writer lock: cut the file back to its logical length.
    fn trim_locked(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let len = self.len();
        if self.physical.load(Ordering::Relaxed) > len {
            // Someone else set the size since we grew it: theirs stands.
            if self.adopt_disk_size(fd)? {
                return Ok(());
            }
            sys::truncate(fd, len)?;
            self.physical.store(len, Ordering::Release);
            self.publish();
        }
        Ok(())
    }

    /// Cuts the file back to its logical length, so that other readers see
    /// it exactly. `fd` must be open for writing.
    pub(crate) fn trim(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.private || self.physical.load(Ordering::Acquire) == self.len() {
            return Ok(());
        }
        let _w = lock(&self.writer);
        self.trim_locked(fd)
    }

    /// Sets the length, like `File::set_len` (which it calls, for the same
    /// checks and errors).
    pub(crate) fn set_len(&self, file: &std::fs::File, size: u64) -> io::Result<()> {
        let w = lock(&self.writer);
        if w.viewed_past(size) {
            return Err(busy());
        }
        if self.private {
            return self.set_private_len(w, file, size);
        }
        file.set_len(size)?;
        self.set_lengths(size);
        Ok(())
    }
}

impl Inode {
    /// Whether some description of this file keeps its cursor in the
    /// kernel's file offset.
    pub(crate) fn offsets_shared(&self) -> bool {
        self.offsets_shared.load(Ordering::Acquire)
    }

    /// Records that a description keeps its cursor in the kernel.
    pub(crate) fn share_offsets(&self) {
        self.offsets_shared.store(true, Ordering::Release);
    }

    /// Records a `sync_data`/`sync_all`: the writes that follow are likely
    /// to be synced too.
    pub(crate) fn note_sync(&self) {
        lock(&self.writer).writes_since_sync = 0;
    }

    /// Whether this is a private (copy-on-write) mapping.
    pub(crate) fn is_private(&self) -> bool {
        self.private
    }

    /// `set_len` of a private mapping: only this handle's length changes.
    /// Shrinking zeroes what it cuts off, so that growing again reads zeros.
    fn set_private_len(
        &self,
        mut w: MutexGuard<'_, WriterState>,
        file: &std::fs::File,
        size: u64,
    ) -> io::Result<()> {
        let access = sys::access(file.as_fd())?;
        if !access.write {
            return Err(sys::invalid()); // what ftruncate says to a read-only file
        }
        if size > MAX_OFFSET {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "out of range integral type conversion attempted",
            ));
        }
        let len = self.len();
        if size < len {
            let window = self.current();
            let page = page_ceil(size).min(len);
            let zeros = [0u8; 4096];
            let mut at = size;
            while at < page {
                let n = (page - at).min(zeros.len() as u64) as usize;
                // SAFETY: `at + n <= len <= cap`: inside the window.
                unsafe { copy::copy(window.base.as_ptr().add(at as usize), zeros.as_ptr(), n) }
                    .map_err(|_| private_fault())?;
                at += n as u64;
            }
            if page_ceil(len) > page {
                // SAFETY: whole pages of our window, replaced by fresh zero
                // pages; a reader racing this sees old bytes or zeros.
                unsafe {
                    sys::zero_pages(
                        window.base.as_ptr().add(page as usize),
                        (page_ceil(len) - page) as usize,
                    )?
                };
            }
        } else {
            let src = MapSource {
                fd: file.as_fd(),
                readable: access.read,
                writable: true,
                private: true,
            };
            self.window_for(&mut w, src, size)
                .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        }
        self.len.store(size, Ordering::Release);
        self.publish();
        Ok(())
    }

    /// Pins `offset..offset + len` for a [`crate::View`]: writes into it and
    /// shrinking below its end fail until [`Inode::unpin`]. Returns a
    /// pointer to its first byte.
    pub(crate) fn pin(&self, src: MapSource<'_>, offset: u64, len: usize) -> io::Result<*const u8> {
        let mut w = lock(&self.writer);
        let end = check_range(offset, len)?;
        if end > self.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "view past the end of the file",
            ));
        }
        let window = self
            .window_for(
                &mut w,
                MapSource {
                    writable: false,
                    ..src
                },
                end.max(1),
            )
            .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        // SAFETY: `offset <= end <= cap`: within (or one past) the window.
        let ptr = unsafe { window.base.as_ptr().add(offset as usize) };
        w.views.push(end);
        Ok(ptr)
    }

    /// Runs `op` on the pages of the current window that hold
    /// `offset..offset + len` of the file, clamped to its length and rounded
    /// out to whole pages.
    pub(crate) fn on_pages(
        &self,
        src: MapSource<'_>,
        offset: u64,
        len: usize,
        op: impl FnOnce(*mut u8, usize) -> io::Result<()>,
    ) -> io::Result<()> {
        let page = sys::page_size() as u64;
        let start = offset / page * page;
        let end = page_ceil((offset + len as u64).min(self.len()));
        if end <= start {
            return Ok(());
        }
        let mut current = self.current();
        if !current.covers(end, false) {
            let mut w = lock(&self.writer);
            current = self
                .window_for(&mut w, src, end)
                .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        }
        // SAFETY: `start < end <= cap`: inside the window.
        let ptr = unsafe { current.base.as_ptr().add(start as usize) };
        op(ptr, (end - start) as usize)
    }

    /// Makes every window read-only (`true`) or writable again (`false`,
    /// for windows mapped writable).
    pub(crate) fn protect(&self, read_only: bool) -> io::Result<()> {
        let w = lock(&self.writer);
        for window in w.windows.iter().filter(|w| w.writable) {
            // SAFETY: the window is ours; while read-only, writes are refused
            // under the writer lock we hold, before they reach memory.
            unsafe { sys::protect(window.base, window.cap, !read_only)? };
        }
        self.read_only.store(read_only, Ordering::Relaxed);
        Ok(())
    }

    /// Releases a pin made by [`Inode::pin`] for a range ending at `end`.
    pub(crate) fn unpin(&self, end: u64) {
        let mut w = lock(&self.writer);
        if let Some(i) = w.views.iter().position(|&e| e == end) {
            w.views.swap_remove(i);
        }
    }
}

impl Drop for Inode {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut registry = lock(&REGISTRY);
            // Another open may have replaced our entry after our last strong
            // reference went; remove only a dead one.
            if registry.get(&key).is_some_and(|w| w.strong_count() == 0) {
                registry.remove(&key);
            }
        }
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for window in w.windows.drain(..) {
            // SAFETY: no handle is left, so no reader holds the window.
            unsafe { sys::unmap(window.base, window.cap) };
        }
    }
}

/// Maps a window of `wanted` bytes, or, where address space is short, of
/// less but at least `needed` bytes.
fn map_window(src: MapSource<'_>, wanted: u64, needed: u64) -> io::Result<Window> {
    let mut len = wanted;
    loop {
        let cap = usize::try_from(len).map_err(|_| io::Error::from(rustix::io::Errno::NOMEM))?;
        match src.map(cap) {
            Ok(base) => {
                return Ok(Window {
                    base,
                    cap,
                    writable: src.writable,
                });
            }
            Err(e)
                if e.raw_os_error() == Some(rustix::io::Errno::NOMEM.raw_os_error())
                    && len / 2 >= needed =>
            {
                len = page_ceil(len / 2);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies lasting advice (flags on the mapping, such as `Random` or
/// `HugePage`) to the whole of `window`, so that it covers what the file
/// grows into. Advice is a hint: a kernel that refuses it changes nothing.
fn advise_window(window: &Window, advice: &[crate::Advice]) {
    for &advice in advice {
        let _ = sys::advise(window.base.as_ptr(), window.cap, advice);
    }
}

/// Faults in the first pages of a growth step `from..to` for writing
/// (`MADV_POPULATE_WRITE`), so that the appends that follow do not take a
/// page fault each: one call instead of a fault per page cut the CPU time
/// of 4 KiB appends by a sixth here. A hint: failure changes nothing.
fn populate_step(window: &Window, from: u64, to: u64) {
    let page = sys::page_size() as u64;
    let from = from / page * page;
    let to = to.min(window.cap as u64).min(from + POPULATE_AHEAD);
    if to > from {
        // SAFETY: `from < to <= cap`: inside the window.
        let start = unsafe { window.base.as_ptr().add(from as usize) };
        let _ = sys::advise(start, (to - from) as usize, crate::Advice::PopulateWrite);
    }
}

/// Copies `bufs` into `window` from `offset` on, probing the byte at
/// `probe` first (see [`copy::copy_checked`]).
#[inline]
fn copy_into(window: &Window, offset: u64, bufs: &[IoSlice<'_>], probe: u64) -> Result<(), Fault> {
    let base = window.base.as_ptr();
    let mut at = offset as usize;
    for buf in bufs {
        // SAFETY: the caller checked `offset + total <= cap`, `probe < cap`
        // and that the window is writable; `buf` is the caller's and is not
        // in a window. Faults are recovered.
        unsafe {
            copy::copy_checked(
                base.add(at),
                buf.as_ptr(),
                buf.len(),
                base.add(probe as usize),
            )
        }
        .map_err(|Fault { copied }| Fault {
            copied: at + copied - offset as usize,
        })?;
        at += buf.len();
    }
    Ok(())
}
