//! Model test: random sequences of operations run on an `MmapFile` world and
//! on a `std::fs::File` world side by side, comparing every result. The
//! operations, the worlds and the comparisons are in `world.rs` (shared with
//! the `model` fuzz target, see fuzz/fuzz_targets/model.rs); this file has
//! the proptest strategies and the tests.
//!
//! `mmapfile_behaves_like_file` runs on a named file;
//! `anonymous_mmapfile_behaves_like_file` on `MmapFile::anonymous()`, whose
//! other handles open `/proc/self/fd/N`.
//!
//! Discrepancies found so far are also kept below as fixed sequences, one
//! `#[test]` each. Run with `PROPTEST_CASES=2000` for a deeper search.

mod world;

use std::io::SeekFrom;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use world::{Cfg, Data, Ext, H, Op};

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn handle() -> impl Strategy<Value = H> {
    prop_oneof![
        6 => Just(H::Main),
        2 => Just(H::Clone),
        2 => Just(H::App),
        2 => Just(H::Ro),
        1 => Just(H::Wo),
    ]
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        4 => 0usize..64,
        3 => 0usize..4200,
        2 => 0usize..9000,
    ]
}

fn data() -> impl Strategy<Value = Data> {
    (size(), any::<u32>(), prop::bool::weighted(0.7)).prop_map(|(len, seed, text)| Data {
        len,
        seed,
        text,
    })
}

/// Offsets where a write fails on ext4 (the temporary directory's file
/// system here): past its largest file (16 TiB), near and past `i64::MAX`,
/// near `u64::MAX`. None of them may succeed: a write there would make a file
/// too large to compare (see `MAX_COMPARED`). A memfd (`anon`) is on tmpfs,
/// which takes files up to `i64::MAX`: there only offsets past `i64::MAX`,
/// invalid everywhere.
fn huge(anon: bool) -> BoxedStrategy<u64> {
    if anon {
        return prop_oneof![
            (i64::MAX as u64 + 1)..=(i64::MAX as u64 + 16),
            (u64::MAX - 16)..=u64::MAX,
        ]
        .boxed();
    }
    prop_oneof![
        Just(1u64 << 50),
        Just(1u64 << 62),
        (i64::MAX as u64 - 16)..=(i64::MAX as u64 + 16),
        (u64::MAX - 16)..=u64::MAX,
    ]
    .boxed()
}

fn offset(anon: bool) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..70_000,
        2 => (0u64..24, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d)),
        1 => (0u64..6, -8i64..8).prop_map(|(p, d)| (p << 16).saturating_add_signed(d)),
        1 => 0u64..(4 << 20),
        1 => huge(anon),
    ]
}

/// Seek distances; the extreme ones forward only where `huge` goes far
/// (`anon`: see there).
fn delta(anon: bool) -> impl Strategy<Value = i64> {
    let extreme = if anon {
        prop_oneof![Just(i64::MIN), Just(i64::MIN + 1), Just(-(1i64 << 50))].boxed()
    } else {
        prop_oneof![
            Just(i64::MAX),
            Just(i64::MAX - 1),
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(1i64 << 50),
            Just(-(1i64 << 50)),
        ]
        .boxed()
    };
    prop_oneof![
        6 => -70_000i64..70_000,
        2 => -16i64..16,
        1 => -(4i64 << 20)..(4 << 20),
        1 => extreme,
    ]
}

fn seek_from(anon: bool) -> impl Strategy<Value = SeekFrom> {
    prop_oneof![
        2 => offset(anon).prop_map(SeekFrom::Start),
        2 => delta(anon).prop_map(SeekFrom::Current),
        2 => delta(anon).prop_map(SeekFrom::End),
        1 => (-16i64..16).prop_map(SeekFrom::End),
    ]
}

fn set_len_size(anon: bool) -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..70_000,
        1 => (0u64..24, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d)),
        1 => 0u64..(4 << 20),
        1 => huge(anon),
    ]
}

fn external() -> impl Strategy<Value = Ext> {
    let near = prop_oneof![
        4 => 0u64..70_000,
        2 => (0u64..24, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d)),
    ];
    prop_oneof![
        2 => (data(), near.clone()).prop_map(|(data, offset)| Ext::Write { data, offset }),
        1 => data().prop_map(|data| Ext::Append { data }),
        2 => near.prop_map(|size| Ext::SetLen { size }),
    ]
}

