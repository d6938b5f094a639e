//! Model test: random sequences of operations run on an `MmapFile` world and
//! on a `std::fs::File` world side by side, comparing every result. The
//! operations, the worlds, the other actors (an outsider process, fork
//! children) and the comparisons are in `world.rs` (shared with the `model`
//! fuzz target, see fuzz/fuzz_targets/model.rs); this file has the proptest
//! strategies and the tests.
//!
//! `mmapfile_behaves_like_file` runs on a named file;
//! `anonymous_mmapfile_behaves_like_file` on `MmapFile::anonymous()`, whose
//! other handles open `/proc/self/fd/N`. Both fork, so each runs in a
//! process of its own (see `isolated`). `outsider` is not a test: it is the
//! entry point of the outsider processes (see `world::serve_outsider`).
//!
//! Discrepancies found so far, and the scenarios of issue 11 the model can
//! play, are also kept below as fixed sequences, one `#[test]` each. Run
//! with `PROPTEST_CASES=2000` for a deeper search. With
//! `MMAPFILE_MODEL_TWINS=1` both worlds are `File`s: the harness' own
//! check, which must never fail.

mod world;

use std::io::SeekFrom;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use world::{Cfg, Data, Ext, H, Kid, Op, Out, Pos};

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// A handle; `solo` cases keep to `Main` and its clone mostly, so that
/// the file has one open description for long stretches (the only time
/// `MmapFile` may pad the file on disk ahead of its length).
fn handle(solo: bool) -> BoxedStrategy<H> {
    if solo {
        return prop_oneof![
            24 => Just(H::Main),
            4 => Just(H::Clone),
            1 => Just(H::App),
            1 => Just(H::Ro),
        ]
        .boxed();
    }
    prop_oneof![
        6 => Just(H::Main),
        2 => Just(H::Clone),
        2 => Just(H::App),
        2 => Just(H::Ro),
        1 => Just(H::Wo),
    ]
    .boxed()
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

/// Where the outsider writes, reads or cuts: mostly just past our length,
/// inside the growth step `MmapFile` may have padded the file with (up to
/// 128 KiB past it), some before it, some anywhere, some far.
fn pos() -> impl Strategy<Value = Pos> {
    prop_oneof![
        4 => (0i64..(128 << 10)).prop_map(Pos::End),
        1 => (0i64..8).prop_map(Pos::End),
        1 => (-4200i64..0).prop_map(Pos::End),
        2 => (0u64..70_000).prop_map(Pos::Abs),
        1 => (0u64..(4 << 20)).prop_map(Pos::Abs),
    ]
}

fn outsider_cmd() -> impl Strategy<Value = Out> {
    prop_oneof![
        4 => (data(), pos()).prop_map(|(data, at)| Out::WriteAt { data, at }),
        3 => data().prop_map(|data| Out::Append { data }),
        1 => pos().prop_map(|size| Out::SetLen { size }),
        1 => Just(Out::Len),
        1 => (size(), pos()).prop_map(|(len, at)| Out::ReadAt { len, at }),
        1 => Just(Out::OpenLen),
        1 => Just(Out::StatLen),
        1 => Just(Out::SyncAll),
        2 => Just(Out::Close),
    ]
}

/// What a fork child does on its inherited handles.
fn kid(anon: bool, solo: bool) -> impl Strategy<Value = Kid> {
    let h = handle(solo);
    prop_oneof![
        3 => (h.clone(), size()).prop_map(|(h, len)| Kid::Do(Op::Read { h, len })),
        4 => (h.clone(), data()).prop_map(|(h, data)| Kid::Do(Op::Write { h, data })),
        2 => (h.clone(), data(), offset(anon))
            .prop_map(|(h, data, offset)| Kid::Do(Op::WriteAt { h, data, offset })),
        1 => (h.clone(), size(), offset(anon))
            .prop_map(|(h, len, offset)| Kid::Do(Op::ReadAt { h, len, offset })),
        2 => (h.clone(), seek_from(anon)).prop_map(|(h, pos)| Kid::Do(Op::Seek { h, pos })),
        1 => h.clone().prop_map(|h| Kid::Do(Op::StreamPosition { h })),
        1 => (h.clone(), set_len_size(anon)).prop_map(|(h, size)| Kid::Do(Op::SetLen { h, size })),
        2 => h.prop_map(Kid::Drop),
        1 => Just(Kid::DropAll),
        1 => Just(Kid::Exit),
    ]
}

/// Up to three things for a fork child to do; nothing after an `Exit`.
fn kids(anon: bool, solo: bool) -> impl Strategy<Value = Vec<Kid>> {
    prop::collection::vec(kid(anon, solo), 0..4).prop_map(|mut kids| {
        if let Some(i) = kids.iter().position(|k| matches!(k, Kid::Exit)) {
            kids.truncate(i + 1);
        }
        kids
    })
}

/// An operation; `anon`: for a world on a memfd (see `huge`); `solo`: see
/// `handle`.
fn op(anon: bool, solo: bool) -> impl Strategy<Value = Op> {
    let handle = || handle(solo);
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
        1 => external().prop_map(|change| Op::External { change }),
        6 => outsider_cmd().prop_map(|cmd| Op::Outsider { cmd }),
        1 => kids(anon, solo).prop_map(|kid| Op::Fork { kid }),
        2 => kids(anon, solo).prop_map(|kid| Op::Child { kid }),
    ]
}

