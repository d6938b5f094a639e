//! Model test for Windows: random sequences of `Read`, `Write`, `Seek`,
//! `seek_read`, `seek_write`, `set_len`, `try_clone`, drops and reopens in
//! every access mode, `metadata`, `len`, locks, syncs and round trips
//! through `into_file`, run on a `File` world and an `MmapFile` world side
//! by side (`common::twin`), comparing after every step the result (value,
//! bytes read, error kind and raw OS error), every live handle's cursor and
//! the bytes on disk. `PROPTEST_CASES` sets the number of cases (256 by
//! default); `.ci/windows` says how many it runs under wine.
#![cfg(windows)]

use std::fs::{self, File};
use std::io::SeekFrom;

use mmapfile::MmapFile;
use proptest::prelude::*;

#[path = "../common/mod.rs"]
mod common;
mod strategies;
mod world;

use common::twin::{Handle, Open, Outcome, Twins, byte_diff, read_to_end_, round_trip};
use strategies::*;
use world::*;

/// Plays `ops` on both worlds; the first difference, with the steps that
/// led to it.
fn play(start: &[u8], ops: &[Op]) -> Result<(), String> {
    let t = Twins::new(start);
    let mut fw = World::<File> {
        path: &t.file,
        handles: vec![File::h_open(&t.file, &Open::RW).unwrap()],
    };
    let mut mw = World::<MmapFile> {
        path: &t.mmap,
        handles: vec![MmapFile::h_open(&t.mmap, &Open::RW).unwrap()],
    };
    let mut log = Vec::new();
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            let (f, m) = (fw.step(op), mw.step(op));
            log.push(format!("{i}: {op:?} -> {f:?}"));
            if f != m {
                return Err(format!(
                    "step {i}, {op:?}: File gives {f:?}, MmapFile {m:?}"
                ));
            }
            let (fc, mc) = (fw.cursors(), mw.cursors());
            if fc != mc {
                return Err(format!(
                    "after step {i}, {op:?}: cursors File {fc:?}, MmapFile {mc:?}"
                ));
            }
            let (fb, mb) = (fs::read(&t.file).unwrap(), fs::read(&t.mmap).unwrap());
            if fb != mb {
                return Err(format!(
                    "after step {i}, {op:?}: the files differ: {}",
                    byte_diff(&fb, &mb)
                ));
            }
        }
        // `into_file` of every handle left, then the files once closed.
        for (i, (f, m)) in fw.handles.drain(..).zip(mw.handles.drain(..)).enumerate() {
            let (f, m) = (round_trip(f).0, round_trip(m).0);
            let (f, m) = (Outcome::of(f), Outcome::of(m));
            if f != m {
                return Err(format!(
                    "into_file of handle {i}: File {f:?}, MmapFile {m:?}"
                ));
            }
        }
        let (fb, mb) = (fs::read(&t.file).unwrap(), fs::read(&t.mmap).unwrap());
        if fb != mb {
            return Err(format!("closed, the files differ: {}", byte_diff(&fb, &mb)));
        }
        Ok(())
    })();
    result.map_err(|e| format!("{e}\nsteps:\n  {}", log.join("\n  ")))
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Cases are long: shrinking needs more than the default.
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mmapfile_behaves_like_file_on_windows(
        start in (0usize..10_000, any::<u32>()).prop_map(|(len, seed)| Data { len, seed }.bytes()),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        if let Err(e) = play(&start, &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The model's own check: `play` finds a difference where there is one
/// (both worlds must not silently agree on nothing).
#[test]
fn the_model_sees_a_difference() {
    let t = Twins::new(b"0123456789");
    fs::write(&t.mmap, b"0123456789!").unwrap();
    let mut f = File::h_open(&t.file, &Open::RO).unwrap();
    let mut m = MmapFile::h_open(&t.mmap, &Open::RO).unwrap();
    assert_ne!(
        Outcome::bytes(read_to_end_(&mut f)),
        Outcome::bytes(read_to_end_(&mut m))
    );
    // And a fixed sequence that touches every kind of step agrees.
    let d = |len, seed| Data { len, seed };
    let ops = [
        Op::Write {
            h: 0,
            data: d(100, 1),
        },
        Op::SeekRead {
            h: 0,
            n: 10,
            off: 5,
        },
        Op::SeekWrite {
            h: 0,
            data: d(3, 2),
            off: 5000,
        },
        Op::SeekWrite {
            h: 0,
            data: d(4, 3),
            off: u64::MAX,
        },
        Op::SeekWrite {
            h: 0,
            data: d(5, 4),
            off: u64::MAX - 1,
        },
        Op::TryClone { h: 0 },
        Op::Seek {
            h: 1,
            to: SeekFrom::End(-10),
        },
        Op::Open { mode: 1 },
        Op::Write {
            h: 2,
            data: d(1, 5),
        },
        Op::Open { mode: 3 },
        Op::Write {
            h: 3,
            data: d(7, 6),
        },
        Op::TryLock {
            h: 0,
            shared: false,
        },
        Op::TryLock { h: 2, shared: true },
        Op::Read { h: 2, n: 64 },
        Op::Unlock { h: 0 },
        Op::SetLen { h: 2, len: 10 },
        Op::SetLen {
            h: 0,
            len: u64::MAX,
        },
        Op::RoundTrip { h: 1 },
        Op::Drop { h: 0 },
        Op::Metadata { h: 0 },
        Op::Len { h: 1 },
        Op::Open { mode: 5 },
        Op::Open { mode: 6 },
        Op::ReadVectored { h: 0, a: 3, b: 30 },
        Op::WriteVectored {
            h: 0,
            a: d(2, 7),
            b: d(9, 8),
        },
        Op::SyncData { h: 0 },
        Op::Flush { h: 1 },
        Op::ReadToEnd { h: 0 },
        Op::Position { h: 2 },
    ];
    play(&[7; 300], &ops).unwrap();
}
