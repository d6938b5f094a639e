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
//!   bytes a step (on x86_64 also `rep movsb` where that is fast), and
//!   bypasses the cache for copies of [`NON_TEMPORAL_FROM`] bytes and up;
//!   one routine per CPU, in `crate::arch`.
//! - **Fault recovery.** If the file shrinks under the mapping (another
//!   process truncates it), or a page cannot be backed (disk full, I/O error),
//!   the access raises SIGBUS. The handler in [`crate::os::fault`] looks the
//!   faulting instruction up in a table of copy instructions and resumes
//!   execution at its fixup, which returns how many bytes were left, as the
//!   kernel's exception tables do.
//! - **Short copies inline.** Copies of up to 64 bytes (`arch::copy_short`)
//!   are inline assembly at the call site, each with its own table entry
//!   whose fixup is a label of the caller (`asm goto`), so that a short
//!   read costs no call and no result to test; longer ones call one
//!   routine (`arch::copy_bytes`).
//! - **A probe for a shrink.** A file cut short by someone else leaves the
//!   page holding its new end mapped, reading zeros past the end without a
//!   fault. So [`copy_checked`] first reads one byte of a later page, which
//!   faults if the file no longer reaches it: a single load that tells the
//!   caller whether the length it knows still stands.
//!
//! On targets without this routine the crate never maps a file: every
//! `MmapFile` uses plain system calls (see [`crate::os::fault::recovery`]).

/// The copy stopped at a fault after moving `copied` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    /// Bytes moved before the fault.
    pub(crate) copied: usize,
}

/// Copies this long and longer use non-temporal stores. A copy of more than
/// the L2 cache (1 MiB on the machines we measure) would evict all of it,
/// and the caller reads such a buffer back in pieces, if at all.
pub(crate) const NON_TEMPORAL_FROM: usize = 2 << 20;

/// Copies `len` bytes from `src` to `dst`, stopping at the first byte that
/// faults with SIGBUS.
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `len` bytes, apart from
/// pages that raise SIGBUS (a mapping past the end of its file). The two
/// ranges do not overlap. Other threads may read and write either range at
/// the same time: that is not a data race (see the module docs), though the
/// bytes copied may then mix old and new values.
#[inline(always)]
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), Fault> {
    if len <= crate::arch::INLINE_MAX {
        // SAFETY: forwarded from the caller, within what `copy_short`
        // takes. A fault there has moved nothing the caller may keep.
        return match unsafe { crate::arch::copy_short(dst, src, len) } {
            true => Ok(()),
            false => Err(Fault { copied: 0 }),
        };
    }
    // SAFETY: forwarded from the caller. The source's first byte is the
    // probe: it is read anyway, and a fault there is one the copy would
    // take, reported alike (nothing copied).
    unsafe { copy_long(dst, src, len, src) }
}

/// Like [`copy`], but first reads the byte at `probe`: if that faults,
/// nothing is copied and the result is `Fault { copied: 0 }`.
///
/// # Safety
/// As [`copy`], and `probe` is valid for reads of one byte apart from a
/// page that raises SIGBUS.
#[inline(always)]
pub(crate) unsafe fn copy_checked(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    probe: *const u8,
) -> Result<(), Fault> {
    if len <= crate::arch::INLINE_MAX {
        // SAFETY: forwarded from the caller.
        if !unsafe { crate::arch::probe(probe) } {
            return Err(Fault { copied: 0 });
        }
        // SAFETY: forwarded from the caller.
        return unsafe { copy(dst, src, len) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { copy_long(dst, src, len, probe) }
}

/// [`copy_checked`] for more than [`crate::arch::INLINE_MAX`] bytes, by
/// the out-of-line routine, which reads the probe itself.
///
/// # Safety
/// As [`copy_checked`].
#[inline(always)]
unsafe fn copy_long(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    probe: *const u8,
) -> Result<(), Fault> {
    // SAFETY: forwarded from the caller.
    match unsafe { crate::arch::copy_bytes(dst, src, len, probe) } {
        0 => Ok(()),
        left => Err(Fault { copied: len - left }),
    }
}

/// Where the out-of-line copy routine starts, which the fault table must
/// list (see [`crate::os::fault`]).
pub(crate) fn routine_start() -> usize {
    crate::arch::copy_bytes as *const () as usize
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

    /// `rep movsb` or the vector loop on x86_64, by the distance between
    /// the buffers modulo 4 KiB: every distance copies right (on aarch64,
    /// one loop for all).
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
    fn a_fault_returns_what_was_copied() {
        use std::os::fd::AsFd;
        assert!(crate::os::fault::recovery());
        let page = crate::os::page_size();
        // Big enough for a non-temporal copy to run off its end.
        let file_len = NON_TEMPORAL_FROM + page;
        let map_len = 2 * NON_TEMPORAL_FROM + 2 * page;
        let file = tempfile::tempfile().unwrap();
        file.set_len(file_len as u64).unwrap();
        let map = crate::os::map_shared(file.as_fd(), map_len, true).unwrap();
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
        // The same for every length the inlined short copy takes (a copy
        // of nothing has nothing to report).
        for len in 1..=crate::arch::INLINE_MAX {
            // SAFETY: as above.
            let r = unsafe { copy_checked(dst.as_mut_ptr(), map.as_ptr(), len, past_end) };
            assert_eq!(r, Err(Fault { copied: 0 }), "{len}");
        }
        // A short copy that faults has stored nothing: every load comes
        // before the first store. Into the mapping, a store past the end
        // faults alike.
        for len in 1..=crate::arch::INLINE_MAX {
            let mut dst = [0xAAu8; crate::arch::INLINE_MAX];
            // SAFETY: the source starts `len / 2` bytes before the file's
            // end and runs past it (recovered); `dst` holds `len` bytes.
            let r = unsafe { copy(dst.as_mut_ptr(), past_end.sub(len / 2), len) };
            assert_eq!(r, Err(Fault { copied: 0 }), "{len}");
            assert!(
                dst.iter().all(|&b| b == 0xAA),
                "{len}: stored before the fault"
            );
            // SAFETY: the destination runs past the file's end (recovered);
            // the source is `dst`, `len` bytes.
            let r = unsafe { copy(past_end.sub(len / 2), dst.as_ptr(), len) };
            assert_eq!(r, Err(Fault { copied: 0 }), "{len}: into the mapping");
        }
        // SAFETY: our mapping, no longer used.
        unsafe { crate::os::unmap(map, map_len) };
    }
}
