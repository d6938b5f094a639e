//! Taking the lease back: when a Shared inode tries to become Exclusive
//! again.
//!
//! Nothing tells a process that the other descriptions of a file have
//! closed, so a Shared inode asks the kernel again from time to time: a
//! lease is granted only when no one else has the file open (see
//! [`super::lease`]). A single writable member tries at each growth step
//! (`write.rs`). Besides, after the kernel refused a lease (at an open, a
//! member's leaving, a growth step) or broke one, every member counts its
//! Shared operations (reads, writes, length checks) down from
//! [`RECLAIM_AFTER`] and tries when the count runs out; each further
//! refusal doubles the count, up to [`RECLAIM_AT_MOST`]. A refusal costs five
//! `fcntl`s (1.2 to 2.4 µs in a C loop on the Intel Xeon we measure),
//! against at least 300 ns for each Shared operation counted (a Shared
//! 64 B read, most of it the `rt_sigprocmask` that checks SIGBUS is not
//! blocked; an Exclusive one takes 20 to 40 ns): under 1% of a handle that
//! keeps working, 0.1% once the count is at its longest, and nothing for
//! one that is idle.
//!
//! The cost falls elsewhere too: while we hold the lease, anyone else's
//! open waits for its break (about a millisecond), so a file opened by
//! others over and over pays that once per regained lease, not once.

use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

use super::{Inode, State};

/// Shared operations after which the lease is first tried again.
const RECLAIM_AFTER: u32 = 1024;

/// The most Shared operations between two tries that were refused.
const RECLAIM_AT_MOST: u32 = 8192;

impl Inode {
    /// Under the lock, after a refusal of the lease (or a lease broken):
    /// counts down to the next try, over [`RECLAIM_AFTER`] operations the
    /// first time since `State::reclaim_every` was reset to 0, and twice
    /// as many as the last time after each further refusal, up to
    /// [`RECLAIM_AT_MOST`].
    pub(super) fn count_to_next_try(&self, st: &mut State) {
        st.reclaim_every =
            (st.reclaim_every.saturating_mul(2)).clamp(RECLAIM_AFTER, RECLAIM_AT_MOST);
        self.reclaim_in.store(st.reclaim_every, Ordering::Relaxed);
    }

    /// Under the lock: maps every window made through a description that
    /// is no longer a member again, through a member's descriptor, then
    /// tries the lease (which counts down to the next try if refused). A
    /// mapping holds open the description it was made through, and the
    /// kernel refuses a lease while another description of the file is
    /// open: without the new mapping, handles that outlive the one that
    /// mapped the file would stay Shared for as long as the inode lives.
    ///
    /// A new mapping costs about what unmapping the window's resident pages
    /// does (2.2 ms for 64 MiB here, against 20 µs for the close), so it is
    /// made only for a member that keeps working: at a write's growth step,
    /// or after [`RECLAIM_AFTER`] Shared operations. A handle that is
    /// closed soon after, as a server's is, never pays it.
    pub(super) fn reclaim_lease(&self, st: &mut State) {
        self.reclaim_in.store(0, Ordering::Relaxed);
        if st.exclusive {
            return;
        }
        if self.remap_windows(st) {
            self.try_lease(st);
        } else if Self::leasable(st) {
            // Not yet (live views, a hole): later.
            self.count_to_next_try(st);
        }
    }

    /// Under the lock: [`Self::reclaim_lease`]'s new mappings. Says whether
    /// no window holds a description that left now: `false`, changing
    /// nothing or only some windows, where the new mapping would not be
    /// the same (pages locked or advised by range, `State::tuned`; a hole;
    /// live views; a fork), or no member can map the windows.
    fn remap_windows(&self, st: &State) -> bool {
        let held = || {
            st.windows.iter().filter(|w| {
                let via = w.via.load(Ordering::Relaxed);
                via != 0 && st.members.iter().all(|m| m.id != via)
            })
        };
        if held().next().is_none() {
            return true;
        }
        if st.forked || st.tuned || st.hole.is_some() || st.views.any() {
            return false;
        }
        // Through a member that can write, if a window was writable; else
        // the windows are read-only from now on (a writer that joins later
        // maps a window of its own).
        let write = held().any(|w| w.writable());
        let readers = || st.members.iter().filter(|m| m.access.read);
        let Some((member, fd)) = readers()
            .filter(|m| m.access.write || !write)
            .chain(readers())
            .find_map(|m| Some((m, m.desc.upgrade()?.first_fd()?)))
        else {
            return false;
        };
        // SAFETY: the member's descriptor is open while the member exists.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let read_only = self.read_only.load(Ordering::Relaxed);
        for window in held() {
            let cap = window.cap as u64;
            let writable = window.writable() && member.access.write;
            if window.restore(fd, 0, cap, writable && !read_only).is_err() {
                return false;
            }
            window.advise(&st.advice, 0, cap);
            window.writable.store(writable, Ordering::Relaxed);
            window.via.store(member.id, Ordering::Relaxed);
        }
        true
    }

