//! Mapping at a handle's first calls, not at its open (see
//! [`OpenOptions::map_after`](crate::OpenOptions::map_after)).
//!
//! A mapping costs a handle more than a `File`'s whole life does when the
//! file is small or used briefly: measured on the Intel Xeon (Linux 6.18,
//! ext4), opening a 100-byte file, `read_to_end` and closing took 24–27 µs
//! mapped at open against `File`'s 3–5 µs. The time goes to the first page
//! fault in a fresh 1 GiB mapping (its page tables are made, zeroed and
//! freed again: 13 µs in a C loop), the `mmap` and `munmap` (3 µs) and
//! the lease's `fcntl`s (2 µs). So a handle starts as a `File`: each call
//! is `File`'s own system call, counted, and the [`DEFAULT_MAP_AFTER`]th
//! maps the file and goes through the mapping, as every call after it
//! does. A write counts [`PAGE_CALLS`] calls more for each whole page it
//! wrote, since `write(2)` costs more than the mapping per page. Mapping
//! then is what opening mapped would have done at that moment: the cursor
//! is where the kernel's file offset is, and the length what the file has.
//!
//! The `MmapFile`s of a file in one process share its inode, which knows
//! the length exactly for every write made through any of them
//! ([`MmapFile::len`]), and whose mapping controls (`protect`, views)
//! bind every handle; a write made as a `File` would be one it learns of
//! only later, as it does another process's. So a handle that can write
//! maps at its next call once the file has such an inode
//! ([`Deferred::joins`]); until then it is the file's only `MmapFile`
//! writer and there is no one to tell. An append-mode handle maps at open: it is a log's, and its
//! appends are what the mapping is fastest at. Deferred, the criterion
//! rows that append 1 MiB to a fresh file after opening it (timing the
//! appends, not the open) took the mapping's cost into the timed part:
//! `BufWriter<MmapFile>` with 4 KiB records 280–316 µs against 250–254
//! mapped at open, 256 B records 281–297 against 240–268. A reader
//! changes nothing that the inode must know, and the other handles see it
//! as they see a `File` open beside them (Shared, see the crate docs), as
//! they do a second mapped description. A writer that no mapping can serve
//! (O_DIRECT, say) stays a `File` for good, and tells the inode of its
//! writes as one that has not mapped yet does ([`Deferred::unmappable`]).
//!
//! The mapping reads the cursor and the size as the kernel has them, so no
//! call may move either while it does: the calls made meanwhile hold
//! [`Deferred::transition`] shared, and the mapping holds it alone. Only
//! regular files wait (a read of a pipe may block for good, and must not
//! hold up a writer that would map).
//!
//! Other `MmapFile`s of the file in this process see such a handle as they
//! see a `File`, with one exception: when one of their reads reaches the
//! end of the file, their shared length catches up with what someone else
//! wrote, and a handle's calls do the same for them while it has not
//! mapped the file ([`Deferred::catch_up`]), as they would have as a
//! member of the inode (for a writer that has not joined yet, one whose
//! call was under way when the inode was made).
//!
//! A handle that has not mapped its file when the process forks never
//! does, in parent and child alike: it stays a `File` (a mapping of a
//! description shared with another process could only be Shared, whose
//! reads cost about what `pread` does). The child may have inherited
//! `transition` or the mapping's `OnceLock` held by a thread it does not
//! have, so it never touches either; the parent still waits for a mapping
//! that was under way when it forked (which then maps as a handle the
//! crate was handed does, see `fork.rs`).

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use crate::description::Description;
use crate::inode::{Inode, REGISTRY, lock};
use crate::options::MapOptions;
use crate::{Backend, MmapFile, fork, os};

/// Calls a handle makes through system calls before it maps the file: about
/// where their extra cost (0.3–0.7 µs each for a short read, against the
/// mapping's tens of nanoseconds) adds up to what the mapping costs.
pub(crate) const DEFAULT_MAP_AFTER: u32 = 16;

/// What a page written as a `File` counts, in calls, towards the mapping:
/// a 4 KiB `write(2)` costs about 1.9 µs more than the copy into a mapped
/// page, four times what a short call costs more.
const PAGE_CALLS: u32 = 4;

