//! How a handle is made: which backend it gets (where files can be mapped:
//! the shared inode, a private mapping, a mapping made later, or plain
//! system calls for what a mapping cannot serve with `File`'s results).

use std::fs::File;
use std::io;
#[cfg(mapped_io)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
#[cfg(mapped_io)]
use std::sync::Arc;
#[cfg(mapped_io)]
use std::sync::atomic::{AtomicPtr, Ordering};

#[cfg(mapped_io)]
use crate::Advice;
use crate::MmapFile;
#[cfg(mapped_io)]
use crate::deferred::Deferred;
#[cfg(mapped_io)]
use crate::description::Description;
#[cfg(mapped_io)]
use crate::inode::{Inode, Join, MapSource};
use crate::options::MapOptions;
#[cfg(mapped_io)]
use crate::os::{self, fault};
#[cfg(mapped_io)]
use crate::private::PrivateMap;

/// For a file the crate opens itself, to call just before the open: the
/// fork count then, which tells later whether a fork has shared its
/// descriptor with a child (see [`MmapFile::from_file_with`]). Registers the
/// fork handlers first, so that every fork from then on is counted.
pub(crate) fn opened_now() -> Option<u64> {
    #[cfg(mapped_io)]
    {
        crate::fork::register();
        Some(crate::fork::count())
    }
    #[cfg(not(mapped_io))]
    Some(0)
}

/// Where a handle's I/O goes.
pub(crate) enum Backend {
    /// Plain system calls on `file`: for what cannot be mapped.
    Syscalls,
    /// I/O through the shared mapping of the file's inode.
    #[cfg(mapped_io)]
    Shared(Arc<Description<Inode>>),
    /// I/O through a private copy-on-write mapping.
    #[cfg(mapped_io)]
    Private(Arc<Description<PrivateMap>>),
    /// System calls until the handle maps the file, then the backend made
    /// then (see `deferred.rs`).
    #[cfg(mapped_io)]
    Deferred(Box<Deferred>),
}

impl MmapFile {
    /// Cuts the file on disk back to its length, where this handle may write.
    pub(crate) fn trim(&self) -> io::Result<()> {
        #[cfg(mapped_io)]
        if let Some(d) = self.shared()
            && d.access.write
        {
            return d.store.trim(self.fd());
        }
        Ok(())
    }

    #[cfg(mapped_io)]
    #[inline]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `self.fd` is `self.file`'s descriptor, open for as long as
        // `self` lives, which bounds the borrow.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Wraps an open file, with its access mode and cursor.
    /// `opened`: we opened `file` ourselves (see [`opened_now`]), so no one
    /// else shares its open file description unless a fork since did;
    /// `None`: it was handed to us.
    pub(crate) fn from_file_with(
        file: File,
        map: &MapOptions,
        opened: Option<u64>,
    ) -> io::Result<MmapFile> {
        #[cfg(mapped_io)]
        let backend = match Deferred::new(&file, map, opened)? {
            Some(deferred) => Backend::Deferred(Box::new(deferred)),
            None => match Backend::choose(&file, map, opened)? {
                Backend::Syscalls => match Deferred::unmappable(&file, map)? {
                    Some(unmappable) => Backend::Deferred(Box::new(unmappable)),
                    None => Backend::Syscalls,
                },
                backend => backend,
            },
        };
        #[cfg(not(mapped_io))]
        let backend = {
            let _ = (opened, map);
            Backend::Syscalls
        };
        let file = MmapFile::with_backend(file, backend);
        #[cfg(mapped_io)]
        if matches!(file.backend, Backend::Shared(_) | Backend::Private(_)) {
            // Lasting advice went on the whole mapping with it; the rest acts
            // on the pages the file has now (a handle with either maps at
            // open).
            for &advice in map.advice.iter().filter(|a| !a.is_lasting()) {
                file.advise(advice)?;
            }
            if map.populate && file.advise(Advice::PopulateRead).is_err() {
                file.advise(Advice::WillNeed)?;
            }
        }
        Ok(file)
    }

