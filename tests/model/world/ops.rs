//! The operations the model plays ([`Op`], through a handle [`H`], with
//! [`Data`] to write), what the other actors do ([`Ext`], [`Out`] at a
//! [`Pos`], [`Kid`]), and a case's [`Cfg`].

use std::fmt;
use std::fs;
use std::io::{self, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::outsider::Cmd;

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// Which handle an operation goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H {
    /// Read-write (read-append with [`Cfg::main_append`]), opened without
    /// truncation; always open.
    Main,
    /// `try_clone` of `Main`: shares its cursor.
    Clone,
    /// Opened separately, read + append.
    App,
    /// Opened separately, read-only.
    Ro,
    /// Opened separately, write-only.
    Wo,
}

pub(super) const HANDLES: [H; 5] = [H::Main, H::Clone, H::App, H::Ro, H::Wo];

impl H {
    pub(super) fn idx(self) -> usize {
        self as usize
    }

    pub(super) fn writable(self) -> bool {
        self != H::Ro
    }
}

/// Bytes to write, generated from a seed so that failures print compactly.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Data {
    pub len: usize,
    pub seed: u32,
    /// ASCII text (valid UTF-8) or arbitrary bytes (almost never UTF-8).
    pub text: bool,
}

impl Data {
    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut x = self.seed.wrapping_mul(0x9e37_79b9) | 1;
        (0..self.len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let b = (x >> 11) as u8;
                if self.text {
                    b" abcdefghijklmnopqrstuvwxyz\n"[usize::from(b) % 28]
                } else {
                    b
                }
            })
            .collect()
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.text { "txt" } else { "bin" };
        write!(f, "{kind}{}#{}", self.len, self.seed)
    }
}

/// How many reads [`Op::KeepReading`] makes: more than the most Shared
/// operations an inode counts between two tries of its lease (8,192, in
/// `src/inode/reclaim.rs`), so that the crate tries it during them.
pub const KEEP_READING: usize = 8200;

#[derive(Clone, Debug)]
pub enum Op {
    Read {
        h: H,
        len: usize,
    },
    ReadExact {
        h: H,
        len: usize,
    },
    ReadToEnd {
        h: H,
        prefix: usize,
    },
    ReadToString {
        h: H,
        prefix: bool,
    },
    ReadVectored {
        h: H,
        lens: Vec<usize>,
    },
    Write {
        h: H,
        data: Data,
    },
    WriteAll {
        h: H,
        data: Data,
    },
    WriteVectored {
        h: H,
        bufs: Vec<Data>,
    },
    Seek {
        h: H,
        pos: SeekFrom,
    },
    StreamPosition {
        h: H,
    },
    ReadAt {
        h: H,
        len: usize,
        offset: u64,
    },
    ReadExactAt {
        h: H,
        len: usize,
        offset: u64,
    },
    /// [`KEEP_READING`] `read_at`s of `len` bytes at `offset`: a handle
    /// that keeps working, long enough for the crate to try its lease
    /// again while Shared. The outcome is the first read's, with the count
    /// of the reads after it that returned the same.
    KeepReading {
        h: H,
        len: usize,
        offset: u64,
    },
    WriteAt {
        h: H,
        data: Data,
        offset: u64,
    },
    WriteAllAt {
        h: H,
        data: Data,
        offset: u64,
    },
    SetLen {
        h: H,
        size: u64,
    },
    Flush {
        h: H,
    },
    SyncData {
        h: H,
    },
    SyncAll {
        h: H,
    },
    Metadata {
        h: H,
    },
    /// `MmapFile::len`; in the `File` world, `metadata().len()`.
    Len {
        h: H,
    },
    /// `MmapFile::write_to` a Unix socket whose other end a thread drains;
    /// in the `File` world, `io::copy`.
    WriteTo {
        h: H,
    },
    /// Drops the handle (`Main`: as `Reopen { truncate: false }`).
    Drop {
        h: H,
    },
    /// Drops `Main` and opens it again, optionally truncating; its cursor
    /// starts at 0.
    Reopen {
        truncate: bool,
    },
    /// `into_file()`, then `MmapFile::try_from` that `File`: the `File`'s
    /// offset must be the cursor. `stream_position` in the `File` world.
    IntoFile {
        h: H,
    },
    /// "Another process" in this process: `Main` flushes, then a plain
    /// `File` opened on the path changes the file.
    External {
        change: Ext,
    },
    /// The outsider, a real second process per world, does `cmd`; nothing
    /// of ours is flushed or told first.
    Outsider {
        cmd: Out,
    },
    /// Ends the fork children if they are alive; then each world forks a
    /// child, which runs `kid` on its inherited handles and stays alive.
    Fork {
        kid: Vec<Kid>,
    },
    /// The living fork children run `kid` (forked first if none is alive).
    Child {
        kid: Vec<Kid>,
    },
}

