//! Growth steps made ahead of the only writer by a thread of the crate
//! ([`Growth::Background`], `OpenOptions::background_growth`), as Chronicle
//! Queue's pretoucher does: the writer's own thread then pays for neither
//! the steps' zeros nor waiting for them.
//!
//! Only a biased writer (see `fast.rs`) is served. When its writes pass
//! `Bias::grow_at` (a step before the end on disk), the fast path asks the
//! process's grower thread for more ([`request`]: the inode queued, and an
//! unpark, under the grower's own lock, never the inode's). The grower takes the
//! inode's lock *without* revoking the bias ([`Inode::grow_ahead`]) and
//! makes steps until the file on disk runs a step past the length. A
//! step changes only the size on disk, past everything the writer touches,
//! and the writer never takes the lock while biased: a write that would
//! end past `write_end` while a step is being made waits for it
//! (`Bias::growing`), and one past it otherwise makes the step itself the
//! same way, with the lock taken only if free ([`Inode::step_biased`]; a
//! writer without the grower makes all its steps so), or else takes the
//! usual path, which revokes the bias. Everyone else revokes
//! the bias to take the lock, and so never meets the grower in the middle
//! of a step either. The steps are written through the writer's own
//! descriptor ([`Ahead`]), recorded while the bias stands: a handle leaves
//! the inode (`Inode::release`, before its descriptor closes) under
//! `lock_state`, which revokes the bias, so the grower never writes through
//! a descriptor that was closed. (A duplicate would cost a system call per
//! bias, and closing it would drop the process's POSIX locks on the file.)

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, Weak};
use std::thread::Thread;

use super::write::{grown_size, growth_step};
use super::{Growth, Inode, MAX_OFFSET, State, lock};
use crate::os;
use crate::window::page_ceil;

/// The grower serves a file from this length on. Below it steps are small
/// (64 KiB to 1 MiB), and waking the grower for each cost more than it
/// saved: on fresh 1 MiB files, appends with it from the first step ran
/// 50% (16 B through `BufWriter`) to 90% (4 KiB) slower on a Xeon, the
/// time going to wake-ups, waits for the step and TLB shootdowns.
pub(super) const FROM: u64 = 4 << 20;

/// The process's grower thread and the steps asked of it. Lock order:
/// after any inode's state. Held across a fork (see `fork.rs`).
pub(crate) struct Growers {
    /// The thread, started with the first request.
    thread: Option<Thread>,
    /// The inodes whose writers asked for a step since it last woke. Weak:
    /// the grower holds an inode only while it serves it (an inode it
    /// holds outlives its last handle that long; see `Inode::release`).
    asked: Vec<Weak<Inode>>,
}

static GROWERS: Mutex<Growers> = Mutex::new(Growers {
    thread: None,
    asked: Vec::new(),
});

/// Locks [`GROWERS`] (for `fork.rs`).
pub(crate) fn lock_growers() -> MutexGuard<'static, Growers> {
    lock(&GROWERS)
}

/// In the child of a fork, single-threaded, with [`GROWERS`] held: the
/// thread did not come along, and no inode there is biased again (they
/// stay Shared).
pub(crate) fn reset_growers_in_child(growers: &mut Growers) {
    growers.thread = None;
    growers.asked.clear();
}

/// The grower thread: parks until asked, then makes the steps asked for.
fn serve() {
    loop {
        std::thread::park();
        let asked = std::mem::take(&mut lock(&GROWERS).asked);
        for inode in asked.iter().filter_map(Weak::upgrade) {
            inode.grow_ahead();
        }
    }
}

/// Held in the state while the bias stands: its owner's descriptor, for
/// the steps made without revoking it (by the grower or by the writer,
/// see [`Inode::step_biased`]). Cleared when the bias is revoked, which
/// every handle's release does before its descriptor closes (see the
/// module docs).
pub(super) struct Ahead {
    fd: RawFd,
    /// The owner's growth: how the steps are made.
    growth: Growth,
}