    pub(crate) fn with_backend(file: File, backend: Backend) -> MmapFile {
        let file = MmapFile {
            #[cfg(mapped_io)]
            fd: file.as_raw_fd(),
            #[cfg(mapped_io)]
            reads: AtomicPtr::new(std::ptr::null_mut()),
            file,
            backend,
        };
        #[cfg(mapped_io)]
        file.publish_reads(&file.backend);
        file
    }

    /// Points `reads` at `backend`'s inode, where it is shared and
    /// readable. `backend` is, or will be before any read, the one
    /// `self.backend` holds, itself or once mapped (see `deferred.rs`).
    #[cfg(mapped_io)]
    pub(crate) fn publish_reads(&self, backend: &Backend) {
        if let Backend::Shared(d) = backend
            && d.access.read
        {
            let inode: *const Inode = &*d.store;
            self.reads.store(inode.cast_mut(), Ordering::Release);
        }
    }

    /// The inode to read from without going through the description, if
    /// the backend is shared and readable.
    #[cfg(mapped_io)]
    #[inline(always)]
    pub(crate) fn reads(&self) -> Option<&Inode> {
        let inode = self.reads.load(Ordering::Acquire);
        // SAFETY: `reads` is null or points at the inode of the description
        // `self.backend` holds, which keeps it alive for as long as `self`
        // lives; that bounds the borrow. `Inode` is `Sync`.
        unsafe { inode.as_ref() }
    }

    /// Where files are not mapped, the backend is plain system calls.
    #[cfg(not(mapped_io))]
    pub(crate) fn io_backend(&self) -> &Backend {
        &self.backend
    }

    /// As [`Self::io_backend`].
    #[cfg(not(mapped_io))]
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Where files are not mapped, no write counts towards a mapping.
    #[cfg(not(mapped_io))]
    pub(crate) fn wrote_as_file(&self, written: io::Result<usize>) -> io::Result<usize> {
        written
    }

    /// Where files are not mapped, there is nothing to settle.
    #[cfg(not(mapped_io))]
    pub(crate) fn settle(&mut self) {}
}

#[cfg(mapped_io)]
impl Backend {
    /// The backend for `file`, with `map`'s options. `opened`: the crate
    /// opened `file` itself when the fork count was this (see
    /// [`opened_now`]), so no one else shares its open file
    /// description unless a fork since did.
    pub(crate) fn choose(
        file: &File,
        map: &MapOptions,
        opened: Option<u64>,
    ) -> io::Result<Backend> {
        let fd = file.as_fd();
        let identity = os::identify(fd)?;
        let access = os::access(fd)?;
        // O_DIRECT's alignment rules and errors are the kernel's; a file
        // that can be sealed (any seal but F_SEAL_SEAL) may refuse writes
        // or size changes at any moment, and a writable mapping would stop
        // F_SEAL_WRITE from being added. System calls give `File`'s results.
        let sealable = os::seals(fd).is_some_and(|seals| seals != os::SEAL_SEAL);
        if !identity.regular || !fault::recovery() || access.direct || sealable {
            return Ok(Backend::Syscalls);
        }
        let cursor = os::tell(fd)?;
        if map.private {
            let store = PrivateMap::open(fd, access.read, map.reserve, &map.advice)?;
            let desc = Description::new(Arc::new(store), access, map.growth(), cursor, false, fd);
            return Ok(Backend::Private(Arc::new(desc)));
        }
        let join = Join {
            src: MapSource {
                fd,
                readable: access.read,
                writable: access.write,
                // The description is made once the file is mapped.
                via: 0,
            },
            key: identity.key,
            reserve: map.reserve,
            advice: &map.advice,
            access,
            growth: map.growth(),
            cursor,
            opened,
        };
        Ok(match Inode::join(join) {
            Ok(desc) => Backend::Shared(desc),
            // Not mappable (procfs, sysfs, no address space): system calls
            // are always correct.
            Err(_) => Backend::Syscalls,
        })
    }
}
