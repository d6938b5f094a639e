//! Fixed sequences: discrepancies the model found, kept as deterministic
//! regression tests, one `#[test]` each (proptest's saved seeds go stale
//! when the strategies change); those with another process or a fork are
//! in `outsiders.rs`, and those of deferred mapping in `deferred.rs`.

use crate::play;
use crate::world::{Cfg, Data, Ext, H, Op};

/// The `Cfg` of the fixed sequences: a named file of 5 bytes (`anonymous`:
/// `MmapFile::anonymous()` with those 5 bytes), read after every op.
pub(crate) fn fixed(anonymous: bool) -> Cfg {
    Cfg {
        exact_len: false,
        background_growth: false,
        map_after: Some(0),
        reserve: None,
        init: Data {
            len: 5,
            seed: 1,
            text: true,
        },
        anonymous,
        observe: true,
        main_append: false,
    }
}

/// A fixed sequence's `Cfg` with the files read only at the end: a single
/// handle appends undisturbed, as it would in a program.
pub(crate) fn unobserved() -> Cfg {
    Cfg {
        observe: false,
        ..fixed(false)
    }
}

/// Plays a fixed sequence. One with `Op::Fork` or `Op::Child` must run
/// inside `isolated` (see there).
pub(crate) fn check_cfg(cfg: Cfg, ops: Vec<Op>) {
    if let Err(e) = play(cfg, &ops) {
        panic!("{e}");
    }
}

pub(crate) fn check_on(anonymous: bool, ops: Vec<Op>) {
    check_cfg(fixed(anonymous), ops);
}

pub(crate) fn check(ops: Vec<Op>) {
    check_on(false, ops);
}

/// An empty initial file.
pub(crate) fn no_bytes() -> Data {
    Data {
        len: 0,
        seed: 0,
        text: false,
    }
}

/// `len` bytes of text from `seed`.
pub(crate) fn text(len: usize, seed: u32) -> Data {
    Data {
        len,
        seed,
        text: true,
    }
}

pub(crate) fn bytes(len: usize) -> Data {
    Data {
        len,
        seed: 7,
        text: true,
    }
}

/// `write(b"")` / `write_vectored` of nothing on an `O_APPEND` handle: the
/// kernel returns 0 without moving the file offset to the end.
#[test]
fn empty_write_on_append_handle_keeps_cursor() {
    check(vec![Op::Write {
        h: H::App,
        data: bytes(0),
    }]);
    check(vec![Op::WriteVectored {
        h: H::App,
        bufs: vec![],
    }]);
}

/// `into_file` + `try_from` on one of two clones: `File` clones keep sharing
/// the offset.
#[test]
fn into_file_round_trip_keeps_clones_cursor_shared() {
    check(vec![
        Op::IntoFile { h: H::Clone },
        Op::Read { h: H::Main, len: 1 },
    ]);
    check(vec![
        Op::Read {
            h: H::Clone,
            len: 1,
        },
        Op::IntoFile { h: H::Main },
        Op::Read { h: H::Main, len: 1 },
    ]);
}

/// `pread`/`pwrite` with an offset past `i64::MAX` fail with `EINVAL` before
/// the kernel looks at the access mode (`EBADF`).
#[test]
fn negative_offset_is_einval_before_ebadf() {
    check(vec![Op::ReadAt {
        h: H::Wo,
        len: 4,
        offset: 1 << 63,
    }]);
    check(vec![Op::WriteAt {
        h: H::Ro,
        data: bytes(4),
        offset: u64::MAX,
    }]);
}

/// `pwrite` on an `O_APPEND` descriptor appends, but only after checking the
/// offset: past `i64::MAX`, or overflowing it with the length, is `EINVAL`
/// and nothing is written.
#[test]
fn append_write_at_checks_offset() {
    for offset in [u64::MAX, 1 << 63, i64::MAX as u64 - 1] {
        check(vec![Op::WriteAt {
            h: H::App,
            data: bytes(3),
            offset,
        }]);
    }
}

/// A write that fails past the largest file must not turn growth padding
/// into length (fixed in 6f8ee43).
#[test]
fn failed_far_write_keeps_length() {
    check(vec![
        Op::WriteAt {
            h: H::Main,
            data: bytes(1),
            offset: 0,
        },
        Op::WriteAt {
            h: H::Main,
            data: bytes(1),
            offset: 1 << 50,
        },
    ]);
}

/// Plays `last` after 100 bytes written through `Main` and a cut to 50 by
/// another process (`Op::External`), the files read only at the end.
fn after_external_shrink(last: Op) {
    check_cfg(
        unobserved(),
        vec![
            Op::WriteAt {
                h: H::Main,
                data: bytes(100),
                offset: 0,
            },
            Op::External {
                change: Ext::SetLen { size: 50 },
            },
            last,
        ],
    );
}

/// Another process truncates the file within its last page: once the handle
/// has noticed (`metadata`), reading past the new end gives 0 bytes, as
/// `pread` does. (Before, the mapping shows zeros there without a fault:
/// the documented limit, pinned down in tests/truncation.rs.)
/// Read only at the end: what this pins down is the shrink, not the size
/// on disk between ops.
#[test]
fn read_after_external_shrink_within_a_page() {
    after_external_shrink(Op::ReadAt {
        h: H::Main,
        len: 10,
        offset: 60,
    });
}

/// Another process truncates the file within its last page: once noticed, a
/// write past the new end extends the file again, as `pwrite` does.
/// Read only at the end, as above.
#[test]
fn write_after_external_shrink_within_a_page() {
    after_external_shrink(Op::WriteAt {
        h: H::Main,
        data: bytes(1),
        offset: 80,
    });
}

/// The anonymous world through every kind of handle and change: `Main` is
/// `MmapFile::anonymous()`; the other handles, the reopens and the outside
/// changes go through `/proc/self/fd/N`.
#[test]
fn anonymous_file_through_every_handle() {
    check_on(
        true,
        vec![
            Op::WriteAll {
                h: H::Main,
                data: bytes(5000),
            },
            Op::Read {
                h: H::Clone,
                len: 10,
            },
            Op::Write {
                h: H::App,
                data: bytes(100),
            },
            Op::ReadToEnd {
                h: H::Ro,
                prefix: 0,
            },
            Op::WriteAt {
                h: H::Wo,
                data: bytes(10),
                offset: 9000,
            },
            Op::External {
                change: Ext::Append { data: bytes(7) },
            },
            Op::Metadata { h: H::Main },
            Op::IntoFile { h: H::Main },
            Op::Drop { h: H::Main },
            Op::Reopen { truncate: true },
            Op::WriteAll {
                h: H::Main,
                data: bytes(3),
            },
            Op::ReadToEnd {
                h: H::App,
                prefix: 5,
            },
        ],
    );
}
