//! The size on disk: growth steps ahead of the writes, the trim that cuts
//! them back, and `set_len`.
//!
//! While Exclusive, a write past the end grows the file on disk by a step
//! (a power of two up to half its size, 64 KiB to 4 MiB, ending at a
//! multiple of itself: see `write::grown_size`) ahead of it, so that the appends that
//! follow make no system call; [`Inode::trim`] cuts the padding again. A
//! shrink of ours blanks the pages it cuts off first (see `State::hole`).

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

use super::write::grown_size;
use super::{Inode, MAX_OFFSET, State, busy};
use crate::description::Io;
use crate::os;
use crate::window::page_ceil;

/// How appends grow the file on disk (see `OpenOptions::preallocate` and
/// `OpenOptions::exact_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Growth {
    /// In steps ahead of the writes, written with zeros, so that their
    /// blocks are reserved.
    Reserved,
    /// As `Reserved`, with the next step made by the process's grower thread
    /// while the only writer writes into the current one (see `ahead.rs`).
    Background,
    /// In steps ahead of the writes, as a hole (`ftruncate`).
    Sparse,
    /// Never past the logical length: a write past the end is a `pwrite`.
    Exact,
}

impl Growth {
    /// Whether steps are written (their blocks reserved).
    pub(crate) fn reserves(self) -> bool {
        matches!(self, Growth::Reserved | Growth::Background)
    }
}

impl Inode {
    /// Under the lock, while Exclusive: extends the file on disk past the
    /// write of `bufs` at `offset` by a growth step.
    ///
    /// With [`Growth::Reserved`] the step is written with zeros (see
    /// [`write_zeros`]; on tmpfs it is `fallocate`d), so that a full disk or quota is an error here,
    /// before any byte is copied, and the caller's `pwrite` reports it as
    /// `File` would. With [`Growth::Sparse`] the step is a hole
    /// (`ftruncate`), and a write into a page the disk cannot back faults in
    /// the copy routine and is redone by `pwrite` instead. A step too large
    /// is retried as just the write.
    pub(super) fn grow(&self, st: &mut State, io: &Io<'_>, end: u64) -> io::Result<()> {
        let physical = self.physical.load(Ordering::Relaxed);
        let limit = os::file_size_limit();
        if end > limit {
            // `File` would raise SIGXFSZ here; let `pwrite` do exactly that.
            return Err(os::invalid());
        }
        self.fill_hole_below(st, io.fd, u64::MAX)?;
        let ahead = page_ceil(grown_size(physical, end))
            .min(limit)
            .min(MAX_OFFSET);
        let extend = |size: u64| self.make_step(io.fd, io.growth, physical, size);
        let undo = || self.undo_step(io.fd, physical);
        let grown = match extend(ahead) {
            Ok(()) => Ok(ahead),
            Err(_) if ahead > end => undo().and_then(|()| extend(end).map(|()| end)),
            Err(e) => Err(e),
        };
        match grown {
            Ok(size) => {
                self.extend_physical(st, size);
                Ok(())
            }
            Err(e) => {
                undo()?;
                Err(e)
            }
        }
    }

    /// Extends the file on disk from `physical`, its size, to `size`: the
    /// step of [`Self::grow`].
    pub(super) fn make_step(
        &self,
        fd: BorrowedFd<'_>,
        growth: Growth,
        physical: u64,
        size: u64,
    ) -> io::Result<()> {
        match growth {
            _ if growth.reserves() && self.on_tmpfs => os::allocate(fd, physical, size - physical),
            Growth::Reserved | Growth::Background => write_zeros(fd, physical, size),
            Growth::Sparse | Growth::Exact => os::truncate(fd, size),
        }
    }

    /// After a failed [`Self::make_step`]: cuts what it left of its step,
    /// which would take the space the next try needs (and, on an
    /// `O_APPEND` descriptor, move where that try's zeros land).
    pub(super) fn undo_step(&self, fd: BorrowedFd<'_>, physical: u64) -> io::Result<()> {
        match os::file_size(fd)? {
            size if size != physical => os::truncate(fd, physical),
            _ => Ok(()),
        }
    }

    /// Whether a growth step comes with its pages in the page cache
    /// (written with zeros), where a fault per page costs less than
    /// populating the step does. On tmpfs `fallocate` makes the pages
    /// instead, and populating them saves a fault per page.
    pub(super) fn grows_into_cache(&self, growth: Growth) -> bool {
        growth.reserves() && !self.on_tmpfs
    }