/// What "another process" does to the file (`Op::External`).
#[derive(Clone, Debug)]
pub enum Ext {
    /// `write_all_at`.
    Write {
        data: Data,
        offset: u64,
    },
    /// `write_all` through an `O_APPEND` descriptor.
    Append {
        data: Data,
    },
    SetLen {
        size: u64,
    },
}

impl Ext {
    pub(super) fn apply(&self, path: &Path) -> io::Result<()> {
        let mut o = fs::OpenOptions::new();
        match self {
            Ext::Write { data, offset } => o
                .write(true)
                .open(path)?
                .write_all_at(&data.bytes(), *offset),
            Ext::Append { data } => o.append(true).open(path)?.write_all(&data.bytes()),
            Ext::SetLen { size } => o.write(true).open(path)?.set_len(*size),
        }
    }
}

/// An offset or size for the outsider, resolved when the op runs.
#[derive(Clone, Copy, Debug)]
pub enum Pos {
    Abs(u64),
    /// The `File` world's length plus this (at least 0): positive values up
    /// to a growth step land in the `MmapFile` world's padding, if any.
    End(i64),
}

impl Pos {
    pub(super) fn resolve(self, len: u64) -> u64 {
        match self {
            Pos::Abs(x) => x,
            Pos::End(d) => len.saturating_add_signed(d),
        }
    }
}

/// What the outsider does (`Op::Outsider`), through its read-write `File`
/// (or its `O_APPEND` one for `Append`), each opened when first needed.
#[derive(Clone, Debug)]
pub enum Out {
    /// `write_all_at`.
    WriteAt {
        data: Data,
        at: Pos,
    },
    /// `write_all` through the `O_APPEND` handle.
    Append {
        data: Data,
    },
    SetLen {
        size: Pos,
    },
    /// `metadata().len()` of its handle.
    Len,
    /// One `read_at`.
    ReadAt {
        len: usize,
        at: Pos,
    },
    /// `File::open(path)` + `metadata().len()`: exact, always.
    OpenLen,
    /// `fs::metadata(path).len()`: a `stat`, which may show padding.
    StatLen,
    SyncAll,
    /// Drops its handles.
    Close,
}

impl Out {
    pub(super) fn resolve(&self, len: u64) -> Cmd {
        match *self {
            Out::WriteAt { data, at } => Cmd::WriteAt {
                data,
                offset: at.resolve(len),
            },
            Out::Append { data } => Cmd::Append { data },
            Out::SetLen { size } => Cmd::SetLen(size.resolve(len)),
            Out::Len => Cmd::Len,
            Out::ReadAt { len: n, at } => Cmd::ReadAt {
                len: n,
                offset: at.resolve(len),
            },
            Out::OpenLen => Cmd::OpenLen,
            Out::StatLen => Cmd::StatLen,
            Out::SyncAll => Cmd::SyncAll,
            Out::Close => Cmd::Close,
        }
    }
}

