//! Thin wrappers over the system calls the mapping makes.
//!
//! Each function is one call (or one call with a documented fallback); the
//! policy of when to make them lives in [`crate::map`].

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::FileType;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

/// `sysconf(_SC_PAGESIZE)`: the size of a page of memory.
#[inline]
pub(crate) fn page_size() -> usize {
    // x86_64 Linux has 4 KiB base pages only; a constant keeps the read
    // path free of a call.
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        4096
    } else {
        rustix::param::page_size()
    }
}

/// `mmap(NULL, len, PROT_READ[|PROT_WRITE], MAP_SHARED, fd, 0)`: maps the
/// first `len` bytes of the file, which may run past its end.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mmap.2.html)
pub(crate) fn map_shared(
    fd: BorrowedFd<'_>,
    len: usize,
    writable: bool,
) -> io::Result<NonNull<u8>> {
    let prot = if writable {
        ProtFlags::READ | ProtFlags::WRITE
    } else {
        ProtFlags::READ
    };
    // SAFETY: a null hint without MAP_FIXED lets the kernel choose fresh
    // address space, so no existing memory is replaced.
    let ptr =
        unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0)? };
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::from(Errno::NOMEM))
}

/// A copy-on-write window of `len` bytes: anonymous memory
/// (`MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`) with, if `file` is given,
/// the first `file.1` bytes of the file mapped `MAP_PRIVATE | MAP_FIXED`
/// over its start. Writes anywhere in it stay in memory.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mmap.2.html)
pub(crate) fn map_private(
    file: Option<(BorrowedFd<'_>, usize)>,
    len: usize,
) -> io::Result<NonNull<u8>> {
    let prot = ProtFlags::READ | ProtFlags::WRITE;
    // SAFETY: a null hint without MAP_FIXED takes fresh address space.
    let base = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            prot,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )?
    };
    let base = NonNull::new(base.cast::<u8>()).ok_or_else(|| io::Error::from(Errno::NOMEM))?;
    if let Some((fd, file_len)) = file.filter(|&(_, n)| n > 0) {
        let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE;
        // SAFETY: MAP_FIXED over the start of the mapping just made, which
        // nothing else has seen.
        if let Err(e) =
            unsafe { rustix::mm::mmap(base.as_ptr().cast(), file_len, prot, flags, fd, 0) }
        {
            // SAFETY: ours, and unused.
            unsafe { unmap(base, len) };
            return Err(e.into());
        }
    }
    Ok(base)
}

/// Replaces whole pages of a window with fresh zero pages of anonymous
/// memory: `mmap(ptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
/// MAP_NORESERVE, -1, 0)`. A reader racing it sees the old page or zeros,
/// never a fault.
///
/// # Safety
/// `ptr..ptr + len` is page-aligned and inside a window of ours.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mmap.2.html)
pub(crate) unsafe fn zero_pages(ptr: *mut u8, len: usize, writable: bool) -> io::Result<()> {
    let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE;
    let prot = if writable {
        ProtFlags::READ | ProtFlags::WRITE
    } else {
        ProtFlags::READ
    };
    // SAFETY: forwarded from the caller; the range stays mapped throughout.
    unsafe { rustix::mm::mmap_anonymous(ptr.cast(), len, prot, flags)? };
    Ok(())
}

