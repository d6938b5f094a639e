//! aarch64: the copy routine (see [`crate::copy`]) and where a fault's
//! program counter is in the signal context.

/// The longest copy [`copy_short`] takes.
pub(crate) const INLINE_MAX: usize = 64;

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
/// The routine registers itself, from its first instruction to the
/// fixup, in the fault table (see [`crate::os::fault`]).
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
        "40:",
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
        // The fixup.
        "42:",
        "mov x0, x2",
        "ret",
        fixup_entry!("40", "42", "42"),
        non_temporal_from = const crate::copy::NON_TEMPORAL_FROM,
    )
}

/// Copies `len` bytes, at most [`INLINE_MAX`], from `src` to `dst`;
/// `false` if an access faulted, and then the caller redoes the copy its
/// own way.
///
/// Inlined where it is called, with the steps of [`copy_bytes`] for up to
/// 64 bytes, every load before the first store, and a fault resuming at
/// the caller's `fault` label (see the x86_64 version for why).
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
            "add {src_end}, {src}, {len}",
            "add {dst_end}, {dst}, {len}",
            "cmp {len}, #16",
            "b.hi 3f",
            // 8 to 16: the first 8 and the last 8.
            "cmp {len}, #8",
            "b.lo 5f",
            "ldr {t:x}, [{src}]",
            "ldur {u:x}, [{src_end}, #-8]",
            "str {t:x}, [{dst}]",
            "stur {u:x}, [{dst_end}, #-8]",
            "b 9f",
            // 4 to 7: the first 4 and the last 4.
            "5:",
            "cmp {len}, #4",
            "b.lo 6f",
            "ldr {t:w}, [{src}]",
            "ldur {u:w}, [{src_end}, #-4]",
            "str {t:w}, [{dst}]",
            "stur {u:w}, [{dst_end}, #-4]",
            "b 9f",
            // 2 and 3: the first 2 and the last 2.
            "6:",
            "cmp {len}, #2",
            "b.lo 7f",
            "ldrh {t:w}, [{src}]",
            "ldurh {u:w}, [{src_end}, #-2]",
            "strh {t:w}, [{dst}]",
            "sturh {u:w}, [{dst_end}, #-2]",
            "b 9f",
            // 0 and 1.
            "7:",
            "cbz {len}, 9f",
            "ldrb {t:w}, [{src}]",
            "strb {t:w}, [{dst}]",
            "b 9f",
            // 17 to 64: the first 16 and the last 16, and if more than 32
            // the 16 after the first and the 16 before the last.
            "3:",
            "ldr {a:q}, [{src}]",
            "ldur {b:q}, [{src_end}, #-16]",
            "cmp {len}, #32",
            "b.ls 4f",
            "ldr {c:q}, [{src}, #16]",
            "ldur {d:q}, [{src_end}, #-32]",
            "str {c:q}, [{dst}, #16]",
            "stur {d:q}, [{dst_end}, #-32]",
            "4:",
            "str {a:q}, [{dst}]",
            "stur {b:q}, [{dst_end}, #-16]",
            "9:",
            fixup_entry!("2", "9", label "{fault}"),
            dst = in(reg) dst,
            src = in(reg) src,
            len = in(reg) len,
            src_end = out(reg) _,
            dst_end = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            a = out(vreg) _,
            b = out(vreg) _,
            c = out(vreg) _,
            d = out(vreg) _,
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
            "ldrb {t:w}, [{at}]",
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
/// `SA_SIGINFO` handler: `uc_mcontext.pc`.
///
/// # Safety
/// `ctx` is that context, and the pointer is used only while the handler
/// runs.
pub(crate) unsafe fn pc(ctx: *mut libc::c_void) -> *mut usize {
    // SAFETY: forwarded; `pc` is a 64-bit integer, as is `usize` here.
    unsafe { (&raw mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc).cast() }
}
