//! Controls of the mapping itself: advice, range sync, memory locking,
//! protection, regions and anonymous files. Each is safe to call: none can
//! change the bytes the API returns, and none can leave memory the crate
//! reads unmapped.

use std::io;

#[cfg(mapped_io)]
use crate::Backend;
use crate::range::check_range;
use crate::{MmapFile, os};

/// Advice to the kernel about how the mapping will be used: `madvise(2)`.
///
/// Only advice that cannot change the bytes the API returns is offered:
/// `MADV_FREE`, `MADV_REMOVE` (which would discard or punch out data) and
/// `MADV_DONTFORK`/`MADV_WIPEONFORK` (which would leave a forked child's
/// handle pointing at missing memory) are not reachable from safe code.
/// `DontNeed` on this crate's shared mappings only drops the page-table
/// entries; the bytes are read back from the page cache. On a private
/// mapping it would discard the handle's writes, so it is refused there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Advice {
    /// `MADV_NORMAL`: no special treatment.
    Normal,
    /// `MADV_RANDOM`: expect random access; read ahead little.
    Random,
    /// `MADV_SEQUENTIAL`: expect sequential access; read ahead aggressively.
    Sequential,
    /// `MADV_WILLNEED`: read the pages in now.
    WillNeed,
    /// `MADV_DONTNEED` (Linux): drop the pages from this mapping; they are
    /// read back from the page cache (or disk) on the next access.
    DontNeed,
    /// `MADV_HUGEPAGE`: back the range with transparent huge pages where the
    /// file system supports it.
    HugePage,
    /// `MADV_NOHUGEPAGE`: do not use transparent huge pages.
    NoHugePage,
    /// `MADV_DONTDUMP`: leave the range out of core dumps.
    DontDump,
    /// `MADV_DODUMP`: undo `DontDump`.
    DoDump,
    /// `MADV_COLD` (Linux 5.4): the pages are unlikely to be used soon.
    Cold,
    /// `MADV_PAGEOUT` (Linux 5.4): write the pages back and reclaim them.
    PageOut,
    /// `MADV_POPULATE_READ` (Linux 5.14): fault the pages in for reading.
    PopulateRead,
    /// `MADV_POPULATE_WRITE` (Linux 5.14): fault the pages in for writing
    /// (without changing them).
    PopulateWrite,
}

impl Advice {
    /// Whether the advice sets a lasting property of the mapping (a flag
    /// the kernel keeps on it, which can cover pages the file does not have
    /// yet), as opposed to acting once on the pages there now.
    /// The lasting ones of `advice` (see [`Advice::is_lasting`]).
    #[cfg(mapped_io)]
    pub(crate) fn lasting(advice: &[Advice]) -> Vec<Advice> {
        advice.iter().copied().filter(|a| a.is_lasting()).collect()
    }

    #[cfg(mapped_io)]
    pub(crate) fn is_lasting(self) -> bool {
        matches!(
            self,
            Advice::Normal
                | Advice::Random
                | Advice::Sequential
                | Advice::HugePage
                | Advice::NoHugePage
                | Advice::DontDump
                | Advice::DoDump
        )
    }
}

/// The access the mapping allows; see [`MmapFile::protect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// `PROT_READ`: writes through the API fail with `PermissionDenied`.
    ReadOnly,
    /// `PROT_READ | PROT_WRITE`: the default for a writable handle.
    ReadWrite,
}

/// The size of a page of memory, in bytes: `sysconf(_SC_PAGESIZE)`
/// (`GetSystemInfo`'s `dwPageSize` on Windows). Ranges given to the mapping
/// controls are rounded out to whole pages.
pub fn page_size() -> usize {
    os::page_size()
}

/// The error for a control that needs a mapping, on a handle that uses
/// system calls.
fn not_mapped() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this file is not memory-mapped (see MmapFile::is_mapped)",
    )
}

/// What a control does to the pages of a range of the mapping.
#[derive(Clone, Copy)]
// Unmapped builds only refuse it.
#[cfg_attr(not(mapped_io), allow(dead_code))]
enum PageOp {
    Advise(Advice),
    Sync,
    StartWriteback,
    Lock,
    Unlock,
}

