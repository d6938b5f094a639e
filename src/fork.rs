//! `fork`: the child shares every open file description with its parent,
//! and with it the file offset, as `File`'s do.
//!
//! Handlers registered with `pthread_atfork` take every lock of the crate
//! before the fork (in the crate's lock order; see `inode`), so that the
//! child never inherits one held by a thread it does not have. Still
//! before the fork, each description's cursor is moved into the kernel's
//! file offset for good (from then on cursor-relative calls are `File`'s
//! own system calls, in parent and child alike), and each inode goes Shared
//! for good: padding is cut and leases released, so neither side can cut
//! what the other wrote. After the fork both sides release the locks; the
//! child also forgets the lease thread, which did not come along, and
//! registers for `membarrier` again before it next needs it (see
//! `inode/fast.rs`): the child's address space is a new one, and
//! registering twice is harmless.
//!
//! `vfork` and `posix_spawn` (which `std::process::Command` uses where it
//! can) run no fork handlers, and need none: the child runs nothing of
//! ours before it execs.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard, Once, Weak};

use crate::description::{Cursor, Description};
use crate::inode::{self, Inode, REGISTRY, Registry, State, lock};

/// Set by the first fork: every descriptor open then is shared with a
/// child, including those of `File`s the crate may be handed later.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Forks made by this process and those it was forked from.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Whether this process (or one it was forked from) has forked.
pub(crate) fn happened() -> bool {
    FORKED.load(Ordering::Acquire)
}

/// How many forks this process (and those it was forked from) made since
/// the handlers were registered: a descriptor open before a change of
/// count is shared with a child.
pub(crate) fn count() -> u64 {
    FORKS.load(Ordering::Acquire)
}

/// Registers the handlers, once per process.
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that never unwind
        // (they take locks and make system calls only).
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    });
}

/// Everything held across a fork. Fields drop in order: the guards before
/// the registry's (an inode dropped last takes the registry lock), and
/// every guard before the `Arc` that keeps its mutex alive.
struct Held {
    _fds: Vec<MutexGuard<'static, Vec<RawFd>>>,
    _states: Vec<MutexGuard<'static, State>>,
    _cursors: Vec<MutexGuard<'static, Cursor>>,
    leases: MutexGuard<'static, inode::Leases>,
    growers: MutexGuard<'static, inode::Growers>,
    _registry: MutexGuard<'static, Registry>,
    _descriptions: Vec<Arc<Description<Inode>>>,
    _inodes: Vec<Arc<Inode>>,
}

thread_local! {
    /// Set by `prepare`, taken by `parent` or `child`, in the thread that
    /// forks.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Extends a guard's lifetime to `'static`.
///
/// # Safety
/// The mutex outlives the guard: the caller keeps the `Arc` that owns it
/// alive until the guard is dropped (see `Held`).
unsafe fn extend<T>(guard: MutexGuard<'_, T>) -> MutexGuard<'static, T> {
    // SAFETY: only the lifetime changes; see the function's contract.
    unsafe { std::mem::transmute(guard) }
}

extern "C" fn prepare() {
    FORKED.store(true, Ordering::Release);
    FORKS.fetch_add(1, Ordering::AcqRel);
    let registry = lock(&REGISTRY);
    let inodes: Vec<Arc<Inode>> = registry.values().filter_map(Weak::upgrade).collect();
    let descriptions: Vec<_> = inodes.iter().flat_map(|i| i.descriptions()).collect();
    // SAFETY (the three `extend`s): `Held` keeps `descriptions` and
    // `inodes`, which own these mutexes, alive longer than the guards.
    let mut cursors: Vec<_> = descriptions
        .iter()
        .map(|d| unsafe { extend(lock(d.cursor_lock())) })
        .collect();
    let mut states: Vec<_> = inodes
        .iter()
        .map(|i| unsafe { extend(i.lock_state()) })
        .collect();
    for (inode, st) in inodes.iter().zip(&mut states) {
        inode.before_fork(st);
    }
    let fds: Vec<_> = descriptions
        .iter()
        .map(|d| unsafe { extend(lock(d.fds())) })
        .collect();
    for ((desc, cursor), fds) in descriptions.iter().zip(&mut cursors).zip(&fds) {
        if let Some(&fd) = fds.first() {
            // SAFETY: a handle of the description holds `fd` open; it cannot
            // close while we hold the description's `fds`.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            // An `lseek` to an offset we had cannot fail.
            let _ = desc.move_cursor_to_kernel(cursor, fd);
        }
    }
    let leases = inode::lock_leases();
    let growers = inode::lock_growers();
    HELD.with(|held| {
        *held.borrow_mut() = Some(Held {
            _fds: fds,
            _states: states,
            _cursors: cursors,
            leases,
            growers,
            _registry: registry,
            _descriptions: descriptions,
            _inodes: inodes,
        })
    });
}

extern "C" fn parent() {
    HELD.with(|held| drop(held.borrow_mut().take()));
}

extern "C" fn child() {
    HELD.with(|held| {
        if let Some(mut held) = held.borrow_mut().take() {
            inode::reset_leases_in_child(&mut held.leases);
            inode::reset_growers_in_child(&mut held.growers);
            inode::reset_barrier_in_child();
        }
    });
}