/// `munmap(ptr, len)`.
///
/// # Safety
/// `ptr..ptr + len` is a mapping made by [`map_shared`] that nothing will
/// touch again.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/munmap.2.html)
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees the range is ours and unused. munmap of a
    // valid mapping cannot fail, and there is nothing to do if it did.
    let _ = unsafe { rustix::mm::munmap(ptr.as_ptr().cast(), len) };
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_SIZE).stx_size`, or
/// `fstat(fd).st_size` where `statx` is missing.
///
/// Only the size: a query of the change time (which `fstat` makes) tells a
/// file system with fine-grained timestamps (Linux 6.13 and later) that
/// someone watches them, and the next write then updates them and writes
/// the inode, which made each 4 KiB `pwrite` after an `fstat` cost a sixth
/// more here.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/statx.2.html)
///  - [Linux](https://man7.org/linux/man-pages/man2/fstat.2.html)
pub(crate) fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    use rustix::fs::{AtFlags, StatxFlags};
    match rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::SIZE) {
        Ok(stat) if stat.stx_mask & StatxFlags::SIZE.bits() != 0 => Ok(stat.stx_size),
        _ => Ok(rustix::fs::fstat(fd)?.st_size as u64),
    }
}

/// What `fstat` says about a file that decides whether it can be mapped.
pub(crate) struct FileIdentity {
    /// `(st_dev, st_ino)`: the same for every open of one file.
    pub(crate) key: (u64, u64),
    /// Whether it is a regular file.
    pub(crate) regular: bool,
}

/// `fstat(fd)`: the file's identity and type.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fstat.2.html)
pub(crate) fn identify(fd: BorrowedFd<'_>) -> io::Result<FileIdentity> {
    let st = rustix::fs::fstat(fd)?;
    Ok(FileIdentity {
        key: (st.st_dev as u64, st.st_ino as u64),
        regular: FileType::from_raw_mode(st.st_mode) == FileType::RegularFile,
    })
}

/// How an open file description may be used: `fcntl(fd, F_GETFL)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    /// Opened for reading.
    pub(crate) read: bool,
    /// Opened for writing.
    pub(crate) write: bool,
    /// Opened with `O_APPEND`.
    pub(crate) append: bool,
    /// Opened with `O_SYNC` or `O_DSYNC`: a write is durable when it returns.
    pub(crate) sync: bool,
    /// Opened with `O_DIRECT`: I/O bypasses the page cache, with its
    /// alignment rules.
    pub(crate) direct: bool,
}

/// `fcntl(fd, F_GETFL)`: the access mode, `O_APPEND`, `O_SYNC`/`O_DSYNC` and
/// `O_DIRECT`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn access(fd: BorrowedFd<'_>) -> io::Result<Access> {
    use rustix::fs::OFlags;
    let flags = rustix::fs::fcntl_getfl(fd)?;
    let mode = flags & OFlags::RWMODE;
    Ok(Access {
        read: mode == OFlags::RDONLY || mode == OFlags::RDWR,
        write: mode == OFlags::WRONLY || mode == OFlags::RDWR,
        append: flags.contains(OFlags::APPEND),
        sync: flags.intersects(OFlags::SYNC | OFlags::DSYNC),
        direct: direct_flag(flags),
    })
}

/// `getrlimit(RLIMIT_FSIZE)`: the largest file this process may write, past
/// which a write raises SIGXFSZ. Growth never allocates beyond it, so that
/// only a write that `File` would also refuse meets the limit.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/getrlimit.2.html)
pub(crate) fn file_size_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Fsize)
        .current
        .unwrap_or(u64::MAX)
}

/// `lseek(fd, offset, SEEK_SET)`: lets the kernel judge an offset past the
/// end of the file against the file system's largest file.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/lseek.2.html)
pub(crate) fn seek_to(fd: BorrowedFd<'_>, offset: u64) -> io::Result<u64> {
    Ok(rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(offset))?)
}

/// `lseek(fd, 0, SEEK_CUR)`: the description's file offset.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/lseek.2.html)
pub(crate) fn tell(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(rustix::fs::tell(fd)?)
}

/// `ftruncate(fd, len)`.
///
/// # References
///  - [POSIX](https://pubs.opengroup.org/onlinepubs/9799919799/functions/ftruncate.html)
pub(crate) fn truncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    Ok(rustix::fs::ftruncate(fd, len)?)
}

/// `fallocate(fd, 0, offset, len)`: allocates the blocks of
/// `offset..offset + len`, extending the file if that runs past its end.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fallocate.2.html)
pub(crate) fn allocate(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    Ok(rustix::fs::fallocate(
        fd,
        rustix::fs::FallocateFlags::empty(),
        offset,
        len,
    )?)
}

/// `pread(fd, buf, offset)`: the path for bytes the mapping cannot serve.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/pread.2.html)
pub(crate) fn pread(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    offset: u64,
) -> io::Result<usize> {
    let (init, _) = rustix::io::pread(fd, buf, offset)?;
    Ok(init.len())
}

