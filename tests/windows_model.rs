//! Model test for Windows: random sequences of `Read`, `Write`, `Seek`,
//! `seek_read`, `seek_write`, `set_len`, `try_clone`, drops and reopens in
//! every access mode, `metadata`, `len`, locks, syncs and round trips
//! through `into_file`, run on a `File` world and an `MmapFile` world side
//! by side (`common::twin`), comparing after every step the result (value,
//! bytes read, error kind and raw OS error), every live handle's cursor and
//! the bytes on disk. `PROPTEST_CASES` sets the number of cases (256 by
//! default); `.ci/windows` says how many it runs under wine.
#![cfg(windows)]

use std::fs::{self, File, TryLockError};
use std::io::{self, IoSlice, SeekFrom};
use std::path::Path;

use mmapfile::MmapFile;
use proptest::prelude::*;

mod common;
use common::race::mix;
use common::twin::{
    Handle, Open, Outcome, Twins, byte_diff, meta_, read_n, read_to_end_, read_vectored_n,
    round_trip, seek_read_n,
};

/// Bytes to write: `len` of them, derived from `seed`.
#[derive(Clone, Copy)]
struct Data {
    len: usize,
    seed: u32,
}

impl Data {
    fn bytes(self) -> Vec<u8> {
        (0..self.len as u64)
            .map(|i| (mix((u64::from(self.seed) << 32) | i) % 255) as u8 + 1)
            .collect()
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}B#{}", self.len, self.seed)
    }
}

/// The access modes a handle is (re)opened with.
const MODES: [(&str, Open); 7] = [
    ("rw", Open::RW),
    ("ro", Open::RO),
    ("wo", Open::WO),
    ("append", Open::APPEND),
    ("read+append", Open::READ_APPEND),
    (
        "rw+truncate",
        Open {
            truncate: true,
            ..Open::RW
        },
    ),
    (
        "truncate without write",
        Open {
            truncate: true,
            ..Open::RO
        },
    ),
];

/// One step; `h` picks a live handle (modulo their number).
#[derive(Clone, Debug)]
enum Op {
    Read {
        h: usize,
        n: usize,
    },
    ReadToEnd {
        h: usize,
    },
    ReadVectored {
        h: usize,
        a: usize,
        b: usize,
    },
    Write {
        h: usize,
        data: Data,
    },
    WriteVectored {
        h: usize,
        a: Data,
        b: Data,
    },
    Seek {
        h: usize,
        to: SeekFrom,
    },
    SeekRead {
        h: usize,
        n: usize,
        off: u64,
    },
    SeekWrite {
        h: usize,
        data: Data,
        off: u64,
    },
    SetLen {
        h: usize,
        len: u64,
    },
    TryClone {
        h: usize,
    },
    /// Closes the handle.
    Drop {
        h: usize,
    },
    /// Opens another handle on the file with `MODES[mode]`.
    Open {
        mode: usize,
    },
    Metadata {
        h: usize,
    },
    Len {
        h: usize,
    },
    Position {
        h: usize,
    },
    /// `into_file`, the `File`'s offset, then `try_from` it again.
    RoundTrip {
        h: usize,
    },
    TryLock {
        h: usize,
        shared: bool,
    },
    Unlock {
        h: usize,
    },
    SyncData {
        h: usize,
    },
    Flush {
        h: usize,
    },
}

/// The largest file the model makes (so that comparing the bytes on disk
/// after every step stays cheap), but for offsets no write may succeed at.
const SPAN: u64 = 1 << 18;

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 4 => 0usize..64, 3 => 0usize..5000, 1 => 0usize..20_000]
}

fn data() -> impl Strategy<Value = Data> {
    (size(), any::<u32>()).prop_map(|(len, seed)| Data { len, seed })
}

/// An offset: mostly near the data, sometimes past the end, and rarely
/// one that Windows treats specially (-1: the end of the file, -2: the
/// cursor, as `LARGE_INTEGER`s) or refuses (other negative ones).
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..12_000,
        2 => 0u64..SPAN,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => (i64::MAX as u64 + 1)..=(i64::MAX as u64 + 8),
    ]
}

