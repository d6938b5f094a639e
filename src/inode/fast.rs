//! Writes through the only handle of a file, without a lock: a biased lock
//! on the inode.
//!
//! A handle alone with its file (Exclusive, one member, no clone of its
//! description, reached through `&mut MmapFile`) is the only writer there
//! can be. Its writes still took two locks, four atomic read-modify-writes
//! that cost more than a short copy. Instead, the inode can be *biased*
//! towards that handle: then its writes that land inside the growth step
//! ([`Bias::write_end`]) are a copy into the mapping and a few plain
//! stores, with no read-modify-write at all ([`Inode::write_fast`]).
//!
//! Everyone else still takes the inode's lock, through
//! [`Inode::lock_state`], which revokes the bias first: it clears
//! [`Bias::biased`], makes sure the writer sees that, and waits for a
//! write in flight ([`Bias::active`]) to finish. Then the lock holder may
//! trim, shrink, fork or change the state, and no fast write races it
//! (the hole in a lock-free design that re-checks an epoch: a trim does not
//! change the length, and a write that copied first could lose its bytes
//! or bring back removed ones). The writer and the revoker order their
//! flag accesses as Dekker's algorithm does; the writer's fence is only a
//! compiler fence, because the revoker runs `membarrier`
//! (`MEMBARRIER_CMD_PRIVATE_EXPEDITED`), which puts a full fence on every
//! running thread of the process. Where `membarrier` is missing both sides
//! fence (`SeqCst`).
//!
//! Positional writes (`write_at`, through `&MmapFile` or clones) can take
//! the same path when the bias is a *thread's*: then only that thread
//! writes by it, and since other threads may try at the same moment, it
//! takes [`Bias::active`] with a compare-and-swap (one read-modify-write,
//! against four for the two locks).
//!
//! The bias is granted, under the lock, by a slow write of its owner
//! ([`Inode::try_bias`]) after [`STREAK`] of them in a row with no
//! revocation between, when the conditions hold: so a writer that someone
//! else interrupts at every write (a `write_at` between appends, another
//! thread's writes) keeps the locks rather than paying a revocation each
//! time. Revoking costs a system call; it happens when the state changes,
//! or when the writer needs what only the usual path gives (a larger
//! window, an error). The writer's growth steps do not revoke: it makes
//! them under the lock, taken without blocking ([`Inode::step_biased`]).

use std::hint::spin_loop;
use std::os::fd::BorrowedFd;
use std::sync::MutexGuard;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, compiler_fence, fence,
};

use super::write::SYNC_STREAK;
use super::{Growth, Inode, MAX_OFFSET, State, ahead, lock};
use crate::copy;
use crate::description::{Description, Io};
use crate::os;

/// The bias of an inode's lock towards its only writer.
#[derive(Default)]
pub(super) struct Bias {
    /// Fast writes may start. Set and cleared only under the lock.
    biased: AtomicBool,
    /// A fast write is under way. Set by a plain store through the only
    /// handle, by a compare-and-swap by a thread (see `write_fast`).
    active: AtomicBool,
    /// Fast writes end at or before this: the file on disk and the current
    /// (writable) window both reach it. Set before `biased`.
    write_end: AtomicU64,
    /// Whom the bias favours: [`SOLE_HANDLE`], the only handle's writes
    /// through `&mut MmapFile`, or a thread's [`thread_token`], for its
    /// positional writes. Set before `biased`.
    owner: AtomicUsize,
    /// Who asked for the bias last, and how many times in a row since it
    /// was last revoked or asked for in vain, so that it is granted only to a
    /// writer that writes alone for a while (each revocation costs a
    /// system call, and someone who takes the lock between each write
    /// would pay one each time).
    streak_owner: AtomicUsize,
    streak: AtomicU32,
    /// A fast write ending past this asks the grower thread for the next
    /// step (see `ahead.rs`): the start of the last step it made. `u64::MAX`
    /// where no grower serves the bias.
    grow_at: AtomicU64,
    /// The grower thread is making a step: a fast write past `write_end`
    /// waits for it rather than take the lock the grower holds.
    pub(super) growing: AtomicBool,
}

impl Bias {
    /// Under the lock, after a step made while the bias stands: the file on
    /// disk reaches `to`.
    pub(super) fn reaches(&self, to: u64) {
        self.write_end.store(to, Ordering::Release);
    }