impl MmapFile {
    /// Does `op` to the pages of the mapping holding `offset..offset + len`
    /// of the file, clamped to its length. Nothing to do for an empty range.
    fn on_pages(&self, offset: u64, len: u64, op: PageOp) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| os::invalid())?;
        check_range(offset, len)?;
        #[cfg(mapped_io)]
        {
            let fd = self.fd();
            let run = |ptr: *mut u8, n: usize| match op {
                PageOp::Advise(advice) => os::advise(ptr, n, advice),
                PageOp::Sync => os::sync_pages(ptr, n, true),
                PageOp::StartWriteback => os::start_writeback(fd, offset, n),
                PageOp::Lock => os::lock_pages(ptr, n),
                PageOp::Unlock => os::unlock_pages(ptr, n),
            };
            match self.mapped_backend() {
                Backend::Shared(d) => {
                    if matches!(op, PageOp::Lock)
                        || matches!(op, PageOp::Advise(advice) if advice.is_lasting())
                    {
                        d.store.tune();
                    }
                    let src = crate::inode::MapSource {
                        fd,
                        readable: d.access.read,
                        writable: false,
                        via: d.id(),
                    };
                    d.store.on_pages(src, offset, len, run)
                }
                Backend::Private(d) => d.store.on_pages(offset, len, run),
                _ => Err(not_mapped()),
            }
        }
        #[cfg(not(mapped_io))]
        {
            let _ = op;
            Err(not_mapped())
        }
    }

    /// `madvise(2)` over the whole file: tells the kernel how the mapping
    /// will be used. Later mappings (after growth) get the same advice if it
    /// was given at open ([`crate::OpenOptions::advice`]).
    ///
    /// # Errors
    /// `Unsupported` for a handle that is not mapped; the kernel's error
    /// (`EINVAL` for advice it does not know).
    ///
    /// # Examples
    /// ```
    /// use mmapfile::{Advice, MmapFile};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("f");
    /// # std::fs::write(&path, vec![1; 100_000])?;
    /// let file = MmapFile::open(&path)?;
    /// if file.is_mapped() {
    ///     file.advise(Advice::Sequential)?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # References
    ///  - [Linux](https://man7.org/linux/man-pages/man2/madvise.2.html)
    pub fn advise(&self, advice: Advice) -> io::Result<()> {
        self.advise_range(advice, 0, self.len()?)
    }

    /// `madvise(2)` over `offset..offset + len` of the file (rounded out to
    /// pages, clamped to the file's length).
    ///
    /// # Errors
    /// As [`advise`](Self::advise); `EINVAL` if the range does not fit in
    /// `off_t` (`InvalidInput` on Windows).
    pub fn advise_range(&self, advice: Advice, offset: u64, len: u64) -> io::Result<()> {
        #[cfg(mapped_io)]
        if advice == Advice::DontNeed && matches!(self.mapped_backend(), Backend::Private(_)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DontNeed would discard a private mapping's writes",
            ));
        }
        self.on_pages(offset, len, PageOp::Advise(advice))
    }

    /// `msync(MS_SYNC)` over `offset..offset + len`: the pages covering the
    /// range reach the disk before it returns. Cheaper than
    /// [`sync_data`](Self::sync_data) when little of a large file changed.
    ///
    /// # Errors
    /// `Unsupported` if not mapped; the kernel's I/O errors.
    ///
    /// # References
    ///  - [Linux](https://man7.org/linux/man-pages/man2/msync.2.html)
    pub fn sync_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.on_pages(offset, len, PageOp::Sync)
    }

    /// Starts writing back the pages covering `offset..offset + len` and
    /// returns without waiting for it: `sync_file_range` (as `msync(MS_ASYNC)`
    /// does nothing on Linux), which first waits for any writeback of those
    /// pages already under way, since a page redirtied meanwhile would
    /// otherwise be skipped.
    ///
    /// # Errors
    /// `Unsupported` if not mapped; the kernel's errors.
    ///
    /// # References
    ///  - [Linux sync_file_range](https://man7.org/linux/man-pages/man2/sync_file_range.2.html)
    pub fn sync_range_async(&self, offset: u64, len: u64) -> io::Result<()> {
        self.on_pages(offset, len, PageOp::StartWriteback)
    }

    /// `mlock(2)` over the whole file: its pages stay in memory. Pages the
    /// file grows into later are not locked; call again after growing.
    /// (This is about memory; for the file lock see [`lock`](Self::lock).)
    ///
    /// # Errors
    /// `OutOfMemory` naming `RLIMIT_MEMLOCK` when the limit is too small;
    /// `Unsupported` if not mapped.
    ///
    /// # References
    ///  - [Linux](https://man7.org/linux/man-pages/man2/mlock.2.html)
    pub fn lock_memory(&self) -> io::Result<()> {
        self.lock_memory_range(0, self.len()?)
    }

    /// `mlock(2)` over `offset..offset + len` of the file.
    ///
    /// # Errors
    /// As [`lock_memory`](Self::lock_memory).
    pub fn lock_memory_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.on_pages(offset, len, PageOp::Lock)
    }

    /// `munlock(2)` over the whole file.
    ///
    /// # Errors
    /// `Unsupported` if not mapped.
    pub fn unlock_memory(&self) -> io::Result<()> {
        self.on_pages(0, self.len()?, PageOp::Unlock)
    }

    /// `mprotect(2)` on every mapping of this file in this process. With
    /// [`Protection::ReadOnly`], writes through any `MmapFile` of the file
    /// fail with `PermissionDenied` and nothing reaches memory, until
    /// [`Protection::ReadWrite`] restores them. `set_len` still works: it
    /// goes through the file, not the mapping.
    ///
    /// # Errors
    /// `Unsupported` if not mapped; `EBADF` to make a handle not open for
    /// writing writable.
    ///
    /// # References
    ///  - [Linux](https://man7.org/linux/man-pages/man2/mprotect.2.html)
    pub fn protect(&self, protection: Protection) -> io::Result<()> {
        let read_only = protection == Protection::ReadOnly;
        #[cfg(mapped_io)]
        let backend = self.mapped_backend();
        #[cfg(not(mapped_io))]
        let backend = &self.backend;
        match backend {
            #[cfg(mapped_io)]
            Backend::Shared(d) if !read_only && !d.access.write => Err(os::bad_fd()),
            #[cfg(mapped_io)]
            Backend::Shared(d) => d.store.protect(read_only),
            #[cfg(mapped_io)]
            Backend::Private(d) if !read_only && !d.access.write => Err(os::bad_fd()),
            #[cfg(mapped_io)]
            Backend::Private(d) => d.store.protect(read_only),
            _ => {
                let _ = read_only;
                Err(not_mapped())
            }
        }
    }

    /// A window on `offset..offset + len` of the file, with positional I/O
    /// and the mapping controls relative to it. It stays valid and correct
    /// as the file grows or moves to a larger mapping.
    ///
    /// # Errors
    /// `EINVAL` if the range does not fit in `off_t` (on Windows,
    /// `InvalidInput` past `i64::MAX`).
    ///
    /// # Examples
    /// ```
    /// use mmapfile::MmapFile;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("f");
    /// let file = MmapFile::options().read(true).write(true).create(true).open(&path)?;
    /// let header = file.region(0, 16)?;
    /// header.write_at(b"MAGIC", 0)?;
    /// let mut magic = [0; 5];
    /// header.read_at(&mut magic, 0)?;
    /// assert_eq!(&magic, b"MAGIC");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn region(&self, offset: u64, len: u64) -> io::Result<Region<'_>> {
        check_range(offset, usize::try_from(len).map_err(|_| os::invalid())?)?;
        Ok(Region {
            file: self,
            offset,
            len,
        })
    }

    /// A handle on memory rather than a named file, with the full
    /// `MmapFile` API: `memfd_create(2)` on Linux, an unlinked temporary
    /// file elsewhere on Unix, and on Windows a temporary file
    /// (`FILE_ATTRIBUTE_TEMPORARY`) in [`std::env::temp_dir`] that Windows
    /// deletes when its last handle closes (`FILE_FLAG_DELETE_ON_CLOSE`).
    /// It grows like any file; [`into_file`](Self::into_file) gives a real
    /// `File` of it.
    ///
    /// # Errors
    /// Those of `memfd_create` (`EMFILE`, `ENOMEM`); elsewhere, those of
    /// creating the temporary file.
    ///
    /// # Examples
    /// ```
    /// use std::io::{Read, Seek, Write};
    /// let mut scratch = mmapfile::MmapFile::anonymous()?;
    /// scratch.write_all(b"scratch space")?;
    /// scratch.rewind()?;
    /// let mut s = String::new();
    /// scratch.read_to_string(&mut s)?;
    /// assert_eq!(s, "scratch space");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # References
    ///  - [Linux memfd_create](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
    ///  - [Windows CreateFileW](https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-createfilew)
    pub fn anonymous() -> io::Result<MmapFile> {
        // The crate made the file: no other open file description of it
        // exists, so it may be held alone (see the crate docs).
        let options = crate::options::MapOptions::default();
        let opened = crate::backend::opened_now();
        MmapFile::from_file_with(os::anonymous_file()?, &options, opened)
    }
}

