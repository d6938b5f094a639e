//! The one copy routine: every byte between a mapping and a caller's buffer
//! moves through [`copy`].
//!
//! Two properties hang on it:
//!
//! - **No data race.** Other threads (and processes) may write the mapped
//!   bytes while we copy them. A Rust `memcpy` of memory that another thread
//!   writes is undefined behaviour; a copy done by inline assembly is not,
//!   because the compiler sees an opaque operation that touches memory the way
//!   relaxed per-byte atomic accesses would. It moves 16-byte vectors, 64
//!   bytes a step, or uses `rep movsb` where that is fast, and bypasses the
//!   cache for copies of [`NON_TEMPORAL_FROM`] bytes and up.
//! - **Fault recovery.** If the file shrinks under the mapping (another
//!   process truncates it), or a page cannot be backed (disk full, I/O error),
//!   the access raises SIGBUS. The handler in [`crate::fault`] recognises a
//!   fault at a copy instruction and resumes execution at a fixup that
//!   returns how many bytes were left, in the style of the kernel's
//!   exception tables.
//! - **A probe for a shrink.** A file cut short by someone else leaves the
//!   page holding its new end mapped, reading zeros past the end without a
//!   fault. So [`copy_checked`] first reads one byte of a later page, which
//!   faults if the file no longer reaches it: a single load that tells the
//!   caller whether the length it knows still stands.
//!
//! On targets without this routine the crate never maps a file: every
//! `MmapFile` uses plain system calls (see [`crate::fault::recovery`]).

/// The copy stopped at a fault after moving `copied` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// Bytes moved before the fault.
    pub(crate) copied: usize,
}

/// Copies this long and longer use `rep movsb` where it is fast (see
/// `copy_bytes`): below this, its start-up cost shows.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const REP_MOVSB_FROM: usize = 2048;

/// Copies this long and longer use non-temporal stores. A copy of more than
/// the L2 cache (1 MiB on the machines we measure) would evict all of it,
/// and the caller reads such a buffer back in pieces, if at all.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const NON_TEMPORAL_FROM: usize = 2 << 20;

/// Copies `len` bytes from `src` to `dst`, stopping at the first byte that
/// faults with SIGBUS.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes, apart from
/// pages that raise SIGBUS (a mapping past the end of its file). The two
/// ranges do not overlap. Other threads may read and write either range at
/// the same time: that is not a data race (see the module docs), though the
/// bytes copied may then mix old and new values.
#[inline]
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), Fault> {
    /// A byte that is always there, for copies that need no probe.
    static ALWAYS_MAPPED: u8 = 0;
    // SAFETY: forwarded from the caller; the probe is a valid static.
    unsafe { copy_checked(dst, src, len, &ALWAYS_MAPPED) }
}

/// Like [`copy`], but first reads the byte at `probe`: if that faults,
/// nothing is copied and the result is `Fault { copied: 0 }`.
///
/// # Safety
/// As [`copy`], and `probe` is valid for reads of one byte apart from a
/// page that raises SIGBUS.
#[inline]
pub(crate) unsafe fn copy_checked(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    probe: *const u8,
) -> Result<(), Fault> {
    // SAFETY: forwarded from the caller.
    let left = unsafe { imp::copy_bytes(dst, src, len, probe) };
    if left == 0 {
        Ok(())
    } else {
        Err(Fault { copied: len - left })
    }
}

