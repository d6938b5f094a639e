//! Issue 11, row 12, and "What must hold" item 7: a sent SIGBUS arriving
//! while a thread is inside a read acts as a sent signal, as with `File`:
//! with the default disposition the process dies of it; with a user's
//! handler the handler runs (counted), the interrupted read completes with
//! the right bytes (the kernel retries its copy after the fault is resolved
//! and runs the handler on the way out) and reads keep working; with std's
//! handler the first one is survived and resets the disposition to the
//! default, so the second kills. (MmapFile today: a sent SIGBUS inside its
//! copy routine is taken for a fault and swallowed: the process lives, the
//! user's handler never runs.) In a pair of child processes per
//! disposition, one per world (`common::sigbus`).
//!
//! Made deterministic with `userfaultfd`: the read's destination buffer is
//! a page registered for missing-page faults, so the reading thread blocks
//! inside the copy (in the kernel's `pread` for `File`, at an instruction
//! of the crate's copy routine for `MmapFile`) until the test resolves the
//! fault. The signal is sent while it is blocked there, before the fault is
//! resolved; the test knows it is blocked because the fault's event
//! arrived. No sleeping, no race.

// Unix only: child processes, SIGBUS, libc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use mmapfile::MmapFile;

mod common;
use common::outsider::{Opts, Twin, outcome};
use common::pattern::{pat, pattern_file};
use common::sigbus::{FILE_LEN, assert_mapped, child_or_parent, compare_worlds, report};

/// The uapi of userfaultfd(2), which libc does not have.
mod uffd {
    #[repr(C)]
    pub struct Api {
        pub api: u64,
        pub features: u64,
        pub ioctls: u64,
    }
    #[repr(C)]
    pub struct Range {
        pub start: u64,
        pub len: u64,
    }
    #[repr(C)]
    pub struct Register {
        pub range: Range,
        pub mode: u64,
        pub ioctls: u64,
    }
    #[repr(C)]
    pub struct Copy {
        pub dst: u64,
        pub src: u64,
        pub len: u64,
        pub mode: u64,
        pub copy: i64,
    }
    /// `struct uffd_msg`: the event, then for a page fault its flags and
    /// address.
    #[repr(C)]
    pub struct Msg {
        pub event: u8,
        pub reserved: [u8; 7],
        pub flags: u64,
        pub address: u64,
        pub rest: u64,
    }
    pub const API: u64 = 0xaa;
    pub const EVENT_PAGEFAULT: u8 = 0x12;
    pub const MODE_MISSING: u64 = 1;
    /// `_IOWR(0xAA, nr, size)`.
    const fn iowr(nr: u64, size: usize) -> u64 {
        (3 << 30) | ((size as u64) << 16) | (0xaa << 8) | nr
    }
    pub const IOC_API: u64 = iowr(0x3f, size_of::<Api>());
    pub const IOC_REGISTER: u64 = iowr(0x00, size_of::<Register>());
    pub const IOC_COPY: u64 = iowr(0x03, size_of::<Copy>());
}

/// A page of anonymous memory registered with a userfaultfd: the first
/// touch of it blocks until [`Trap::release`].
struct Trap {
    uffd: OwnedFd,
    page: *mut u8,
    source: Vec<u8>,
}

// SAFETY: the page is plain memory; the test hands it to one reader thread
// at a time and joins it before touching the page again.
unsafe impl Send for Trap {}
// SAFETY: as for `Send`: the page is used by one thread at a time, and the
// descriptor's calls are thread-safe.
unsafe impl Sync for Trap {}

const PAGE: usize = 4096;