/// The page of [`PAGE_CALLS`].
const PAGE: usize = 4096;

/// The environment variable that sets the default for
/// [`OpenOptions::map_after`](crate::OpenOptions::map_after).
const MAP_AFTER_VAR: &str = "MMAPFILE_MAP_AFTER";

/// The default call count: `MMAPFILE_MAP_AFTER` if set, read once.
///
/// # Errors
/// `InvalidInput` if the variable is set but not a number of calls.
pub(crate) fn default_map_after() -> io::Result<u32> {
    static DEFAULT: OnceLock<Result<u32, String>> = OnceLock::new();
    let default = DEFAULT.get_or_init(|| match std::env::var(MAP_AFTER_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_MAP_AFTER),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{MAP_AFTER_VAR}={v:?} is not a number of calls")),
        Err(e) => Err(format!("{MAP_AFTER_VAR}: {e}")),
    });
    default
        .clone()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A handle that has not mapped its file yet.
pub(crate) struct Deferred {
    /// The backend made by the mapping, which every call uses from then on.
    mapped: OnceLock<Backend>,
    /// Calls left before the mapping.
    calls_left: AtomicU32,
    /// Held shared by each call made with system calls, alone by the mapping.
    transition: RwLock<()>,
    map: MapOptions,
    /// The crate opened the file (see [`Backend::choose`]).
    opened: Option<u64>,
    /// [`fork::count`] when the handle was made.
    forks: u64,
    /// The process the handle was made in.
    pid: u32,
    /// The file's device and inode numbers (the registry's key).
    key: (u64, u64),
    /// The handle can write: it maps as soon as the file has an inode.
    writes: bool,
}

impl Deferred {
    /// The deferral for a handle on `file`, or `None` where it maps at open:
    /// `map_after` is 0, the options act on the mapping at open (`private`,
    /// `populate`, advice for the pages), the handle appends (`O_APPEND`)
    /// or cannot read, or the file is not regular or is open with
    /// `O_DIRECT`.
    pub(crate) fn new(
        file: &File,
        map: &MapOptions,
        opened: Option<u64>,
    ) -> io::Result<Option<Deferred>> {
        let calls = match map.map_after {
            Some(calls) => calls,
            None => default_map_after()?,
        };
        if calls == 0 || map.private || map.populate || map.advice.iter().any(|a| !a.is_lasting()) {
            return Ok(None);
        }
        let fd = file.as_fd();
        let access = os::access(fd)?;
        let identity = os::identify(fd)?;
        // O_DIRECT handles are never mapped (see `Backend::choose`); an
        // append-mode handle is a log's, whose appends the mapping serves
        // from the first (see the module docs); a write-only one maps at
        // open where `Backend::choose` can map it.
        if !identity.regular || access.direct || access.append || !access.read {
            return Ok(None);
        }
        // Counts forks from now on.
        fork::register();
        Ok(Some(Deferred {
            mapped: OnceLock::new(),
            calls_left: AtomicU32::new(calls),
            transition: RwLock::new(()),
            map: map.clone(),
            opened,
            forks: fork::count(),
            pid: std::process::id(),
            key: identity.key,
            writes: access.write,
        }))
    }

