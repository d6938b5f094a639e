//! The members of an inode (its open file descriptions in this process)
//! and the moves between the Exclusive and Shared states that they make:
//! taking leases, answering a break, a handle leaving the crate, a fork.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

use super::{Inode, Member, State, lease, write};
use crate::description::Description;
use crate::os::{self, LeaseKind};

impl Inode {
    /// Under the lock: takes the leases that make the inode Exclusive, if
    /// every member may (see the module docs). Costs a few `fcntl`s; a
    /// refusal (another description exists, a file system without leases,
    /// a file someone else owns) leaves it Shared, counting down to the
    /// next try (`reclaim.rs`).
    pub(super) fn try_lease(&self, st: &mut State) {
        if st.exclusive || !Self::leasable(st) {
            return;
        }
        let kind = if st.members.iter().any(|m| m.access.write) {
            LeaseKind::Write
        } else {
            LeaseKind::Read
        };
        for i in 0..st.members.len() {
            if !self.lease_member(st, i, kind) {
                self.release_leases(st);
                self.count_to_next_try(st);
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
            Err(_) => {
                self.release_leases(st);
                self.count_to_next_try(st);
            }
        }
    }

    /// Whether the members as they are could all hold leases, if no one
    /// else had the file open: not after a fork, not where a member may
    /// not (its descriptor lent out), and not for two writable members.
    pub(super) fn leasable(st: &State) -> bool {
        let writers = st.members.iter().filter(|m| m.access.write).count();
        !st.forked
            && !st.members.is_empty()
            && st.members.iter().all(|m| m.may_lease)
            && (writers == 0 || st.members.len() == 1)
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
        st.reclaim_every = 0;
        self.count_to_next_try(st);
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
                // Refused while this descriptor is still open (or lives on
                // as a `File`): the members left count down to a try from
                // the start.
                st.reclaim_every = 0;
                self.try_lease(&mut st);
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

    use crate::Backend;
    use crate::inode::tests::{open_ro, open_rw};

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
        let again = open_ro(&path);
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
