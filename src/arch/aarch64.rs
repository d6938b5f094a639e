//! aarch64: the copy routine (see [`crate::copy`]) and where a fault's
//! program counter is in the signal context.

/// `udf #0xc0de`, twice, ends the routine: the marker by which [`bounds`]
/// finds its fixup. Every instruction word whose top 16 bits are zero is
/// permanently undefined (`udf`), and the routine holds no other, so the
/// first such word from its start is the marker.
const MARKER_IMM: u32 = 0xc0de;

/// Reads the byte at `probe`, then copies `len` bytes from `src` to
/// `dst`; returns the count left, 0 when done.
///
/// Copies of up to 64 bytes take one step of loads and stores that
/// overlap at the ends (as `memcpy` does): the first and the last 32, 16,
/// 8 or 4 bytes, or for 1 to 3 the first, the last and the middle byte.
/// Longer ones move 64 bytes a step (`ldp`/`stp` of four q registers)
/// while more than 64 are left, then copy the 64 bytes that end at the
/// end. From [`NON_TEMPORAL_FROM`](crate::copy::NON_TEMPORAL_FROM) bytes
/// the stores are `stnp`, the non-temporal hint (a copy that large would
/// only evict what the caller has cached), from the first 64-byte boundary
/// of `dst` on so that they write whole cache lines. `stnp` is ordered
/// like any store (only non-temporal *loads* relax ordering), so unlike
/// x86_64's `movntdq` it needs no fence.
///
/// Throughout, `x2` holds the count not yet copied as of the last
/// completed step: it drops only after a step's stores. So when any load
/// or store in here faults, the handler can resume at the fixup, which
/// returns `x2`: a step that faulted half way is reported as not copied,
/// and the caller redoes it. The probe is read while `x2` holds `len`, so
/// a fault there reports nothing copied.
///
/// The fixup, `mov x0, x2; ret`, is the routine's last instruction,
/// followed by `udf #0xc0de` twice, a marker by which [`bounds`] finds
/// it; the tests check the layout. (A marker rather than global labels: a
/// global symbol would clash when two versions of this crate are linked
/// into one program, and the marker keeps the routine self-contained.)
///
/// Uses only `x0`-`x10` and `q0`-`q3`, all caller-saved under AAPCS64.
///
/// # Safety
/// As [`crate::copy::copy`].
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn copy_bytes(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    probe: *const u8,
) -> usize {
    core::arch::naked_asm!(
        "ldrb w4, [x3]",
        // The ends, for the steps that copy the last bytes.
        "add x5, x1, x2",
        "add x6, x0, x2",
        "cmp x2, #16",
        "b.ls 5f",
        "cmp x2, #64",
        "b.hi 30f",
        "cmp x2, #32",
        "b.hi 3f",
        // 17 to 32 bytes: the first 16 and the last 16.
        "ldr q0, [x1]",
        "ldur q1, [x5, #-16]",
        "str q0, [x0]",
        "stur q1, [x6, #-16]",
        "mov x0, #0",
        "ret",
        // 33 to 64: the first 32 and the last 32.
        "3:",
        "ldp q0, q1, [x1]",
        "ldp q2, q3, [x5, #-32]",
        "stp q0, q1, [x0]",
        "stp q2, q3, [x6, #-32]",
        "mov x0, #0",
        "ret",
        // 8 to 16: the first 8 and the last 8.
        "5:",
        "cmp x2, #8",
        "b.lo 6f",
        "ldr x7, [x1]",
        "ldur x8, [x5, #-8]",
        "str x7, [x0]",
        "stur x8, [x6, #-8]",
        "mov x0, #0",
        "ret",
        // 4 to 7: the first 4 and the last 4.
        "6:",
        "cmp x2, #4",
        "b.lo 7f",
        "ldr w7, [x1]",
        "ldur w8, [x5, #-4]",
        "str w7, [x0]",
        "stur w8, [x6, #-4]",
        "mov x0, #0",
        "ret",
        // 0 to 3: the first, the last and the middle byte.
        "7:",
        "cbz x2, 9f",
        "lsr x9, x2, #1",
        "ldrb w7, [x1]",
        "ldurb w8, [x5, #-1]",
        "ldrb w10, [x1, x9]",
        "strb w7, [x0]",
        "sturb w8, [x6, #-1]",
        "strb w10, [x0, x9]",
        "9:",
        "mov x0, #0",
        "ret",
        // More than 64.
        "30:",
        "mov x9, #{non_temporal_from}",
        "cmp x2, x9",
        "b.hs 20f",
        // 64 bytes a step while more than 64 are left...
        "31:",
        "ldp q0, q1, [x1]",
        "ldp q2, q3, [x1, #32]",
        "stp q0, q1, [x0]",
        "stp q2, q3, [x0, #32]",
        "add x1, x1, #64",
        "add x0, x0, #64",
        "sub x2, x2, #64",
        "cmp x2, #64",
        "b.hi 31b",
        // ...then the last 1 to 64 as the 64 bytes that end at the end,
        // overlapping what was copied (there were more than 64 in all).
        "32:",
        "ldp q0, q1, [x5, #-64]",
        "ldp q2, q3, [x5, #-32]",
        "stp q0, q1, [x6, #-64]",
        "stp q2, q3, [x6, #-32]",
        "mov x0, #0",
        "ret",
        // Non-temporal: the first 64 bytes as usual, then on from the
        // first 64-byte boundary of `dst` after its start (1 to 64 bytes
        // on, all of them copied by then).
        "20:",
        "ldp q0, q1, [x1]",
        "ldp q2, q3, [x1, #32]",
        "stp q0, q1, [x0]",
        "stp q2, q3, [x0, #32]",
        "and x9, x0, #63",
        "mov x10, #64",
        "sub x9, x10, x9",
        "add x1, x1, x9",
        "add x0, x0, x9",
        "sub x2, x2, x9",
        "21:",
        "ldp q0, q1, [x1]",
        "ldp q2, q3, [x1, #32]",
        "stnp q0, q1, [x0]",
        "stnp q2, q3, [x0, #32]",
        "add x1, x1, #64",
        "add x0, x0, #64",
        "sub x2, x2, #64",
        "cmp x2, #64",
        "b.hi 21b",
        "b 32b",
        // The fixup, just before the end marker.
        "mov x0, x2",
        "ret",
        "udf #{marker}",
        "udf #{marker}",
        non_temporal_from = const crate::copy::NON_TEMPORAL_FROM,
        marker = const MARKER_IMM,
    )
}