impl Trap {
    fn new() -> Result<Trap, String> {
        // SAFETY: userfaultfd(2) with flags; a negative result is an error.
        let fd =
            unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if fd < 0 {
            return Err(format!("userfaultfd: {}", io::Error::last_os_error()));
        }
        // SAFETY: the descriptor userfaultfd just returned.
        let uffd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut api = uffd::Api {
            api: uffd::API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API with a valid `uffdio_api`.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), uffd::IOC_API, &mut api) } != 0 {
            return Err(format!("UFFDIO_API: {}", io::Error::last_os_error()));
        }
        // SAFETY: fresh anonymous memory, ours alone.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        let mut reg = uffd::Register {
            range: uffd::Range {
                start: page as u64,
                len: PAGE as u64,
            },
            mode: uffd::MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER of our own page with a valid struct.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), uffd::IOC_REGISTER, &mut reg) } != 0 {
            return Err(format!("UFFDIO_REGISTER: {}", io::Error::last_os_error()));
        }
        Ok(Trap {
            uffd,
            page: page.cast(),
            source: vec![0x5a; PAGE],
        })
    }

    /// Waits until a thread faults on the page (or `done` becomes readable:
    /// the reader finished without faulting). True if it faulted.
    fn wait_for_fault(&self, done: &File) -> bool {
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.uffd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: done.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll on two valid descriptors, no timeout.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if rc < 0 {
                assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EINTR));
                continue;
            }
            if fds[0].revents & libc::POLLIN != 0 {
                if let Some(msg) = self.read_event() {
                    assert_eq!(msg.event, uffd::EVENT_PAGEFAULT);
                    return true;
                }
                continue;
            }
            return false;
        }
    }

    fn read_event(&self) -> Option<uffd::Msg> {
        // SAFETY: all-zero is a valid `Msg`.
        let mut msg: uffd::Msg = unsafe { std::mem::zeroed() };
        // SAFETY: reads at most one message into `msg`.
        let n = unsafe {
            libc::read(
                self.uffd.as_raw_fd(),
                (&mut msg as *mut uffd::Msg).cast(),
                size_of::<uffd::Msg>(),
            )
        };
        (n == size_of::<uffd::Msg>() as isize).then_some(msg)
    }

    /// Resolves the fault: the page gets contents and the blocked thread
    /// goes on.
    fn release(&self) {
        let mut copy = uffd::Copy {
            dst: self.page as u64,
            src: self.source.as_ptr() as u64,
            len: PAGE as u64,
            mode: 0,
            copy: 0,
        };
        // SAFETY: UFFDIO_COPY into our registered page from our buffer.
        let rc = unsafe { libc::ioctl(self.uffd.as_raw_fd(), uffd::IOC_COPY, &mut copy) };
        let e = io::Error::last_os_error();
        assert!(
            rc == 0 || e.raw_os_error() == Some(libc::EEXIST),
            "UFFDIO_COPY: {e}"
        );
    }

    /// Makes the page missing again, and drops stale events.
    fn rearm(&self) {
        // SAFETY: our own anonymous page, not in use by any thread now.
        unsafe { libc::madvise(self.page.cast(), PAGE, libc::MADV_DONTNEED) };
        while self.read_event().is_some() {}
    }

    /// The page as a buffer.
    ///
    /// # Safety
    /// Only one thread uses it at a time.
    #[allow(clippy::mut_from_ref)]
    unsafe fn buf(&self) -> &mut [u8] {
        // SAFETY: the page is ours and mapped; the caller keeps it unshared.
        unsafe { std::slice::from_raw_parts_mut(self.page, PAGE) }
    }
}

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_sigbus(_sig: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// How the disposition of SIGBUS is set before anything else happens.
fn set_disposition(how: &str) {
    // SAFETY: sigaction with a valid struct; the handler only bumps an
    // atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_sigaction = match how {
            "default" => libc::SIG_DFL,
            "user handler" => count_sigbus as *const () as usize,
            "std's handler" => return,
            other => panic!("unknown disposition {other}"),
        };
        assert_eq!(
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()),
            0
        );
    }
}

const ROUNDS: usize = 3;

fn row12_child<T: Twin + Send + Sync + 'static>(how: &str) {
    set_disposition(how);
    let trap = match Trap::new() {
        Ok(t) => t,
        Err(why) => return report(format!("SKIP {why}")),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    pattern_file(&path, 8 * FILE_LEN);
    let h = T::open_with(&Opts::rw(), &path).unwrap();
    let mut warm = vec![0; 4096];
    h.read_exact_at(&mut warm, 0).unwrap();
    assert_mapped(&h);
    for round in 1..=ROUNDS {
        let offset = (round * 1_000_003) as u64;
        let (done_rx, mut done_tx) = pipe();
        let (id_tx, id_rx) = std::sync::mpsc::channel();
        let result = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                // SAFETY: pthread_self has no preconditions.
                id_tx.send(unsafe { libc::pthread_self() }).unwrap();
                // SAFETY: the main thread does not touch the page until
                // this thread is joined.
                let buf = unsafe { trap.buf() };
                let r = h.read_at(buf, offset);
                let n = *r.as_ref().unwrap_or(&0);
                let right = buf[..n].iter().zip(offset..).all(|(&b, o)| b == pat(o));
                let _ = io::Write::write_all(&mut done_tx, b"d");
                format!("{} (bytes right: {right})", outcome(&r))
            });
            if !trap.wait_for_fault(&done_rx) {
                return format!("the read did not fault on the trap: {:?}", reader.join());
            }
            report(format!(
                "round {round}: reader blocked inside read_at; sending SIGBUS"
            ));
            let id = id_rx.recv().unwrap();
            // SAFETY: the reader thread is alive (blocked in its read) until
            // joined below.
            let rc = unsafe { libc::pthread_kill(id, libc::SIGBUS) };
            assert_eq!(rc, 0);
            trap.release();
            reader.join().unwrap()
        });
        report(format!(
            "round {round}: the interrupted read_at gave {result}; user handler ran {} times",
            HANDLED.load(Ordering::SeqCst)
        ));
        trap.rearm();
        let mut buf = vec![0u8; 100_000];
        let r = h.read_at(&mut buf, offset);
        let right = buf.iter().zip(offset..).all(|(&b, o)| b == pat(o));
        report(format!(
            "round {round}: the next read_at: {} (bytes right: {right})",
            outcome(&r)
        ));
    }
}

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned these descriptors.
    unsafe {
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

/// Row 12, for each disposition of SIGBUS: the default, a user's counting
/// handler (installed before any MmapFile), and std's own handler.
#[test]
fn a_sent_sigbus_inside_a_read_acts_as_a_sent_signal() {
    const TEST: &str = "a_sent_sigbus_inside_a_read_acts_as_a_sent_signal";
    let Some(mut diffs) = child_or_parent(TEST, row12_child::<File>, row12_child::<MmapFile>)
    else {
        return;
    };
    for how in ["default", "user handler", "std's handler"] {
        let Some(file) = compare_worlds(&mut diffs, TEST, how) else {
            continue;
        };
        let expected = match how {
            "default" | "std's handler" => "killed by SIGBUS",
            _ => "exited 0",
        };
        assert_eq!(file.fate, expected, "File itself, {how}: {file:?}");
    }
    diffs.check("a sent SIGBUS while a thread is inside a read");
}
