//! x86_64: the copy routine (see [`crate::copy`]) and where a fault's
//! program counter is in the signal context.

/// The longest copy [`copy_short`] takes.
pub(crate) const INLINE_MAX: usize = 64;

/// Copies this long and longer use `rep movsb` where it is fast (see
/// [`copy_bytes`]): below this, its start-up cost shows.
const REP_MOVSB_FROM: usize = 2048;

/// Reads the byte at `probe`, then copies `len` bytes from `src` to
/// `dst`; returns the count left, 0 when done.
///
/// Copies of up to 64 bytes take one step of loads and stores that
/// overlap at the ends (as `memcpy` does). Longer ones move 64 bytes a
/// step and finish with the 64 bytes that end at the end, except that
/// from [`REP_MOVSB_FROM`] bytes they use `rep movsb`, which streams
/// from memory faster, unless the destination lies 1 to 63 bytes past
/// the source modulo 4 KiB: there `rep movsb` on AMD Zen runs at under
/// 2 GB/s (measured at 1 to 31 here; 63 leaves a margin for other
/// models), against 6 to 45 for the loop. That is where a buffer from
/// `malloc` (16 bytes into a page) meets a page of a file. From
/// [`NON_TEMPORAL_FROM`](crate::copy::NON_TEMPORAL_FROM) bytes the stores bypass the cache (`movntdq`,
/// then `sfence`): a copy that large would only evict what the caller
/// has cached.
///
/// Throughout, `rcx` holds the count not yet copied as of the last
/// completed step. So when any load or store in here faults, the
/// handler can resume at the fixup, which fences the non-temporal
/// stores and returns `rcx`: a step that faulted half way is reported
/// as not copied, and the caller redoes it. The probe is read once `rcx`
/// holds `len`, so a fault there reports nothing copied.
///
/// The routine registers itself, from its first instruction to the
/// fixup, in the fault table (see [`crate::os::fault`]).
///
/// # Safety
/// As [`crate::copy::copy`].
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn copy_bytes(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    probe: *const u8,
) -> usize {
    core::arch::naked_asm!(
        "40:",
        "mov r9, rcx",
        "mov rcx, rdx",
        "movzx eax, byte ptr [r9]",
        "cmp rcx, 32",
        "jbe 4f",
        "cmp rcx, 64",
        "ja 30f",
        // 33 to 64 bytes: the first 32 and the last 32.
        "movdqu xmm0, [rsi]",
        "movdqu xmm1, [rsi + 16]",
        "movdqu xmm2, [rsi + rcx - 32]",
        "movdqu xmm3, [rsi + rcx - 16]",
        "movdqu [rdi], xmm0",
        "movdqu [rdi + 16], xmm1",
        "movdqu [rdi + rcx - 32], xmm2",
        "movdqu [rdi + rcx - 16], xmm3",
        "xor eax, eax",
        "ret",
        // 17 to 32: the first 16 and the last 16.
        "4:",
        "cmp rcx, 16",
        "jbe 5f",
        "movdqu xmm0, [rsi]",
        "movdqu xmm1, [rsi + rcx - 16]",
        "movdqu [rdi], xmm0",
        "movdqu [rdi + rcx - 16], xmm1",
        "xor eax, eax",
        "ret",
        // 8 to 16: the first 8 and the last 8.
        "5:",
        "cmp rcx, 8",
        "jb 6f",
        "mov rax, [rsi]",
        "mov r8, [rsi + rcx - 8]",
        "mov [rdi], rax",
        "mov [rdi + rcx - 8], r8",
        "xor eax, eax",
        "ret",
        // 4 to 7: the first 4 and the last 4.
        "6:",
        "cmp rcx, 4",
        "jb 7f",
        "mov eax, [rsi]",
        "mov r8d, [rsi + rcx - 4]",
        "mov [rdi], eax",
        "mov [rdi + rcx - 4], r8d",
        "xor eax, eax",
        "ret",
        // 0 to 3: the first, the last and the middle byte.
        "7:",
        "test rcx, rcx",
        "jz 9f",
        "mov rdx, rcx",
        "shr rdx, 1",
        "movzx eax, byte ptr [rsi]",
        "movzx r8d, byte ptr [rsi + rcx - 1]",
        "movzx r9d, byte ptr [rsi + rdx]",
        "mov [rdi], al",
        "mov [rdi + rcx - 1], r8b",
        "mov [rdi + rdx], r9b",
        "9:",
        "xor eax, eax",
        "ret",
        // More than 64.
        "30:",
        "cmp rcx, {non_temporal_from}",
        "jae 20f",
        "cmp rcx, {rep_movsb_from}",
        "jb 31f",
        // (dst - src - 1) mod 4 KiB below 63: dst is 1 to 63 bytes past.
        "mov rax, rdi",
        "sub rax, rsi",
        "dec rax",
        "and eax, 4095",
        "cmp eax, 63",
        "jb 31f",
        "rep movsb",
        "xor eax, eax",
        "ret",
        // 64 bytes a step while more than 64 are left...
        "31:",
        "movdqu xmm0, [rsi]",
        "movdqu xmm1, [rsi + 16]",
        "movdqu xmm2, [rsi + 32]",
        "movdqu xmm3, [rsi + 48]",
        "movdqu [rdi], xmm0",
        "movdqu [rdi + 16], xmm1",
        "movdqu [rdi + 32], xmm2",
        "movdqu [rdi + 48], xmm3",
        "add rsi, 64",
        "add rdi, 64",
        "sub rcx, 64",
        "cmp rcx, 64",
        "ja 31b",
        // ...then the last 1 to 64 as the 64 bytes that end at the end,
        // overlapping what was copied (there were more than 64 in all).
        "12:",
        "movdqu xmm0, [rsi + rcx - 64]",
        "movdqu xmm1, [rsi + rcx - 48]",
        "movdqu xmm2, [rsi + rcx - 32]",
        "movdqu xmm3, [rsi + rcx - 16]",
        "movdqu [rdi + rcx - 64], xmm0",
        "movdqu [rdi + rcx - 48], xmm1",
        "movdqu [rdi + rcx - 32], xmm2",
        "movdqu [rdi + rcx - 16], xmm3",
        "xor eax, eax",
        "ret",
        // Non-temporal: the first 16 bytes as usual, then on from the
        // first 16-byte boundary of `dst` after them, as `movntdq` needs.
        "20:",
        "movdqu xmm0, [rsi]",
        "movdqu [rdi], xmm0",
        "mov rax, rdi",
        "and rax, 15",
        "sub rax, 16",
        "neg rax",
        "add rsi, rax",
        "add rdi, rax",
        "sub rcx, rax",
        "21:",
        "movdqu xmm0, [rsi]",
        "movdqu xmm1, [rsi + 16]",
        "movdqu xmm2, [rsi + 32]",
        "movdqu xmm3, [rsi + 48]",
        "movntdq [rdi], xmm0",
        "movntdq [rdi + 16], xmm1",
        "movntdq [rdi + 32], xmm2",
        "movntdq [rdi + 48], xmm3",
        "add rsi, 64",
        "add rdi, 64",
        "sub rcx, 64",
        "cmp rcx, 64",
        "ja 21b",
        "sfence",
        "jmp 12b",
        // The fixup.
        "42:",
        "mov rax, rcx",
        "sfence",
        "ret",
        fixup_entry!("40", "42", "42"),
        non_temporal_from = const crate::copy::NON_TEMPORAL_FROM,
        rep_movsb_from = const REP_MOVSB_FROM,
    )
}