/// An operation; `anon`: for a world on a memfd (see `huge`).
fn op(anon: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (handle(), size()).prop_map(|(h, len)| Op::Read { h, len }),
        2 => (handle(), size()).prop_map(|(h, len)| Op::ReadExact { h, len }),
        2 => (handle(), prop_oneof![Just(0usize), Just(5)])
            .prop_map(|(h, prefix)| Op::ReadToEnd { h, prefix }),
        2 => (handle(), any::<bool>()).prop_map(|(h, prefix)| Op::ReadToString { h, prefix }),
        2 => (handle(), prop::collection::vec(size(), 0..4))
            .prop_map(|(h, lens)| Op::ReadVectored { h, lens }),
        6 => (handle(), data()).prop_map(|(h, data)| Op::Write { h, data }),
        3 => (handle(), data()).prop_map(|(h, data)| Op::WriteAll { h, data }),
        2 => (handle(), prop::collection::vec(data(), 0..4))
            .prop_map(|(h, bufs)| Op::WriteVectored { h, bufs }),
        5 => (handle(), seek_from(anon)).prop_map(|(h, pos)| Op::Seek { h, pos }),
        1 => handle().prop_map(|h| Op::StreamPosition { h }),
        4 => (handle(), size(), offset(anon)).prop_map(|(h, len, offset)| Op::ReadAt { h, len, offset }),
        2 => (handle(), size(), offset(anon))
            .prop_map(|(h, len, offset)| Op::ReadExactAt { h, len, offset }),
        4 => (handle(), data(), offset(anon))
            .prop_map(|(h, data, offset)| Op::WriteAt { h, data, offset }),
        2 => (handle(), data(), offset(anon))
            .prop_map(|(h, data, offset)| Op::WriteAllAt { h, data, offset }),
        2 => (handle(), set_len_size(anon)).prop_map(|(h, size)| Op::SetLen { h, size }),
        2 => handle().prop_map(|h| Op::Flush { h }),
        1 => handle().prop_map(|h| Op::SyncData { h }),
        1 => handle().prop_map(|h| Op::SyncAll { h }),
        2 => handle().prop_map(|h| Op::Metadata { h }),
        2 => handle().prop_map(|h| Op::Len { h }),
        2 => prop_oneof![Just(H::Clone), Just(H::App), Just(H::Ro), Just(H::Wo)]
            .prop_map(|h| Op::Drop { h }),
        1 => any::<bool>().prop_map(|truncate| Op::Reopen { truncate }),
        1 => handle().prop_map(|h| Op::IntoFile { h }),
        2 => external().prop_map(|change| Op::External { change }),
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        prop::bool::weighted(0.3),
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(4096u64)),
            1 => Just(Some(64u64 << 10)),
            1 => Just(Some(1u64 << 20)),
        ],
        prop_oneof![
            1 => Just(0usize),
            4 => 0usize..20_000,
            1 => (0u64..6, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d) as usize),
        ],
        any::<u32>(),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(exact_len, reserve, len, seed, text)| Cfg {
            exact_len,
            reserve,
            init: Data { len, seed, text },
            anonymous: false,
        })
}

/// `ProptestConfig::default()` (which takes `PROPTEST_CASES` from the
/// environment), with failures saved next to this file, in
/// `tests/model/main.proptest-regressions`.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mmapfile_behaves_like_file(cfg in cfg(), ops in prop::collection::vec(op(false), 1..60)) {
        world::run(cfg, &ops).map_err(TestCaseError::fail)?;
    }

    /// The same with the `MmapFile` world on `MmapFile::anonymous()`.
    #[test]
    fn anonymous_mmapfile_behaves_like_file(
        cfg in cfg().prop_map(|cfg| Cfg { anonymous: true, ..cfg }),
        ops in prop::collection::vec(op(true), 1..60),
    ) {
        world::run(cfg, &ops).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------
// Fixed sequences: discrepancies the model found, kept as deterministic
// regression tests (proptest's saved seeds go stale when the strategies
// change).
// ---------------------------------------------------------------------------

/// Runs `ops` on a named file of 5 bytes, or (`anonymous`) on
/// `MmapFile::anonymous()` with those 5 bytes.
fn check_on(anonymous: bool, ops: Vec<Op>) {
    let cfg = Cfg {
        exact_len: false,
        reserve: None,
        init: Data {
            len: 5,
            seed: 1,
            text: true,
        },
        anonymous,
    };
    if let Err(e) = world::run(cfg, &ops) {
        panic!("{e}");
    }
}

fn check(ops: Vec<Op>) {
    check_on(false, ops);
}

fn bytes(len: usize) -> Data {
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

/// Another process truncates the file within its last page: once the handle
/// has noticed (`metadata`), reading past the new end gives 0 bytes, as
/// `pread` does. (Before, the mapping shows zeros there without a fault:
/// the documented limit, pinned down in tests/truncation.rs.)
#[test]
fn read_after_external_shrink_within_a_page() {
    check(vec![
        Op::WriteAt {
            h: H::Main,
            data: bytes(100),
            offset: 0,
        },
        Op::External {
            change: Ext::SetLen { size: 50 },
        },
        Op::ReadAt {
            h: H::Main,
            len: 10,
            offset: 60,
        },
    ]);
}

/// Another process truncates the file within its last page: once noticed, a
/// write past the new end extends the file again, as `pwrite` does.
#[test]
fn write_after_external_shrink_within_a_page() {
    check(vec![
        Op::WriteAt {
            h: H::Main,
            data: bytes(100),
            offset: 0,
        },
        Op::External {
            change: Ext::SetLen { size: 50 },
        },
        Op::WriteAt {
            h: H::Main,
            data: bytes(1),
            offset: 80,
        },
    ]);
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