    /// After a write made as a `File` of `written` bytes: each whole page
    /// counts [`PAGE_CALLS`] calls more towards the mapping.
    pub(crate) fn count_written(&self, written: usize) {
        let pages = u32::try_from(written / PAGE).unwrap_or(u32::MAX);
        let calls = pages.saturating_mul(PAGE_CALLS);
        if calls > 0 {
            let _ = self
                .calls_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    // One call is left for the next call to map with.
                    Some(left.saturating_sub(calls).max(1.min(left)))
                });
        }
    }

    /// For a clone of a handle that will never map (see
    /// [`MmapFile::try_clone`]): one that never maps either, and catches
    /// the others up after each call as this one does.
    pub(crate) fn never_mapping(&self) -> Deferred {
        Deferred::on_syscalls(
            self.map.clone(),
            self.forks,
            self.pid,
            self.key,
            self.writes,
        )
    }

    /// For a handle that can write to a regular file which no mapping
    /// serves (O_DIRECT, a sealable file, no fault recovery: see
    /// [`Backend::choose`]): one that stays on system calls and catches the
    /// file's mapped handles up after each call, so that [`MmapFile::len`]
    /// stays exact for its writes too. `None` for any other handle.
    pub(crate) fn unmappable(file: &File, map: &MapOptions) -> io::Result<Option<Deferred>> {
        let fd = file.as_fd();
        let identity = os::identify(fd)?;
        if !identity.regular || !os::access(fd)?.write {
            return Ok(None);
        }
        let (map, forks, pid) = (map.clone(), fork::count(), std::process::id());
        Ok(Some(Deferred::on_syscalls(
            map,
            forks,
            pid,
            identity.key,
            true,
        )))
    }

    /// A handle settled on system calls for good.
    fn on_syscalls(map: MapOptions, forks: u64, pid: u32, key: (u64, u64), writes: bool) -> Self {
        Deferred {
            mapped: OnceLock::from(Backend::Syscalls),
            calls_left: AtomicU32::new(0),
            transition: RwLock::new(()),
            map,
            opened: None,
            forks,
            pid,
            key,
            writes,
        }
    }

    /// The backend made by the mapping, if it was made.
    pub(crate) fn mapped(&self) -> Option<&Backend> {
        self.mapped.get()
    }

    /// Whether the handle can write and other handles of the file in this
    /// process share an inode, which it must then join (see the module
    /// docs).
    fn joins(&self) -> bool {
        self.writes
            && lock(&REGISTRY)
                .get(&self.key)
                .is_some_and(|w| w.strong_count() > 0)
    }

    /// After a call made as a `File`: the inode that the mapped handles of
    /// the file in this process share, if there is one, catches up with the
    /// size on disk, as after a read of theirs that reaches the end.
    pub(crate) fn catch_up(&self, fd: BorrowedFd<'_>) {
        let inode = lock(&REGISTRY)
            .get(&self.key)
            .and_then(std::sync::Weak::upgrade);
        if let Some(inode) = inode {
            // A size we cannot read now is read again by the next call.
            let _ = inode.refresh(fd);
        }
    }

    /// Whether the process forked since the handle was made: then it never
    /// maps (see the module docs).
    fn forked(&self) -> bool {
        fork::count() != self.forks
    }

    /// Whether this is a process forked from the one the handle was made
    /// in, which must not touch the locks (see the module docs).
    fn in_forked_child(&self) -> bool {
        self.forked() && std::process::id() != self.pid
    }

    /// Takes the backend out, where it was made.
    pub(crate) fn take_mapped(&mut self) -> Option<Backend> {
        self.mapped.take()
    }
}

/// The backend a call goes through: while the handle has not mapped its
/// file, plain system calls, with the mapping held off until the call
/// returns, and the other handles caught up after it (see
/// [`Deferred::catch_up`]).
pub(crate) struct Current<'a> {
    backend: &'a Backend,
    _held: Option<Held<'a>>,
}

/// What a call made as a `File` holds until it returns.
struct Held<'a> {
    /// `None` after a fork (see the module docs).
    _transition: Option<RwLockReadGuard<'a, ()>>,
    /// Whom to catch up after the call, through which descriptor.
    catch_up: Option<(&'a Deferred, BorrowedFd<'a>)>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some((d, fd)) = self.catch_up {
            d.catch_up(fd);
        }
    }
}

impl Deref for Current<'_> {
    type Target = Backend;
    fn deref(&self) -> &Backend {
        self.backend
    }
}

impl<'a> Current<'a> {
    fn now(backend: &'a Backend) -> Current<'a> {
        Current {
            backend,
            _held: None,
        }
    }
}

impl MmapFile {
    /// The backend for an I/O call (a read, write or seek): where the file
    /// is not mapped yet, the call counts towards mapping it, and the last
    /// one maps it.
    #[inline(always)]
    pub(crate) fn io_backend(&self) -> Current<'_> {
        match &self.backend {
            Backend::Deferred(d) => match d.mapped() {
                Some(Backend::Syscalls) | None => self.deferred(d, true),
                Some(mapped) => Current::now(mapped),
            },
            backend => Current::now(backend),
        }
    }

