//! The operations the Windows model plays, and the strategies that draw them.

use std::io::SeekFrom;

use proptest::prelude::*;

use crate::common::race::mix;
use crate::common::twin::Open;

/// Bytes to write: `len` of them, derived from `seed`.
#[derive(Clone, Copy)]
pub(crate) struct Data {
    pub(crate) len: usize,
    pub(crate) seed: u32,
}

impl Data {
    pub(crate) fn bytes(self) -> Vec<u8> {
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
pub(crate) const MODES: [(&str, Open); 7] = [
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
pub(crate) enum Op {
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
pub(crate) const SPAN: u64 = 1 << 18;

pub(crate) fn size() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 4 => 0usize..64, 3 => 0usize..5000, 1 => 0usize..20_000]
}

pub(crate) fn data() -> impl Strategy<Value = Data> {
    (size(), any::<u32>()).prop_map(|(len, seed)| Data { len, seed })
}

/// An offset: mostly near the data, sometimes past the end, and rarely
/// one that Windows treats specially (-1: the end of the file, -2: the
/// cursor, as `LARGE_INTEGER`s) or refuses (other negative ones).
pub(crate) fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..12_000,
        2 => 0u64..SPAN,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => (i64::MAX as u64 + 1)..=(i64::MAX as u64 + 8),
    ]
}

pub(crate) fn seek_to() -> impl Strategy<Value = SeekFrom> {
    prop_oneof![
        4 => (0u64..12_000).prop_map(SeekFrom::Start),
        1 => (0u64..SPAN).prop_map(SeekFrom::Start),
        1 => ((i64::MAX as u64)..=u64::MAX).prop_map(SeekFrom::Start),
        3 => (-12_000i64..12_000).prop_map(SeekFrom::Current),
        2 => (-12_000i64..12_000).prop_map(SeekFrom::End),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX)].prop_map(SeekFrom::Current),
    ]
}

pub(crate) fn new_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0u64),
        6 => 0u64..12_000,
        2 => 0u64..SPAN,
        1 => (i64::MAX as u64)..=u64::MAX,
    ]
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
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
