//! The members of an inode (its open file descriptions in this process)
//! and the moves between the Exclusive and Shared states that they make:
//! taking leases, answering a break, a handle leaving the crate, a fork.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Inode, Member, State, lease, write};
use crate::description::Description;
use crate::os::{self, LeaseKind};

/// Shared reads after which the members left behind by another retry the
/// lease (see [`Inode::reclaim_lease`]).
const RECLAIM_AFTER: u32 = 1024;

impl Inode {
    /// Under the lock: takes the leases that make the inode Exclusive, if
    /// every member may (see the module docs). Costs a few `fcntl`s; a
    /// refusal (another description exists, a file system without leases,
    /// a file someone else owns) leaves it Shared.
    pub(super) fn try_lease(&self, st: &mut State) {
        if st.exclusive || st.forked || st.members.is_empty() {
            return;
        }
        if !st.members.iter().all(|m| m.may_lease) {
            return;
        }
        let writable = st.members.iter().any(|m| m.access.write);
        if writable && st.members.len() > 1 {
            return;
        }
        let kind = if writable {
            LeaseKind::Write
        } else {
            LeaseKind::Read
        };
        for i in 0..st.members.len() {
            if !self.lease_member(st, i, kind) {
                self.release_leases(st);
                return;
            }
        }
        // Nobody else can change the file now: adopt its size once more.
        let (fd, _) = st.members[0].lease.expect("just taken");
        // SAFETY: the member's descriptor is open while the member exists.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        match os::file_size(fd) {
            Ok(size) => {
                st.exclusive = true;
                self.set_lengths(st, size);
            }
            Err(_) => self.release_leases(st),
        }
    }

    /// Under the lock: takes a lease of `kind` for member `i`, through one
    /// of its descriptors; says whether it got one.
    pub(super) fn lease_member(&self, st: &mut State, i: usize, kind: LeaseKind) -> bool {
        let member = &mut st.members[i];
        if !member.may_lease || st.forked {
            return false;
        }
        let fd = member.desc.upgrade().and_then(|d| d.first_fd());
        match fd.filter(|&fd| lease::take(fd, kind, &self.me)) {
            Some(fd) => {
                member.lease = Some((fd, kind));
                true
            }
            None => false,
        }
    }

    /// Under the lock: gives up every member's lease.
    pub(super) fn release_leases(&self, st: &mut State) {
        for m in &mut st.members {
            if let Some((fd, _)) = m.lease.take() {
                lease::forget(fd);
                // SAFETY: the member's descriptor is open while it exists.
                os::release_lease(unsafe { BorrowedFd::borrow_raw(fd) });
            }
        }
    }

    /// Under the lock: leaves the Exclusive state, as someone else may now
    /// open the file: maps the file back over any hole, cuts the padding,
    /// and only then releases the leases, so that an open waiting on their
    /// break sees the exact file.
    pub(super) fn go_shared(&self, st: &mut State) {
        if !st.exclusive {
            return;
        }
        let writer = st
            .members
            .iter()
            .find_map(|m| m.lease.filter(|(_, kind)| *kind == LeaseKind::Write));
        if let Some((fd, _)) = writer {
            // SAFETY: the member's descriptor is open while it exists.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            // Failures leave the padding to the next trim, and the hole,
            // which `fast_end` stays below, to the next growth.
            let _ = self.fill_hole(st, fd);
            let _ = self.trim_locked(st, fd);
        }
        st.exclusive = false;
        st.lease_retry_at = self.len().saturating_add(write::growth_step(self.len()));
        self.publish(st);
        self.release_leases(st);
    }

    /// Under the lock: maps every window made through a description that
    /// is no longer a member again, through a member's descriptor, then
    /// tries the lease. A mapping holds open the description it was made
    /// through, and the kernel refuses a lease while another description
    /// of the file is open: without this, handles that outlive the one
    /// that mapped the file would stay Shared for as long as the inode
    /// lives.
    ///
    /// A new mapping costs about what unmapping the window's resident pages
    /// does (2.2 ms for 64 MiB here, against 20 µs for the close), so it is
    /// made only for a member that keeps working: at a write's growth step
    /// (as the lease is retried while Shared), or after [`RECLAIM_AFTER`]
    /// Shared reads (some 300 ns dearer each than Exclusive ones). A handle
    /// that is closed soon after, as a server's is, never pays it.
    pub(super) fn reclaim_lease(&self, st: &mut State) {
        self.reclaim_in.store(0, Ordering::Relaxed);
        if !st.exclusive && self.remap_windows(st) {
            self.try_lease(st);
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

    /// On the Shared read paths (below `fast_end`, and a length caught up):
    /// counts down to [`Self::reclaim_lease`] after a member left others
    /// behind. One load when none did.
    #[inline(always)]
    pub(super) fn retry_lease(&self) {
        if self.reclaim_in.load(Ordering::Relaxed) != 0 {
            self.count_down_to_reclaim();
        }
    }

    #[cold]
    #[inline(never)]
    fn count_down_to_reclaim(&self) {
        // Never below 0: two readers may both have seen 1.
        let left = (self.reclaim_in)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if left == Ok(1) {
            let mut st = self.lock_state();
            self.reclaim_lease(&mut st);
        }
    }

    /// Called by the lease thread when a lease of this inode may be
    /// breaking: if one is, the inode goes Shared.
    pub(super) fn on_lease_break(&self) {
        let mut st = self.lock_state();
        let broken = st.members.iter().any(|m| {
            m.lease.is_some_and(|(fd, kind)| {
                // SAFETY: the member's descriptor is open while it exists.
                os::lease(unsafe { BorrowedFd::borrow_raw(fd) }) != Some(kind)
            })
        });
        if broken {
            self.go_shared(&mut st);
        }
    }

    /// Under the lock: the member for `desc`.
    pub(super) fn member<'s>(
        st: &'s mut State,
        desc: &Description<Inode>,
    ) -> Option<&'s mut Member> {
        let id = desc.id();
        st.members.iter_mut().find(|m| m.id == id)
    }

    /// The handle with descriptor `fd` of `desc` leaves the crate: it closes
    /// (`into_file == false`), or becomes a `File` (`true`). Cuts the
    /// padding while the handle can still write; with the description's
    /// last handle, the member goes (and the next may take the lease).
    pub(crate) fn release(
        &self,
        desc: &Description<Inode>,
        fd: BorrowedFd<'_>,
        into_file: bool,
    ) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut st = self.lock_state();
        let raw = fd.as_raw_fd();
        let left = desc.remove_fd(raw);
        let trimmed = if desc.access.write {
            self.trim_locked(&st, fd)
        } else {
            Ok(())
        };
        let Some(member) = Self::member(&mut st, desc) else {
            return trimmed;
        };
        if left == 0 {
            let lease = member.lease.take();
            let id = member.id;
            st.members.retain(|m| m.id != id);
            if let Some((lease_fd, _)) = lease {
                lease::forget(lease_fd);
                // The descriptor lives on as a `File`: give the lease up.
                os::release_lease(fd);
            }
            if st.members.is_empty() {
                // Published too: an open that found the inode in the
                // registry just before may join it still.
                st.exclusive = false;
                self.publish(&st);
            } else if !st.exclusive {
                self.try_lease(&mut st);
                if !into_file && !st.exclusive {
                    // This descriptor is still open, and the kernel refuses
                    // a lease while it is: the members left try again later.
                    self.reclaim_in.store(RECLAIM_AFTER, Ordering::Relaxed);
                }
            }
            return trimmed;
        }
        if into_file {
            // A `File` now shares the description with the clones left:
            // its writes are outside our bookkeeping.
            member.may_lease = false;
            self.go_shared(&mut st);
            return trimmed;
        }
        if let Some((lease_fd, kind)) = member.lease
            && lease_fd == raw
        {
            // The lease stays with the description; its break must be
            // signalled through a descriptor that stays open.
            let next = desc
                .first_fd()
                .filter(|&next| lease::take(next, kind, &self.me));
            match next {
                Some(next) => {
                    lease::forget(raw);
                    if let Some(member) = Self::member(&mut st, desc) {
                        member.lease = Some((next, kind));
                    }
                }
                None => self.go_shared(&mut st),
            }
        }
        trimmed
    }

    /// The descriptor of `desc` is lent outside the crate (`as_fd`), which
    /// may write through it or hand it on: the inode goes Shared for good
    /// as far as this description is concerned.
    pub(crate) fn expose(&self, desc: &Description<Inode>) {
        let mut st = self.lock_state();
        if let Some(member) = Self::member(&mut st, desc) {
            member.may_lease = false;
        }
        self.go_shared(&mut st);
    }

    /// Called before `fork` with everything locked (see [`crate::fork`]):
    /// the child shares every description, so the inode goes Shared for
    /// good.
    pub(crate) fn before_fork(&self, st: &mut State) {
        self.go_shared(st);
        st.forked = true;
    }

    /// The members' descriptions, for [`crate::fork`].
    pub(crate) fn descriptions(&self) -> Vec<Arc<Description<Inode>>> {
        let st = self.lock_state();
        st.members.iter().filter_map(|m| m.desc.upgrade()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use crate::{Backend, MmapFile};

    /// The inode of a mapped handle.
    fn inode(f: &MmapFile) -> &super::Inode {
        match &f.backend {
            Backend::Shared(desc) => &desc.store,
            _ => panic!("not mapped"),
        }
    }

    fn open_rw(path: &std::path::Path) -> MmapFile {
        MmapFile::options()
            .read(true)
            .write(true)
            .create(true)
            .open(path)
            .unwrap()
    }

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
        let b = MmapFile::open(&path).unwrap();
        drop(a);
        let mut buf = [0; 10];
        for _ in 1..super::RECLAIM_AFTER {
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

    /// An inode can outlive its last handle for a moment (an open on
    /// another thread found it in the registry just before). The handle
    /// that joins it then must find it Shared, as the last one left it,
    /// and see what another writer appends, as `File` does.
    #[test]
    fn inode_joined_after_its_last_handle_left_is_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut first = open_rw(&path);
        first.write_all(b"hello").unwrap();
        let Backend::Shared(desc) = &first.backend else {
            panic!("not mapped");
        };
        let held = Arc::clone(&desc.store);
        drop(first);
        let again = MmapFile::open(&path).unwrap();
        assert!(Arc::ptr_eq(
            &held,
            match &again.backend {
                Backend::Shared(desc) => &desc.store,
                _ => panic!("not mapped"),
            }
        ));
        let mut other = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        other.write_all(b" world").unwrap();
        let mut buf = [0; 6];
        assert_eq!(again.read_at(&mut buf, 5).unwrap(), 6);
        assert_eq!(&buf, b" world");
    }
}
