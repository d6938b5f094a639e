//! The shared state of one file in this process: its windows, its lengths,
//! and whether anyone else can change it.
//!
//! Every shared `MmapFile` of the same file in this process reaches one
//! [`Inode`] (found through a registry keyed by device and inode number),
//! as every `File` reaches the kernel's inode: in-process handles agree on
//! the length, and a file is mapped once however often it is opened. Each
//! open file description (an open, with its clones) is a member.
//!
//! # Exclusive and Shared
//! The two states of the [crate docs](crate#how-it-works) ("alone" is
//! Exclusive). The inode is Exclusive while every member holds a lease
//! (see [`lease`]): a write lease for a single writable description, read
//! leases for read-only ones. Then `len` is the file's length, exactly;
//! `physical`, the size on disk, may run ahead of it by a growth step; and
//! `fast_end` is `len`, with no probe. Otherwise it is Shared: `physical`
//! equals `len` after each of our calls, and reads and writes probe (see
//! `read.rs`). [`Inode::on_lease_break`] (called by the lease thread),
//! another member joining, a handle lending its descriptor and a fork move
//! it to Shared (`members.rs`); it tries the lease again as a single
//! writable member grows the file, and every so many Shared operations
//! (`reclaim.rs`).
//!
//! # Lock order
//! `REGISTRY`, then a description's cursor, then an inode's `state`, then a
//! description's `fds`, then the lease registry. [`crate::fork`] takes them
//! all, in this order, around `fork`.

mod ahead;
mod fast;
mod lease;
mod length;
mod members;
mod read;
mod reclaim;
mod store;
mod views;
mod write;

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::description::Description;
use crate::os::{self, Access, LeaseKind};
pub(crate) use crate::range::{MAX_OFFSET, check_range};
pub(crate) use crate::window::MapSource;
use crate::window::{EMPTY, Pins, Window, last_page_start, map_window, page_ceil};
use crate::{Advice, fork};
pub(crate) use ahead::{Growers, lock_growers, reset_growers_in_child};
pub(crate) use fast::reset_in_child as reset_barrier_in_child;
pub(crate) use lease::{Leases, lock_all as lock_leases, reset_in_child as reset_leases_in_child};
pub(crate) use length::Growth;
pub(crate) use write::At;

/// `probe` when reads need no probe (the inode is Exclusive).
const NO_PROBE: u64 = u64::MAX;

/// The error for a write that would alias a live view.
fn busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "the bytes are borrowed by a live mmapfile::View",
    )
}

/// The shared state of one file.
pub(crate) struct Inode {
    /// `(st_dev, st_ino)` in the registry.
    key: (u64, u64),
    /// This inode, for the lease registry.
    me: Weak<Inode>,
    /// The current window: a boxed window in `state.windows`, or `EMPTY`.
    window: AtomicPtr<Window>,
    /// Logical length: what readers may read.
    len: AtomicU64,
    /// Reads ending at or before this take the fast path (see `read.rs`).
    /// Exclusive: `len`. Shared: the smaller of `len` and the start of the
    /// file's last page. Set by [`Inode::publish`].
    fast_end: AtomicU64,
    /// The offset a fast read probes first, or `NO_PROBE` while Exclusive.
    probe: AtomicU64,
    /// While Exclusive, reads ending at or before this are a bounds check
    /// and a copy out of `base`: the smaller of `fast_end` and the current
    /// window's capacity. 0 while Shared. Set by [`Inode::publish`], after
    /// `base`.
    exclusive_end: AtomicU64,
    /// The current window's first byte. Windows only ever grow and stay
    /// mapped while the inode lives, so a reader that sees an older base
    /// with a newer `exclusive_end` cannot happen (it is stored first), and
    /// an older `exclusive_end` with a newer base is within both windows.
    base: AtomicPtr<u8>,
    /// `state.hole`'s start, or `u64::MAX`: reads past it go by `pread`
    /// (only if mapping the file back over the hole failed).
    hole_start: AtomicU64,
    /// Size of the file on disk as we left it; changed only under `state`.
    /// Above `len` only while Exclusive (growth padding).
    physical: AtomicU64,
    /// Address space to reserve when mapping a new window.
    reserve: u64,
    /// Set by `MmapFile::protect(ReadOnly)`: every window is read-only and
    /// writes fail. Changed only under `state`.
    read_only: AtomicBool,
    /// Whether the file is on tmpfs (see [`Inode::grows_into_cache`]).
    on_tmpfs: bool,
    /// The lock's bias towards the only writer (see `fast.rs`).
    bias: fast::Bias,
    /// Taken through [`Inode::lock_state`] only.
    state: Mutex<State>,
    /// Shared operations left before the lease is tried again; 0 when no
    /// try is pending (see `reclaim.rs`).
    reclaim_in: AtomicU32,
}