/// `pwritev(fd, bufs, offset)`: the path for bytes the mapping cannot take.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/pwritev.2.html)
pub(crate) fn pwritev(
    fd: BorrowedFd<'_>,
    bufs: &[io::IoSlice<'_>],
    offset: u64,
) -> io::Result<usize> {
    Ok(rustix::io::pwritev(fd, bufs, offset)?)
}

/// `pwritev2(fd, bufs, offset, RWF_NOAPPEND)`: `pwritev` at `offset` even
/// on an `O_APPEND` descriptor (Linux 6.9 and later; before, `EOPNOTSUPP`).
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/pwritev2.2.html)
pub(crate) fn pwritev_at(
    fd: BorrowedFd<'_>,
    bufs: &[io::IoSlice<'_>],
    offset: u64,
) -> io::Result<usize> {
    /// `RWF_NOAPPEND`, which rustix does not name yet.
    const NOAPPEND: u32 = 0x20;
    let flags = rustix::io::ReadWriteFlags::from_bits_retain(NOAPPEND);
    Ok(rustix::io::pwritev2(fd, bufs, offset, flags)?)
}

/// The error `File` reports for a call its open mode forbids: `EBADF`.
pub(crate) fn bad_fd() -> io::Error {
    Errno::BADF.into()
}

/// The error `File` reports for an offset out of range: `EINVAL`.
pub(crate) fn invalid() -> io::Error {
    Errno::INVAL.into()
}

/// `sendfile(out, fd, &offset, count)`: moves file bytes to `out` inside the
/// kernel. `offset` advances by the bytes sent; the descriptor's own offset
/// does not move. `Unsupported` where the platform or `out` cannot take it.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/sendfile.2.html)
pub(crate) fn sendfile(
    out: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    loop {
        match rustix::fs::sendfile(out, fd, Some(offset), count) {
            Err(Errno::INTR) => continue,
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                return Err(io::ErrorKind::Unsupported.into());
            }
            other => return Ok(other?),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (out, fd, offset, count);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// `madvise(ptr, len, advice)`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/madvise.2.html)
pub(crate) fn advise(ptr: *mut u8, len: usize, advice: crate::Advice) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `ptr..ptr + len` lies in one of our shared file mappings, and
    // `Advice` offers only advice that leaves its bytes as they are.
    unsafe {
        rustix::mm::madvise(ptr.cast(), len, advice.to_rustix()).map_err(Into::into)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (ptr, len, advice);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// `madvise(MADV_POPULATE_WRITE)` over the whole pages inside `buf`: backs
/// them with memory in one system call rather than a page fault per page
/// when they are first written. Best effort: where the advice is unknown
/// (before Linux 5.14) the pages fault in as usual.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/madvise.2.html)
pub(crate) fn prefault_for_write(buf: &mut [MaybeUninit<u8>]) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let page = page_size();
        let start = buf.as_mut_ptr() as usize;
        let first = start.next_multiple_of(page);
        let end = (start + buf.len()) / page * page;
        if end > first {
            // SAFETY: `first..end` lies inside `buf`, which we hold
            // exclusively; populating changes no byte of it.
            let _ = unsafe {
                rustix::mm::madvise(
                    first as *mut std::ffi::c_void,
                    end - first,
                    rustix::mm::Advice::LinuxPopulateWrite,
                )
            };
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = buf;
}

/// `msync(ptr, len, MS_SYNC or MS_ASYNC)`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/msync.2.html)
pub(crate) fn sync_pages(ptr: *mut u8, len: usize, wait: bool) -> io::Result<()> {
    let flags = if wait {
        rustix::mm::MsyncFlags::SYNC
    } else {
        rustix::mm::MsyncFlags::ASYNC
    };
    // SAFETY: `ptr..ptr + len` lies in one of our mappings; msync does not
    // change memory.
    unsafe { rustix::mm::msync(ptr.cast(), len, flags) }.map_err(Into::into)
}

/// `sync_file_range(fd, offset, len, SYNC_FILE_RANGE_WRITE)` on Linux, where
/// `msync(MS_ASYNC)` is a no-op; `msync(MS_ASYNC)` elsewhere. `ptr..ptr + len`
/// maps the file from `offset`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/sync_file_range.2.html)
pub(crate) fn start_writeback(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    offset: u64,
) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let _ = ptr;
        let page = page_size() as u64;
        let start = offset / page * page;
        // SAFETY: a plain system call on a valid descriptor.
        let rc = unsafe {
            libc::sync_file_range(
                fd.as_raw_fd(),
                start as i64,
                len as i64,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (fd, offset);
        sync_pages(ptr, len, false)
    }
}

/// `mlock(ptr, len)`, with `RLIMIT_MEMLOCK` named in the error.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mlock.2.html)
pub(crate) fn lock_pages(ptr: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: `ptr..ptr + len` lies in one of our mappings, within the file.
    match unsafe { rustix::mm::mlock(ptr.cast(), len) } {
        Ok(()) => Ok(()),
        Err(e @ (Errno::NOMEM | Errno::PERM | Errno::AGAIN)) => {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock).current;
            let limit = limit.map_or("unlimited".to_string(), |l| format!("{l} bytes"));
            Err(io::Error::new(
                io::Error::from(e).kind(),
                format!("mlock of {len} bytes refused ({e}); RLIMIT_MEMLOCK is {limit}"),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `munlock(ptr, len)`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/munlock.2.html)
pub(crate) fn unlock_pages(ptr: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: `ptr..ptr + len` lies in one of our mappings.
    unsafe { rustix::mm::munlock(ptr.cast(), len) }.map_err(Into::into)
}

/// `mprotect(ptr, len, PROT_READ[|PROT_WRITE])`.
///
/// # Safety
/// `ptr..ptr + len` is one of our mappings, and nothing writes it while it
/// is read-only.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mprotect.2.html)
pub(crate) unsafe fn protect(ptr: NonNull<u8>, len: usize, writable: bool) -> io::Result<()> {
    use rustix::mm::MprotectFlags;
    let flags = if writable {
        MprotectFlags::READ | MprotectFlags::WRITE
    } else {
        MprotectFlags::READ
    };
    // SAFETY: forwarded from the caller.
    unsafe { rustix::mm::mprotect(ptr.as_ptr().cast(), len, flags) }.map_err(Into::into)
}

/// `memfd_create("mmapfile", MFD_CLOEXEC)` on Linux; elsewhere a file
/// created and unlinked at once in the temporary directory.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub(crate) fn anonymous_file() -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(rustix::fs::memfd_create(
            "mmapfile",
            rustix::fs::MemfdFlags::CLOEXEC,
        )?)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            ".mmapfile-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(file.into())
    }
}

/// Whether `flags` include `O_DIRECT`, where the platform has it.
fn direct_flag(flags: rustix::fs::OFlags) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        flags.contains(rustix::fs::OFlags::DIRECT)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let _ = flags;
        false
    }
}

/// `fcntl(fd, F_GET_SEALS)`: the seals of a memfd or shmem file, `None` for
/// a file that cannot be sealed.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn seals(fd: BorrowedFd<'_>) -> Option<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::fs::fcntl_get_seals(fd).ok().map(|s| s.bits())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = fd;
        None
    }
}

