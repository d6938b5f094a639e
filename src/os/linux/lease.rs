//! File leases (`fcntl(F_SETLEASE)` and friends), and the thread id they
//! are signalled to.

use std::io;
use std::os::fd::BorrowedFd;

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
