//! Writes: `pwritev`'s results through the mapping.
//!
//! A write first decides a [`Plan`] from the state of the inode and the
//! description, then carries it out. While Exclusive, a write past the end
//! grows the file on disk by a step ahead of it (zeros written by
//! `pwritev`, so that a full disk is an error from the write, before any
//! byte is copied; see `length.rs`) and copies into the mapping. While Shared, the file on disk
//! is never longer than `len`: appends and writes past the end go through
//! the kernel.

use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;

use super::{Growth, Inode, State, busy, check_range};
use crate::copy::{self, Fault};
use crate::description::Io;
use crate::os::{self, fault};
use crate::window::{Window, last_page_start};

/// How many writes after a `sync_data`/`sync_all` go by `pwrite`: a sync of
/// pages written that way costs a fraction of one of pages dirtied through
/// the mapping (and an append would grow the file only for the sync to cut
/// it back).
pub(super) const SYNC_STREAK: u32 = 16;

/// Smallest and largest step by which appends grow the file on disk. A
/// step of zeros (see `length.rs`) costs about what the writes into it
/// do, so a large one would make one append wait long for pages that a
/// short-lived handle never uses.
const MIN_GROWTH: u64 = 64 << 10;
const MAX_GROWTH: u64 = 4 << 20;

/// The growth step for a file of `size` bytes: the largest power of two
/// up to half of it, within bounds.
pub(super) fn growth_step(size: u64) -> u64 {
    let half = (size / 2).clamp(MIN_GROWTH, MAX_GROWTH);
    1 << half.ilog2()
}

/// The size on disk a write ending at `end` grows a file of `physical`
/// bytes to: the first multiple of the step (see [`growth_step`]) past
/// both. Steps aligned so cost up to a third less to write here than
/// steps of the same sizes that are not (the page cache holds them in
/// large folios).
pub(super) fn grown_size(physical: u64, end: u64) -> u64 {
    let step = growth_step(physical);
    end.max(physical.saturating_add(1))
        .checked_next_multiple_of(step)
        .unwrap_or(u64::MAX)
}

/// Where a write lands.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    /// At this offset.
    Offset(u64),
    /// At the end, whatever it is when the write takes the lock: a cursor
    /// write of an append handle (the cursor follows it).
    End,
    /// At the end, as `pwrite` on an `O_APPEND` descriptor writes: a
    /// `write_at` of an append handle, which moves no file offset.
    EndPositional,
}

/// How a write is carried out.
#[derive(Debug)]
enum Plan {
    /// Through the mapping.
    Map(Mapped),
    /// `pwrite` at `offset`: `File`'s write, for what the mapping must not
    /// take.
    Pwrite { offset: u64 },
    /// `write(2)` on the `O_APPEND` descriptor: the kernel appends at the
    /// end as it is, atomically with everyone else's appends.
    Append,
    /// `pwrite` on the `O_APPEND` descriptor: the same, moving no offset.
    AppendPositional,
}

/// A write through the mapping.
#[derive(Debug)]
struct Mapped {
    offset: u64,
    /// Grow the file on disk by a step past the write first.
    grow: bool,
    /// Probe this byte first (see `read.rs`).
    probe: Option<u64>,
    /// An append of a page or more into a growth step that is a hole: by
    /// `pwrite` where the kernel can write there. It fills fresh page-cache
    /// pages without the page fault and the zeroing that each costs through
    /// the mapping (4 KiB appends ran at half `File`'s speed that way). A
    /// step of zeros is in the page cache already, and the mapping is
    /// faster there.
    into_step: bool,
}