    /// Under the lock: maps the file back over the hole our shrink left if
    /// the file is to reach past its start (`end`).
    pub(super) fn fill_hole_below(
        &self,
        st: &mut State,
        fd: BorrowedFd<'_>,
        end: u64,
    ) -> io::Result<()> {
        match st.hole {
            Some((from, _)) if end > from => self.fill_hole(st, fd),
            _ => Ok(()),
        }
    }

    /// Under the lock: cuts the file back to its logical length.
    pub(super) fn trim_locked(&self, st: &State, fd: BorrowedFd<'_>) -> io::Result<()> {
        let len = self.len();
        if self.physical.load(Ordering::Relaxed) > len {
            // While Shared, someone else may have set the size since: theirs
            // stands.
            if !st.exclusive && self.adopt_disk_size(st, fd)? {
                return Ok(());
            }
            os::truncate(fd, len)?;
            self.physical.store(len, Ordering::Release);
            self.publish(st);
        }
        Ok(())
    }

    /// Cuts the file back to its logical length, so that every observer
    /// sees it exactly. `fd` must be open for writing.
    pub(crate) fn trim(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        if self.physical.load(Ordering::Acquire) == self.len() {
            return Ok(());
        }
        let st = self.lock_state();
        self.trim_locked(&st, fd)
    }

    /// Sets the length, like `File::set_len` (which it calls, for the same
    /// checks and errors).
    ///
    /// A shrink while Exclusive first blanks the pages it cuts off in every
    /// window (see `State::hole`): readers on other threads take no lock,
    /// and one still copying there must not meet a fault, which would kill
    /// a thread that blocks SIGBUS.
    pub(crate) fn set_len(&self, io: &Io<'_>, file: &File, size: u64) -> io::Result<()> {
        let mut st = self.lock_state();
        if st.views.past(size) {
            return Err(busy());
        }
        let blank = st.exclusive && io.access.write && size < self.len() && size <= MAX_OFFSET;
        if blank {
            let to = page_ceil(self.physical.load(Ordering::Relaxed));
            let from = page_ceil(size);
            let read_only = self.read_only.load(Ordering::Relaxed);
            let hole = st
                .hole
                .map_or((from, to), |(f, t)| (f.min(from), t.max(to)));
            st.hole = Some(hole);
            self.publish(&st);
            for window in &st.windows {
                if let Err(e) = window.blank(from, to, window.writable() && !read_only) {
                    let _ = self.fill_hole(&mut st, io.fd);
                    return Err(e);
                }
            }
        }
        if let Err(e) = file.set_len(size) {
            if blank {
                let _ = self.fill_hole(&mut st, io.fd);
            }
            return Err(e);
        }
        self.fill_hole_below(&mut st, io.fd, size)?;
        self.set_lengths(&st, size);
        Ok(())
    }
}

/// Extends the file on disk from its end, `from`, to `to` with zeros, by
/// `pwritev` from a static page of zeros: the kernel reserves the blocks
/// (or says `ENOSPC`), and the step's pages are in the page cache before
/// the mapping writes them. Writing into such pages costs a third of what
/// faulting in pages of an `fallocate`d step does (the fault reads each
/// one, zeroing it, with readahead), and less than `File`'s own `write`:
/// the kernel allocates the step's pages in large folios. At `from`, the
/// file's end, `pwritev` writes there even on an `O_APPEND` descriptor.
fn write_zeros(fd: BorrowedFd<'_>, mut from: u64, to: u64) -> io::Result<()> {
    const CHUNK: usize = 64 << 10;
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    /// Chunks per call: 4 MiB.
    const CHUNKS: usize = 64;
    let mut bufs = [io::IoSlice::new(&ZEROS); CHUNKS];
    while from < to {
        let left = to - from;
        let whole = (left / CHUNK as u64).min(CHUNKS as u64) as usize;
        let rest = (left % CHUNK as u64) as usize;
        let count = if whole < CHUNKS && rest > 0 {
            bufs[whole] = io::IoSlice::new(&ZEROS[..rest]);
            whole + 1
        } else {
            whole
        };
        match os::pwritev(fd, &bufs[..count], from)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => from += n as u64,
        }
    }
    Ok(())
}