/// What a fork child does (`Op::Fork`, `Op::Child`).
#[derive(Clone, Debug)]
pub enum Kid {
    /// An operation on one of its inherited handles: `Read`, `Write`,
    /// `WriteAt`, `ReadAt`, `Seek`, `StreamPosition`, `SetLen` (any
    /// operation on a handle works). On a handle it dropped, or that was
    /// not open at the fork: `Err(Other)`, in both worlds.
    Do(Op),
    /// Drops its copy of the handle (`Main` too: no reopen).
    Drop(H),
    /// Drops all its handles.
    DropAll,
    /// `_exit(0)`, dropping nothing.
    Exit,
}

impl Kid {
    pub(super) fn handle(&self) -> Option<H> {
        match self {
            Kid::Do(op) => op.handle(),
            Kid::Drop(h) => Some(*h),
            Kid::DropAll | Kid::Exit => None,
        }
    }

    /// Whether it changes the file's size in another process: the parent's
    /// `MmapFile::len` may lag after it.
    pub(super) fn changes_size(&self) -> bool {
        match self {
            Kid::Do(op) => op.writes() || matches!(op, Op::SetLen { .. }),
            _ => false,
        }
    }
}

impl Op {
    pub(super) fn handle(&self) -> Option<H> {
        use Op::*;
        match *self {
            Read { h, .. }
            | ReadExact { h, .. }
            | ReadToEnd { h, .. }
            | ReadToString { h, .. }
            | ReadVectored { h, .. }
            | Write { h, .. }
            | WriteAll { h, .. }
            | WriteVectored { h, .. }
            | Seek { h, .. }
            | StreamPosition { h }
            | ReadAt { h, .. }
            | ReadExactAt { h, .. }
            | KeepReading { h, .. }
            | WriteAt { h, .. }
            | WriteAllAt { h, .. }
            | SetLen { h, .. }
            | Flush { h }
            | SyncData { h }
            | SyncAll { h }
            | Metadata { h }
            | Len { h }
            | WriteTo { h }
            | IntoFile { h } => Some(h),
            Drop { .. }
            | Reopen { .. }
            | External { .. }
            | Outsider { .. }
            | Fork { .. }
            | Child { .. } => None,
        }
    }

    /// Whether the operation may grow the file through `h`.
    pub(super) fn writes(&self) -> bool {
        matches!(
            self,
            Op::Write { .. }
                | Op::WriteAll { .. }
                | Op::WriteVectored { .. }
                | Op::WriteAt { .. }
                | Op::WriteAllAt { .. }
        )
    }
}

/// Per test case: how the `MmapFile` world opens its handles, the file's
/// initial content (the same in both worlds), and how much the runner
/// looks.
#[derive(Clone, Copy, Debug)]
pub struct Cfg {
    pub exact_len: bool,
    /// `OpenOptions::background_growth` for the `MmapFile` world's handles.
    pub background_growth: bool,
    /// `OpenOptions::map_after` for the `MmapFile` world's handles (`None`:
    /// the default): when a read-only handle maps the file.
    pub map_after: Option<u32>,
    pub reserve: Option<u64>,
    pub init: Data,
    /// The `MmapFile` world's file is a memfd, `Main` starts as
    /// `MmapFile::anonymous()` (mapped with the default options: without
    /// `exact_len` or `reserve`; never alone, as the world keeps a second
    /// descriptor of the memfd open to reopen it) and writes the initial content itself; the
    /// other handles open `/proc/self/fd/N`. The file system is then tmpfs,
    /// which takes files up to `i64::MAX` bytes: no write may go past 16 TiB
    /// (see `MAX_COMPARED`). Not with `main_append`.
    pub anonymous: bool,
    /// Read the files (an `open`) after every operation, not only at the
    /// end. Off, a single handle can append undisturbed for a long stretch.
    pub observe: bool,
    /// `Main` (and so `Clone`) is opened read + append instead of
    /// read-write.
    pub main_append: bool,
}
