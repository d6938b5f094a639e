//! Reads: `pread`'s results through the mapping.
//!
//! # A shrink by someone else
//! While the inode is Exclusive nobody else can cut the file, and a read
//! below `len` is a bounds check and a copy. While Shared, another process
//! (or a `File`) may cut it at any moment. Pages past the new end then
//! fault, and the copy routine recovers; but the page holding the new end
//! does not fault: past the end it reads zeros. So a read ending at or
//! before `fast_end` (below the file's last page) first probes one byte of
//! a later page of the file, which faults if the file no longer reaches
//! it, and a read reaching into the last page asks the kernel for the size
//! (`statx`). Either way a shrink is seen before the read returns, and the
//! answer is `pread`'s. A thread that blocks SIGBUS would be killed by such
//! a fault, so while Shared it reads with `pread`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

use rustix::io::Errno;

use super::{Inode, NO_PROBE, check_range};
use crate::copy::{self, Fault};
use crate::os::{self, fault};
use crate::window::{MapSource, page_ceil};

impl Inode {
    /// Reads into `buf` at `offset`, like `pread`: [`Self::read_fast`],
    /// else [`Self::read_probed`] (Shared) or [`Self::read_slow`], out of
    /// line.
    #[inline(always)]
    pub(crate) fn read_at(
        &self,
        src: MapSource<'_>,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
    ) -> io::Result<usize> {
        if let Some(n) = self.read_fast(buf, offset) {
            return Ok(n);
        }
        self.read_probed(src, buf, offset)
    }

    /// The common case of `read_at` while Exclusive: a read ending at or
    /// before `exclusive_end` is two loads, a bounds check and, for up to
    /// 64 bytes, the copy itself, all inlined into the caller (see
    /// [`crate::copy`]). `None` for every other read, and for one that
    /// faulted (the caller's full path then answers as `pread` would).
    /// The caller checked that the handle may read.
    #[inline(always)]
    pub(crate) fn read_fast(&self, buf: &mut [MaybeUninit<u8>], offset: u64) -> Option<usize> {
        let n = buf.len();
        if !ends_by(offset, n, self.exclusive_end.load(Ordering::Acquire)) {
            return None;
        }
        // SAFETY: the read ends by `exclusive_end`, within the window `base`
        // starts (see `Inode::base`), which stays mapped while `self`
        // lives; `buf` is ours to write; a fault is recovered.
        unsafe {
            let from = self.base.load(Ordering::Relaxed).add(offset as usize);
            copy::copy(buf.as_mut_ptr().cast(), from, n).ok()?;
        }
        Some(n)
    }

    /// Writes up to `count` bytes at `offset` into `out` by `write(2)`
    /// straight out of the window, where [`Self::read_fast`] would copy
    /// them: the inode Exclusive, the range within the window. `None`
    /// where it is not, and where the kernel's copy faulted before it
    /// wrote anything (`EFAULT`: an I/O error, which a `sendfile` then
    /// reports as `File` would). See `description/send.rs`.
    pub(crate) fn send_mapped(
        &self,
        out: BorrowedFd<'_>,
        offset: u64,
        count: usize,
    ) -> Option<io::Result<usize>> {
        let end = self.exclusive_end.load(Ordering::Acquire);
        let n = end.checked_sub(offset).filter(|&n| n > 0)?;
        let n = usize::try_from(n).map_or(count, |n| n.min(count));
        // SAFETY: `offset + n <= exclusive_end`, within the window `base`
        // starts, which stays mapped while `self` lives. A page that
        // faults stops the kernel's copy, which reports it.
        let sent = unsafe {
            let from = self.base.load(Ordering::Relaxed).add(offset as usize);
            os::write_from(out, from, n)
        };
        match sent {
            Err(e) if e.raw_os_error() == Some(Errno::FAULT.raw_os_error()) => None,
            sent => Some(sent),
        }
    }