impl Inode {
    /// Writes `bufs` at `at`, like `pwritev` (or `write` in append mode).
    /// Returns the bytes written and the position after them (where the
    /// cursor goes), `None` where only the kernel's file offset knows it.
    pub(crate) fn write(
        &self,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
    ) -> io::Result<(usize, Option<u64>)> {
        let mut st = self.lock_state();
        let total = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        let offset = match at {
            At::Offset(offset) => offset,
            At::End | At::EndPositional => self.len(),
        };
        check_range(offset, total)?;
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
        let plan = self.plan(&mut st, io, at, offset, total)?;
        let done = self.carry_out(&mut st, io, bufs, at, plan);
        let end = self.len();
        if !st.exclusive && done.is_ok() {
            if end >= st.lease_retry_at {
                // Grown by a step since the lease broke: whoever had the
                // file open may have closed it.
                self.reclaim_lease(&mut st);
                st.lease_retry_at = end.saturating_add(growth_step(end));
            } else {
                self.retry_lease_locked(&mut st);
            }
        }
        done
    }

    /// Decides how a write of `total` bytes at `offset` (`at`) is made.
    fn plan(
        &self,
        st: &mut State,
        io: &Io<'_>,
        at: At,
        offset: u64,
        total: usize,
    ) -> io::Result<Plan> {
        let end = offset + total as u64;
        let len = self.len();
        let physical = self.physical.load(Ordering::Relaxed);
        let page_append = total >= os::page_size() && end > len;
        // Durable writes, and those right after a sync, go as `File`'s do.
        let after_sync = st.writes_since_sync < SYNC_STREAK;
        if after_sync {
            st.writes_since_sync += 1;
        }
        // A handle that cannot read cannot map: it writes where a window
        // mapped by another handle reaches, else by system call.
        let unmappable = !io.access.read && !self.current().covers(end, true);
        if io.access.sync
            || after_sync
            || unmappable
            || end > self.hole_start.load(Ordering::Relaxed)
        {
            return Ok(match at {
                At::End if !st.exclusive => Plan::Append,
                At::EndPositional if !st.exclusive => Plan::AppendPositional,
                _ => Plan::Pwrite { offset },
            });
        }
        if !st.exclusive {
            match at {
                At::End => return Ok(Plan::Append),
                At::EndPositional => return Ok(Plan::AppendPositional),
                At::Offset(_) => {}
            }
            // Catch up with any change of size made behind our back, so
            // that nothing goes into a page past a new end and a write
            // past the end extends the file as `pwrite` does.
            let tail = last_page_start(physical);
            let probe_tail = end <= tail && tail < self.current().cap as u64;
            if !probe_tail {
                self.adopt_disk_size(st, io.fd)?;
            }
            if end > self.len() || fault::sigbus_blocked() {
                return Ok(Plan::Pwrite { offset });
            }
            // Below the file's last page, a probe of that page shows that
            // the file still reaches past the write; else the size was just
            // asked and the write's own first byte is the probe.
            let probe = if probe_tail { tail } else { offset };
            return Ok(Plan::Map(Mapped {
                offset,
                grow: false,
                probe: Some(probe),
                into_step: false,
            }));
        }
        // Exclusive: `len` and `physical` are the truth.
        if offset > physical || (io.growth == Growth::Exact && end > len) {
            // A write past the end on disk leaves a hole before it, which
            // `pwrite` leaves unallocated, as `File` does.
            return Ok(Plan::Pwrite { offset });
        }
        if io.growth.reserves() && end > physical.saturating_add(MAX_GROWTH) {
            // Zeros first would double what the kernel writes.
            return Ok(Plan::Pwrite { offset });
        }
        if io.growth == Growth::Sparse && fault::sigbus_blocked() {
            // A page of a hole the disk cannot back faults when written.
            return Ok(Plan::Pwrite { offset });
        }
        Ok(Plan::Map(Mapped {
            offset,
            grow: end > physical,
            probe: None,
            into_step: page_append && !io.growth.reserves(),
        }))
    }