/// `anon`: for the anonymous world (whose `Main` is read-write).
fn cfg(anon: bool) -> impl Strategy<Value = Cfg> {
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
        prop::bool::weighted(0.5),
        prop::bool::weighted(if anon { 0.0 } else { 0.2 }),
    )
        .prop_map(
            move |(exact_len, reserve, len, seed, text, observe, main_append)| Cfg {
                exact_len,
                reserve,
                init: Data { len, seed, text },
                anonymous: anon,
                observe,
                main_append,
            },
        )
}

/// A case: its `Cfg` and up to 60 operations, in one case of three `solo`
/// (see `handle`). A union, not a `prop_flat_map`: it shrinks within the
/// branch it took.
fn case(anon: bool) -> impl Strategy<Value = (Cfg, Vec<Op>)> {
    let ops = prop_oneof![
        2 => prop::collection::vec(op(anon, false), 1..60),
        1 => prop::collection::vec(op(anon, true), 1..60),
    ];
    (cfg(anon), ops)
}

/// `ProptestConfig::default()` (which takes `PROPTEST_CASES` from the
/// environment), with failures saved next to this file, in
/// `tests/model/main.proptest-regressions`.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Cases are long: shrinking needs more than 4 steps a case when
        // there are few cases.
        max_shrink_iters: default.max_shrink_iters().max(4096),
        ..default
    }
}

/// Plays a case: `world::run`, or `world::run_twins` (`File` in both
/// worlds) with `MMAPFILE_MODEL_TWINS` set.
fn play(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    world::set_outsider_command(outsider_command);
    if std::env::var_os("MMAPFILE_MODEL_TWINS").is_some() {
        world::run_twins(cfg, ops)
    } else {
        world::run(cfg, ops)
    }
}

/// This binary again, running only `outsider`.
fn outsider_command() -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["outsider", "--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// The outsider processes' entry point (`world::serve_outsider`); in the
/// test run proper, it does nothing.
#[test]
fn outsider() {
    if world::is_outsider() {
        world::serve_outsider();
    }
}

const ISOLATED_ENV: &str = "MMAPFILE_MODEL_ISOLATED";

/// Runs `body` as the test `test` in a process of its own: this binary
/// again, running only `test`, with one test thread.
///
/// The model forks, and a fork child may safely take only locks no other
/// thread held at the fork (malloc's, stdio's, the crate's registry). In
/// this process other tests run on other threads at any moment; in the
/// process of its own, the only other thread is libtest's main thread,
/// waiting for the test to end. (Keeping the child to async-signal-safe
/// calls instead is not possible: it must run `MmapFile` code, which
/// allocates and locks, to be a test of it.)
fn isolated(test: &str, body: fn()) {
    if std::env::var_os(ISOLATED_ENV).is_some_and(|t| t == test) {
        return body();
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ISOLATED_ENV, test)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test}, in a process of its own: {}\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        out.status
    );
}

