//! x86_64: the copy routine (see [`crate::copy`]) and where a fault's
//! program counter is in the signal context.

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
/// The fixup is the routine's last instruction, followed by `ud2; ud2`,
/// a marker by which `bounds` finds both; the tests check the layout.
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
        // The fixup, just before the end marker.
        "mov rax, rcx",
        "sfence",
        "ret",
        "ud2",
        "ud2",
        non_temporal_from = const crate::copy::NON_TEMPORAL_FROM,
        rep_movsb_from = const REP_MOVSB_FROM,
    )
}

/// The fixup, `mov rax, rcx; sfence; ret`, which ends the routine just
/// before its end marker. (At the end rather than at the start, where
/// every call would have to jump over it.)
const FIXUP: [u8; 7] = [0x48, 0x89, 0xc8, 0x0f, 0xae, 0xf8, 0xc3];
/// The end marker, `ud2; ud2`.
const END_MARKER: [u8; 4] = [0x0f, 0x0b, 0x0f, 0x0b];

/// Finds the body and the fixup of [`copy_bytes`] by its end marker.
fn body() -> Option<(usize, usize)> {
    let start = copy_bytes as *const () as usize;
    // SAFETY: reads this crate's own code, which is mapped readable; the
    // marker lies well within 1 KiB of the start.
    let code = unsafe { std::slice::from_raw_parts(start as *const u8, 1024) };
    let end = code.windows(4).position(|w| w == END_MARKER)?;
    let fixup = end.checked_sub(FIXUP.len())?;
    (code[fixup..end] == FIXUP).then_some((start, start + fixup))
}

/// Where a fault is the routine's and where it resumes: the start and
/// the fixup of [`copy_bytes`], found by its end marker.
pub(crate) fn bounds() -> Option<(usize, usize)> {
    body()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixup_and_body_are_where_the_handler_looks() {
        let start = copy_bytes as *const () as usize;
        let (body_start, fixup) = body().expect("end marker after the fixup");
        assert_eq!(body_start, start);
        // The routine is some 400 bytes; the marker must be its own.
        assert!((300..600).contains(&(fixup - start)), "{}", fixup - start);
    }
}