/// The fixup, `mov x0, x2` (`orr x0, xzr, x2`) and `ret`, which ends the
/// routine just before its end marker. (At the end rather than at the
/// start, where every call would have to branch over it.)
const FIXUP: [u32; 2] = [0xaa02_03e0, 0xd65f_03c0];
/// The end marker, `udf #0xc0de; udf #0xc0de`.
const END_MARKER: [u32; 2] = [MARKER_IMM, MARKER_IMM];
/// The most instructions [`body`] looks through for the marker; the
/// routine is under 100.
const MAX_WORDS: usize = 256;

/// Finds the body and the fixup of [`copy_bytes`] by its end marker.
fn body() -> Option<(usize, usize)> {
    let start = copy_bytes as *const () as usize;
    let code = start as *const u32;
    // The first permanently undefined instruction (top half zero) from
    // the start: the routine has none before its marker, so the scan stops
    // there and reads nothing past the routine.
    // SAFETY: reads this crate's own code, which is mapped readable, one
    // word at a time up to the first of the marker, which lies within
    // `MAX_WORDS` words of the start (the test checks it).
    let end = (0..MAX_WORDS).find(|&i| unsafe { code.add(i).read() } >> 16 == 0)?;
    let fixup = end.checked_sub(FIXUP.len())?;
    // SAFETY: words `fixup..end + 2`: the routine's own code, its fixup
    // and its marker, whose first word is at `end` and second right after.
    let tail: [u32; 4] = unsafe { std::array::from_fn(|i| code.add(fixup + i).read()) };
    (tail[..2] == FIXUP && tail[2..] == END_MARKER).then_some((start, start + 4 * fixup))
}

/// Where a fault is the routine's and where it resumes: the start and
/// the fixup of [`copy_bytes`], found by its end marker.
pub(crate) fn bounds() -> Option<(usize, usize)> {
    body()
}

/// Where the program counter is in the context the kernel passes an
/// `SA_SIGINFO` handler: `uc_mcontext.pc`.
///
/// # Safety
/// `ctx` is that context, and the pointer is used only while the handler
/// runs.
pub(crate) unsafe fn pc(ctx: *mut libc::c_void) -> *mut usize {
    // SAFETY: forwarded; `pc` is a 64-bit integer, as is `usize` here.
    unsafe { (&raw mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc).cast() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixup_and_body_are_where_the_handler_looks() {
        let start = copy_bytes as *const () as usize;
        let (body_start, fixup) = body().expect("end marker after the fixup");
        assert_eq!(body_start, start);
        // The routine is some 350 bytes; the marker must be its own.
        assert!((300..600).contains(&(fixup - start)), "{}", fixup - start);
    }
}