fn seek_to() -> impl Strategy<Value = SeekFrom> {
    prop_oneof![
        4 => (0u64..12_000).prop_map(SeekFrom::Start),
        1 => (0u64..SPAN).prop_map(SeekFrom::Start),
        1 => ((i64::MAX as u64)..=u64::MAX).prop_map(SeekFrom::Start),
        3 => (-12_000i64..12_000).prop_map(SeekFrom::Current),
        2 => (-12_000i64..12_000).prop_map(SeekFrom::End),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX)].prop_map(SeekFrom::Current),
    ]
}

fn new_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        6 => 0u64..12_000,
        2 => 0u64..SPAN,
        1 => (i64::MAX as u64)..=u64::MAX,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let h = || 0usize..8;
    prop_oneof![
        6 => (h(), size()).prop_map(|(h, n)| Op::Read { h, n }),
        1 => h().prop_map(|h| Op::ReadToEnd { h }),
        1 => (h(), 0usize..100, 0usize..5000).prop_map(|(h, a, b)| Op::ReadVectored { h, a, b }),
        6 => (h(), data()).prop_map(|(h, data)| Op::Write { h, data }),
        1 => (h(), data(), data()).prop_map(|(h, a, b)| Op::WriteVectored { h, a, b }),
        5 => (h(), seek_to()).prop_map(|(h, to)| Op::Seek { h, to }),
        5 => (h(), size(), offset()).prop_map(|(h, n, off)| Op::SeekRead { h, n, off }),
        5 => (h(), data(), offset()).prop_map(|(h, data, off)| Op::SeekWrite { h, data, off }),
        3 => (h(), new_len()).prop_map(|(h, len)| Op::SetLen { h, len }),
        2 => h().prop_map(|h| Op::TryClone { h }),
        2 => h().prop_map(|h| Op::Drop { h }),
        3 => (0..MODES.len()).prop_map(|mode| Op::Open { mode }),
        1 => h().prop_map(|h| Op::Metadata { h }),
        1 => h().prop_map(|h| Op::Len { h }),
        1 => h().prop_map(|h| Op::Position { h }),
        2 => h().prop_map(|h| Op::RoundTrip { h }),
        1 => (h(), any::<bool>()).prop_map(|(h, shared)| Op::TryLock { h, shared }),
        1 => h().prop_map(|h| Op::Unlock { h }),
        1 => h().prop_map(|h| Op::SyncData { h }),
        1 => h().prop_map(|h| Op::Flush { h }),
    ]
}

/// A world: the file and its live handles, all of one type.
struct World<'a, T: Handle> {
    path: &'a Path,
    handles: Vec<T>,
}