/// What changes only under the inode's lock. The lock also serialises
/// writes, as the kernel's inode lock does for `write(2)`.
pub(crate) struct State {
    /// Every window ever mapped; the last is the current one. Boxed so that
    /// the pointer readers load from `Inode::window` stays put.
    #[allow(clippy::vec_box)]
    windows: Vec<Box<Window>>,
    /// Pages of every window from `hole.0` to `hole.1` are anonymous zeros
    /// in place of the file: a shrink of ours blanks them first, so that a
    /// reader still copying there sees zeros rather than a fault (see
    /// `Inode::set_len`). Only while Exclusive, and always at or past
    /// `len`: growth past its start maps the file back first.
    hole: Option<(u64, u64)>,
    /// Advice given at open, applied to every new window.
    advice: Vec<Advice>,
    /// Writes since the last `sync_data`/`sync_all`, up to `SYNC_STREAK`.
    writes_since_sync: u32,
    /// The live views.
    views: Pins,
    /// This file's open file descriptions in this process.
    members: Vec<Member>,
    /// Whether every member holds a lease (see the module docs).
    exclusive: bool,
    /// Set by a fork: every description is shared with another process,
    /// which no lease would show, so the inode stays Shared.
    forked: bool,
    /// While the bias is a [`Growth::Background`] writer's: what the
    /// grower thread writes through.
    ahead: Option<ahead::Ahead>,
    /// While Shared with a single writable member: the length at which a
    /// write next tries to take the lease.
    lease_retry_at: u64,
    /// Pages were locked or given lasting advice over a range
    /// (`lock_memory`, `advise_range`), which a new mapping over a window
    /// would lose: windows are never mapped again (see `remap_windows`).
    tuned: bool,
    /// While Shared: how many operations the last count down to a try of
    /// the lease ran (0: none since the state changed); after a refusal
    /// the next runs twice as many (see `reclaim.rs`).
    reclaim_every: u32,
}

/// An open file description of the inode in this process.
struct Member {
    /// The description's [`Description::id`], to find the member again.
    id: usize,
    desc: Weak<Description<Inode>>,
    access: Access,
    /// Whether leases may be taken: the crate opened the description, and
    /// nothing outside the crate holds it (no `as_fd`, `into_file`).
    may_lease: bool,
    /// The lease held, and the descriptor it was taken through.
    lease: Option<(RawFd, LeaseKind)>,
}

// SAFETY: the raw pointers in `Window` point at shared file mappings that
// live as long as the `Inode`; every access to the bytes goes through
// `copy::copy`, which is race-free, and the bookkeeping is atomics and a
// mutex.
unsafe impl Send for Inode {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inode {}

/// The `Inode` of every file mapped in this process, by `(st_dev, st_ino)`.
pub(crate) type Registry = HashMap<(u64, u64), Weak<Inode>>;
pub(crate) static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// The files of which a description kept its cursor in the kernel, shared
/// with a `File` (see [`Inode::share_offsets`]). Never shrinks: a `File`
/// may come back to the crate at any time.
static SHARED_OFFSETS: LazyLock<Mutex<HashSet<(u64, u64)>>> = LazyLock::new(Default::default);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic never leaves the state half-changed (the lengths are atomics
    // stored last), so a poisoned lock is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a new description of an inode is made.
pub(crate) struct Join<'a> {
    pub(crate) src: MapSource<'a>,
    pub(crate) key: (u64, u64),
    pub(crate) reserve: u64,
    pub(crate) advice: &'a [Advice],
    pub(crate) access: Access,
    pub(crate) growth: Growth,
    /// The descriptor's file offset, which becomes the cursor.
    pub(crate) cursor: u64,
    /// The crate opened the descriptor itself, when [`fork::count`] was
    /// this (see `Member::may_lease`); `None`: it was handed one.
    pub(crate) opened: Option<u64>,
}

impl Inode {
    /// A new description of the file behind `join.src.fd`, a member of its
    /// inode, which is made (and the file mapped) if this process has no
    /// `MmapFile` of it yet. Under the registry lock throughout, so that
    /// [`crate::fork`] sees every member.
    pub(crate) fn join(join: Join<'_>) -> io::Result<Arc<Description<Inode>>> {
        fork::register();
        let mut registry = lock(&REGISTRY);
        // Read under the registry lock, which a fork takes after counting
        // itself: a fork since the open shared the descriptor with a child
        // (and one from now on finds this member).
        let opened = join.opened == Some(fork::count());
        let inode = match registry.get(&join.key).and_then(Weak::upgrade) {
            Some(inode) => {
                let mut st = inode.lock_state();
                let lasting = Advice::lasting(join.advice);
                let current = inode.current();
                current.advise(&lasting, 0, current.cap as u64);
                st.advice.extend(lasting);
                // The open may have changed the file (`O_TRUNC` elsewhere);
                // adopt what the disk says.
                if !st.exclusive {
                    inode.adopt_disk_size(&st, join.src.fd)?;
                }
                drop(st);
                inode
            }
            None => {
                let inode = Inode::new(&join)?;
                registry.insert(join.key, Arc::downgrade(&inode));
                inode
            }
        };
        // A descriptor the crate is handed (`try_from`) may share its offset
        // with a clone turned into a `File` (see `share_with_file`), or,
        // after a fork, with the child: then the cursor stays there.
        let in_kernel = !opened && (fork::happened() || lock(&SHARED_OFFSETS).contains(&join.key));
        let desc = Arc::new(Description::new(
            Arc::clone(&inode),
            join.access,
            join.growth,
            join.cursor,
            in_kernel,
            join.src.fd,
        ));
        let mut st = inode.lock_state();
        for window in &st.windows {
            // The inode's first window, mapped through this description.
            let _ = window
                .via
                .compare_exchange(0, desc.id(), Ordering::Relaxed, Ordering::Relaxed);
        }
        st.members.push(Member {
            id: desc.id(),
            desc: Arc::downgrade(&desc),
            access: join.access,
            may_lease: opened,
            lease: None,
        });
        let last = st.members.len() - 1;
        if !st.exclusive {
            inode.try_lease(&mut st);
        } else if st.members.iter().any(|m| m.access.write)
            || !inode.lease_member(&mut st, last, LeaseKind::Read)
        {
            // Opening a second description broke a write lease (the lease
            // thread has let go by now, unless the kernel gave up waiting
            // for it), and a read lease held beside it is refused.
            inode.go_shared(&mut st);
        }
        drop(st);
        Ok(desc)
    }

