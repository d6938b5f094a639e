//! What the mapping controls and views ask of an inode: pins for views,
//! pages for `madvise` and friends, protection, syncs noted, and the
//! truncation at open that a live view refuses.

use std::io;
use std::sync::Weak;
use std::sync::atomic::Ordering;

use super::{Inode, REGISTRY, SHARED_OFFSETS, busy, check_range, lock};
use crate::os;
use crate::window::{MapSource, page_span};

impl Inode {
    /// Records that a description of this file keeps its cursor in the
    /// kernel, shared with a `File` made of a clone: a `File` handed to the
    /// crate later may be that one, even after this inode is gone.
    pub(crate) fn share_offsets(&self) {
        lock(&SHARED_OFFSETS).insert(self.key);
    }

    /// Records a `sync_data`/`sync_all`: the writes that follow are likely
    /// to be synced too.
    pub(crate) fn note_sync(&self) {
        self.lock_state().writes_since_sync = 0;
    }

    /// Truncates `file`, just opened, to 0 bytes, as `O_TRUNC` would have;
    /// but fails with `ResourceBusy`, leaving it as it is, while the file
    /// has a live view in this process.
    pub(crate) fn truncate_opened(key: (u64, u64), file: &std::fs::File) -> io::Result<()> {
        use std::os::fd::AsFd;
        let inode = lock(&REGISTRY).get(&key).and_then(Weak::upgrade);
        let Some(inode) = inode else {
            return file.set_len(0);
        };
        let st = inode.lock_state();
        if st.views.any() {
            return Err(busy());
        }
        file.set_len(0)?;
        // This open broke any lease, so the inode is Shared: no padding,
        // no hole; the other handles see the new length now.
        inode.adopt_disk_size(&st, file.as_fd())?;
        Ok(())
    }

    /// Pins `offset..offset + len` for a [`crate::View`]: writes into it and
    /// shrinking below its end fail until [`Inode::unpin`]. Returns a
    /// pointer to its first byte.
    pub(crate) fn pin(&self, src: MapSource<'_>, offset: u64, len: usize) -> io::Result<*const u8> {
        let end = check_range(offset, len)?;
        let fd = src.fd;
        let mut st = self.lock_state();
        if !st.exclusive {
            self.adopt_disk_size(&st, fd)?;
        }
        if end > self.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "view past the end of the file",
            ));
        }
        let src = MapSource {
            writable: false,
            ..src
        };
        let window = self
            .window_for(&mut st, src, end.max(1))
            .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        // SAFETY: `offset <= end <= cap`: within (or one past) the window.
        let ptr = unsafe { window.at(offset) };
        st.views.pin(end);
        Ok(ptr)
    }

    /// Releases a pin made by [`Inode::pin`] for a range ending at `end`.
    pub(crate) fn unpin(&self, end: u64) {
        self.lock_state().views.unpin(end);
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
        let Some((start, end)) = page_span(offset, len, self.len()) else {
            return Ok(());
        };
        let mut current = self.current();
        if !current.covers(end, false) {
            let mut st = self.lock_state();
            current = self
                .window_for(&mut st, src, end)
                .ok_or_else(|| io::Error::from(rustix::io::Errno::NOMEM))?;
        }
        // SAFETY: `start < end <= cap`: inside the window.
        let ptr = unsafe { current.at(start) };
        op(ptr, (end - start) as usize)
    }

    /// Records that the caller locks pages or gives lasting advice over a
    /// range of the mapping, which a new mapping would drop (see
    /// `State::tuned`).
    pub(crate) fn tune(&self) {
        self.lock_state().tuned = true;
    }

    /// Makes every window read-only (`true`) or writable again (`false`,
    /// for windows mapped writable).
    pub(crate) fn protect(&self, read_only: bool) -> io::Result<()> {
        let st = self.lock_state();
        for window in st.windows.iter().filter(|w| w.writable()) {
            // SAFETY: the window is ours; while read-only, writes are refused
            // under the lock we hold, before they reach memory.
            unsafe { os::protect(window.base, window.cap, !read_only)? };
        }
        self.read_only.store(read_only, Ordering::Relaxed);
        Ok(())
    }
}