/// `[start, fixup)` of the copy routine, where the fault handler takes a
/// SIGBUS for the routine's own and where it resumes it; `None` where there
/// is no such routine (and so no mapped I/O).
pub(crate) fn routine_bounds() -> Option<(usize, usize)> {
    imp::bounds()
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod imp {
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
    /// [`NON_TEMPORAL_FROM`] bytes the stores bypass the cache (`movntdq`,
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
    /// As [`super::copy`].
    #[unsafe(naked)]
    pub(super) unsafe extern "sysv64" fn copy_bytes(
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
            "ja 10f",
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
            "10:",
            "cmp rcx, {non_temporal_from}",
            "jae 20f",
            "cmp rcx, {rep_movsb_from}",
            "jb 11f",
            // (dst - src - 1) mod 4 KiB below 63: dst is 1 to 63 bytes past.
            "mov rax, rdi",
            "sub rax, rsi",
            "dec rax",
            "and eax, 4095",
            "cmp eax, 63",
            "jb 11f",
            "rep movsb",
            "xor eax, eax",
            "ret",
            // 64 bytes a step while more than 64 are left...
            "11:",
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
            "ja 11b",
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
            non_temporal_from = const super::NON_TEMPORAL_FROM,
            rep_movsb_from = const super::REP_MOVSB_FROM,
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
    pub(super) fn bounds() -> Option<(usize, usize)> {
        body()
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
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod imp {
    /// No fault recovery here: mapped I/O is off, so this is never called on
    /// a mapping. Byte-wise so that it stays race-free if it ever is.
    ///
    /// # Safety
    /// As [`super::copy`].
    pub(super) unsafe fn copy_bytes(
        dst: *mut u8,
        src: *const u8,
        len: usize,
        _probe: *const u8,
    ) -> usize {
        for i in 0..len {
            // SAFETY: in bounds by the caller's contract.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
        0
    }

    pub(super) fn bounds() -> Option<(usize, usize)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length_at_every_alignment() {
        let big = NON_TEMPORAL_FROM;
        let src: Vec<u8> = (0..big as u32 + 5000).map(|i| (i * 7 + 3) as u8).collect();
        let long = [2047, 2048, 4096, 4097, 70_000 - 8, big - 1, big, big + 77];
        for len in (0..=1100).chain(long) {
            for (s, d) in [(0, 0), (1, 3), (7, 0), (5, 13), (0, 16), (3, 31)] {
                let mut dst = vec![0u8; len + 32];
                // SAFETY: `src[s..s + len]` and `dst[d..d + len]` are in
                // bounds and do not overlap.
                let r = unsafe { copy(dst.as_mut_ptr().add(d), src.as_ptr().add(s), len) };
                assert_eq!(r, Ok(()));
                assert_eq!(dst[d..d + len], src[s..s + len], "len {len}");
                assert!(
                    dst[..d].iter().chain(&dst[d + len..]).all(|&b| b == 0),
                    "len {len}: wrote outside"
                );
            }
        }
    }

    /// `rep movsb` or the vector loop, by the distance between the buffers
    /// modulo 4 KiB: every distance copies right.
    #[test]
    fn copies_at_every_distance_modulo_a_page() {
        let src: Vec<u8> = (0..3 * 4096u32).map(|i| (i * 13 + 1) as u8).collect();
        let mut dst = vec![0u8; 3 * 4096 + 4096];
        let len = 2 * 4096 + 100;
        let src_at = src.as_ptr() as usize;
        for distance in (0..130).chain(4000..4096) {
            let d = (distance + 2 * 4096 - (dst.as_ptr() as usize - src_at) % 4096) % 4096;
            dst.fill(0);
            // SAFETY: `d + len <= dst.len()` and `len <= src.len()`; the two
            // do not overlap.
            let r = unsafe { copy(dst.as_mut_ptr().add(d), src.as_ptr(), len) };
            assert_eq!(r, Ok(()));
            assert_eq!(dst[d..d + len], src[..len], "distance {distance}");
        }
    }

    /// A copy that runs off the end of a mapped file faults, and comes back
    /// with the count it copied, whichever path it takes.
    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn a_fault_returns_what_was_copied() {
        use std::os::fd::AsFd;
        assert!(crate::fault::recovery());
        let page = crate::sys::page_size();
        // Big enough for a non-temporal copy to run off its end.
        let file_len = NON_TEMPORAL_FROM + page;
        let map_len = 2 * NON_TEMPORAL_FROM + 2 * page;
        let file = tempfile::tempfile().unwrap();
        file.set_len(file_len as u64).unwrap();
        let map = crate::sys::map_shared(file.as_fd(), map_len, false).unwrap();
        let mut dst = vec![0u8; NON_TEMPORAL_FROM + 3 * page];
        let cases = [
            (5, 40),
            (40, 60),
            (100, 300),
            (3, 3000),
            (1000, 1500),
            (2500, 4000),
            (NON_TEMPORAL_FROM - 1000, NON_TEMPORAL_FROM + 100),
        ];
        for (before_end, len) in cases {
            // Distances that take `rep movsb` and ones that take the loop.
            for shift in [0, 16, 40, 64, 128, 2048] {
                // SAFETY: `file_len - before_end` lies inside the mapping.
                let src = unsafe { map.as_ptr().add(file_len - before_end) };
                // SAFETY: the source starts inside the file and runs past
                // its end, which faults (recovered); `dst` holds
                // `shift + len` bytes.
                let r = unsafe { copy(dst.as_mut_ptr().add(shift), src, len) };
                let copied = r.expect_err("must fault").copied;
                assert!(
                    copied <= before_end && copied + 64 > before_end,
                    "{before_end} {len} {shift}: {copied}"
                );
            }
        }
        // A probe past the end faults before anything is copied, though the
        // source itself is readable.
        // SAFETY: `file_len` lies inside the mapping.
        let past_end = unsafe { map.as_ptr().add(file_len) };
        // SAFETY: the source is the file's first page; the probe is past the
        // file's end and faults (recovered).
        let r = unsafe { copy_checked(dst.as_mut_ptr(), map.as_ptr(), 100, past_end) };
        assert_eq!(r, Err(Fault { copied: 0 }));
        // SAFETY: as above, with the probe inside the file.
        let r = unsafe { copy_checked(dst.as_mut_ptr(), map.as_ptr(), 100, map.as_ptr().add(10)) };
        assert_eq!(r, Ok(()));
        // SAFETY: our mapping, no longer used.
        unsafe { crate::sys::unmap(map, map_len) };
    }
}