/// `try_lock`'s result as a number: 0 taken, 1 `WouldBlock`.
fn lock_outcome(r: Result<(), TryLockError>) -> io::Result<u64> {
    match r {
        Ok(()) => Ok(0),
        Err(TryLockError::WouldBlock) => Ok(1),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The locks of a `Handle`, which the trait does not have.
trait Locks {
    fn try_lock_(&self, shared: bool) -> io::Result<u64>;
    fn unlock_(&self) -> io::Result<()>;
}

impl Locks for File {
    fn try_lock_(&self, shared: bool) -> io::Result<u64> {
        lock_outcome(if shared {
            self.try_lock_shared()
        } else {
            self.try_lock()
        })
    }
    fn unlock_(&self) -> io::Result<()> {
        self.unlock()
    }
}

impl Locks for MmapFile {
    fn try_lock_(&self, shared: bool) -> io::Result<u64> {
        lock_outcome(if shared {
            self.try_lock_shared()
        } else {
            self.try_lock()
        })
    }
    fn unlock_(&self) -> io::Result<()> {
        self.unlock()
    }
}

impl<T: Handle + Locks> World<'_, T> {
    /// Runs `op`; `None` if there is no handle to run it on.
    fn step(&mut self, op: &Op) -> Option<Outcome> {
        let n = self.handles.len();
        let pick = |h: usize| if n == 0 { None } else { Some(h % n) };
        let out = match *op {
            Op::Open { mode } => {
                let r = T::h_open(self.path, &MODES[mode].1);
                let out = Outcome::unit(r.as_ref().map(drop).map_err(clone_error));
                if let Ok(h) = r {
                    self.handles.push(h);
                }
                return Some(out);
            }
            Op::TryClone { h } => {
                let i = pick(h)?;
                let r = self.handles[i].h_try_clone();
                let out = Outcome::unit(r.as_ref().map(drop).map_err(clone_error));
                if let Ok(c) = r {
                    self.handles.push(c);
                }
                out
            }
            Op::Drop { h } => {
                let i = pick(h)?;
                drop(self.handles.remove(i));
                Outcome::unit(Ok(()))
            }
            Op::RoundTrip { h } => {
                let i = pick(h)?;
                let (pos, back) = round_trip(self.handles.remove(i));
                if let Some(back) = back {
                    self.handles.insert(i, back);
                }
                Outcome::of(pos)
            }
            ref op => {
                let i = pick(op_handle(op))?;
                let h = &mut self.handles[i];
                match *op {
                    Op::Read { n, .. } => Outcome::bytes(read_n(h, n)),
                    Op::ReadToEnd { .. } => Outcome::bytes(read_to_end_(h)),
                    Op::ReadVectored { a, b, .. } => Outcome::bytes(read_vectored_n(h, a, b)),
                    Op::Write { data, .. } => Outcome::count(h.write(&data.bytes())),
                    Op::WriteVectored { a, b, .. } => {
                        let (a, b) = (a.bytes(), b.bytes());
                        Outcome::count(h.write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)]))
                    }
                    Op::Seek { to, .. } => Outcome::of(h.seek(to)),
                    Op::SeekRead { n, off, .. } => Outcome::bytes(seek_read_n(h, n, off)),
                    Op::SeekWrite { data, off, .. } => {
                        Outcome::count(h.seek_write(&data.bytes(), off))
                    }
                    Op::SetLen { len, .. } => Outcome::unit(h.h_set_len(len)),
                    Op::Metadata { .. } => {
                        let m = meta_(h);
                        let text = m.map(|m| format!("{m:?}").into_bytes());
                        Outcome::bytes(text)
                    }
                    Op::Len { .. } => Outcome::of(h.h_len()),
                    Op::Position { .. } => Outcome::of(h.stream_position()),
                    Op::TryLock { shared, .. } => Outcome::of(h.try_lock_(shared)),
                    Op::Unlock { .. } => Outcome::unit(h.unlock_()),
                    Op::SyncData { .. } => Outcome::unit(h.h_sync_data()),
                    Op::Flush { .. } => Outcome::unit(h.flush()),
                    _ => unreachable!(),
                }
            }
        };
        Some(out)
    }

    /// Every live handle's cursor.
    fn cursors(&self) -> Vec<Outcome> {
        self.handles
            .iter()
            .map(|h| Outcome::of(h.h_position()))
            .collect()
    }
}

/// The handle an operation that needs one runs on.
fn op_handle(op: &Op) -> usize {
    match *op {
        Op::Read { h, .. }
        | Op::ReadToEnd { h }
        | Op::ReadVectored { h, .. }
        | Op::Write { h, .. }
        | Op::WriteVectored { h, .. }
        | Op::Seek { h, .. }
        | Op::SeekRead { h, .. }
        | Op::SeekWrite { h, .. }
        | Op::SetLen { h, .. }
        | Op::TryClone { h }
        | Op::Drop { h }
        | Op::Metadata { h }
        | Op::Len { h }
        | Op::Position { h }
        | Op::RoundTrip { h }
        | Op::TryLock { h, .. }
        | Op::Unlock { h }
        | Op::SyncData { h }
        | Op::Flush { h } => h,
        Op::Open { .. } => 0,
    }
}

/// An error with the same kind and OS code (`io::Error` is not `Clone`).
fn clone_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(e.kind()),
    }
}

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