    /// Under the lock: makes the write `plan` says; returns as
    /// [`Inode::write`].
    fn carry_out(
        &self,
        st: &mut State,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        plan: Plan,
    ) -> io::Result<(usize, Option<u64>)> {
        let done = match plan {
            Plan::Append => return Ok((self.append_by_kernel(st, io, bufs, true)?, None)),
            Plan::AppendPositional => {
                let written = self.append_by_kernel(st, io, bufs, false)?;
                return Ok((written, Some(self.len())));
            }
            Plan::Pwrite { offset } => self.write_by_syscall(st, io, bufs, offset, None),
            Plan::Map(mapped) => self.write_mapped(st, io, bufs, at, mapped),
        };
        done.map(|(n, end)| (n, Some(end)))
    }

    /// Under the lock: a write through the mapping (see [`Mapped`]).
    fn write_mapped(
        &self,
        st: &mut State,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        Mapped {
            offset,
            grow,
            probe,
            into_step,
        }: Mapped,
    ) -> io::Result<(usize, u64)> {
        let total = bufs.iter().map(|b| b.len()).sum::<usize>();
        let end = offset + total as u64;
        let before = self.physical.load(Ordering::Relaxed);
        if grow && self.grow(st, io, end).is_err() {
            return self.write_by_syscall(st, io, bufs, offset, Some(0));
        }
        if into_step && let Some(done) = self.write_into_step(st, io, bufs, at, offset) {
            return done;
        }
        let physical = self.physical.load(Ordering::Relaxed);
        // The window covers the whole file where it can, so that later
        // writes need not map a larger one.
        let src = io.source();
        let Some(window) = self
            .window_for(st, src, end.max(physical))
            .or_else(|| self.window_for(st, src, end))
        else {
            return self.write_by_syscall(st, io, bufs, offset, Some(0));
        };
        if physical > before && !self.grows_into_cache(io.growth) {
            window.populate(before.max(offset), physical);
        }
        if let Err(Fault { copied }) = copy_into(window, offset, bufs, probe) {
            return self.write_by_syscall(st, io, bufs, offset, Some(copied));
        }
        self.extend_len(st, end);
        Ok((total, end))
    }

    /// Under the lock: writes `bufs` at `offset` with `pwritev`. The
    /// kernel's answer is then exactly `File`'s. `copied` is `None` where
    /// the plan chose this; else what reached the mapping before a fault
    /// (or `Some(0)` for a mapping that could not be had). Those bytes are
    /// written again, because a shrink by someone else may have left some
    /// of them past the new end, where the mapping does not reach the file.
    fn write_by_syscall(
        &self,
        st: &mut State,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        offset: u64,
        copied: Option<usize>,
    ) -> io::Result<(usize, u64)> {
        let total = bufs.iter().map(|b| b.len()).sum::<usize>();
        // On an `O_APPEND` descriptor `pwrite` writes at the file's size:
        // make that the length first. And map the file back over a hole
        // our shrink left, before the file reaches into it.
        let result = (if io.access.append {
            self.trim_locked(st, io.fd)
        } else {
            Ok(())
        })
        .and_then(|()| self.fill_hole_below(st, io.fd, offset + total as u64))
        .and_then(|()| os::pwritev(io.fd, bufs, offset));
        let shrunk = copied.is_some() && !st.exclusive;
        if shrunk {
            // A fault while Shared: the file is as the kernel says now.
            let _ = self.adopt_disk_size(st, io.fd);
        }
        let written = match result {
            Ok(n) => n,
            // The bytes the mapping took before the fault are in the file,
            // unless a shrink took them away.
            Err(e) => match copied {
                Some(copied)
                    if copied > 0
                        && offset + copied as u64 <= self.physical.load(Ordering::Relaxed) =>
                {
                    copied
                }
                _ => return Err(e),
            },
        };
        let end = offset + written as u64;
        self.extend_physical(st, end);
        self.extend_len(st, end);
        Ok((written, end))
    }

