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
//! (`Bias::growing`), and one past it otherwise takes the usual path,
//! which revokes the bias and grows the file itself. Everyone else revokes
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
/// saved: on fresh 1 MiB files, appends with it ran up to 30% slower.
pub(super) const FROM: u64 = 4 << 20;

/// The process's grower thread and the steps asked of it. Lock order:
/// after any inode's state. Held across a fork (see `fork.rs`).
pub(crate) struct Growers {
    /// The thread, started with the first bias that needs it.
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

/// Held in the state while the bias is a [`Growth::Background`] writer's:
/// its descriptor, for the grower's writes of zeros. Cleared when the bias
/// is revoked, which every handle's release does before its descriptor
/// closes (see the module docs).
pub(super) struct Ahead {
    fd: RawFd,
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
            let Some(ahead) = st.ahead.as_ref() else {
                // Revoked since it asked.
                return;
            };
            let physical = self.physical.load(Ordering::Relaxed);
            if physical >= self.len().saturating_add(growth_step(physical)) {
                return;
            }
            let cap = self.current().cap as u64;
            let target = page_ceil(grown_size(physical, physical + 1))
                .min(os::file_size_limit())
                .min(MAX_OFFSET)
                .min(cap);
            if target <= physical {
                // The window is full (the writer maps a larger one), or the
                // size limit is reached.
                return;
            }
            // SAFETY: `ahead` is held only while the bias stands, and the
            // descriptor stays open until its handle's release revokes it,
            // which takes this lock (see the module docs).
            let fd = unsafe { BorrowedFd::borrow_raw(ahead.fd) };
            self.bias.growing.store(true, Ordering::Relaxed);
            let made = self.make_step(fd, Growth::Background, physical, target);
            if made.is_err() {
                // The disk is full: leave it as it was.
                let _ = self.undo_step(fd, physical);
            } else {
                self.physical.store(target, Ordering::Release);
                self.bias
                    .grown(target - growth_step(target).min(target - physical), target);
            }
            self.bias.growing.store(false, Ordering::Release);
            drop(st);
            if made.is_err() {
                return;
            }
        }
    }
}

/// Under the lock, for `try_bias`: what the bias of a [`Growth::Background`]
/// writer through `fd` needs (the grower thread, started the first time,
/// and the descriptor recorded). Returns whether it has them.
pub(super) fn prepare(st: &mut State, fd: BorrowedFd<'_>) -> bool {
    let mut growers = lock(&GROWERS);
    if growers.thread.is_none() {
        match std::thread::Builder::new()
            .name("mmapfile-grower".into())
            .spawn(serve)
        {
            Ok(handle) => growers.thread = Some(handle.thread().clone()),
            Err(_) => return false,
        }
    }
    drop(growers);
    st.ahead = Some(Ahead { fd: fd.as_raw_fd() });
    true
}

/// From the writer's fast path, once a step: asks for the next step.
#[cold]
pub(super) fn request(inode: &Inode) {
    let mut growers = lock(&GROWERS);
    if !growers.asked.iter().any(|w| w.ptr_eq(&inode.me)) {
        growers.asked.push(inode.me.clone());
    }
    if let Some(thread) = &growers.thread {
        thread.unpark();
    }
}
