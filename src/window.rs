//! Windows: mappings of the file from offset 0, far longer than the file.
//!
//! Growing the file inside a window is a system call on the file only:
//! no remap, no TLB shootdown, and the address does not move. When the file
//! outgrows the window, a larger one is mapped and becomes current; the old
//! one stays mapped until the inode is dropped, so a reader that loaded it
//! still reads valid memory and readers never take a lock. Windows at least
//! double, so the retired ones add up to less than the current one.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::{Advice, os};

/// One mapping of the file, unmapped on drop.
pub(crate) struct Window {
    pub(crate) base: NonNull<u8>,
    pub(crate) cap: usize,
    /// Mapped for writing; read with [`Window::writable`]. Cleared, under
    /// the inode's lock, by a new mapping through a read-only description
    /// (`Inode::remap_windows`).
    pub(crate) writable: AtomicBool,
    /// The description it was mapped through ([`MapSource::via`]), which
    /// it holds open until it is unmapped or mapped again through another
    /// (see `Inode::remap_windows`). Changed only under the inode's lock.
    pub(crate) via: AtomicUsize,
}

// SAFETY: a window is an address range of a shared file mapping that lives
// as long as the window; the bytes are only ever accessed through the
// race-free copy routine.
unsafe impl Send for Window {}
// SAFETY: as for `Send`.
unsafe impl Sync for Window {}

/// The window of an inode that has none yet (its first handle could not
/// map the file: a write-only one): it covers nothing.
pub(crate) static EMPTY: Window = Window {
    base: NonNull::dangling(),
    cap: 0,
    writable: AtomicBool::new(false),
    via: AtomicUsize::new(0),
};

impl Window {
    /// Whether this window covers `..end` with the access needed.
    #[inline]
    pub(crate) fn covers(&self, end: u64, write: bool) -> bool {
        end <= self.cap as u64 && (self.writable() || !write)
    }

    /// Whether the window is mapped for writing.
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// The address of byte `offset` of the file.
    ///
    /// # Safety
    /// `offset <= self.cap`.
    #[inline]
    pub(crate) unsafe fn at(&self, offset: u64) -> *mut u8 {
        // SAFETY: forwarded: within the mapping or one past its end.
        unsafe { self.base.as_ptr().add(offset as usize) }
    }

    /// Applies lasting advice (flags the kernel keeps on the mapping, such
    /// as `Random` or `HugePage`) to `from..to` of this window, clamped.
    /// Advice is a hint: a kernel that refuses it changes nothing.
    pub(crate) fn advise(&self, advice: &[Advice], from: u64, to: u64) {
        let (from, to) = (page_floor(from), page_ceil(to).min(self.cap as u64));
        if from >= to {
            return;
        }
        for &advice in advice {
            // SAFETY: `from < to <= cap`.
            let _ = os::advise(unsafe { self.at(from) }, (to - from) as usize, advice);
        }
    }

    /// Faults in the first pages of a growth step `from..to` for writing
    /// (`MADV_POPULATE_WRITE`), so that the appends that follow do not take
    /// a page fault each: for pages not yet in the page cache (a hole, or
    /// tmpfs's `fallocate`), one call instead of a fault per page cut the
    /// CPU time of 4 KiB appends by a sixth here. A hint: failure changes
    /// nothing.
    pub(crate) fn populate(&self, from: u64, to: u64) {
        /// How much of a new growth step is faulted in at once.
        const POPULATE_AHEAD: u64 = 1 << 20;
        let from = page_floor(from);
        let to = to.min(self.cap as u64).min(from + POPULATE_AHEAD);
        if to > from {
            // SAFETY: `from < to <= cap`: inside the window.
            let start = unsafe { self.at(from) };
            let _ = os::advise(start, (to - from) as usize, Advice::PopulateWrite);
        }
    }

    /// Makes `from..to` of the window anonymous zero pages (clamped, whole
    /// pages), so that a reader still copying from there after the file is
    /// cut sees old bytes or zeros, never a fault.
    pub(crate) fn blank(&self, from: u64, to: u64, writable: bool) -> io::Result<()> {
        let (from, to) = (page_ceil(from), page_ceil(to).min(self.cap as u64));
        if from >= to {
            return Ok(());
        }
        // SAFETY: whole pages inside our window.
        unsafe { os::zero_pages(self.at(from), (to - from) as usize, writable) }
    }

