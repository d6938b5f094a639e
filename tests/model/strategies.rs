//! The proptest strategies of the model test: a [`case`] is a `Cfg` and up
//! to 60 operations, drawn with the weights below (the `model` fuzz target
//! decodes its bytes with the same weights, see fuzz/fuzz_targets/model.rs).

use std::io::SeekFrom;

use proptest::prelude::*;

use crate::world::{Cfg, Data, Ext, H, Kid, Op, Out, Pos};

/// Which handles a case's operations use.
#[derive(Clone, Copy, Debug)]
pub enum Mix {
    /// All five.
    All,
    /// `Main` and its clone mostly, so that the file has one open
    /// description for long stretches (the only time `MmapFile` may pad
    /// the file on disk ahead of its length).
    Solo,
    /// `Main` alone, which then is the only handle of its description for
    /// long stretches: the only time its writes may take the lock-free path
    /// (see src/inode/fast.rs), which the other actors (the outsider, fork
    /// children, `External` changes) must revoke.
    Sole,
}

/// A handle, as `mix` says.
fn handle(mix: Mix) -> BoxedStrategy<H> {
    match mix {
        Mix::Sole => Just(H::Main).boxed(),
        Mix::Solo => prop_oneof![
            24 => Just(H::Main),
            4 => Just(H::Clone),
            1 => Just(H::App),
            1 => Just(H::Ro),
        ]
        .boxed(),
        Mix::All => prop_oneof![
            6 => Just(H::Main),
            2 => Just(H::Clone),
            2 => Just(H::App),
            2 => Just(H::Ro),
            1 => Just(H::Wo),
        ]
        .boxed(),
    }
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
fn kid(anon: bool, mix: Mix) -> impl Strategy<Value = Kid> {
    let h = handle(mix);
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
fn kids(anon: bool, mix: Mix) -> impl Strategy<Value = Vec<Kid>> {
    prop::collection::vec(kid(anon, mix), 0..4).prop_map(|mut kids| {
        if let Some(i) = kids.iter().position(|k| matches!(k, Kid::Exit)) {
            kids.truncate(i + 1);
        }
        kids
    })
}

/// The fewest buffers a vectored call gets: none, except where an empty
/// vector is answered without the kernel (under qemu-user), so that
/// `File`'s result for it is not Linux's (see `emulation`): then one.
fn fewest_buffers() -> usize {
    static FEWEST: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *FEWEST.get_or_init(|| match crate::emulation::empty_iovec_answered() {
        Some(why) => {
            println!("model: every vectored call gets a buffer or more: {why}");
            1
        }
        None => 0,
    })
}

/// An operation; `anon`: for a world on a memfd (see `huge`); `mix`: see
/// [`Mix`].
fn op(anon: bool, mix: Mix) -> BoxedStrategy<Op> {
    match mix {
        // Runs of short writes, which the lock-free path takes.
        Mix::Sole => prop_oneof![
            1 => any_op(anon, mix),
            2 => ((0usize..64, any::<u32>()), any::<bool>()).prop_map(|((len, seed), all)| {
                let data = Data { len, seed, text: true };
                if all {
                    Op::WriteAll { h: H::Main, data }
                } else {
                    Op::Write { h: H::Main, data }
                }
            }),
        ]
        .boxed(),
        _ => any_op(anon, mix).boxed(),
    }
}

/// An operation of any kind, as [`op`] draws them.
fn any_op(anon: bool, mix: Mix) -> impl Strategy<Value = Op> {
    let handle = || handle(mix);
    prop_oneof![
        6 => (handle(), size()).prop_map(|(h, len)| Op::Read { h, len }),
        2 => (handle(), size()).prop_map(|(h, len)| Op::ReadExact { h, len }),
        2 => (handle(), prop_oneof![Just(0usize), Just(5)])
            .prop_map(|(h, prefix)| Op::ReadToEnd { h, prefix }),
        2 => (handle(), any::<bool>()).prop_map(|(h, prefix)| Op::ReadToString { h, prefix }),
        1 => handle().prop_map(|h| Op::WriteTo { h }),
        2 => (handle(), prop::collection::vec(size(), fewest_buffers()..4))
            .prop_map(|(h, lens)| Op::ReadVectored { h, lens }),
        6 => (handle(), data()).prop_map(|(h, data)| Op::Write { h, data }),
        3 => (handle(), data()).prop_map(|(h, data)| Op::WriteAll { h, data }),
        2 => (handle(), prop::collection::vec(data(), fewest_buffers()..4))
            .prop_map(|(h, bufs)| Op::WriteVectored { h, bufs }),
        5 => (handle(), seek_from(anon)).prop_map(|(h, pos)| Op::Seek { h, pos }),
        1 => handle().prop_map(|h| Op::StreamPosition { h }),
        4 => (handle(), size(), offset(anon)).prop_map(|(h, len, offset)| Op::ReadAt { h, len, offset }),
        2 => (handle(), size(), offset(anon))
            .prop_map(|(h, len, offset)| Op::ReadExactAt { h, len, offset }),
        2 => (handle(), 0usize..65, offset(anon))
            .prop_map(|(h, len, offset)| Op::KeepReading { h, len, offset }),
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
        1 => kids(anon, mix).prop_map(|kid| Op::Fork { kid }),
        2 => kids(anon, mix).prop_map(|kid| Op::Child { kid }),
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
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.5),
        prop_oneof![
            2 => Just(None),
            2 => Just(Some(0u32)),
            1 => Just(Some(1u32)),
            1 => Just(Some(4u32)),
            1 => Just(Some(u32::MAX)),
        ],
    )
        .prop_map(
            move |(exact_len, reserve, len, seed, text, observe, main_append, background_growth, big, map_after)| Cfg {
                exact_len,
                background_growth,
                map_after,
                reserve,
                init: Data {
                    // The grower serves files from 4 MiB on.
                    len: if background_growth && big { len + (4 << 20) } else { len },
                    seed,
                    text,
                },
                anonymous: anon,
                observe,
                main_append,
            },
        )
}

/// A case: its `Cfg` and up to 60 operations, with the handles of a
/// [`Mix`]: half of the cases use all of them, a quarter `Solo`, a quarter
/// `Sole` (which compare the bytes on disk only at the end). A union, not a `prop_flat_map`: it shrinks within the branch it
/// took.
pub fn case(anon: bool) -> impl Strategy<Value = (Cfg, Vec<Op>)> {
    let ops = prop_oneof![
        2 => prop::collection::vec(op(anon, Mix::All), 1..60).prop_map(|ops| (ops, false)),
        1 => prop::collection::vec(op(anon, Mix::Solo), 1..60).prop_map(|ops| (ops, false)),
        1 => prop::collection::vec(op(anon, Mix::Sole), 1..60).prop_map(|ops| (ops, true)),
    ];
    (cfg(anon), ops).prop_map(|(mut cfg, (ops, sole))| {
        // An open to compare the bytes after each operation would end the
        // handle's lease, and with it the lock-free path.
        cfg.observe &= !sole;
        (cfg, ops)
    })
}
