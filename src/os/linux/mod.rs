//! Linux, where the crate maps files: thin wrappers over the system calls
//! it makes, on files here, on memory in [`memory`], for file leases in
//! [`lease`](mod@lease); and the SIGBUS handler, in [`fault`].
//!
//! Each function is one call (or one call with a documented fallback); the
//! policy of when to make them lives with the callers.

pub(crate) mod fault;
mod lease;
mod memory;

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;

use rustix::fs::FileType;
use rustix::io::Errno;

pub(crate) use lease::*;
pub(crate) use memory::*;

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
        direct: flags.contains(OFlags::DIRECT),
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

/// `fstatfs(fd)`: whether the file is on tmpfs, whose `fallocate` puts
/// zeroed pages in the page cache rather than reserving blocks.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fstatfs.2.html)
pub(crate) fn on_tmpfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    /// `TMPFS_MAGIC` in `<linux/magic.h>`.
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    Ok(rustix::fs::fstatfs(fd)?.f_type as u64 == TMPFS_MAGIC)
}

/// `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0)`: lets this
/// process use [`membarrier`].
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/membarrier.2.html)
pub(crate) fn membarrier_register() -> io::Result<()> {
    use rustix::thread::{MembarrierCommand, membarrier};
    Ok(membarrier(MembarrierCommand::RegisterPrivateExpedited)?)
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0)`: a full memory
/// barrier on every running thread of this process.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/membarrier.2.html)
pub(crate) fn membarrier() -> io::Result<()> {
    use rustix::thread::{MembarrierCommand, membarrier};
    Ok(membarrier(MembarrierCommand::PrivateExpedited)?)
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
/// Where `pwritev2` itself is missing (`ENOSYS`: Linux before 4.6, and
/// emulators such as qemu 7.2's user mode) it writes nothing either, and
/// says `EOPNOTSUPP` too.
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
    match rustix::io::pwritev2(fd, bufs, offset, flags) {
        Err(Errno::NOSYS) => Err(Errno::OPNOTSUPP.into()),
        other => Ok(other?),
    }
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
    loop {
        match rustix::fs::sendfile(out, fd, Some(offset), count) {
            Err(Errno::INTR) => continue,
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                return Err(io::ErrorKind::Unsupported.into());
            }
            other => return Ok(other?),
        }
    }
}

/// `write(out, buf, len)`, retried on `EINTR`: the bytes a mapping holds,
/// copied by the kernel. `EFAULT` where the first page of `buf` faults; a
/// short count where a later one does.
///
/// Not rustix's `write`, which takes a `&[u8]`: that would assert that
/// nobody changes the bytes while the call runs, and other threads may
/// write the mapping meanwhile (see [`crate::copy`]).
///
/// # Safety
/// `buf` is valid for reads of `len` bytes, apart from pages that fault
/// (a mapping past the end of its file): the kernel's copy reports them.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/write.2.html)
pub(crate) unsafe fn write_from(
    out: BorrowedFd<'_>,
    buf: *const u8,
    len: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: forwarded from the caller; the kernel only reads `buf`.
        let n = unsafe { libc::write(out.as_raw_fd(), buf.cast(), len) };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Whether `fd` is a Unix-domain stream socket: `getsockopt(fd,
/// SOL_SOCKET, SO_DOMAIN)`, then, for a Unix-domain one, `SO_TYPE`.
/// `false` for anything else, and where either call fails (`ENOTSOCK` for
/// a file or a pipe): one call for all but Unix-domain sockets.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man7/socket.7.html)
///  - [Linux](https://man7.org/linux/man-pages/man2/getsockopt.2.html)
pub(crate) fn is_unix_stream(fd: BorrowedFd<'_>) -> bool {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    sockopt::socket_domain(fd).is_ok_and(|d| d == AddressFamily::UNIX)
        && sockopt::socket_type(fd).is_ok_and(|t| t == SocketType::STREAM)
}

/// `getsockopt(fd, SOL_SOCKET, SO_SNDBUF)`: the socket's send buffer, in
/// bytes (twice what `setsockopt` asked for: the kernel doubles it).
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn send_buffer_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    Ok(rustix::net::sockopt::socket_send_buffer_size(fd)?)
}

/// `memfd_create("mmapfile", MFD_CLOEXEC)`: a file in memory, for
/// `MmapFile::anonymous`.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub(crate) fn anonymous_file() -> io::Result<std::fs::File> {
    let fd = rustix::fs::memfd_create("mmapfile", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(fd.into())
}

/// `fcntl(fd, F_GET_SEALS)`: the seals of a memfd or shmem file, `None` for
/// a file that cannot be sealed.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn seals(fd: BorrowedFd<'_>) -> Option<u32> {
    rustix::fs::fcntl_get_seals(fd).ok().map(|s| s.bits())
}

/// `F_SEAL_SEAL`: no more seals can be added.
pub(crate) const SEAL_SEAL: u32 = 0x0001;

/// `writev(fd, bufs)`: a write at the description's file offset (or, with
/// `O_APPEND`, at the end, atomically), which it advances.
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/writev.2.html)
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    Ok(rustix::io::writev(fd, bufs)?)
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
