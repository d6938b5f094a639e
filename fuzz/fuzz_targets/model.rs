//! The model test (tests/model) driven by the fuzzer: its bytes decode into a
//! `Cfg` and up to 60 operations, played by `world::run` on a `File` world and
//! an `MmapFile` world (named or anonymous), which compares every result.
//! The decoder follows the proptest strategies in tests/model/strategies.rs:
//! small sizes and offsets mostly, some near page and growth boundaries, a
//! few huge ones, only where every write fails so that files stay small. The
//! model's core (tests/model/world/) and the File-against-MmapFile harness
//! it builds on (tests/common/twin/) are included with `#[path]`.
//!
//! The other actors work here too. The outsider is this fuzz binary started
//! again with the outsider's environment variable: `init` (libFuzzer's
//! `LLVMFuzzerInitialize`, before any fuzzing) sees it and serves instead
//! (`world::serve_outsider`), then exits; one pair of outsiders per fuzzing
//! process, kept between inputs. Fork is as safe as in the test: libFuzzer
//! runs inputs on the main thread, and its only other thread (the RSS
//! watcher) sleeps between `getrusage` calls, holding no lock the child
//! needs; a panic in the child aborts it (libfuzzer-sys' hook), which the
//! runner reports as the child's death.
//!
//! With `MMAPFILE_MODEL_TWINS` set, both worlds are `File`s (the harness'
//! own check, which must never crash).
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/common/twin/mod.rs"]
mod twin;
#[path = "../../tests/model/world/mod.rs"]
mod world;

use std::io::SeekFrom;
use std::process::Command;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use world::{Cfg, Data, Ext, H, Kid, Op, Out, Pos};

/// At most this many operations a case, as in the proptest test.
const MAX_OPS: usize = 60;

/// One of `weights.len()` choices, the `i`th with weight `weights[i]`.
fn pick(u: &mut Unstructured, weights: &[u32]) -> Result<usize> {
    let mut x = u.int_in_range(0..=weights.iter().sum::<u32>() - 1)?;
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return Ok(i);
        }
        x -= w;
    }
    unreachable!("x is below the sum of the weights")
}

/// As `Mix` in tests/model/strategies.rs: which handles a case uses.
#[derive(Clone, Copy, Debug)]
enum Mix {
    All,
    Solo,
    Sole,
}

/// As `handle` in tests/model/strategies.rs.
fn handle(u: &mut Unstructured, mix: Mix) -> Result<H> {
    Ok(match mix {
        Mix::Sole => H::Main,
        Mix::Solo => [H::Main, H::Clone, H::App, H::Ro][pick(u, &[24, 4, 1, 1])?],
        Mix::All => [H::Main, H::Clone, H::App, H::Ro, H::Wo][pick(u, &[6, 2, 2, 2, 1])?],
    })
}

fn size(u: &mut Unstructured) -> Result<usize> {
    Ok(match pick(u, &[1, 4, 3, 2])? {
        0 => 0,
        1 => u.int_in_range(0..=63)?,
        2 => u.int_in_range(0..=4199)?,
        _ => u.int_in_range(0..=8999)?,
    })
}

fn data_of_len(u: &mut Unstructured, len: usize) -> Result<Data> {
    Ok(Data {
        len,
        seed: u.arbitrary()?,
        text: u.ratio(7u8, 10)?,
    })
}

fn data(u: &mut Unstructured) -> Result<Data> {
    let len = size(u)?;
    data_of_len(u, len)
}

/// `step` times a number below `steps`, give or take 8.
fn near_multiple(u: &mut Unstructured, step: u64, steps: u64) -> Result<u64> {
    let n = u.int_in_range(0..=steps - 1)?;
    Ok((n * step).saturating_add_signed(u.int_in_range(-8..=7)?))
}

/// As `huge` in tests/model/strategies.rs: where every write fails. On ext4 (a
/// named file) past 16 TiB, near and past `i64::MAX`, near `u64::MAX`; on a
/// memfd (tmpfs, files up to `i64::MAX`) only past `i64::MAX`.
fn huge(u: &mut Unstructured, anon: bool) -> Result<u64> {
    let past_i64 = i64::MAX as u64 + 1;
    if anon {
        return Ok(match pick(u, &[1, 1])? {
            0 => u.int_in_range(past_i64..=past_i64 + 15)?,
            _ => u.int_in_range(u64::MAX - 16..=u64::MAX)?,
        });
    }
    Ok(match pick(u, &[1, 1, 1, 1])? {
        0 => 1 << 50,
        1 => 1 << 62,
        2 => u.int_in_range(past_i64 - 17..=past_i64 + 15)?,
        _ => u.int_in_range(u64::MAX - 16..=u64::MAX)?,
    })
}