    /// Under the lock, on the grower thread: a write past `grow_at` asks
    /// for the next step.
    pub(super) fn ask_at(&self, grow_at: u64) {
        self.grow_at.store(grow_at, Ordering::Relaxed);
    }

    /// Where a fast write would end past `write_end`: waits for a step the
    /// grower is making; returns the new `write_end`.
    #[cold]
    #[inline(never)]
    fn wait_for_step(&self) -> u64 {
        wait_while(&self.growing);
        self.write_end.load(Ordering::Acquire)
    }
}

/// Spins, then yields (the other thread was preempted), until `flag` is
/// clear; what its clearer stored before is seen after.
fn wait_while(flag: &AtomicBool) {
    let mut spins = 0u32;
    while flag.load(Ordering::Acquire) {
        spins += 1;
        if spins < 100 {
            spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// [`Bias::owner`] for the only handle, reached through `&mut`: its
/// writes need no thread check, as no other reference to it exists.
const SOLE_HANDLE: usize = 0;

/// Slow writes in a row by one owner, with no revocation between, after
/// which the bias is granted to it.
const STREAK: u32 = 4;

/// This thread's token for [`Bias::owner`]: the address of a thread-local,
/// never 0, and the same for no two live threads.
#[inline(always)]
fn thread_token() -> usize {
    thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    TOKEN.with(|token| token as *const u8 as usize)
}

/// What the revoker's fence is in this process: not known yet, or (from
/// the first bias on) `membarrier`, or a `SeqCst` fence where registering
/// for `membarrier` failed. Only ever set from `UNKNOWN`, except in the
/// child of a fork ([`reset_in_child`]), whose address space is a new one
/// that registers again (registering twice is harmless).
static BARRIER: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const MEMBARRIER: u8 = 1;
const FENCE: u8 = 2;

/// Whether the revoker's `membarrier` stands in for the writer's fence.
#[inline(always)]
fn expedited() -> bool {
    BARRIER.load(Ordering::Relaxed) == MEMBARRIER
}

/// In the child of a fork, single-threaded: registers for `membarrier`
/// again before the next bias (no inode is biased: the fork revoked them
/// all, and they stay Shared).
pub(crate) fn reset_in_child() {
    BARRIER.store(UNKNOWN, Ordering::Relaxed);
}

/// The writer's half of the fence pair.
#[inline(always)]
fn light_fence() {
    if expedited() {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The revoker's half: a full fence on every thread of the process.
fn heavy_fence() {
    // After a successful registration the command cannot fail; if it did,
    // the fence below is the best there is.
    if !expedited() || os::membarrier().is_err() {
        fence(Ordering::SeqCst);
    }
}

/// Where a fast write lands.
#[derive(Clone, Copy)]
enum Fast<'a> {
    /// At the only handle's cursor, which follows.
    Cursor(&'a AtomicU64),
    /// At the end (`O_APPEND`); the only handle's cursor follows, if given.
    End { cursor: Option<&'a AtomicU64> },
    /// At this offset (a positional write).
    Offset(u64),
}

impl Inode {
    /// Locks the inode's state, revoking the bias first (see the module
    /// docs). Everyone takes the lock this way.
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        let mut st = lock(&self.state);
        if self.bias.biased.load(Ordering::Relaxed) {
            self.bias.biased.store(false, Ordering::Relaxed);
            self.bias.streak.store(0, Ordering::Relaxed);
            st.ahead = None;
            heavy_fence();
            // A write in flight finishes.
            wait_while(&self.bias.active);
        }
        st
    }

    /// A write of `buf` by the bias' owner: through the only handle
    /// (`owner` [`SOLE_HANDLE`]) at its cursor `pos`, or by the thread
    /// `owner` at `offset`; at the end instead if `append`. `None` if the
    /// bias is not the caller's, the write does not fit inside the growth
    /// step, or the copy faulted: the caller then writes the usual way,
    /// which gives `File`'s result.
    #[inline(always)]
    fn write_fast(&self, owner: usize, at: Fast<'_>, buf: &[u8]) -> Option<usize> {
        let bias = &self.bias;
        if owner == SOLE_HANDLE {
            // Through `&mut`: no one else can be here.
            bias.active.store(true, Ordering::Relaxed);
            light_fence();
        } else if bias.owner.load(Ordering::Relaxed) != owner
            || (bias.active)
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            // Other threads may write positionally at the same moment (a
            // former owner, or one that read `owner` just before the bias
            // moved): one at a time holds `active`, so none clears another's.
            return None;
        }
        let written =
            if bias.biased.load(Ordering::SeqCst) && bias.owner.load(Ordering::Relaxed) == owner {
                self.write_biased(at, buf)
            } else {
                None
            };
        // Everything the write stored is seen by a revoker that sees this.
        bias.active.store(false, Ordering::Release);
        written
    }

    /// [`Self::write_fast`] with the bias held.
    #[inline(always)]
    fn write_biased(&self, at: Fast<'_>, buf: &[u8]) -> Option<usize> {
        // Only this writer changes `len` and `pos` while the bias is held.
        let len = self.len.load(Ordering::Relaxed);
        let offset = match at {
            Fast::End { .. } => len,
            Fast::Cursor(pos) => pos.load(Ordering::Relaxed),
            Fast::Offset(offset) => offset,
        };
        let end = offset.checked_add(buf.len() as u64)?;
        // Acquire: the grower's step (see `ahead.rs`) is on disk.
        let write_end = self.bias.write_end.load(Ordering::Acquire);
        if buf.is_empty() || offset > len || (end > write_end && !self.step_for(end)) {
            return None;
        }
        let window = self.current();
        // SAFETY: `offset < end <= write_end`, which is within the current
        // window (writable, checked when the bias was granted) and within
        // the file on disk; `buf` is the caller's, not in a window. A
        // fault (the file cut by someone who did not wait for the lease)
        // is recovered, and the slow path writes again.
        unsafe { copy::copy(window.at(offset), buf.as_ptr(), buf.len()) }.ok()?;
        if end > len {
            // As `publish` does while Exclusive with no hole: `end` is
            // within the window, so it bounds the fast reads too.
            self.len.store(end, Ordering::Release);
            self.fast_end.store(end, Ordering::Release);
            self.exclusive_end.store(end, Ordering::Release);
        }
        if let Fast::Cursor(pos) | Fast::End { cursor: Some(pos) } = at {
            pos.store(end, Ordering::Relaxed);
        }
        if end > self.bias.grow_at.load(Ordering::Relaxed) {
            self.want_step();
        }
        Some(buf.len())
    }

    /// A fast write would end past `write_end`: waits for the step the
    /// grower is making, or makes one itself, under the lock but keeping
    /// the bias (see [`Inode::step_biased`]). Returns whether the write
    /// now fits; not where the lock is held (by a revoker, who waits for
    /// this write to finish) or the step cannot be made: the usual path
    /// then grows the file.
    #[cold]
    #[inline(never)]
    fn step_for(&self, end: u64) -> bool {
        if self.bias.growing.load(Ordering::Relaxed) {
            return end <= self.bias.wait_for_step();
        }
        let Ok(st) = self.state.try_lock() else {
            return false;
        };
        // Only a revoker clears `biased`, under the lock, and it keeps the
        // lock until this write ends: holding it, the bias still stands.
        debug_assert!(self.bias.biased.load(Ordering::Relaxed));
        self.step_biased(&st, end).is_some()
    }

    /// Asks the grower thread for the next step, once.
    #[cold]
    #[inline(never)]
    fn want_step(&self) {
        self.bias.grow_at.store(u64::MAX, Ordering::Relaxed);
        ahead::request(self);
    }

    /// After a write by `owner` (see [`Bias::owner`]; for
    /// [`SOLE_HANDLE`], no clone shares the cursor, which lives in user
    /// space): grants the bias to its writes if nothing else can write or
    /// change the state, once it asked [`STREAK`] times in a row.
    fn try_bias(&self, io: &Io<'_>, owner: usize) {
        if self.exclusive_end.load(Ordering::Relaxed) == 0
            || self.bias.biased.load(Ordering::Relaxed)
            || io.access.sync
            || !io.access.read
            || !io.growth.reserves()
        {
            return;
        }
        // Counted without the lock (a heuristic: a lost update only delays
        // the bias), so that a slow write takes the lock a second time at
        // most once per `STREAK` of them.
        let bias = &self.bias;
        let streak = if bias.streak_owner.load(Ordering::Relaxed) == owner {
            bias.streak.load(Ordering::Relaxed).saturating_add(1)
        } else {
            1
        };
        bias.streak_owner.store(owner, Ordering::Relaxed);
        if streak < STREAK {
            bias.streak.store(streak, Ordering::Relaxed);
            return;
        }
        // Whatever the outcome, the next attempt is `STREAK` writes away.
        bias.streak.store(0, Ordering::Relaxed);
        if BARRIER.load(Ordering::Relaxed) == UNKNOWN {
            let barrier = if os::membarrier_register().is_ok() {
                MEMBARRIER
            } else {
                FENCE
            };
            BARRIER.store(barrier, Ordering::Relaxed);
        }
        let mut st = self.lock_state();
        let current = self.current();
        let write_end = self
            .physical
            .load(Ordering::Relaxed)
            .min(current.cap as u64);
        let alone = st.exclusive && !st.forked && st.members.len() == 1;
        if alone
            && st.hole.is_none()
            && !st.views.any()
            && st.writes_since_sync >= SYNC_STREAK
            && current.writable()
            && !self.read_only.load(Ordering::Relaxed)
        {
            st.ahead = Some(ahead::Ahead::new(io.fd, io.growth));
            let grow_at = if io.growth == Growth::Background {
                // The first fast write past this asks for the next step:
                // small files never start the grower thread.
                self.len().max(ahead::FROM)
            } else {
                u64::MAX
            };
            bias.grow_at.store(grow_at, Ordering::Relaxed);
            bias.write_end.store(write_end, Ordering::Relaxed);
            bias.owner.store(owner, Ordering::Relaxed);
            bias.biased.store(true, Ordering::Release);
        }
        drop(st);
    }
}

impl Description<Inode> {
    /// A write at the cursor through the description's only handle, by the
    /// lock-free path; `None` where the usual path must take it.
    #[inline(always)]
    pub(crate) fn write_sole(&self, buf: &[u8]) -> Option<usize> {
        let pos = self.user_cursor()?;
        let at = if self.access.append {
            Fast::End { cursor: Some(pos) }
        } else {
            Fast::Cursor(pos)
        };
        self.store.write_fast(SOLE_HANDLE, at, buf)
    }

    /// After a write through the description's only handle: asks for the
    /// bias that lets the next ones take [`Self::write_sole`].
    pub(crate) fn bias_sole(&self, fd: BorrowedFd<'_>) {
        if self.cursor_is_ours() {
            self.store.try_bias(&self.io(fd), SOLE_HANDLE);
        }
    }

    /// A positional write by the lock-free path, where the inode's bias is
    /// this thread's; `None` where the usual path must take it.
    #[inline(always)]
    pub(crate) fn write_at_fast(&self, buf: &[u8], offset: u64) -> Option<usize> {
        // pwrite checks the offset first, even where it then appends.
        if !self.access.write || offset > MAX_OFFSET {
            return None;
        }
        let at = if self.access.append {
            Fast::End { cursor: None }
        } else {
            Fast::Offset(offset)
        };
        self.store.write_fast(thread_token(), at, buf)
    }

    /// After a positional write: asks for the bias for this thread.
    pub(crate) fn bias_thread(&self, fd: BorrowedFd<'_>) {
        self.store.try_bias(&self.io(fd), thread_token());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::Ordering::Relaxed;

    use super::Bias;
    use crate::inode::tests::{inode, open_rw, write_until_biased};

    /// For the inode's unit tests: what the bias stands at.
    impl Bias {
        pub(in crate::inode) fn is_biased(&self) -> bool {
            self.biased.load(Relaxed)
        }

        pub(in crate::inode) fn asks_at(&self) -> u64 {
            self.grow_at.load(Relaxed)
        }
    }

    /// Writes that cross growth steps keep the bias: the writer makes each
    /// step itself, under the lock, without revoking (`Inode::step_for`).
    #[test]
    fn a_biased_writer_makes_its_steps_without_revoking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = open_rw(&path);
        let record = [7u8; 4096];
        let mut written = write_until_biased(&mut f, &record);
        let first_end = inode(&f).bias.write_end.load(Relaxed);
        let until = (inode(&f).current().cap as u64).min(16 << 20);
        while written + 4096 <= until {
            f.write_all(&record).unwrap();
            written += 4096;
            assert!(inode(&f).bias.is_biased(), "revoked at {written}");
        }
        assert!(
            inode(&f).bias.write_end.load(Relaxed) >= written.max(first_end + 1),
            "no step made under the bias"
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, written);
        assert!(bytes.iter().all(|&b| b == 7));
    }
}
