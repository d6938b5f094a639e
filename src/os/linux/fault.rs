//! The process-wide SIGBUS handler that turns a fault inside the copy
//! routine into a short copy (see [`crate::copy`]), and the check that
//! tells whether the calling thread could survive such a fault at all.
//!
//! The handler takes a SIGBUS for the copy routine's only when the kernel
//! raised it (`si_code > 0`: a page past the end of the file, or one the
//! disk could not back) at an instruction the fault table lists; it resumes
//! there at the entry's fixup.
//!
//! # The fault table
//! Every block of copy instructions, the out-of-line routine and each
//! inlined short copy alike, registers itself with `fixup_entry!`: three
//! 32-bit offsets in the section `mmapfile_fixups_v2` (the first
//! instruction that may fault, the one after the last, the fixup: in the
//! block, or for an inlined copy a label of its caller), each
//! relative to its own address so that the table needs no relocation at
//! load time. The linker gathers the entries of every block it keeps and
//! brackets them with `__start_`/`__stop_` symbols, as for Linux's
//! `__ex_table`; the section is marked retained (`R`) so that no linker
//! drops it as unreferenced. Two versions of this crate in one program
//! share the table, which is harmless: every entry is a correct fixup for
//! its own instructions, and the version in the name keeps a different
//! layout apart (`_v2` since fixups may lie outside their block, which
//! `_v1`'s check rejects). Everything else goes to the disposition that was
//! there before, run as the kernel would run it (with its `sa_mask`,
//! `SA_NODEFER` and `SA_RESETHAND`). If that handler changes the
//! disposition (std's resets it to the default for any SIGBUS that is not a
//! stack overflow), the change is taken as the new previous disposition and
//! ours is put back, so recovery stays armed and every other SIGBUS is
//! handled as the program asked.
//!
//! A thread that blocks SIGBUS cannot be saved: the kernel kills the
//! process for a fault it cannot deliver. [`sigbus_blocked`] lets the
//! callers use system calls instead in that case.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

/// Whether mapped I/O is available: the fault handler is installed (once
/// per process) and the copy routine can recover from SIGBUS. Where this is
/// false, `MmapFile` uses system calls for every file.
pub(crate) fn recovery() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(imp::install)
}

/// Whether the calling thread blocks SIGBUS, so that a fault in a mapping
/// would kill the process: `pthread_sigmask(SIG_BLOCK, NULL, &set)`.
///
/// # References
///  - [POSIX](https://pubs.opengroup.org/onlinepubs/9799919799/functions/pthread_sigmask.html)
pub(crate) fn sigbus_blocked() -> bool {
    // SAFETY: `set` is a valid out-pointer; a null `set` argument only reads
    // the mask.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, ptr::null(), set.as_mut_ptr());
        libc::sigismember(set.as_ptr(), libc::SIGBUS) == 1
    }
}

/// The SIGBUS disposition before ours, which our handler may replace when a
/// handler it chained to changed the disposition. Read in signal handlers
/// on any thread, so it is a sequence lock: readers retry a copy torn by a
/// writer; writers (rare: install, and a chained handler's change) take a
/// spin lock among themselves.
struct Previous {
    seq: AtomicUsize,
    writing: AtomicBool,
    action: UnsafeCell<MaybeUninit<libc::sigaction>>,
}

// SAFETY: `action` is only written under `writing`, between two increments
// of `seq`, and readers copy it and keep the copy only if `seq` was even
// and unchanged across the copy.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous {
    seq: AtomicUsize::new(0),
    writing: AtomicBool::new(false),
    action: UnsafeCell::new(MaybeUninit::zeroed()),
};

impl Previous {
    fn get(&self) -> libc::sigaction {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                // SAFETY: the slot always holds a plain-data `sigaction`
                // (zeroed at first); a torn copy is thrown away below.
                let copy = unsafe { ptr::read_volatile((*self.action.get()).as_ptr()) };
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return copy;
                }
            }
            std::hint::spin_loop();
        }
    }

    fn set(&self, action: &libc::sigaction) {
        while self.writing.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
        self.seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        // SAFETY: we hold `writing`; readers detect the odd sequence.
        unsafe { ptr::write_volatile((*self.action.get()).as_mut_ptr(), *action) };
        self.seq.fetch_add(1, Ordering::Release);
        self.writing.store(false, Ordering::Release);
    }
}

/// One entry of the fault table (see the module docs).
#[repr(C)]
struct Entry {
    start: i32,
    end: i32,
    fixup: i32,
}

unsafe extern "C" {
    #[link_name = "__start_mmapfile_fixups_v2"]
    static TABLE_START: [Entry; 0];
    #[link_name = "__stop_mmapfile_fixups_v2"]
    static TABLE_STOP: [Entry; 0];
}

/// The fault table, as the linker gathered it.
fn table() -> &'static [Entry] {
    // SAFETY: the linker defines both symbols around the section, which
    // holds nothing but whole entries (each `fixup_entry!` writes 12
    // aligned bytes), and the section is never written.
    unsafe {
        let start = (&raw const TABLE_START).cast::<Entry>();
        let stop = (&raw const TABLE_STOP).cast::<Entry>();
        std::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    }
}

/// The address an entry's field points at.
fn target(field: &i32) -> usize {
    (field as *const i32 as usize).wrapping_add(*field as isize as usize)
}