fn offset(u: &mut Unstructured, anon: bool) -> Result<u64> {
    match pick(u, &[8, 2, 1, 1, 1])? {
        0 => u.int_in_range(0..=69_999),
        1 => near_multiple(u, 4096, 24),
        2 => near_multiple(u, 1 << 16, 6),
        3 => u.int_in_range(0..=(4 << 20) - 1),
        _ => huge(u, anon),
    }
}

fn delta(u: &mut Unstructured, anon: bool) -> Result<i64> {
    Ok(match pick(u, &[6, 2, 1, 1])? {
        0 => u.int_in_range(-70_000..=69_999)?,
        1 => u.int_in_range(-16..=15)?,
        2 => u.int_in_range(-(4 << 20)..=(4 << 20) - 1)?,
        // Forward only where `huge` goes far.
        _ if anon => *u.choose(&[i64::MIN, i64::MIN + 1, -(1 << 50)])?,
        _ => *u.choose(&[
            i64::MAX,
            i64::MAX - 1,
            i64::MIN,
            i64::MIN + 1,
            1 << 50,
            -(1 << 50),
        ])?,
    })
}

fn seek_from(u: &mut Unstructured, anon: bool) -> Result<SeekFrom> {
    Ok(match pick(u, &[2, 2, 2, 1])? {
        0 => SeekFrom::Start(offset(u, anon)?),
        1 => SeekFrom::Current(delta(u, anon)?),
        2 => SeekFrom::End(delta(u, anon)?),
        _ => SeekFrom::End(u.int_in_range(-16..=15)?),
    })
}

fn set_len_size(u: &mut Unstructured, anon: bool) -> Result<u64> {
    match pick(u, &[6, 1, 1, 1])? {
        0 => u.int_in_range(0..=69_999),
        1 => near_multiple(u, 4096, 24),
        2 => u.int_in_range(0..=(4 << 20) - 1),
        _ => huge(u, anon),
    }
}

fn external(u: &mut Unstructured) -> Result<Ext> {
    let near = |u: &mut Unstructured| match pick(u, &[4, 2])? {
        0 => u.int_in_range(0..=69_999),
        _ => near_multiple(u, 4096, 24),
    };
    Ok(match pick(u, &[2, 1, 2])? {
        0 => Ext::Write {
            data: data(u)?,
            offset: near(u)?,
        },
        1 => Ext::Append { data: data(u)? },
        _ => Ext::SetLen { size: near(u)? },
    })
}

/// Up to three of `item`, as `prop::collection::vec(item, 0..4)`.
fn few<T>(
    u: &mut Unstructured,
    mut item: impl FnMut(&mut Unstructured) -> Result<T>,
) -> Result<Vec<T>> {
    (0..u.int_in_range(0..=3)?).map(|_| item(u)).collect()
}

/// As `pos` in tests/model/strategies.rs: mostly just past our length, inside a
/// growth step.
fn pos(u: &mut Unstructured) -> Result<Pos> {
    Ok(match pick(u, &[4, 1, 1, 2, 1])? {
        0 => Pos::End(u.int_in_range(0..=(128 << 10) - 1)?),
        1 => Pos::End(u.int_in_range(0..=7)?),
        2 => Pos::End(u.int_in_range(-4200..=-1)?),
        3 => Pos::Abs(u.int_in_range(0..=69_999)?),
        _ => Pos::Abs(u.int_in_range(0..=(4 << 20) - 1)?),
    })
}

fn outsider(u: &mut Unstructured) -> Result<Out> {
    Ok(match pick(u, &[4, 3, 1, 1, 1, 1, 1, 1, 2])? {
        0 => Out::WriteAt {
            data: data(u)?,
            at: pos(u)?,
        },
        1 => Out::Append { data: data(u)? },
        2 => Out::SetLen { size: pos(u)? },
        3 => Out::Len,
        4 => Out::ReadAt {
            len: size(u)?,
            at: pos(u)?,
        },
        5 => Out::OpenLen,
        6 => Out::StatLen,
        7 => Out::SyncAll,
        _ => Out::Close,
    })
}