impl Inode {
    /// On the grower thread: makes the next growth step past the size on
    /// disk, if the bias still stands, and lets the writer write into it.
    /// A failure (a full disk) changes nothing: the writer meets it itself
    /// when it reaches the end of the step, and reports it as `File` would.
    fn grow_ahead(&self) {
        // Until the file on disk runs a step past the length, a step at a
        // time, each under the lock (not `lock_state`: the bias stays, see
        // the module docs).
        loop {
            let st = lock(&self.state);
            if st.ahead.is_none() {
                // Revoked since it asked.
                return;
            }
            let physical = self.physical.load(Ordering::Relaxed);
            if physical >= self.len().saturating_add(growth_step(physical)) {
                // Far enough ahead (the writer made the step itself since
                // it asked): asked again when it enters the last step.
                self.bias.ask_at(physical - growth_step(physical));
                return;
            }
            self.bias.growing.store(true, Ordering::Relaxed);
            let made = self.step_biased(&st, physical + 1);
            if let Some(to) = made {
                self.bias.ask_at(to - growth_step(to).min(to - physical));
            }
            self.bias.growing.store(false, Ordering::Release);
            drop(st);
            if made.is_none() {
                return;
            }
        }
    }

    /// Under the lock (taken without revoking the bias, which stands): the
    /// next growth step past the size on disk, far enough for a write
    /// ending at `end`, made through the bias owner's descriptor, by the
    /// grower or by the writer itself (`Inode::step_for`, where no grower
    /// is ahead of it). Returns the new end of the fast writes; `None`,
    /// with nothing changed, where the window or the size limit ends first
    /// (the usual path maps more, or lets `pwrite` fail as `File`'s would)
    /// or the step failed (a full disk: the usual path meets it again, and
    /// reports it as `File` would).
    pub(super) fn step_biased(&self, st: &State, end: u64) -> Option<u64> {
        let ahead = st.ahead.as_ref()?;
        let physical = self.physical.load(Ordering::Relaxed);
        let cap = self.current().cap as u64;
        let target = page_ceil(grown_size(physical, end))
            .min(os::file_size_limit())
            .min(MAX_OFFSET)
            .min(cap);
        if target < end.max(physical + 1) {
            return None;
        }
        // SAFETY: `ahead` is held only while the bias stands, and the
        // descriptor stays open until its handle's release revokes it,
        // which takes this lock (see the module docs).
        let fd = unsafe { BorrowedFd::borrow_raw(ahead.fd) };
        if self.make_step(fd, ahead.growth, physical, target).is_err() {
            let _ = self.undo_step(fd, physical);
            return None;
        }
        self.physical.store(target, Ordering::Release);
        self.bias.reaches(target);
        Some(target)
    }
}

impl Ahead {
    /// What the steps of a bias granted to a write through `fd` need.
    pub(super) fn new(fd: BorrowedFd<'_>, growth: Growth) -> Self {
        Ahead {
            fd: fd.as_raw_fd(),
            growth,
        }
    }
}

/// From the writer's fast path, once a step: asks for the next step,
/// starting the grower thread the first time. Where it cannot start, the
/// writer makes its steps itself (`Inode::step_for`).
#[cold]
pub(super) fn request(inode: &Inode) {
    let mut growers = lock(&GROWERS);
    if growers.thread.is_none() {
        match std::thread::Builder::new()
            .name("mmapfile-grower".into())
            .spawn(serve)
        {
            Ok(handle) => growers.thread = Some(handle.thread().clone()),
            Err(_) => return,
        }
    }
    if !growers.asked.iter().any(|w| w.ptr_eq(&inode.me)) {
        growers.asked.push(inode.me.clone());
    }
    if let Some(thread) = &growers.thread {
        thread.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};

    use super::FROM;
    use crate::MmapFile;
    use crate::inode::tests::{inode, write_until_biased};

    /// A bias granted while the file is small, and kept across the steps
    /// its writer makes itself, still gets the grower from [`FROM`] on:
    /// the grower serves it and asks to be asked again.
    #[test]
    fn the_grower_serves_a_bias_granted_to_a_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = MmapFile::options()
            .read(true)
            .write(true)
            .create(true)
            .map_after(0)
            .background_growth(true)
            .open(dir.path().join("log"))
            .unwrap();
        let record = [3u8; 4096];
        let mut written = write_until_biased(&mut f, &record);
        assert_eq!(inode(&f).bias.asks_at(), FROM);
        while written <= FROM {
            f.write_all(&record).unwrap();
            written += 4096;
        }
        // That write asked the grower, which re-arms `grow_at` past it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let grow_at = inode(&f).bias.asks_at();
            if grow_at > FROM && grow_at != u64::MAX {
                break;
            }
            assert!(Instant::now() < deadline, "the grower never served");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(inode(&f).bias.is_biased(), "revoked");
        assert!(inode(&f).physical.load(Relaxed) > written);
    }
}
