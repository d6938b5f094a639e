//! File leases, and the thread that answers their breaks.
//!
//! A lease (`fcntl(F_SETLEASE)`) is granted only while no other open file
//! description of the file exists (a write lease; a read lease: none open
//! for writing), and the kernel breaks it when anyone opens the file (opens
//! it for writing) or truncates it: the opener waits until the holder
//! releases the lease, or for `/proc/sys/fs/lease-break-time` (45 s by
//! default) if it never does. See the inode docs for what the crate does
//! while it holds one.
//!
//! The break is signalled with a real-time signal directed at one thread
//! of ours (`F_SETOWN_EX` with `F_OWNER_TID`), which blocks that signal and
//! waits for it with `sigwaitinfo`: no signal handler, and no other thread
//! ever sees the signal. Its `si_fd` names the descriptor; on `SIGIO` (what
//! the kernel sends if the real-time queue overflows) every lease is
//! checked.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak, mpsc};

use super::{Inode, lock};
use crate::os::{self, LeaseKind};

/// The leases this process holds, by the descriptor each was taken through.
pub(crate) struct Leases {
    thread: Thread,
    by_fd: HashMap<RawFd, Weak<Inode>>,
}

enum Thread {
    NotStarted,
    /// Running, with this thread id.
    Running(i32),
    /// Could not be started: no leases, every inode stays Shared.
    Failed,
}

static LEASES: LazyLock<Mutex<Leases>> = LazyLock::new(|| {
    Mutex::new(Leases {
        thread: Thread::NotStarted,
        by_fd: HashMap::new(),
    })
});

/// The signal that carries lease breaks to our thread.
fn break_signal() -> i32 {
    // Any real-time signal works: it is directed at our thread alone,
    // which blocks it.
    libc::SIGRTMIN() + 4
}

/// Takes a lease of `kind` through `fd` for `inode`; says whether it got
/// one. Starts the lease thread the first time.
pub(super) fn take(fd: RawFd, kind: LeaseKind, inode: &Weak<Inode>) -> bool {
    let mut leases = lock(&LEASES);
    let tid = match leases.thread {
        Thread::Running(tid) => tid,
        Thread::Failed => return false,
        Thread::NotStarted => match start() {
            Some(tid) => {
                leases.thread = Thread::Running(tid);
                tid
            }
            None => {
                leases.thread = Thread::Failed;
                return false;
            }
        },
    };
    // SAFETY: the caller's member holds `fd` open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if os::take_lease(borrowed, kind, tid, break_signal()).is_err() {
        return false;
    }
    leases.by_fd.insert(fd, inode.clone());
    true
}

/// Forgets the lease taken through `fd` (released, or about to be closed).
pub(super) fn forget(fd: RawFd) {
    lock(&LEASES).by_fd.remove(&fd);
}

/// The lease registry's lock, held across `fork` (see [`crate::fork`]).
pub(crate) fn lock_all() -> MutexGuard<'static, Leases> {
    lock(&LEASES)
}

/// In a forked child, with the registry locked: the lease thread did not
/// come along (and every lease was released before the fork).
pub(crate) fn reset_in_child(leases: &mut Leases) {
    leases.thread = Thread::NotStarted;
    leases.by_fd.clear();
}

/// Starts the lease thread; its thread id.
fn start() -> Option<i32> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("mmapfile-leases".into())
        .spawn(move || run(tx))
        .ok()?;
    rx.recv().ok()
}

/// The lease thread: waits for break signals and hands each to its inode.
fn run(ready: mpsc::Sender<i32>) {
    // SAFETY: plain signal-set operations on a local set; blocking the
    // signals in this thread is what makes `sigwaitinfo` receive them.
    let set = unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), break_signal());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGIO);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
        set.assume_init()
    };
    if ready.send(os::thread_id()).is_err() {
        return;
    }
    drop(ready);
    loop {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: valid pointers to a signal set and a siginfo buffer.
        let sig = unsafe { libc::sigwaitinfo(&set, info.as_mut_ptr()) };
        if sig < 0 {
            continue; // EINTR
        }
        // SAFETY: `sigwaitinfo` filled `info`.
        let fd = (sig == break_signal()).then(|| unsafe { si_fd(info.as_ptr()) });
        let inodes: Vec<Arc<Inode>> = {
            let leases = lock(&LEASES);
            match fd.and_then(|fd| leases.by_fd.get(&fd)) {
                Some(inode) => inode.upgrade().into_iter().collect(),
                None => leases.by_fd.values().filter_map(Weak::upgrade).collect(),
            }
        };
        for inode in inodes {
            inode.on_lease_break();
        }
    }
}

/// The `si_fd` of a `SIGIO`-style siginfo: after `si_signo`, `si_errno`
/// and `si_code`, the union holds `si_band` (a `long`) and then `si_fd`.
///
/// # Safety
/// `info` points at a siginfo filled by the kernel for such a signal.
unsafe fn si_fd(info: *const libc::siginfo_t) -> RawFd {
    #[repr(C)]
    struct SigPoll {
        signo: i32,
        errno: i32,
        code: i32,
        band: libc::c_long,
        fd: i32,
    }
    // SAFETY: `SigPoll` is a prefix of the kernel's siginfo layout for
    // SIGPOLL-class signals (the union starts aligned for a `long`).
    unsafe { (*info.cast::<SigPoll>()).fd }
}
