//! Probes for what a user-mode emulator (qemu-user, which runs the aarch64
//! suite in CI) answers differently from the kernel. Each probe works on
//! memory and files of the test's own, never through the crate, and says
//! why a check cannot be made here, so that a test that depends on it can
//! skip that check saying so; `None` where the kernel's behaviour holds, as
//! on any real machine.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::ptr;

/// `sysconf(_SC_PAGESIZE)`.
fn page() -> usize {
    // SAFETY: a plain libc query.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// The `VmFlags` of the `/proc/self/smaps` entry that holds `addr`, or
/// `None` where there is none.
fn vm_flags_at(addr: usize) -> Option<Vec<String>> {
    let text = fs::read_to_string("/proc/self/smaps").ok()?;
    let mut found = false;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && !first.ends_with(':')
        {
            let range = usize::from_str_radix(start, 16)
                .and_then(|start| usize::from_str_radix(end, 16).map(|end| start..end));
            found = range.is_ok_and(|r| r.contains(&addr));
        } else if found && let Some(flags) = line.strip_prefix("VmFlags:") {
            return Some(flags.split_whitespace().map(str::to_string).collect());
        }
    }
    None
}

/// Why `madvise` advice cannot be observed here: where `madvise` returns 0
/// without applying it (qemu-user 7.2 ignores all advice but
/// `MADV_DONTNEED`), or `/proc/self/smaps` does not describe this process's
/// own mappings. Probed with `MADV_RANDOM` on anonymous memory, which must
/// then show `rr` in its `VmFlags`.
pub fn advice_ignored() -> Option<String> {
    let len = 4 * page();
    // SAFETY: fresh anonymous memory of our own, unmapped below.
    unsafe {
        let p = libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let rc = libc::madvise(p, len, libc::MADV_RANDOM);
        let flags = vm_flags_at(p as usize);
        libc::munmap(p, len);
        match flags {
            _ if rc != 0 => None, // a refusal the test will report itself
            None => Some(
                "/proc/self/smaps has no entry for a mapping of this process's own \
                 (an emulator's view of it)"
                    .into(),
            ),
            Some(f) if !f.iter().any(|f| f == "rr") => Some(format!(
                "madvise(MADV_RANDOM) returned 0 but the mapping's VmFlags are {f:?}, without \
                 rr: madvise is not applied here (qemu-user 7.2 ignores it)"
            )),
            Some(_) => None,
        }
    }
}

/// Why a private file mapping cannot be made a copy of its own with
/// `MADV_POPULATE_WRITE` here: where the call returns 0 but leaves the
/// pages shared with the file, so that a later write to the file shows
/// through (qemu-user 7.2 ignores it). `None` where it works, and where
/// the kernel refuses it (before Linux 5.14): that the test reports.
pub fn populate_write_ignored() -> Option<String> {
    let len = page();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&vec![b'a'; len]).unwrap();
    // SAFETY: a fresh private mapping of our own file, unmapped below; the
    // read is volatile, as the file changes under it.
    unsafe {
        let p = libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let rc = libc::madvise(p, len, libc::MADV_POPULATE_WRITE);
        file.write_all_at(b"b", 0).unwrap();
        let seen = ptr::read_volatile(p.cast::<u8>());
        libc::munmap(p, len);
        (rc == 0 && seen == b'b').then(|| {
            "madvise(MADV_POPULATE_WRITE) returned 0 but a private file mapping still shows \
             the file's later writes: it is not applied here (qemu-user 7.2 ignores it)"
                .into()
        })
    }
}

/// A line of `/proc/self/status`, in kB.
fn status_kb(key: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The memory (in KiB) that reserving 1 GiB of address space costs here,
/// if that is more than 1 MiB: nothing on Linux (`PROT_NONE`,
/// `MAP_NORESERVE`), some 6 MiB under qemu-user 7.2, which keeps a
/// descriptor for every page of every guest mapping and never frees them.
pub fn reservation_cost_kib() -> Option<u64> {
    const GIB: usize = 1 << 30;
    let before = status_kb("VmRSS");
    // SAFETY: fresh inaccessible address space of our own, unmapped below.
    unsafe {
        let p = libc::mmap(
            ptr::null_mut(),
            GIB,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let during = status_kb("VmRSS");
        libc::munmap(p, GIB);
        let cost = during.saturating_sub(before);
        (cost > 1024).then_some(cost)
    }
}

/// Why `VmSize` in `/proc/self/status` does not measure this process's
/// mappings here: where it exceeds the sum of the ranges in
/// `/proc/self/maps` by more than 64 MiB, which on Linux it never does
/// (both count every mapping; `VmSize` leaves out `[vsyscall]`). Under
/// qemu-user, `maps` shows the guest's mappings and `VmSize` the
/// emulator's whole process, with its code cache and page tables.
pub fn vmsize_beyond_mappings() -> Option<String> {
    let vm_size = status_kb("VmSize");
    let mapped = mapped_kib();
    (vm_size > mapped + (64 << 10)).then(|| {
        format!(
            "VmSize is {vm_size} KiB but /proc/self/maps holds {mapped} KiB: VmSize counts \
             memory outside this process's mappings (an emulator's own)"
        )
    })
}

/// The sum of the ranges in `/proc/self/maps`, in KiB.
pub fn mapped_kib() -> u64 {
    fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (start, end) = l.split_whitespace().next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            Some((end - start) / 1024)
        })
        .sum()
}

/// Why a vectored call with no buffers on a descriptor not open for it
/// does not show `File`'s kernel result here: `writev(fd, [], 0)` on a
/// read-only descriptor is `EBADF` on Linux, but 0 under qemu-user, which
/// answers an empty vector without making the call.
pub fn empty_iovec_answered() -> Option<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    let ro = fs::File::open(file.path()).unwrap();
    // SAFETY: an empty vector: nothing is read through the pointer.
    let rc = unsafe { libc::writev(ro.as_raw_fd(), ptr::null(), 0) };
    (rc == 0).then(|| {
        "writev with no buffers on a read-only descriptor returned 0, not EBADF: this system \
         answers an empty vector without the kernel (qemu-user does)"
            .into()
    })
}