/// As `kids` in tests/model/strategies.rs: up to three, nothing after `Exit`.
fn kids(u: &mut Unstructured, anon: bool, mix: Mix) -> Result<Vec<Kid>> {
    let mut kids = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let kid = match pick(u, &[3, 4, 2, 1, 2, 1, 1, 2, 1, 1])? {
            0 => Kid::Do(Op::Read {
                h: handle(u, mix)?,
                len: size(u)?,
            }),
            1 => Kid::Do(Op::Write {
                h: handle(u, mix)?,
                data: data(u)?,
            }),
            2 => Kid::Do(Op::WriteAt {
                h: handle(u, mix)?,
                data: data(u)?,
                offset: offset(u, anon)?,
            }),
            3 => Kid::Do(Op::ReadAt {
                h: handle(u, mix)?,
                len: size(u)?,
                offset: offset(u, anon)?,
            }),
            4 => Kid::Do(Op::Seek {
                h: handle(u, mix)?,
                pos: seek_from(u, anon)?,
            }),
            5 => Kid::Do(Op::StreamPosition { h: handle(u, mix)? }),
            6 => Kid::Do(Op::SetLen {
                h: handle(u, mix)?,
                size: set_len_size(u, anon)?,
            }),
            7 => Kid::Drop(handle(u, mix)?),
            8 => Kid::DropAll,
            _ => Kid::Exit,
        };
        let exit = matches!(kid, Kid::Exit);
        kids.push(kid);
        if exit {
            break;
        }
    }
    Ok(kids)
}

/// An operation, with the weights of `op` in tests/model/strategies.rs; `anon`:
/// for an anonymous world (see `huge`); `mix`: see `Mix`.
fn op(u: &mut Unstructured, anon: bool, mix: Mix) -> Result<Op> {
    // As `op` in tests/model/strategies.rs: runs of short writes.
    if matches!(mix, Mix::Sole) && pick(u, &[1, 2])? == 1 {
        let len = u.int_in_range(0..=63)?;
        let data = data_of_len(u, len)?;
        return Ok(if u.arbitrary()? {
            Op::WriteAll { h: H::Main, data }
        } else {
            Op::Write { h: H::Main, data }
        });
    }
    let handle = |u: &mut Unstructured| handle(u, mix);
    const WEIGHTS: [u32; 29] = [
        6, // Read
        2, // ReadExact
        2, // ReadToEnd
        2, // ReadToString
        2, // ReadVectored
        6, // Write
        3, // WriteAll
        2, // WriteVectored
        5, // Seek
        1, // StreamPosition
        4, // ReadAt
        2, // ReadExactAt
        4, // WriteAt
        2, // WriteAllAt
        2, // SetLen
        2, // Flush
        1, // SyncData
        1, // SyncAll
        2, // Metadata
        2, // Len
        2, // Drop
        1, // Reopen
        1, // IntoFile
        1, // External
        6, // Outsider
        1, // Fork
        2, // Child
        1, // WriteTo
        1, // KeepReading
    ];
    Ok(match pick(u, &WEIGHTS)? {
        0 => Op::Read {
            h: handle(u)?,
            len: size(u)?,
        },
        1 => Op::ReadExact {
            h: handle(u)?,
            len: size(u)?,
        },
        2 => Op::ReadToEnd {
            h: handle(u)?,
            prefix: *u.choose(&[0, 5])?,
        },
        3 => Op::ReadToString {
            h: handle(u)?,
            prefix: u.arbitrary()?,
        },
        4 => Op::ReadVectored {
            h: handle(u)?,
            lens: few(u, size)?,
        },
        5 => Op::Write {
            h: handle(u)?,
            data: data(u)?,
        },
        6 => Op::WriteAll {
            h: handle(u)?,
            data: data(u)?,
        },
        7 => Op::WriteVectored {
            h: handle(u)?,
            bufs: few(u, data)?,
        },
        8 => Op::Seek {
            h: handle(u)?,
            pos: seek_from(u, anon)?,
        },
        9 => Op::StreamPosition { h: handle(u)? },
        10 => Op::ReadAt {
            h: handle(u)?,
            len: size(u)?,
            offset: offset(u, anon)?,
        },
        11 => Op::ReadExactAt {
            h: handle(u)?,
            len: size(u)?,
            offset: offset(u, anon)?,
        },
        12 => Op::WriteAt {
            h: handle(u)?,
            data: data(u)?,
            offset: offset(u, anon)?,
        },
        13 => Op::WriteAllAt {
            h: handle(u)?,
            data: data(u)?,
            offset: offset(u, anon)?,
        },
        14 => Op::SetLen {
            h: handle(u)?,
            size: set_len_size(u, anon)?,
        },
        15 => Op::Flush { h: handle(u)? },
        16 => Op::SyncData { h: handle(u)? },
        17 => Op::SyncAll { h: handle(u)? },
        18 => Op::Metadata { h: handle(u)? },
        19 => Op::Len { h: handle(u)? },
        20 => Op::Drop {
            h: *u.choose(&[H::Clone, H::App, H::Ro, H::Wo])?,
        },
        21 => Op::Reopen {
            truncate: u.arbitrary()?,
        },
        22 => Op::IntoFile { h: handle(u)? },
        23 => Op::External {
            change: external(u)?,
        },
        24 => Op::Outsider { cmd: outsider(u)? },
        25 => Op::Fork {
            kid: kids(u, anon, mix)?,
        },
        26 => Op::Child {
            kid: kids(u, anon, mix)?,
        },
        27 => Op::WriteTo { h: handle(u)? },
        _ => Op::KeepReading {
            h: handle(u)?,
            len: u.int_in_range(0..=64)?,
            offset: offset(u, anon)?,
        },
    })
}