/// A window on part of an [`MmapFile`]; see [`MmapFile::region`].
///
/// Offsets are relative to the region's start. Reads stop at its end; a
/// write is cut at its end, and one that starts at or past it fails.
#[derive(Debug, Clone, Copy)]
pub struct Region<'a> {
    file: &'a MmapFile,
    offset: u64,
    len: u64,
}

impl Region<'_> {
    /// Where the region starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The region's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of `want` bytes at `offset` fit in the region.
    fn fit(&self, offset: u64, want: usize) -> usize {
        want.min(
            self.len
                .saturating_sub(offset)
                .try_into()
                .unwrap_or(usize::MAX),
        )
    }

    /// Like [`FileExt::read_at`], relative to the region and stopping at its
    /// end. On Windows it is `FileExt::seek_read`, and like that it moves
    /// the cursor (to the end of what it read).
    ///
    /// # Errors
    /// Those of [`FileExt::read_at`].
    ///
    #[cfg_attr(
        unix,
        doc = "[`FileExt::read_at`]: std::os::unix::fs::FileExt::read_at"
    )]
    #[cfg_attr(
        windows,
        doc = "[`FileExt::read_at`]: std::os::windows::fs::FileExt::seek_read"
    )]
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.fit(offset, buf.len());
        self.file
            .read_at_offset(&mut buf[..n], self.offset + offset.min(self.len))
    }

    /// Like [`FileExt::write_at`], relative to the region and cut at its end.
    /// On Windows it is `FileExt::seek_write`, and like that it moves the
    /// cursor (to the end of what it wrote).
    ///
    /// # Errors
    /// `InvalidInput` if `offset` is at or past the region's end (and `buf`
    /// is not empty), or the file offset it makes does not fit in `off_t`;
    /// those of [`FileExt::write_at`].
    ///
    #[cfg_attr(
        unix,
        doc = "[`FileExt::write_at`]: std::os::unix::fs::FileExt::write_at"
    )]
    #[cfg_attr(
        windows,
        doc = "[`FileExt::write_at`]: std::os::windows::fs::FileExt::seek_write"
    )]
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        // Past `u64::MAX` as a file offset: what `pwrite` says past `off_t`.
        let at = self.offset.checked_add(offset).ok_or_else(os::invalid)?;
        let n = self.fit(offset, buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of the region",
            ));
        }
        self.file.write_at_offset(&buf[..n], at)
    }

    /// [`MmapFile::advise_range`] over the region.
    ///
    /// # Errors
    /// As [`MmapFile::advise_range`].
    pub fn advise(&self, advice: Advice) -> io::Result<()> {
        self.file.advise_range(advice, self.offset, self.len)
    }

    /// [`MmapFile::sync_range`] over the region.
    ///
    /// # Errors
    /// As [`MmapFile::sync_range`].
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_range(self.offset, self.len)
    }

    /// [`MmapFile::lock_memory_range`] over the region.
    ///
    /// # Errors
    /// As [`MmapFile::lock_memory_range`].
    pub fn lock_memory(&self) -> io::Result<()> {
        self.file.lock_memory_range(self.offset, self.len)
    }
}
