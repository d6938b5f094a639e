//! The one copy routine: every byte between a mapping and a caller's buffer
//! moves through [`copy`].
//!
//! Two properties hang on it:
//!
//! - **No data race.** Other threads (and processes) may write the mapped
//!   bytes while we copy them. A Rust `memcpy` of memory that another thread
//!   writes is undefined behaviour; a copy done by inline assembly is not,
//!   because the compiler sees an opaque operation that touches memory the way
//!   relaxed per-byte atomic accesses would. The copy is `rep movsb`, which on
//!   CPUs with ERMS/FSRM runs at `memcpy` speed for small and large sizes.
//! - **Fault recovery.** If the file shrinks under the mapping (another
//!   process truncates it), or a page cannot be backed (disk full, I/O error),
//!   the access raises SIGBUS. The handler installed by
//!   [`install_fault_handler`] recognises a fault at the copy instruction and
//!   resumes execution at a fixup that returns how many bytes were left, in the
//!   style of the kernel's exception tables. Faults anywhere else are passed to
//!   whatever handler was installed before ours.
//!
//! On targets without this routine the crate never maps a file: every
//! `MmapFile` uses plain system calls (see [`fault_recovery`]).

/// The copy stopped at a fault after moving `copied` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// Bytes moved before the fault.
    pub(crate) copied: usize,
}

/// Copies `len` bytes from `src` to `dst`, stopping at the first byte that
/// faults with SIGBUS.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes, apart from
/// pages that raise SIGBUS (a mapping past the end of its file). The two
/// ranges do not overlap. Other threads may read and write either range at
/// the same time: that is not a data race (see the module docs), though the
/// bytes copied may then mix old and new values.
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), Fault> {
    // SAFETY: forwarded from the caller.
    let left = unsafe { imp::copy_bytes(dst, src, len) };
    if left == 0 {
        Ok(())
    } else {
        Err(Fault { copied: len - left })
    }
}

/// Whether mapped I/O is available: the fault handler is installed (once per
/// process) and the copy routine can recover from SIGBUS. Where this is false,
/// `MmapFile` falls back to system calls for every file.
pub(crate) fn fault_recovery() -> bool {
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(install_fault_handler)
}

/// Installs the process-wide SIGBUS handler, chaining to the one before it.
fn install_fault_handler() -> bool {
    imp::install()
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::ptr;

    /// Offset of `rep movsb` in [`copy_bytes`]: after `mov rcx, rdx`, whose
    /// encoding (`48 89 d1`) is three bytes. A test reads the bytes back.
    pub(super) const COPY_INSN_OFFSET: usize = 3;

    /// `rep movsb` from `src` to `dst`; returns the count left, 0 when done.
    ///
    /// If the copy faults, the handler moves execution to [`copy_fixup`]
    /// with `rcx` holding the bytes not yet copied (the instruction is
    /// restartable and updates `rcx`, `rsi` and `rdi` as it goes).
    ///
    /// # Safety
    /// As [`super::copy`].
    #[unsafe(naked)]
    pub(super) unsafe extern "sysv64" fn copy_bytes(
        dst: *mut u8,
        src: *const u8,
        len: usize,
    ) -> usize {
        core::arch::naked_asm!("mov rcx, rdx", "rep movsb", "xor eax, eax", "ret")
    }

    /// Where a faulting [`copy_bytes`] resumes: returns `rcx`, the count left.
    /// The stack is as `copy_bytes` found it, so `ret` goes to its caller.
    #[unsafe(naked)]
    unsafe extern "sysv64" fn copy_fixup() -> usize {
        core::arch::naked_asm!("mov rax, rcx", "ret")
    }

    /// The SIGBUS disposition before ours, written once before our handler
    /// is installed and only read afterwards.
    struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);
    // SAFETY: written once, by `install` under a `OnceLock`, before the
    // `sigaction` call that makes `on_sigbus` (the only reader) reachable.
    unsafe impl Sync for Previous {}
    static PREVIOUS: Previous = Previous(UnsafeCell::new(MaybeUninit::uninit()));

    pub(super) fn install() -> bool {
        // SAFETY: sigaction is given valid pointers; `PREVIOUS` is written
        // before our handler can run (see `Previous`). The handler is
        // async-signal-safe: it reads registers, `PREVIOUS` and calls only
        // sigaction, raise and the previous handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = (*PREVIOUS.0.get()).as_mut_ptr();
            libc::sigaction(libc::SIGBUS, ptr::null(), previous) == 0
                && libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()) == 0
        }
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes valid `siginfo_t` and `ucontext_t`
        // pointers to an SA_SIGINFO handler.
        unsafe {
            let code = (*info).si_code;
            let hardware_error = code == libc::BUS_MCEERR_AR || code == libc::BUS_MCEERR_AO;
            let regs = &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
            let pc = regs[libc::REG_RIP as usize] as usize;
            if !hardware_error && pc == copy_bytes as *const () as usize + COPY_INSN_OFFSET {
                regs[libc::REG_RIP as usize] = copy_fixup as *const () as usize as i64;
                return;
            }
            chain(sig, info, ctx);
        }
    }

    /// Hands a fault that is not ours to the previous disposition.
    ///
    /// # Safety
    /// Called from `on_sigbus` with its arguments.
    unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: `PREVIOUS` was initialised before the handler was installed.
        let previous = unsafe { &*(*PREVIOUS.0.get()).as_ptr() };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: `info` is valid; sigaction and raise are
            // async-signal-safe.
            unsafe {
                let sent = (*info).si_code <= 0; // SI_USER, SI_QUEUE, SI_TKILL
                if handler == libc::SIG_IGN && sent {
                    return;
                }
                // Restore the default: a fault re-executes the instruction and
                // dies of it; a sent signal is raised again and dies on return.
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, ptr::null_mut());
                if sent {
                    libc::raise(sig);
                }
            }
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so
            // this is its signature.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(sig, info, ctx);
        } else {
            // SAFETY: installed without SA_SIGINFO: a plain handler.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(sig);
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn copy_instruction_is_where_the_handler_looks() {
            let at = super::copy_bytes as *const () as usize + super::COPY_INSN_OFFSET;
            // SAFETY: reads two bytes of this crate's own code.
            let insn = unsafe { std::slice::from_raw_parts(at as *const u8, 2) };
            assert_eq!(insn, [0xf3, 0xa4], "rep movsb");
        }
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod imp {
    /// No fault recovery here: mapped I/O is off, so this is never called on
    /// a mapping. Byte-wise so that it stays race-free if it ever is.
    ///
    /// # Safety
    /// As [`super::copy`].
    pub(super) unsafe fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> usize {
        for i in 0..len {
            // SAFETY: in bounds by the caller's contract.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
        0
    }

    pub(super) fn install() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length() {
        for len in [0usize, 1, 7, 64, 4096, 70_000] {
            let src: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut dst = vec![0u8; len];
            // SAFETY: both buffers hold `len` bytes and do not overlap.
            unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), len) }.unwrap();
            assert_eq!(dst, src);
        }
    }
}