proptest! {
    #![proptest_config(config())]

    // Not `#[test]`s themselves: the tests below run them in processes of
    // their own.
    fn model_named((cfg, ops) in case(false)) {
        play(cfg, &ops).map_err(TestCaseError::fail)?;
    }

    fn model_anonymous((cfg, ops) in case(true)) {
        play(cfg, &ops).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn mmapfile_behaves_like_file() {
    isolated("mmapfile_behaves_like_file", model_named);
}

/// The same with the `MmapFile` world on `MmapFile::anonymous()`.
#[test]
fn anonymous_mmapfile_behaves_like_file() {
    isolated("anonymous_mmapfile_behaves_like_file", model_anonymous);
}

// ---------------------------------------------------------------------------
// Fixed sequences: discrepancies the model found, kept as deterministic
// regression tests (proptest's saved seeds go stale when the strategies
// change).
// ---------------------------------------------------------------------------

/// The `Cfg` of the fixed sequences: a named file of 5 bytes (`anonymous`:
/// `MmapFile::anonymous()` with those 5 bytes), read after every op.
fn fixed(anonymous: bool) -> Cfg {
    Cfg {
        exact_len: false,
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
fn unobserved() -> Cfg {
    Cfg {
        observe: false,
        ..fixed(false)
    }
}

/// Plays a fixed sequence. One with `Op::Fork` or `Op::Child` must run
/// inside `isolated` (see there).
fn check_cfg(cfg: Cfg, ops: Vec<Op>) {
    if let Err(e) = play(cfg, &ops) {
        panic!("{e}");
    }
}

fn check_on(anonymous: bool, ops: Vec<Op>) {
    check_cfg(fixed(anonymous), ops);
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
/// Read only at the end: what this pins down is the shrink, not the size
/// on disk between ops.
#[test]
fn read_after_external_shrink_within_a_page() {
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
            Op::ReadAt {
                h: H::Main,
                len: 10,
                offset: 60,
            },
        ],
    );
}

/// Another process truncates the file within its last page: once noticed, a
/// write past the new end extends the file again, as `pwrite` does.
/// Read only at the end, as above.
#[test]
fn write_after_external_shrink_within_a_page() {
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
            Op::WriteAt {
                h: H::Main,
                data: bytes(1),
                offset: 80,
            },
        ],
    );
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

// ---------------------------------------------------------------------------
// Issue 11: File's results outside one process. These fail until the core
// follows /work/notes/issue11-design.md.
// ---------------------------------------------------------------------------

fn text(len: usize, seed: u32) -> Data {
    Data {
        len,
        seed,
        text: true,
    }
}

/// Row 1: our handle is opened with `append(true)`; another process
/// appends with `O_APPEND` between two of our appends, no flush between:
/// `a1 b1 a2`, as with `File` (not `a1 a2`, zeros, `b1`).
#[test]
fn issue11_outsider_appends_between_our_appends() {
    check_cfg(
        Cfg {
            main_append: true,
            ..unobserved()
        },
        vec![
            Op::Write {
                h: H::Main,
                data: text(2, 1),
            },
            Op::Outsider {
                cmd: Out::Append { data: text(2, 2) },
            },
            Op::Write {
                h: H::Main,
                data: text(2, 3),
            },
        ],
    );
}

/// Row 2: another process does `write_at(b"B", 1000)` and `sync_all` after
/// we wrote 100 bytes; we drop: the file keeps its 1,001 bytes.
#[test]
fn issue11_outsider_write_survives_our_drop() {
    check_cfg(
        unobserved(),
        vec![
            Op::Write {
                h: H::Main,
                data: text(100, 1),
            },
            Op::Outsider {
                cmd: Out::WriteAt {
                    data: text(1, 2),
                    at: Pos::Abs(1000),
                },
            },
            Op::Outsider { cmd: Out::SyncAll },
            Op::Outsider { cmd: Out::Close },
            Op::Drop { h: H::Main },
        ],
    );
}

/// Row 3: fork; the parent writes; the child drops its inherited handle:
/// the parent's bytes stay.
#[test]
fn issue11_fork_child_drop_keeps_parents_write() {
    isolated("issue11_fork_child_drop_keeps_parents_write", || {
        check_cfg(
            unobserved(),
            vec![
                Op::Fork { kid: vec![] },
                Op::Write {
                    h: H::Main,
                    data: text(100, 1),
                },
                Op::Child {
                    kid: vec![Kid::Drop(H::Main)],
                },
            ],
        );
    });
}

/// Row 4: fork; the child writes C, then the parent writes P through the
/// same handle: `... C P`, as the file offset is shared.
#[test]
fn issue11_fork_child_and_parent_share_the_cursor() {
    isolated("issue11_fork_child_and_parent_share_the_cursor", || {
        check_cfg(
            unobserved(),
            vec![
                Op::Fork {
                    kid: vec![Kid::Do(Op::Write {
                        h: H::Main,
                        data: text(1, 1),
                    })],
                },
                Op::Write {
                    h: H::Main,
                    data: text(1, 2),
                },
            ],
        );
    });
}

/// The outsider on the anonymous world opens `/proc/<our pid>/fd/N`, and
/// sees our unflushed bytes and the exact size.
#[test]
fn issue11_outsider_on_anonymous_file() {
    check_cfg(
        Cfg {
            observe: false,
            ..fixed(true)
        },
        vec![
            Op::WriteAll {
                h: H::Main,
                data: bytes(5000),
            },
            Op::Outsider {
                cmd: Out::ReadAt {
                    len: 100,
                    at: Pos::End(-50),
                },
            },
            Op::Outsider {
                cmd: Out::WriteAt {
                    data: text(10, 2),
                    at: Pos::End(3000),
                },
            },
            Op::Outsider { cmd: Out::Len },
            Op::Read {
                h: H::Main,
                len: 10,
            },
            Op::Metadata { h: H::Main },
        ],
    );
}

/// A `File` taken out of a forked description (`into_file`) and wrapped
/// again (`try_from`) still shares the offset with the child: the child's
/// write moves the parent's cursor.
#[test]
fn fork_then_into_file_keeps_the_offset_shared() {
    isolated("fork_then_into_file_keeps_the_offset_shared", || {
        check_cfg(
            unobserved(),
            vec![
                Op::Child { kid: vec![] },
                Op::IntoFile { h: H::Main },
                Op::Child {
                    kid: vec![
                        Kid::Do(Op::Write {
                            h: H::Main,
                            data: text(1, 0),
                        }),
                        Kid::Do(Op::Read { h: H::Main, len: 0 }),
                    ],
                },
            ],
        );
    });
}