/// Where a fault at `pc` resumes, if an entry of the table covers it.
fn fixup_for(pc: usize) -> Option<usize> {
    table()
        .iter()
        .find(|e| (target(&e.start)..target(&e.end)).contains(&pc))
        .map(|e| target(&e.fixup))
}

mod imp {
    use super::*;

    /// Our disposition: `SA_SIGINFO | SA_ONSTACK`, nothing masked beyond
    /// SIGBUS itself.
    fn ours() -> libc::sigaction {
        // SAFETY: an all-zero sigaction is valid; the fields are then set.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: a valid sigset to clear.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        action
    }

    pub(super) fn install() -> bool {
        // The table must be what the handler expects: it lists the
        // out-of-line routine, and every entry's range is a real one.
        let routine = crate::copy::routine_start();
        let sane = table().iter().all(|e| {
            let range = target(&e.start)..target(&e.end);
            !range.is_empty() && !range.contains(&target(&e.fixup))
        });
        if !sane || !table().iter().any(|e| target(&e.start) == routine) {
            return false;
        }
        // SAFETY: sigaction with valid pointers; `PREVIOUS` is set before
        // our handler can run. The handler is async-signal-safe: it reads
        // registers and `PREVIOUS`, and calls only sigaction,
        // pthread_sigmask, raise and the previous handler.
        unsafe {
            let mut previous = MaybeUninit::<libc::sigaction>::zeroed();
            if libc::sigaction(libc::SIGBUS, ptr::null(), previous.as_mut_ptr()) != 0 {
                return false;
            }
            PREVIOUS.set(&previous.assume_init());
            libc::sigaction(libc::SIGBUS, &ours(), ptr::null_mut()) == 0
        }
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes valid `siginfo_t` and `ucontext_t`
        // pointers to an SA_SIGINFO handler.
        unsafe {
            let code = (*info).si_code;
            // Raised by the kernel for an access (not sent by a process),
            // and not a hardware memory error, which is never recoverable.
            let access_fault =
                code > 0 && code != libc::BUS_MCEERR_AR && code != libc::BUS_MCEERR_AO;
            let pc = crate::arch::pc(ctx);
            if access_fault && let Some(fixup) = fixup_for(*pc) {
                *pc = fixup;
                return;
            }
            chain(sig, info, ctx);
        }
    }

    /// Hands a SIGBUS that is not ours to the previous disposition.
    ///
    /// # Safety
    /// Called from `on_sigbus` with its arguments.
    unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let previous = PREVIOUS.get();
        let handler = previous.sa_sigaction;
        // SAFETY: `info` is valid (see `on_sigbus`).
        let sent = unsafe { (*info).si_code } <= 0; // SI_USER, SI_QUEUE, SI_TKILL
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            if handler == libc::SIG_IGN && sent {
                return;
            }
            // SAFETY: sigaction and raise are async-signal-safe. Restore
            // the default: a fault re-executes the instruction and dies of
            // it; a sent signal is raised again and dies once we return.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, ptr::null_mut());
                if sent {
                    libc::raise(sig);
                }
            }
            return;
        }
        // Run the previous handler as the kernel would have: its mask on
        // top of the thread's, and the signal itself blocked unless
        // SA_NODEFER (we run with it blocked, as installed without it).
        // SAFETY: valid sigsets and pointers; pthread_sigmask is
        // async-signal-safe on Linux.
        unsafe {
            let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &previous.sa_mask, old.as_mut_ptr());
            if previous.sa_flags & libc::SA_NODEFER != 0 {
                let mut only = MaybeUninit::<libc::sigset_t>::zeroed();
                libc::sigemptyset(only.as_mut_ptr());
                libc::sigaddset(only.as_mut_ptr(), sig);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, only.as_ptr(), ptr::null_mut());
            }
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: installed with SA_SIGINFO, so this is its type.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            } else {
                // SAFETY: installed without SA_SIGINFO: a plain handler.
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), ptr::null_mut());
            if previous.sa_flags & libc::SA_RESETHAND != 0 {
                // The kernel would have reset it on delivery.
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                PREVIOUS.set(&dfl);
            }
            // A handler that changed the disposition (std's resets it to
            // the default) changed what the program wants for the SIGBUS
            // that are not ours; ours stays in front of it.
            let mut now = MaybeUninit::<libc::sigaction>::zeroed();
            if libc::sigaction(sig, ptr::null(), now.as_mut_ptr()) == 0 {
                let now = now.assume_init();
                if now.sa_sigaction != on_sigbus as *const () as usize {
                    PREVIOUS.set(&now);
                    libc::sigaction(sig, &ours(), ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table holds the out-of-line routine and the inlined short
    /// copies (this test binary inlines some), and only their own
    /// instructions resume at a fixup.
    #[test]
    fn the_fault_table_covers_every_copy_and_nothing_else() {
        assert!(recovery());
        let routine = crate::copy::routine_start();
        let entry = table()
            .iter()
            .find(|e| target(&e.start) == routine)
            .expect("the routine's entry");
        assert_eq!(fixup_for(routine), Some(target(&entry.fixup)));
        assert_eq!(fixup_for(target(&entry.fixup)), None, "the fixup itself");
        assert!(table().len() > 1, "no inlined copy registered");
        assert_eq!(fixup_for(recovery as *const () as usize), None);
    }
}