/// As `cfg` in tests/model/strategies.rs, and a memfd in one case of four.
fn cfg(u: &mut Unstructured) -> Result<Cfg> {
    let exact_len = u.ratio(3u8, 10)?;
    let reserve = *u.choose(&[None, None, None, Some(4096), Some(64 << 10), Some(1 << 20)])?;
    let len = match pick(u, &[1, 4, 1])? {
        0 => 0,
        1 => u.int_in_range(0..=19_999)?,
        _ => near_multiple(u, 4096, 6)? as usize,
    };
    // The grower itself serves files from 4 MiB on: the model test plays
    // such files (`tests/model/strategies.rs`). Here they would take the
    // fuzzer's minute: a case of 4 MiB takes about 50 times as long as the
    // others, and libFuzzer keeps mutating whichever reach new code, so
    // that even at one case in 32 CI's minute ran under 1,000 cases.
    let background_growth = u.ratio(2u8, 5)?;
    let init = data_of_len(u, len)?;
    let anonymous = u.ratio(1u8, 4)?;
    let map_after = match u.int_in_range(0..=4u8)? {
        0 => None,
        1 => Some(0),
        2 => Some(1),
        3 => Some(4),
        _ => Some(u32::MAX),
    };
    Ok(Cfg {
        exact_len,
        background_growth,
        map_after,
        reserve,
        init,
        anonymous,
        observe: u.arbitrary()?,
        main_append: !anonymous && u.ratio(1u8, 5)?,
    })
}

/// A decoded input; its `Debug` is what `cargo fuzz fmt model` prints.
#[derive(Debug)]
struct Case {
    cfg: Cfg,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let cfg = cfg(u)?;
        let mut cfg = cfg;
        let mix = [Mix::All, Mix::Solo, Mix::Sole][pick(u, &[2, 1, 1])?];
        // As `case` in tests/model/strategies.rs.
        cfg.observe &= !matches!(mix, Mix::Sole);
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(op(u, cfg.anonymous, mix)?);
        }
        Ok(Case { cfg, ops })
    }
}

/// This fuzz binary again, as an outsider (see `init`).
fn outsider_command() -> Command {
    Command::new(std::env::current_exe().expect("the fuzz binary"))
}

fuzz_target!(
    init: {
        if world::is_outsider() {
            world::serve_outsider();
            std::process::exit(0);
        }
        world::set_outsider_command(outsider_command);
    },
    |case: Case| {
        // `File` in both worlds: the harness' own check, as in the test.
        let twins = std::env::var_os("MMAPFILE_MODEL_TWINS").is_some();
        let run = if twins { world::run_twins } else { world::run };
        if let Err(e) = run(case.cfg, &case.ops) {
            panic!("{e}");
        }
    }
);