    fn new(join: &Join<'_>) -> io::Result<Arc<Inode>> {
        let size = os::file_size(join.src.fd)?;
        let lasting = Advice::lasting(join.advice);
        let windows = if join.src.readable {
            let wanted = page_ceil(join.reserve.max(size.saturating_add(size / 2)).max(1));
            let window = Box::new(map_window(join.src, wanted, page_ceil(size.max(1)))?);
            window.advise(&lasting, 0, window.cap as u64);
            vec![window]
        } else {
            Vec::new()
        };
        let current = windows
            .last()
            .map_or(&EMPTY as *const Window, |w| &**w as *const Window);
        let inode = Arc::new_cyclic(|me| Inode {
            key: join.key,
            me: me.clone(),
            window: AtomicPtr::new(current as *mut Window),
            len: AtomicU64::new(size),
            fast_end: AtomicU64::new(0),
            probe: AtomicU64::new(0),
            exclusive_end: AtomicU64::new(0),
            base: AtomicPtr::new(std::ptr::null_mut()),
            hole_start: AtomicU64::new(u64::MAX),
            physical: AtomicU64::new(size),
            reserve: join.reserve,
            read_only: Default::default(),
            on_tmpfs: os::on_tmpfs(join.src.fd).unwrap_or(false),
            bias: Default::default(),
            state: Mutex::new(State {
                windows,
                hole: None,
                advice: lasting,
                writes_since_sync: write::SYNC_STREAK,
                views: Pins::default(),
                members: Vec::new(),
                exclusive: false,
                forked: false,
                ahead: None,
                lease_retry_at: 0,
                tuned: false,
                reclaim_every: 0,
            }),
            reclaim_in: AtomicU32::new(0),
        });
        inode.publish(&inode.lock_state());
        Ok(inode)
    }