/// `F_SEAL_SEAL`: no more seals can be added.
pub(crate) const SEAL_SEAL: u32 = 0x0001;

/// `mmap(ptr, len, prot, MAP_SHARED | MAP_FIXED, fd, offset)`: maps the file
/// again over `ptr..ptr + len`, which maps `offset..` of it.
///
/// # Safety
/// `ptr..ptr + len` is page-aligned and lies inside a window of ours that
/// maps the file from offset `offset` at `ptr`; concurrent readers see the
/// old or the new page.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/mmap.2.html)
pub(crate) unsafe fn remap_file(
    ptr: *mut u8,
    len: usize,
    fd: BorrowedFd<'_>,
    offset: u64,
    writable: bool,
) -> io::Result<()> {
    let prot = if writable {
        ProtFlags::READ | ProtFlags::WRITE
    } else {
        ProtFlags::READ
    };
    // SAFETY: forwarded from the caller; MAP_FIXED replaces only our pages.
    unsafe {
        rustix::mm::mmap(
            ptr.cast(),
            len,
            prot,
            MapFlags::SHARED | MapFlags::FIXED,
            fd,
            offset,
        )?
    };
    Ok(())
}

/// `writev(fd, bufs)`: a write at the description's file offset (or, with
/// `O_APPEND`, at the end, atomically), which it advances.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/writev.2.html)
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    Ok(rustix::io::writev(fd, bufs)?)
}