    /// Under the lock, while Shared: an append through the kernel on the
    /// `O_APPEND` descriptor, which lands right after whatever anyone has
    /// written: by `write(2)` for a cursor write ([`Plan::Append`]), which
    /// leaves the cursor in the kernel's file offset until it is next
    /// needed, or by `pwrite`, which moves no offset, for a `write_at`. Only
    /// the kernel knows where it landed; the length becomes at least what
    /// it was plus what was written, which is exact unless someone else
    /// changed the size (then it lags, as for any such change).
    fn append_by_kernel(
        &self,
        st: &mut State,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        cursor: bool,
    ) -> io::Result<usize> {
        self.trim_locked(st, io.fd)?;
        self.fill_hole_below(st, io.fd, u64::MAX)?;
        let before = self.len();
        let written = if cursor {
            os::writev(io.fd, bufs)?
        } else {
            // On Linux, pwrite on an O_APPEND descriptor appends.
            os::pwritev(io.fd, bufs, 0)?
        };
        let end = before.saturating_add(written as u64);
        self.extend_physical(st, end);
        self.extend_len(st, end);
        Ok(written)
    }

    /// Under the lock, while Exclusive: an append of a page or more inside
    /// the growth step, by `pwritev`. `None` where the kernel cannot write
    /// at `offset` on an `O_APPEND` descriptor (`RWF_NOAPPEND` needs Linux
    /// 6.9; else `pwrite` would land past the step): the mapping takes it.
    fn write_into_step(
        &self,
        st: &mut State,
        io: &Io<'_>,
        bufs: &[IoSlice<'_>],
        at: At,
        offset: u64,
    ) -> Option<io::Result<(usize, u64)>> {
        use std::sync::atomic::AtomicBool;
        static NO_NOAPPEND: AtomicBool = AtomicBool::new(false);
        let written = match at {
            _ if !io.access.append => os::pwritev(io.fd, bufs, offset),
            _ if NO_NOAPPEND.load(Ordering::Relaxed) => return None,
            _ => match os::pwritev_at(io.fd, bufs, offset) {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                    NO_NOAPPEND.store(true, Ordering::Relaxed);
                    return None;
                }
                written => written,
            },
        };
        Some(match written {
            Ok(n) => {
                self.extend_len(st, offset + n as u64);
                Ok((n, offset + n as u64))
            }
            // The general path gives `File`'s answer.
            Err(_) => self.write_by_syscall(st, io, bufs, offset, Some(0)),
        })
    }

    /// Under the lock: the file on disk reaches at least `end`.
    pub(super) fn extend_physical(&self, st: &State, end: u64) {
        if end > self.physical.load(Ordering::Relaxed) {
            self.physical.store(end, Ordering::Release);
            self.publish(st);
        }
    }

    /// Under the lock (the only place `len` grows, so no atomic
    /// read-modify-write is needed): publishes bytes written up to `end`.
    pub(super) fn extend_len(&self, st: &State, end: u64) {
        if end > self.len.load(Ordering::Relaxed) {
            self.len.store(end, Ordering::Release);
            self.publish(st);
        }
    }
}

/// Copies `bufs` into `window` from `offset` on, probing the byte at
/// `probe` first if given (see [`copy::copy_checked`]).
#[inline]
fn copy_into(
    window: &Window,
    offset: u64,
    bufs: &[IoSlice<'_>],
    probe: Option<u64>,
) -> Result<(), Fault> {
    let mut at = offset;
    for buf in bufs {
        // SAFETY: the caller checked `offset + total <= cap`, `probe < cap`
        // and that the window is writable; `buf` is the caller's and is not
        // in a window. Faults are recovered.
        unsafe {
            let to = window.at(at);
            match probe {
                Some(probe) => copy::copy_checked(to, buf.as_ptr(), buf.len(), window.at(probe)),
                None => copy::copy(to, buf.as_ptr(), buf.len()),
            }
        }
        .map_err(|Fault { copied }| Fault {
            copied: (at - offset) as usize + copied,
        })?;
        at += buf.len() as u64;
    }
    Ok(())
}