    /// After a write made as a `File` (the syscall arm of a write's
    /// dispatch): counts its pages towards the mapping.
    #[inline(always)]
    pub(crate) fn wrote_as_file(&self, written: io::Result<usize>) -> io::Result<usize> {
        if let (Backend::Deferred(d), Ok(n)) = (&self.backend, &written) {
            d.count_written(*n);
        }
        written
    }

    /// The backend for any other call, without counting it.
    #[inline(always)]
    pub(crate) fn backend(&self) -> Current<'_> {
        match &self.backend {
            Backend::Deferred(d) => self.deferred(d, false),
            backend => Current::now(backend),
        }
    }

    /// The backend, mapping the file now where it is not mapped yet: for
    /// the calls that act on the mapping itself, and those after which the
    /// crate no longer knows who shares the description (`try_clone`,
    /// `as_fd`).
    pub(crate) fn mapped_backend(&self) -> &Backend {
        match &self.backend {
            Backend::Deferred(d) => self.map_now(d),
            backend => backend,
        }
    }

    /// The shared inode's description, where the file is mapped through it.
    #[inline(always)]
    pub(crate) fn shared(&self) -> Option<&Arc<Description<Inode>>> {
        match &self.backend {
            Backend::Shared(d) => Some(d),
            Backend::Deferred(d) => match d.mapped() {
                Some(Backend::Shared(d)) => Some(d),
                _ => None,
            },
            _ => None,
        }
    }

    /// Where the file was mapped since the open, puts the mapped backend
    /// in `self.backend`, so that calls reach it directly.
    #[inline(always)]
    pub(crate) fn settle(&mut self) {
        if matches!(self.backend, Backend::Deferred(_)) {
            self.settle_deferred();
        }
    }

    #[cold]
    fn settle_deferred(&mut self) {
        // One that will never map stays deferred, to catch the others up.
        if let Backend::Deferred(d) = &mut self.backend
            && !matches!(d.mapped(), None | Some(Backend::Syscalls))
            && let Some(mapped) = d.take_mapped()
        {
            self.backend = mapped;
        }
    }

    #[cold]
    #[inline(never)]
    fn deferred<'a>(&'a self, d: &'a Deferred, count: bool) -> Current<'a> {
        // Every call catches up, `set_len` among the uncounted ones.
        let catch_up = Some((d, self.fd()));
        // A handle that will never map (a fork, or no mapping to be had)
        // still catches the others up after each call.
        let unmapped = |held| Current {
            backend: &Backend::Syscalls,
            _held: Some(Held {
                _transition: held,
                catch_up,
            }),
        };
        match d.mapped() {
            Some(Backend::Syscalls) => return unmapped(None),
            Some(mapped) => return Current::now(mapped),
            None => {}
        }
        if d.in_forked_child() {
            return unmapped(None);
        }
        let held = d.transition.read().unwrap_or_else(PoisonError::into_inner);
        match d.mapped() {
            Some(Backend::Syscalls) => return unmapped(Some(held)),
            Some(mapped) => return Current::now(mapped),
            None => {}
        }
        if !d.forked() && (d.joins() || count && d.calls_left.fetch_sub(1, Ordering::Relaxed) <= 1)
        {
            drop(held);
            return match self.map_now(d) {
                Backend::Syscalls => unmapped(None),
                mapped => Current::now(mapped),
            };
        }
        unmapped(Some(held))
    }

    /// Maps the file, once, with no call by system calls in flight; where
    /// it cannot be mapped now (no address space left, say), the handle
    /// keeps to system calls, which give the same results.
    #[cold]
    fn map_now<'a>(&'a self, d: &'a Deferred) -> &'a Backend {
        if let Some(mapped) = d.mapped() {
            return mapped;
        }
        if d.in_forked_child() {
            return &Backend::Syscalls;
        }
        // Held until the backend is in `mapped`: a call that took
        // `transition` as soon as the closure returned would find no
        // backend yet, and move the kernel's offset after the cursor was
        // read from it.
        let _alone = d.transition.write().unwrap_or_else(PoisonError::into_inner);
        d.mapped.get_or_init(|| {
            if d.forked() {
                return Backend::Syscalls;
            }
            let backend =
                Backend::choose(&self.file, &d.map, d.opened).unwrap_or(Backend::Syscalls);
            self.publish_reads(&backend);
            backend
        })
    }
}