    /// The logical length as this process knows it.
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Under the lock: derives what readers load (`fast_end`, `probe`,
    /// `exclusive_end`, `base`) from the lengths, the current window and
    /// the state, after any of them changed.
    fn publish(&self, st: &State) {
        let len = self.len.load(Ordering::Relaxed);
        let hole = st.hole.map_or(u64::MAX, |(from, _)| from);
        let (fast_end, probe) = if st.exclusive {
            (len.min(hole), NO_PROBE)
        } else {
            let fast_end = len
                .min(last_page_start(self.physical.load(Ordering::Relaxed)))
                .min(hole);
            (fast_end, page_ceil(fast_end))
        };
        self.hole_start.store(hole, Ordering::Relaxed);
        // The probe first: a reader that sees the new `fast_end` sees it.
        self.probe.store(probe, Ordering::Relaxed);
        self.fast_end.store(fast_end, Ordering::Release);
        // The base first: a reader that sees the new `exclusive_end` sees it.
        let current = self.current();
        self.base.store(current.base.as_ptr(), Ordering::Relaxed);
        let exclusive_end = if st.exclusive {
            fast_end.min(current.cap as u64)
        } else {
            0
        };
        self.exclusive_end.store(exclusive_end, Ordering::Release);
    }

    /// Under the lock: sets both lengths to `size`, the file's size on disk.
    fn set_lengths(&self, st: &State, size: u64) {
        self.physical.store(size, Ordering::Release);
        self.len.store(size, Ordering::Release);
        self.publish(st);
    }

    #[inline]
    fn current(&self) -> &Window {
        // SAFETY: `window` points at `EMPTY` or at a boxed window in
        // `state.windows`, and windows are freed only when `self` drops.
        unsafe { &*self.window.load(Ordering::Acquire) }
    }

    /// Whether the inode is Exclusive (see the module docs).
    fn is_exclusive(&self) -> bool {
        self.probe.load(Ordering::Acquire) == NO_PROBE
    }

    /// The length, caught up with changes made outside this process (or by
    /// `File` handles) where anyone else can make them.
    pub(crate) fn refresh(&self, fd: BorrowedFd<'_>) -> io::Result<u64> {
        self.retry_lease();
        if self.is_exclusive() {
            return Ok(self.len());
        }
        if os::file_size(fd)? == self.physical.load(Ordering::Acquire) {
            return Ok(self.len());
        }
        let st = self.lock_state();
        self.adopt_disk_size(&st, fd)?;
        Ok(self.len())
    }

    /// Under the lock, while Shared: makes both lengths the size on disk if
    /// it changed behind our back; says whether it did.
    fn adopt_disk_size(&self, st: &State, fd: BorrowedFd<'_>) -> io::Result<bool> {
        let size = os::file_size(fd)?;
        let changed = size != self.physical.load(Ordering::Relaxed);
        if changed {
            self.set_lengths(st, size);
        }
        Ok(changed)
    }

    /// A window covering `..end`, mapping a larger one if needed. `None`
    /// when no such mapping can be made: the caller uses system calls.
    #[inline]
    fn window_for(&self, st: &mut State, src: MapSource<'_>, end: u64) -> Option<&Window> {
        let current = self.current();
        if current.covers(end, src.writable) {
            return Some(current);
        }
        self.map_larger(st, src, end)
    }

    /// The slow half of [`Self::window_for`]: maps a window covering `..end`
    /// and makes it current.
    #[cold]
    #[inline(never)]
    fn map_larger(&self, st: &mut State, src: MapSource<'_>, end: u64) -> Option<&Window> {
        let current = self.current();
        let wanted = page_ceil(end.max(current.cap as u64 * 2).max(self.reserve));
        let window = Box::new(map_window(src, wanted, page_ceil(end)).ok()?);
        window.advise(&st.advice, 0, window.cap as u64);
        if let Some((from, to)) = st.hole {
            // Like every window, blank where the file was cut by us.
            window.blank(from, to, window.writable()).ok()?;
        }
        if window.writable() && self.read_only.load(Ordering::Relaxed) {
            // SAFETY: the window is new; nothing has seen it yet.
            unsafe { os::protect(window.base, window.cap, false) }.ok()?;
        }
        self.window
            .store(&*window as *const Window as *mut Window, Ordering::Release);
        st.windows.push(window);
        self.publish(st);
        Some(self.current())
    }

    /// Under the lock: maps the file back over the hole our shrink left
    /// (see `State::hole`), before the file grows into it.
    fn fill_hole(&self, st: &mut State, fd: BorrowedFd<'_>) -> io::Result<()> {
        let Some((from, to)) = st.hole else {
            return Ok(());
        };
        let read_only = self.read_only.load(Ordering::Relaxed);
        for window in &st.windows {
            window.restore(fd, from, to, window.writable() && !read_only)?;
            window.advise(&st.advice, from, to);
        }
        st.hole = None;
        self.publish(st);
        Ok(())
    }
}

impl Drop for Inode {
    fn drop(&mut self) {
        let mut registry = lock(&REGISTRY);
        // Another open may have replaced our entry after our last strong
        // reference went; remove only a dead one.
        if registry
            .get(&self.key)
            .is_some_and(|w| w.strong_count() == 0)
        {
            registry.remove(&self.key);
        }
        // The windows unmap as `state` drops: no handle is left, so no
        // reader holds one.
    }
}

#[cfg(test)]
mod tests;