    /// Maps the file again over `from..to` of the window (clamped, whole
    /// pages), undoing [`Window::blank`].
    pub(crate) fn restore(
        &self,
        fd: BorrowedFd<'_>,
        from: u64,
        to: u64,
        writable: bool,
    ) -> io::Result<()> {
        let (from, to) = (page_ceil(from), page_ceil(to).min(self.cap as u64));
        if from >= to {
            return Ok(());
        }
        // SAFETY: whole pages inside our window, which maps the file from
        // offset 0, so page `from` maps file offset `from`.
        unsafe { os::remap_file(self.at(from), (to - from) as usize, fd, from, writable) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: the window is ours and no reader is left: windows drop
            // with their inode, or unused right after being mapped.
            unsafe { os::unmap(self.base, self.cap) };
        }
    }
}

/// How a call lets the inode map the file: the handle's descriptor and
/// what it may do.
#[derive(Clone, Copy)]
pub(crate) struct MapSource<'a> {
    /// The handle's own descriptor.
    pub(crate) fd: BorrowedFd<'a>,
    /// Whether `fd` can be mapped at all (a mapping needs read access).
    pub(crate) readable: bool,
    /// Whether to map for writing.
    pub(crate) writable: bool,
    /// The description calling ([`Description::id`]), which a mapping
    /// made through `fd` holds open; 0 for an inode's first window, made
    /// before its first description (`Inode::join` fills it in).
    ///
    /// [`Description::id`]: crate::description::Description::id
    pub(crate) via: usize,
}

/// Maps a window of `wanted` bytes, or, where address space is short, of
/// less but at least `needed` bytes.
pub(crate) fn map_window(src: MapSource<'_>, wanted: u64, needed: u64) -> io::Result<Window> {
    if !src.readable {
        return Err(os::bad_fd());
    }
    let mut len = wanted;
    loop {
        let cap = usize::try_from(len).map_err(|_| io::Error::from(rustix::io::Errno::NOMEM))?;
        match os::map_shared(src.fd, cap, src.writable) {
            Ok(base) => {
                return Ok(Window {
                    base,
                    cap,
                    writable: AtomicBool::new(src.writable),
                    via: AtomicUsize::new(src.via),
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

/// `n` rounded up to a whole page (saturating near `u64::MAX`).
#[inline]
pub(crate) fn page_ceil(n: u64) -> u64 {
    let mask = os::page_size() as u64 - 1;
    n.saturating_add(mask) & !mask
}

/// `n` rounded down to a whole page.
#[inline]
pub(crate) fn page_floor(n: u64) -> u64 {
    n & !(os::page_size() as u64 - 1)
}

/// Where the last page of a file of `size` bytes starts (0 if empty).
#[inline]
pub(crate) fn last_page_start(size: u64) -> u64 {
    page_floor(size.saturating_sub(1))
}

/// The whole pages holding `offset..offset + len` of a file of `file_len`
/// bytes, clamped to it: `start..end`, or `None` if that is empty.
pub(crate) fn page_span(offset: u64, len: usize, file_len: u64) -> Option<(u64, u64)> {
    let start = page_floor(offset);
    let end = page_ceil(offset.saturating_add(len as u64).min(file_len));
    (end > start).then_some((start, end))
}

/// The ends of the live [`crate::View`]s of a file. While one lives, no
/// write may start below its end and the file may not shrink below it.
#[derive(Default)]
pub(crate) struct Pins(Vec<u64>);

impl Pins {
    /// Records a view ending at `end`.
    pub(crate) fn pin(&mut self, end: u64) {
        self.0.push(end);
    }

    /// Releases a view ending at `end`.
    pub(crate) fn unpin(&mut self, end: u64) {
        if let Some(i) = self.0.iter().position(|&e| e == end) {
            self.0.swap_remove(i);
        }
    }

    /// Whether a change at `offset..` would alias a live view.
    pub(crate) fn past(&self, offset: u64) -> bool {
        self.0.iter().any(|&end| end > offset)
    }

    /// Whether any view lives.
    pub(crate) fn any(&self) -> bool {
        !self.0.is_empty()
    }
}
