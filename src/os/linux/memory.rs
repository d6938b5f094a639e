//! The memory calls: mappings, advice, syncs, locks and protection.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

/// `sysconf(_SC_PAGESIZE)`: the size of a page of memory.
#[inline]
pub(crate) fn page_size() -> usize {
    // x86_64 Linux has 4 KiB base pages only; a constant keeps the read
    // path free of a call.
    if cfg!(target_arch = "x86_64") {
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

/// `madvise(ptr, len, advice)`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/madvise.2.html)
pub(crate) fn advise(ptr: *mut u8, len: usize, advice: crate::Advice) -> io::Result<()> {
    // SAFETY: `ptr..ptr + len` lies in one of our shared file mappings, and
    // `Advice` offers only advice that leaves its bytes as they are.
    unsafe { rustix::mm::madvise(ptr.cast(), len, rustix_advice(advice)).map_err(Into::into) }
}

/// `madvise(MADV_POPULATE_WRITE)` over the whole pages inside `buf`: backs
/// them with memory in one system call rather than a page fault per page
/// when they are first written. Best effort: where the advice is unknown
/// (before Linux 5.14) the pages fault in as usual.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/madvise.2.html)
pub(crate) fn prefault_for_write(buf: &mut [MaybeUninit<u8>]) {
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

/// `sync_file_range(fd, offset, len, SYNC_FILE_RANGE_WAIT_BEFORE |
/// SYNC_FILE_RANGE_WRITE)`, from the page holding `offset`: starts the
/// writeback that `msync(MS_ASYNC)`, a no-op on Linux, does not.
/// `SYNC_FILE_RANGE_WRITE` alone skips a page still being written back from
/// before, which stays dirty until the kernel's own writeback; waiting for
/// that first makes every dirty page's writeback start.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/sync_file_range.2.html)
pub(crate) fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let page = page_size() as u64;
    let start = offset / page * page;
    // SAFETY: a plain system call on a valid descriptor.
    let rc = unsafe {
        libc::sync_file_range(
            fd.as_raw_fd(),
            start as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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

/// The `madvise` advice for an [`Advice`](crate::Advice).
fn rustix_advice(advice: crate::Advice) -> rustix::mm::Advice {
    use rustix::mm::Advice as A;
    match advice {
        crate::Advice::Normal => A::Normal,
        crate::Advice::Random => A::Random,
        crate::Advice::Sequential => A::Sequential,
        crate::Advice::WillNeed => A::WillNeed,
        crate::Advice::DontNeed => A::LinuxDontNeed,
        crate::Advice::HugePage => A::LinuxHugepage,
        crate::Advice::NoHugePage => A::LinuxNoHugepage,
        crate::Advice::DontDump => A::LinuxDontDump,
        crate::Advice::DoDump => A::LinuxDoDump,
        crate::Advice::Cold => A::LinuxCold,
        crate::Advice::PageOut => A::LinuxPageOut,
        crate::Advice::PopulateRead => A::LinuxPopulateRead,
        crate::Advice::PopulateWrite => A::LinuxPopulateWrite,
    }
}