/// Copies `len` bytes, at most [`INLINE_MAX`], from `src` to `dst`;
/// `false` if an access faulted, and then the caller redoes the copy its
/// own way.
///
/// Inlined where it is called, so that a short read is a bounds check and
/// a handful of instructions the compiler schedules into the caller's
/// loop, with no call: independent reads then overlap their cache misses
/// as a plain `memcpy` out of a mapping does. Such a loop keeps as many
/// misses in flight as its iterations fit in the CPU's reorder buffer, so
/// every instruction counts (about 0.3 ns each in a loop of random 64 B
/// reads on the Intel Xeon we measure), and the block is laid out for
/// the fewest: 33 to 64 bytes run twelve instructions, one jump taken; there is no result register, since a fault resumes
/// directly at the caller's `fault` label (`asm goto`, as Linux's
/// `unsafe_get_user` does); and every load comes before the first store,
/// so that a fault in the source (a file cut short) has written nothing.
/// The steps are those of [`copy_bytes`] for up to 64 bytes: loads and
/// stores that overlap at the ends.
///
/// # Safety
/// As [`crate::copy::copy`], and `len <= INLINE_MAX`.
#[inline(always)]
pub(crate) unsafe fn copy_short(dst: *mut u8, src: *const u8, len: usize) -> bool {
    // SAFETY: forwarded from the caller. Only `dst[..len]` is written and
    // only `src[..len]` is read; every register the block writes is
    // declared; a fault resumes at `fault`, with the registers the block
    // had (its inputs unchanged, its scratch registers declared).
    unsafe {
        core::arch::asm!(
            "2:",
            "cmp {len}, 16",
            "ja 3f",
            // 8 to 16: the first 8 and the last 8.
            "cmp {len}, 8",
            "jb 5f",
            "mov {t}, [{src}]",
            "mov {u}, [{src} + {len} - 8]",
            "mov [{dst}], {t}",
            "mov [{dst} + {len} - 8], {u}",
            "jmp 9f",
            // 4 to 7: the first 4 and the last 4.
            "5:",
            "cmp {len}, 4",
            "jb 6f",
            "mov {t:e}, [{src}]",
            "mov {u:e}, [{src} + {len} - 4]",
            "mov [{dst}], {t:e}",
            "mov [{dst} + {len} - 4], {u:e}",
            "jmp 9f",
            // 2 and 3: the first 2 and the last 2.
            "6:",
            "cmp {len}, 2",
            "jb 7f",
            "movzx {t:e}, word ptr [{src}]",
            "movzx {u:e}, word ptr [{src} + {len} - 2]",
            "mov [{dst}], {t:x}",
            "mov [{dst} + {len} - 2], {u:x}",
            "jmp 9f",
            // 0 and 1.
            "7:",
            "test {len}, {len}",
            "jz 9f",
            "movzx {t:e}, byte ptr [{src}]",
            "mov [{dst}], {t:l}",
            "jmp 9f",
            // 17 to 64: the first 16 and the last 16, and if more than 32
            // the 16 after the first and the 16 before the last.
            "3:",
            "movdqu {a}, [{src}]",
            "movdqu {b}, [{src} + {len} - 16]",
            "cmp {len}, 32",
            "jbe 4f",
            "movdqu {c}, [{src} + 16]",
            "movdqu {d}, [{src} + {len} - 32]",
            "movdqu [{dst} + 16], {c}",
            "movdqu [{dst} + {len} - 32], {d}",
            "4:",
            "movdqu [{dst}], {a}",
            "movdqu [{dst} + {len} - 16], {b}",
            "9:",
            fixup_entry!("2", "9", label "{fault}"),
            dst = in(reg) dst,
            src = in(reg) src,
            len = in(reg) len,
            t = out(reg) _,
            u = out(reg) _,
            a = out(xmm_reg) _,
            b = out(xmm_reg) _,
            c = out(xmm_reg) _,
            d = out(xmm_reg) _,
            fault = label { return false },
            options(nostack),
        );
    }
    true
}