    /// `read_at` while Shared, below `fast_end`: the copy with its probe
    /// for a shrink, on a thread that can take the probe's fault.
    #[inline(never)]
    fn read_probed(
        &self,
        src: MapSource<'_>,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
    ) -> io::Result<usize> {
        self.retry_lease();
        if ends_by(offset, buf.len(), self.fast_end.load(Ordering::Acquire)) {
            let end = offset + buf.len() as u64;
            let current = self.current();
            let probe = self.probe.load(Ordering::Relaxed);
            if probe != NO_PROBE
                && probe < current.cap as u64
                && end <= current.cap as u64
                && !fault::sigbus_blocked()
            {
                // SAFETY: `offset + n` and `probe` are within the window.
                let (from, probe) = unsafe { (current.at(offset), current.at(probe)) };
                return self.copy_out(src, from, Some(probe), buf, offset);
            }
        }
        self.read_slow(src, buf, offset)
    }

    /// `read_at` where the fast path does not apply: an empty or
    /// out-of-range request, a read reaching the end of the file (which, if
    /// Shared, only the kernel knows), past the current window, or on a
    /// thread that cannot take a fault.
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
        let exclusive = self.is_exclusive();
        if (!exclusive && fault::sigbus_blocked()) || end > self.hole_start.load(Ordering::Relaxed)
        {
            return os::pread(src.fd, buf, offset);
        }
        let mut current = self.current();
        // Cover the page the fast path probes too, so that later reads take it.
        let probed = if exclusive {
            end
        } else {
            end.max(page_ceil(self.fast_end.load(Ordering::Acquire)) + 1)
        };
        if !current.covers(probed, false) {
            let mut st = self.lock_state();
            let src = MapSource {
                writable: false,
                ..src
            };
            match self
                .window_for(&mut st, src, probed)
                .or_else(|| self.window_for(&mut st, src, end))
            {
                Some(window) => current = window,
                None => return os::pread(src.fd, buf, offset),
            }
        }
        // If Shared, the size was just asked: the read's own first byte is
        // the probe.
        // SAFETY: the window covers `..end` (and so `offset`).
        let from = unsafe { current.at(offset) };
        self.copy_out(src, from, (!exclusive).then_some(from), buf, offset)
    }

    /// Copies `buf.len()` bytes from `from`, byte `offset` of the file in
    /// a window, probing `probe` first (see [`copy::copy_checked`]);
    /// hands a fault to [`Self::read_fault`].
    #[inline(always)]
    fn copy_out(
        &self,
        src: MapSource<'_>,
        from: *const u8,
        probe: Option<*const u8>,
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
    ) -> io::Result<usize> {
        let n = buf.len();
        // SAFETY: the callers checked that `from[..n]` and the probe lie in
        // a window, which stays mapped while `self` lives; `buf` is ours to
        // write. Pages past the end of the file fault, and the copy routine
        // recovers.
        let result = unsafe {
            let dst = buf.as_mut_ptr().cast();
            match probe {
                None => copy::copy(dst, from, n),
                Some(probe) => copy::copy_checked(dst, from, n, probe),
            }
        };
        match result {
            Ok(()) => Ok(n),
            Err(fault) => self.read_fault(src, buf, offset, fault),
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
        buf: &mut [MaybeUninit<u8>],
        offset: u64,
        Fault { copied }: Fault,
    ) -> io::Result<usize> {
        // The tail of the file's last page reads as zeros without a fault:
        // keep only what lies within the length it has now.
        let len = self.refresh(src.fd)?;
        let copied = copied.min(len.saturating_sub(offset) as usize);
        match os::pread(src.fd, &mut buf[copied..], offset + copied as u64) {
            Ok(more) => Ok(copied + more),
            Err(_) if copied > 0 => Ok(copied),
            Err(e) => Err(e),
        }
    }
}

/// Whether a read of `n` bytes at `offset` ends at or before `bound`. An
/// empty read that passes returns 0, as `pread` does for an offset below
/// `bound` (at most the file's length, so a valid one).
#[inline(always)]
fn ends_by(offset: u64, n: usize, bound: u64) -> bool {
    offset.checked_add(n as u64).is_some_and(|end| end <= bound)
}