    /// On the Shared read paths (below `fast_end`, and a length caught
    /// up): counts one operation down to [`Self::reclaim_lease`]. One load
    /// when no try is pending.
    #[inline(always)]
    pub(super) fn retry_lease(&self) {
        if self.reclaim_in.load(Ordering::Relaxed) != 0 {
            self.count_down_to_reclaim();
        }
    }

    /// Under the lock, after a Shared write: as [`Self::retry_lease`].
    pub(super) fn retry_lease_locked(&self, st: &mut State) {
        if self.reclaim_in.load(Ordering::Relaxed) != 0 && self.count_down() {
            self.reclaim_lease(st);
        }
    }

    #[cold]
    #[inline(never)]
    fn count_down_to_reclaim(&self) {
        if self.count_down() {
            let mut st = self.lock_state();
            self.reclaim_lease(&mut st);
        }
    }

    /// Counts one Shared operation; says whether it was the last before a
    /// try. Never below 0: two threads may both have seen 1.
    fn count_down(&self) -> bool {
        (self.reclaim_in).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            == Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::Ordering;

    use super::{RECLAIM_AFTER, RECLAIM_AT_MOST};
    use crate::MmapFile;
    use crate::inode::tests::{inode, open_ro, open_rw};

    /// Open A, open B, drop A: B is alone with the file, and takes the
    /// lease back at its next growth step, though A's description mapped
    /// the windows (they are mapped again through B's).
    #[test]
    fn a_writer_left_alone_takes_the_lease_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut a = MmapFile::options()
            .read(true)
            .write(true)
            .create(true)
            .reserve(64 << 10)
            .map_after(0)
            .open(&path)
            .unwrap();
        a.write_all(&[7; 300 << 10]).unwrap();
        let windows = inode(&a).lock_state().windows.len();
        assert!(windows >= 2, "{windows} windows");
        let b = open_rw(&path);
        assert!(!inode(&b).is_exclusive());
        drop(a);
        b.write_all_at(b"b", 10).unwrap();
        assert!(!inode(&b).is_exclusive(), "no growth step yet");
        b.write_all_at(&[8; 200 << 10], 300 << 10).unwrap();
        assert!(inode(&b).is_exclusive(), "B stayed Shared");
        let mut buf = [0; 3];
        b.read_exact_at(&mut buf, 9).unwrap();
        assert_eq!(&buf, &[7, b'b', 7]);
        b.write_all_at(b"end", 500 << 10).unwrap();
        drop(b);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (500 << 10) + 3);
    }

    /// Open a writer, open a reader, drop the writer: the reader takes a
    /// read lease after `RECLAIM_AFTER` reads, and not before (a handle
    /// closed soon after would not gain what the new mapping costs).
    #[test]
    fn a_reader_left_alone_takes_the_lease_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut a = open_rw(&path);
        a.write_all(&[5; 100_000]).unwrap();
        let b = open_ro(&path);
        drop(a);
        let mut buf = [0; 10];
        for _ in 1..RECLAIM_AFTER {
            assert_eq!(b.read_at(&mut buf, 1000).unwrap(), 10);
        }
        assert!(!inode(&b).is_exclusive(), "reclaimed early");
        assert_eq!(b.read_at(&mut buf, 1000).unwrap(), 10);
        assert!(inode(&b).is_exclusive(), "the reader stayed Shared");
        assert_eq!(b.read_at(&mut buf, 99_995).unwrap(), 5);
        assert_eq!(buf[..5], [5; 5]);
    }

    /// Two readers that both saw the countdown at 1 leave it at 0, not at
    /// `u32::MAX` (which would cost every Shared read a read-modify-write).
    #[test]
    fn the_reclaim_countdown_stops_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = open_rw(&path);
        let inode = inode(&f);
        inode.reclaim_in.store(1, Ordering::Relaxed);
        inode.count_down_to_reclaim();
        inode.count_down_to_reclaim();
        assert_eq!(inode.reclaim_in.load(Ordering::Relaxed), 0);
    }

    /// Pages locked through B would be unlocked by a new mapping: the
    /// windows stay as they are, and B Shared, with `File`'s results.
    #[test]
    fn locked_pages_keep_their_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut a = open_rw(&path);
        a.write_all(&[3; 8192]).unwrap();
        let b = open_rw(&path);
        if b.lock_memory().is_err() {
            // RLIMIT_MEMLOCK too small here: nothing to keep.
            return;
        }
        drop(a);
        b.write_all_at(b"b", 0).unwrap();
        b.write_all_at(&[9; 200 << 10], 8192).unwrap();
        assert!(!inode(&b).is_exclusive(), "the windows were mapped again");
        let mut buf = [0; 2];
        b.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, &[b'b', 3]);
    }

    /// Reads `n` times through `f`, checking the bytes each time.
    fn read_times(f: &MmapFile, n: u32, offset: u64, want: &[u8]) {
        let mut buf = vec![0; want.len()];
        for _ in 0..n {
            f.read_exact_at(&mut buf, offset).unwrap();
            assert_eq!(buf, want);
        }
    }

    /// A reader alone has a read lease, which another open for writing
    /// breaks. While that `File` is open the reader stays Shared (and sees
    /// its writes, as `File` does), trying at longer and longer intervals,
    /// none longer than `RECLAIM_AT_MOST`; once it is closed, the reader's
    /// next try takes the lease back.
    #[test]
    fn a_reader_takes_the_lease_back_when_the_outside_writer_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1; 100_000]).unwrap();
        let r = open_ro(&path);
        read_times(&r, 1, 0, &[1; 10]);
        assert!(inode(&r).is_exclusive());
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(!inode(&r).is_exclusive(), "the open broke no lease");
        w.write_all_at(b"outside", 500).unwrap();
        read_times(&r, RECLAIM_AFTER - 1, 500, b"outside");
        assert_eq!(inode(&r).lock_state().reclaim_every, RECLAIM_AFTER);
        let mut every = vec![];
        for _ in 0..6 {
            let left = inode(&r).reclaim_in.load(Ordering::Relaxed);
            read_times(&r, left, 500, b"outside");
            assert!(!inode(&r).is_exclusive(), "a lease beside an open File");
            every.push(inode(&r).lock_state().reclaim_every);
        }
        assert_eq!(every, [2048, 4096, 8192, 8192, 8192, 8192]);
        assert_eq!(
            inode(&r).reclaim_in.load(Ordering::Relaxed),
            RECLAIM_AT_MOST
        );
        drop(w);
        read_times(&r, RECLAIM_AT_MOST, 500, b"outside");
        assert!(inode(&r).is_exclusive(), "the reader stayed Shared");
        read_times(&r, 1, 499, b"\x01outside\x01");
    }

    /// A reader opened while someone else has the file open starts
    /// Shared, refused its lease: it takes the lease once that `File`
    /// closes, as one whose lease was broken does.
    #[test]
    fn a_reader_opened_beside_an_outside_writer_takes_the_lease_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [4; 10_000]).unwrap();
        let w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let r = open_ro(&path);
        assert!(!inode(&r).is_exclusive(), "a lease beside an open File");
        assert_eq!(inode(&r).reclaim_in.load(Ordering::Relaxed), RECLAIM_AFTER);
        drop(w);
        read_times(&r, RECLAIM_AFTER, 0, &[4; 8]);
        assert!(inode(&r).is_exclusive(), "the reader stayed Shared");
    }

    /// A writer alone writes in place, with no growth step to retry the
    /// lease at: an outside reader's open and close leave it Shared only
    /// until its count of writes runs out.
    #[test]
    fn an_in_place_writer_takes_the_lease_back_when_the_outside_reader_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [2; 100_000]).unwrap();
        let w = open_rw(&path);
        w.write_all_at(b"a", 0).unwrap();
        assert!(inode(&w).is_exclusive());
        let r = std::fs::File::open(&path).unwrap();
        assert!(!inode(&w).is_exclusive(), "the open broke no lease");
        drop(r);
        for i in 0..RECLAIM_AFTER {
            w.write_all_at(&i.to_le_bytes(), 4 * u64::from(i)).unwrap();
        }
        assert!(inode(&w).is_exclusive(), "the writer stayed Shared");
        w.write_all_at(b"end", 99_997).unwrap();
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        for i in 0..RECLAIM_AFTER {
            let at = 4 * i as usize;
            assert_eq!(bytes[at..at + 4], i.to_le_bytes());
        }
        assert_eq!(&bytes[99_997..], b"end");
    }

    /// A handle whose descriptor is lent out (`as_fd`) can never hold a
    /// lease again: after the first try the count stops, and a Shared
    /// operation costs one load again.
    #[test]
    fn no_tries_where_no_lease_can_be_had() {
        use std::os::fd::AsFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [3; 1000]).unwrap();
        let f = open_rw(&path);
        let _lent = f.as_fd();
        assert!(!inode(&f).is_exclusive());
        read_times(&f, RECLAIM_AFTER, 0, &[3; 4]);
        assert_eq!(inode(&f).reclaim_in.load(Ordering::Relaxed), 0);
        assert!(!inode(&f).is_exclusive());
    }
}