/// Reads the byte at `at`; `false` if that faults (see
/// [`crate::copy::copy_checked`]).
///
/// # Safety
/// `at` is valid for reads of one byte, apart from a page that raises
/// SIGBUS.
#[inline(always)]
pub(crate) unsafe fn probe(at: *const u8) -> bool {
    // SAFETY: forwarded from the caller; one byte is read into a declared
    // scratch register, and a fault resumes at `fault`.
    unsafe {
        core::arch::asm!(
            "2:",
            "movzx {t:e}, byte ptr [{at}]",
            "3:",
            fixup_entry!("2", "3", label "{fault}"),
            at = in(reg) at,
            t = out(reg) _,
            fault = label { return false },
            options(nostack, preserves_flags),
        );
    }
    true
}

/// Where the program counter is in the context the kernel passes an
/// `SA_SIGINFO` handler: `uc_mcontext.gregs[REG_RIP]`.
///
/// # Safety
/// `ctx` is that context, and the pointer is used only while the handler
/// runs.
pub(crate) unsafe fn pc(ctx: *mut libc::c_void) -> *mut usize {
    // SAFETY: forwarded; `greg_t` is a 64-bit integer, as is `usize` here.
    unsafe {
        let regs = &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        (&mut regs[libc::REG_RIP as usize] as *mut i64).cast()
    }
}