/// The kind of a file lease: `F_RDLCK` or `F_WRLCK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaseKind {
    /// `F_RDLCK`: broken when anyone opens the file for writing or
    /// truncates it.
    Read,
    /// `F_WRLCK`: broken when anyone opens or truncates the file.
    Write,
}

/// `fcntl(F_SETSIG, sig)`, `fcntl(F_SETOWN_EX, F_OWNER_TID, tid)`, then
/// `fcntl(F_SETLEASE, kind)`: takes a lease whose break is signalled with
/// `sig` to thread `tid` alone. In this order, because the lease takes the
/// caller's process as its owner unless one is set, and a break signalled
/// to the process would be `SIGIO`, which kills it by default. On failure
/// the owner and signal are cleared again.
///
/// # References
///  - [Linux leases](https://man7.org/linux/man-pages/man2/F_SETLEASE.2const.html)
///  - [Linux F_SETOWN_EX](https://man7.org/linux/man-pages/man2/F_GETOWN_EX.2const.html)
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn take_lease(
    fd: BorrowedFd<'_>,
    kind: LeaseKind,
    tid: i32,
    sig: i32,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// `F_SETSIG`, `F_SETOWN_EX` and `F_OWNER_TID` (asm-generic/fcntl.h),
    /// which libc does not name for glibc.
    const F_SETSIG: i32 = 10;
    const F_SETOWN_EX: i32 = 15;
    const F_OWNER_TID: i32 = 0;
    #[repr(C)]
    struct OwnerEx {
        kind: i32,
        pid: i32,
    }
    let raw = fd.as_raw_fd();
    let owner = OwnerEx {
        kind: F_OWNER_TID,
        pid: tid,
    };
    let lease = match kind {
        LeaseKind::Read => libc::F_RDLCK,
        LeaseKind::Write => libc::F_WRLCK,
    };
    // SAFETY: plain fcntl calls on a descriptor we own; `owner` outlives the
    // call that reads it.
    let ok = unsafe {
        libc::fcntl(raw, F_SETSIG, sig) == 0
            && libc::fcntl(raw, F_SETOWN_EX, &owner as *const OwnerEx) == 0
            && libc::fcntl(raw, libc::F_SETLEASE, lease) == 0
    };
    if ok {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    // SAFETY: as above; clearing the owner and signal cannot fail on a
    // valid descriptor.
    unsafe {
        libc::fcntl(raw, libc::F_SETOWN, 0);
        libc::fcntl(raw, F_SETSIG, 0);
    }
    Err(err)
}

/// `fcntl(fd, F_GETLEASE)`: the lease the description holds, `None` for
/// none or one being broken (the kernel then reports what it is being
/// broken to).
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/F_GETLEASE.2const.html)
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn lease(fd: BorrowedFd<'_>) -> Option<LeaseKind> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain fcntl call on a descriptor we own.
    match unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLEASE) } {
        libc::F_RDLCK => Some(LeaseKind::Read),
        libc::F_WRLCK => Some(LeaseKind::Write),
        _ => None,
    }
}

/// `fcntl(fd, F_SETLEASE, F_UNLCK)`: gives a lease up, which lets an open
/// waiting on its break go ahead. It also clears the owner and signal.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/F_SETLEASE.2const.html)
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn release_lease(fd: BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain fcntl call on a descriptor we own. It fails only for
    // a description without a lease, which is then what we want.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
}

/// `gettid()`: the calling thread's id.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/gettid.2.html)
pub(crate) fn thread_id() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// `pwritev_at` writes where it is told on an `O_APPEND` descriptor, or
    /// says `EOPNOTSUPP` (before Linux 6.9) and writes nothing.
    #[test]
    fn pwritev_at_ignores_o_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        match pwritev_at(file.as_fd(), &[io::IoSlice::new(b"J")], 0) {
            Ok(1) => assert_eq!(std::fs::read(&path).unwrap(), b"Jello"),
            Err(e) if e.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error()) => {
                assert_eq!(std::fs::read(&path).unwrap(), b"hello");
            }
            other => panic!("{other:?}"),
        }
    }
}
