//! The model's core, shared by the proptest test (`main.rs`) and the
//! `model` fuzz target (fuzz/fuzz_targets/model.rs, which includes this file
//! with `#[path]`): the operations, the two worlds, the other actors, and
//! [`run`], which plays a sequence of operations on both worlds and compares
//! every result. It needs only `std`, `libc` and `mmapfile`, so that the fuzz
//! crate can build it.
//!
//! `File` is the specification. Each world has one file and up to five
//! handles to it: the main read-write handle (read-append with
//! [`Cfg::main_append`]), a `try_clone` of it (sharing its cursor), an
//! independently opened read+append handle, a read-only handle and a
//! write-only handle. After every operation [`run`] compares the operation's
//! result (values, buffers, `ErrorKind` and `raw_os_error`), every live
//! handle's `stream_position`, `MmapFile::len` against the `File` world's
//! length, the size on disk (`stat`) and, with [`Cfg::observe`], the bytes
//! on disk (read through an `open`).
//!
//! # Actors outside this process
//! - **The outsider** ([`Op::Outsider`]): a real second process per world
//!   (this test binary run again, see [`set_outsider_command`] and
//!   [`serve_outsider`]), holding plain `File`s on the world's path: one
//!   read-write, one `O_APPEND`, each opened when first needed and kept
//!   until [`Out::Close`]. It writes anywhere (just past our length, inside
//!   our growth step, or far), appends, sets the length, reads, asks for
//!   sizes and syncs, interleaved with our calls and with no flush of ours
//!   before. Both worlds' outsiders get the same command; their results
//!   must agree exactly. The runner talks to each over a Unix socket pair
//!   that is the outsider's stdin: a command or an answer is a 4-byte
//!   little-endian length and that many bytes ([`Cmd`], [`Outcome`]
//!   encoded); the outsider's stdout (where libtest prints) goes nowhere.
//!   Outsiders are spawned once per thread and kept between cases.
//! - **Fork** ([`Op::Fork`], [`Op::Child`]): each world forks a child that
//!   holds the world's handles as inherited, runs short lists of [`Kid`]
//!   operations on them (reads, writes, seeks, `set_len`, drops) when the
//!   runner sends it the index of the op that lists them, answers each
//!   result over a socket pair, and stays alive, holding its copies, until
//!   a [`Kid::Exit`], the next `Fork`, or the end of the case. The File
//!   world's child touches only the File world's handles, the MmapFile
//!   world's child only the MmapFile world's. Parent and child share each
//!   description's cursor as File's share the file offset: the parent's
//!   cursors after a child's reads and writes, the bytes, and the sizes
//!   must be File's. Forking is safe only where no other thread can hold a
//!   lock the child needs (malloc's, stdio's, the crate's): the test runs
//!   its fork-bearing cases in a process of their own with one test thread
//!   (see `isolated` in main.rs); the child never prints and leaves by
//!   `_exit` (no destructors, no atexit handlers).
//!
//! # Sizes on disk
//! After issue 11 (see /work/notes/issue11-design.md): every `open()` of the
//! file, by anyone, sees the exact size and bytes (so the runner's reads of
//! the file, an `open`, must match byte for byte, always). Only a path
//! `stat()`, which opens nothing, may show more, by up to one growth step,
//! and only while the MmapFile world's file has exactly one open file
//! description (`Main` and its clones), not `exact_len`, not from
//! `try_from` (`IntoFile`), not a memfd (the world keeps a second
//! description of those), with no outsider handle open and no fork child
//! alive, and a write went through it since the last moment something
//! forced the exact size (an open by anyone, a second description, a
//! fork). [`Cfg::observe`] off reads the file only at the end, so that a
//! case can run long stretches with one handle undisturbed.
//!
//! `External` operations are the older "another process": a plain `File`
//! opened on the path in this process writes, appends or sets the length
//! (after `Main` flushes). No handle is told; every result after it, and
//! after every outsider or fork child change, must still match `File`'s.
//! Only `MmapFile::len` may lag, as documented, until `metadata`, a seek
//! from the end, or a read to the end.
//!
//! With [`Cfg::anonymous`], the `MmapFile` world's file is a memfd: its
//! `Main` handle starts as `MmapFile::anonymous()`, and every other handle,
//! reopen and outside change goes through `/proc/self/fd/N` (the
//! outsider's through `/proc/<our pid>/fd/N`), which opens the memfd again.
//! The `File` world keeps an ordinary file.
//!
//! [`run_twins`] plays the same with a `File` in both worlds: the harness'
//! own check, which must never fail.

use std::cell::RefCell;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mmapfile::MmapFile;

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

const HANDLES: [H; 5] = [H::Main, H::Clone, H::App, H::Ro, H::Wo];

impl H {
    fn idx(self) -> usize {
        self as usize
    }

    fn writable(self) -> bool {
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
    fn bytes(&self) -> Vec<u8> {
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
    fn apply(&self, path: &Path) -> io::Result<()> {
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
    fn resolve(self, len: u64) -> u64 {
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
    fn resolve(&self, len: u64) -> Cmd {
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
    fn handle(&self) -> Option<H> {
        match self {
            Kid::Do(op) => op.handle(),
            Kid::Drop(h) => Some(*h),
            Kid::DropAll | Kid::Exit => None,
        }
    }

    /// Whether it changes the file's size in another process: the parent's
    /// `MmapFile::len` may lag after it.
    fn changes_size(&self) -> bool {
        match self {
            Kid::Do(op) => op.writes() || matches!(op, Op::SetLen { .. }),
            _ => false,
        }
    }
}

impl Op {
    fn handle(&self) -> Option<H> {
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
            | WriteAt { h, .. }
            | WriteAllAt { h, .. }
            | SetLen { h, .. }
            | Flush { h }
            | SyncData { h }
            | SyncAll { h }
            | Metadata { h }
            | Len { h }
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
    fn writes(&self) -> bool {
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
    pub reserve: Option<u64>,
    pub init: Data,
    /// The `MmapFile` world's file is a memfd, `Main` starts as
    /// `MmapFile::anonymous()` (mapped as `try_from` maps: without
    /// `exact_len` or `reserve`) and writes the initial content itself; the
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

// ---------------------------------------------------------------------------
// Outcomes, and their encoding for the outsider's and the fork children's
// answers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fail {
    kind: ErrorKind,
    os: Option<i32>,
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail {
            kind: e.kind(),
            os: e.raw_os_error(),
        }
    }
}

/// What an operation returned: a count, position or length (0 for `()`),
/// and the caller's buffer(s) afterwards, for reads.
#[derive(PartialEq, Eq)]
struct Outcome {
    res: Result<u64, Fail>,
    buf: Option<Vec<u8>>,
}

/// The kinds an error without an OS code may have, by their index on the
/// wire (an OS error's kind follows from its code).
const KINDS: [ErrorKind; 24] = [
    ErrorKind::Other,
    ErrorKind::UnexpectedEof,
    ErrorKind::WriteZero,
    ErrorKind::InvalidInput,
    ErrorKind::InvalidData,
    ErrorKind::Unsupported,
    ErrorKind::OutOfMemory,
    ErrorKind::Interrupted,
    ErrorKind::NotFound,
    ErrorKind::PermissionDenied,
    ErrorKind::AlreadyExists,
    ErrorKind::WouldBlock,
    ErrorKind::TimedOut,
    ErrorKind::BrokenPipe,
    ErrorKind::ResourceBusy,
    ErrorKind::StorageFull,
    ErrorKind::FileTooLarge,
    ErrorKind::NotSeekable,
    ErrorKind::IsADirectory,
    ErrorKind::NotADirectory,
    ErrorKind::ReadOnlyFilesystem,
    ErrorKind::ExecutableFileBusy,
    ErrorKind::Deadlock,
    ErrorKind::TooManyLinks,
];
/// `os` on the wire for an error without an OS code.
const NO_OS: i32 = i32::MIN;

impl Outcome {
    fn of<T: Into<u64>>(r: io::Result<T>) -> Self {
        Outcome {
            res: r.map(Into::into).map_err(Fail::from),
            buf: None,
        }
    }

    fn unit(r: io::Result<()>) -> Self {
        Outcome::of(r.map(|()| 0u64))
    }

    fn count(r: io::Result<usize>) -> Self {
        Outcome::of(r.map(|n| n as u64))
    }

    fn with(mut self, buf: Vec<u8>) -> Self {
        self.buf = Some(buf);
        self
    }

    /// For an operation on a handle that is not open (in a fork child).
    fn not_open() -> Self {
        Outcome::unit(Err(io::Error::other("handle not open")))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match &self.res {
            Ok(v) => {
                out.push(0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Err(e) => {
                out.push(1);
                out.extend_from_slice(&e.os.unwrap_or(NO_OS).to_le_bytes());
                let kind = KINDS.iter().position(|&k| k == e.kind);
                out.push(kind.map_or(u8::MAX, |i| i as u8));
            }
        }
        match &self.buf {
            None => out.push(0),
            Some(buf) => {
                out.push(1);
                out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
                out.extend_from_slice(buf);
            }
        }
    }

    fn decode(r: &mut Rd<'_>) -> io::Result<Self> {
        let res = match r.u8()? {
            0 => Ok(r.u64()?),
            _ => {
                let os = r.i32()?;
                let kind = r.u8()?;
                let os = (os != NO_OS).then_some(os);
                let kind = match (KINDS.get(usize::from(kind)), os) {
                    (Some(&k), _) => k,
                    (None, Some(code)) => io::Error::from_raw_os_error(code).kind(),
                    (None, None) => return Err(bad("an error of a kind the wire lacks")),
                };
                Err(Fail { kind, os })
            }
        };
        let buf = match r.u8()? {
            0 => None,
            _ => {
                let n = r.u64()?;
                Some(
                    r.take(usize::try_from(n).map_err(|_| bad("length"))?)?
                        .to_vec(),
                )
            }
        };
        Ok(Outcome { res, buf })
    }

    /// All the outcomes in `msg`.
    fn decode_all(msg: &[u8]) -> io::Result<Vec<Outcome>> {
        let mut r = Rd(msg);
        let mut all = Vec::new();
        while !r.0.is_empty() {
            all.push(Outcome::decode(&mut r)?);
        }
        Ok(all)
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.res {
            Ok(v) => write!(f, "Ok({v})")?,
            Err(e) => write!(f, "Err({:?}, os {:?})", e.kind, e.os)?,
        }
        if let Some(buf) = &self.buf {
            write!(f, " buf[{}]", buf.len())?;
            let head = &buf[..buf.len().min(24)];
            write!(f, " {head:02x?}")?;
            if buf.len() > 24 {
                write!(f, "..")?;
            }
        }
        Ok(())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("malformed message: {what}"))
}

/// Reads a message's fields, little-endian.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> io::Result<i32> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Sends one message: its length (4 bytes, little-endian), then its bytes.
fn send(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let len = u32::try_from(msg.len()).map_err(|_| bad("too long"))?;
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(msg);
    w.write_all(&frame)
}

/// Receives one message; `None` at the end of the stream between messages.
fn recv(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut msg = vec![0; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut msg)?;
    Ok(Some(msg))
}

/// Where two byte strings first differ, readably.
fn byte_diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = i.saturating_sub(4);
    let to_a = (i + 12).min(a.len());
    let to_b = (i + 12).min(b.len());
    format!(
        "lengths {} vs {}; first difference at {i}: {:02x?} vs {:02x?} (from {from})",
        a.len(),
        b.len(),
        &a[from.min(a.len())..to_a],
        &b[from.min(b.len())..to_b],
    )
}

// ---------------------------------------------------------------------------
// The two worlds
// ---------------------------------------------------------------------------

/// What the test needs of a handle, implemented by `File` (the spec) and
/// `MmapFile`.
trait Handle: Read + Write + Seek + FileExt + AsRawFd + Sized {
    fn open_as(path: &Path, h: H, cfg: &Cfg, truncate: bool) -> io::Result<Self>;
    /// `Main` of an anonymous world: a memfd, empty.
    fn anonymous() -> io::Result<Self>;
    fn h_try_clone(&self) -> io::Result<Self>;
    fn h_set_len(&self, size: u64) -> io::Result<()>;
    fn h_sync_all(&self) -> io::Result<()>;
    fn h_sync_data(&self) -> io::Result<()>;
    fn h_metadata_len(&self) -> io::Result<u64>;
    /// `stream_position` through `&self`, as the runner looks.
    fn h_position(&self) -> io::Result<u64>;
    /// `MmapFile::len`; `metadata().len()` for `File`.
    fn h_len(&self) -> io::Result<u64>;
    /// `into_file` and back; returns the position of the `File` in between.
    fn round_trip(self) -> (io::Result<u64>, Option<Self>);
    fn mapped(&self) -> bool;
}

/// How `h` is opened, in both worlds.
fn access(o: &mut fs::OpenOptions, h: H, cfg: &Cfg) {
    match h {
        H::Main | H::Clone if cfg.main_append => o.read(true).append(true),
        H::Main | H::Clone => o.read(true).write(true),
        H::App => o.read(true).append(true),
        H::Ro => o.read(true),
        H::Wo => o.write(true),
    };
}

impl Handle for File {
    fn open_as(path: &Path, h: H, cfg: &Cfg, truncate: bool) -> io::Result<Self> {
        let mut o = fs::OpenOptions::new();
        access(&mut o, h, cfg);
        o.truncate(truncate).open(path)
    }
    fn anonymous() -> io::Result<Self> {
        // SAFETY: `memfd_create` reads the NUL-terminated name and returns a
        // new descriptor or -1; nothing else holds the descriptor.
        let fd = unsafe { libc::memfd_create(c"mmapfile-model".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is open and owned by no one else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
    fn h_try_clone(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn h_set_len(&self, size: u64) -> io::Result<()> {
        self.set_len(size)
    }
    fn h_sync_all(&self) -> io::Result<()> {
        self.sync_all()
    }
    fn h_sync_data(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn h_metadata_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn h_position(&self) -> io::Result<u64> {
        (&mut &*self).stream_position()
    }
    fn h_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn round_trip(mut self) -> (io::Result<u64>, Option<Self>) {
        (self.stream_position(), Some(self))
    }
    fn mapped(&self) -> bool {
        true
    }
}

impl Handle for MmapFile {
    fn open_as(path: &Path, h: H, cfg: &Cfg, truncate: bool) -> io::Result<Self> {
        let mut o = MmapFile::options();
        o.truncate(truncate);
        match h {
            H::Main | H::Clone if cfg.main_append => o.read(true).append(true),
            H::Main | H::Clone => o.read(true).write(true),
            H::App => o.read(true).append(true),
            H::Ro => o.read(true),
            H::Wo => o.write(true),
        };
        o.exact_len(cfg.exact_len);
        if let Some(r) = cfg.reserve {
            o.reserve(r);
        }
        o.open(path)
    }
    fn anonymous() -> io::Result<Self> {
        MmapFile::anonymous()
    }
    fn h_try_clone(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn h_set_len(&self, size: u64) -> io::Result<()> {
        self.set_len(size)
    }
    fn h_sync_all(&self) -> io::Result<()> {
        self.sync_all()
    }
    fn h_sync_data(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn h_metadata_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn h_position(&self) -> io::Result<u64> {
        (&mut &*self).stream_position()
    }
    fn h_len(&self) -> io::Result<u64> {
        self.len()
    }
    fn round_trip(self) -> (io::Result<u64>, Option<Self>) {
        let mut file = match self.into_file() {
            Ok(file) => file,
            Err(e) => return (Err(e), None),
        };
        let pos = file.stream_position();
        match MmapFile::try_from(file) {
            Ok(m) => (pos, Some(m)),
            Err(e) => (Err(e), None),
        }
    }
    fn mapped(&self) -> bool {
        self.is_mapped()
    }
}

struct World<T> {
    path: PathBuf,
    /// `path` as the outsider opens it: `/proc/<our pid>/fd/N` for
    /// `/proc/self/fd/N`.
    outside: PathBuf,
    cfg: Cfg,
    slots: [Option<T>; 5],
    /// For an anonymous file: a descriptor of the memfd that keeps it (and
    /// `path`, `/proc/self/fd/N` of this descriptor) alive while `Main` is
    /// dropped and reopened.
    _memfd: Option<File>,
}

const FILL: u8 = 0xa5;

impl<T: Handle> World<T> {
    fn new(path: PathBuf, cfg: Cfg) -> Self {
        World {
            outside: path.clone(),
            path,
            cfg,
            slots: [None, None, None, None, None],
            _memfd: None,
        }
    }

    /// `Main` is a memfd (`MmapFile::anonymous()`), which writes `init` and
    /// rewinds; the memfd is reopened read-only through `/proc/self/fd/N`
    /// to keep it, and the world's path is `/proc/self/fd/N` of that
    /// descriptor.
    fn anonymous(cfg: Cfg, init: &[u8]) -> io::Result<Self> {
        let mut main = T::anonymous()?;
        let memfd = File::open(format!("/proc/self/fd/{}", main.as_raw_fd()))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", memfd.as_raw_fd()));
        let target = fs::read_link(&path)?;
        if !target.to_string_lossy().starts_with("/memfd:") {
            return Err(io::Error::other(format!(
                "the anonymous file is not a memfd: {}",
                target.display()
            )));
        }
        main.write_all(init)?;
        main.flush()?;
        main.rewind()?;
        let mut world = World::new(path, cfg);
        world.outside = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            memfd.as_raw_fd()
        ));
        world.slots[H::Main.idx()] = Some(main);
        world._memfd = Some(memfd);
        Ok(world)
    }

    /// Opens `h` if it is not open (a clone is made from `Main`).
    fn ensure(&mut self, h: H) -> Option<Outcome> {
        if self.slots[h.idx()].is_some() {
            return None;
        }
        let opened = match h {
            H::Clone => match &self.slots[H::Main.idx()] {
                Some(main) => main.h_try_clone(),
                None => T::open_as(&self.path, H::Main, &self.cfg, false)
                    .and_then(|main| main.h_try_clone()),
            },
            _ => T::open_as(&self.path, h, &self.cfg, false),
        };
        Some(Outcome::unit(opened.map(|f| {
            self.slots[h.idx()] = Some(f);
        })))
    }

    fn drop_handle(&mut self, h: H) {
        self.slots[h.idx()] = None;
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::IntoFile { h } => {
                let f = self.slots[h.idx()].take().expect("handle opened");
                let (pos, f) = f.round_trip();
                self.slots[h.idx()] = f;
                Outcome::of(pos)
            }
            Op::Drop { h } => {
                self.drop_handle(h);
                Outcome::unit(Ok(()))
            }
            Op::External { ref change } => {
                if let Some(main) = self.slots[H::Main.idx()].as_mut()
                    && let Err(e) = main.flush()
                {
                    return Outcome::unit(Err(e));
                }
                // No handle is told: every call after this must see the
                // change by itself and answer as `File` does.
                Outcome::unit(change.apply(&self.path))
            }
            Op::Reopen { truncate } => {
                self.drop_handle(H::Main);
                Outcome::unit(
                    T::open_as(&self.path, H::Main, &self.cfg, truncate).map(|f| {
                        self.slots[H::Main.idx()] = Some(f);
                    }),
                )
            }
            Op::Outsider { .. } | Op::Fork { .. } | Op::Child { .. } => {
                unreachable!("played by the runner")
            }
            _ => {
                let h = op.handle().expect("an operation on a handle");
                let f = self.slots[h.idx()].as_mut().expect("handle opened");
                apply_to(f, op)
            }
        }
    }
}

fn apply_to<T: Handle>(f: &mut T, op: &Op) -> Outcome {
    match op {
        Op::Read { len, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::count(f.read(&mut buf)).with(buf)
        }
        Op::ReadExact { len, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::unit(f.read_exact(&mut buf)).with(buf)
        }
        Op::ReadToEnd { prefix, .. } => {
            let mut buf = vec![FILL; *prefix];
            Outcome::count(f.read_to_end(&mut buf)).with(buf)
        }
        Op::ReadToString { prefix, .. } => {
            let mut s = if *prefix {
                "pré".to_string()
            } else {
                String::new()
            };
            Outcome::count(f.read_to_string(&mut s)).with(s.into_bytes())
        }
        Op::ReadVectored { lens, .. } => {
            let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![FILL; n]).collect();
            let mut slices: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let r = f.read_vectored(&mut slices);
            Outcome::count(r).with(bufs.concat())
        }
        Op::Write { data, .. } => Outcome::count(f.write(&data.bytes())),
        Op::WriteAll { data, .. } => Outcome::unit(f.write_all(&data.bytes())),
        Op::WriteVectored { bufs, .. } => {
            let bytes: Vec<Vec<u8>> = bufs.iter().map(Data::bytes).collect();
            let slices: Vec<IoSlice<'_>> = bytes.iter().map(|b| IoSlice::new(b)).collect();
            Outcome::count(f.write_vectored(&slices))
        }
        Op::Seek { pos, .. } => Outcome::of(f.seek(*pos)),
        Op::StreamPosition { .. } => Outcome::of(f.stream_position()),
        Op::ReadAt { len, offset, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::count(f.read_at(&mut buf, *offset)).with(buf)
        }
        Op::ReadExactAt { len, offset, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::unit(f.read_exact_at(&mut buf, *offset)).with(buf)
        }
        Op::WriteAt { data, offset, .. } => Outcome::count(f.write_at(&data.bytes(), *offset)),
        Op::WriteAllAt { data, offset, .. } => {
            Outcome::unit(f.write_all_at(&data.bytes(), *offset))
        }
        Op::SetLen { size, .. } => Outcome::unit(f.h_set_len(*size)),
        Op::Flush { .. } => Outcome::unit(f.flush()),
        Op::SyncData { .. } => Outcome::unit(f.h_sync_data()),
        Op::SyncAll { .. } => Outcome::unit(f.h_sync_all()),
        Op::Metadata { .. } => Outcome::of(f.h_metadata_len()),
        Op::Len { .. } => Outcome::of(f.h_len()),
        Op::Drop { .. }
        | Op::Reopen { .. }
        | Op::IntoFile { .. }
        | Op::External { .. }
        | Op::Outsider { .. }
        | Op::Fork { .. }
        | Op::Child { .. } => {
            unreachable!("not an operation on a handle")
        }
    }
}

// ---------------------------------------------------------------------------
// The outsider: a second process with `File`s on the path
// ---------------------------------------------------------------------------

/// Set in the outsider's environment.
const OUTSIDER_ENV: &str = "MMAPFILE_MODEL_OUTSIDER";

/// A resolved outsider command, as sent.
#[derive(Debug)]
enum Cmd {
    /// Drops its handles; later commands use this path.
    Attach(PathBuf),
    WriteAt {
        data: Data,
        offset: u64,
    },
    Append {
        data: Data,
    },
    SetLen(u64),
    Len,
    ReadAt {
        len: usize,
        offset: u64,
    },
    OpenLen,
    StatLen,
    SyncAll,
    Close,
}

fn put_data(out: &mut Vec<u8>, data: &Data) {
    out.extend_from_slice(&(data.len as u64).to_le_bytes());
    out.extend_from_slice(&data.seed.to_le_bytes());
    out.push(u8::from(data.text));
}

fn get_data(r: &mut Rd<'_>) -> io::Result<Data> {
    Ok(Data {
        len: usize::try_from(r.u64()?).map_err(|_| bad("length"))?,
        seed: r.u32()?,
        text: r.u8()? != 0,
    })
}

impl Cmd {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u64s = |out: &mut Vec<u8>, xs: &[u64]| {
            for x in xs {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
        match self {
            Cmd::Attach(path) => {
                out.push(0);
                out.extend_from_slice(path.as_os_str().as_encoded_bytes());
            }
            Cmd::WriteAt { data, offset } => {
                out.push(1);
                put_data(&mut out, data);
                u64s(&mut out, &[*offset]);
            }
            Cmd::Append { data } => {
                out.push(2);
                put_data(&mut out, data);
            }
            Cmd::SetLen(size) => {
                out.push(3);
                u64s(&mut out, &[*size]);
            }
            Cmd::Len => out.push(4),
            Cmd::ReadAt { len, offset } => {
                out.push(5);
                u64s(&mut out, &[*len as u64, *offset]);
            }
            Cmd::OpenLen => out.push(6),
            Cmd::StatLen => out.push(7),
            Cmd::SyncAll => out.push(8),
            Cmd::Close => out.push(9),
        }
        out
    }

    fn decode(msg: &[u8]) -> io::Result<Cmd> {
        let mut r = Rd(msg);
        Ok(match r.u8()? {
            0 => {
                use std::os::unix::ffi::OsStrExt;
                Cmd::Attach(PathBuf::from(std::ffi::OsStr::from_bytes(r.0)))
            }
            1 => Cmd::WriteAt {
                data: get_data(&mut r)?,
                offset: r.u64()?,
            },
            2 => Cmd::Append {
                data: get_data(&mut r)?,
            },
            3 => Cmd::SetLen(r.u64()?),
            4 => Cmd::Len,
            5 => Cmd::ReadAt {
                len: usize::try_from(r.u64()?).map_err(|_| bad("length"))?,
                offset: r.u64()?,
            },
            6 => Cmd::OpenLen,
            7 => Cmd::StatLen,
            8 => Cmd::SyncAll,
            9 => Cmd::Close,
            _ => return Err(bad("unknown command")),
        })
    }

    /// Whether the outsider holds a handle of the file after it.
    fn holds(&self) -> bool {
        !matches!(
            self,
            Cmd::Attach(_) | Cmd::Close | Cmd::OpenLen | Cmd::StatLen
        )
    }

    /// Whether it may change the file's size.
    fn changes_size(&self) -> bool {
        matches!(
            self,
            Cmd::WriteAt { .. } | Cmd::Append { .. } | Cmd::SetLen(_)
        )
    }
}

/// The outsider's state: the path and its handles on it.
#[derive(Default)]
struct Server {
    path: PathBuf,
    rw: Option<File>,
    app: Option<File>,
}

impl Server {
    fn rw(&mut self) -> io::Result<&File> {
        if self.rw.is_none() {
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)?;
            self.rw = Some(f);
        }
        Ok(self.rw.as_ref().expect("just opened"))
    }

    fn app(&mut self) -> io::Result<&File> {
        if self.app.is_none() {
            self.app = Some(fs::OpenOptions::new().append(true).open(&self.path)?);
        }
        Ok(self.app.as_ref().expect("just opened"))
    }

    fn serve(&mut self, cmd: Cmd) -> Outcome {
        match cmd {
            Cmd::Attach(path) => {
                self.rw = None;
                self.app = None;
                self.path = path;
                Outcome::unit(Ok(()))
            }
            Cmd::WriteAt { data, offset } => Outcome::unit(
                self.rw()
                    .and_then(|f| f.write_all_at(&data.bytes(), offset)),
            ),
            Cmd::Append { data } => {
                Outcome::unit(self.app().and_then(|mut f| f.write_all(&data.bytes())))
            }
            Cmd::SetLen(size) => Outcome::unit(self.rw().and_then(|f| f.set_len(size))),
            Cmd::Len => Outcome::of(self.rw().and_then(|f| Ok(f.metadata()?.len()))),
            Cmd::ReadAt { len, offset } => {
                let mut buf = vec![FILL; len];
                let r = self.rw().and_then(|f| f.read_at(&mut buf, offset));
                Outcome::count(r).with(buf)
            }
            Cmd::OpenLen => {
                Outcome::of(File::open(&self.path).and_then(|f| Ok(f.metadata()?.len())))
            }
            Cmd::StatLen => Outcome::of(fs::metadata(&self.path).map(|m| m.len())),
            Cmd::SyncAll => Outcome::unit(self.rw().and_then(File::sync_all)),
            Cmd::Close => {
                self.rw = None;
                self.app = None;
                Outcome::unit(Ok(()))
            }
        }
    }
}

/// Whether this process is an outsider ([`serve_outsider`] should run).
pub fn is_outsider() -> bool {
    std::env::var_os(OUTSIDER_ENV).is_some()
}

/// The outsider's loop: commands from the socket that is its stdin,
/// answers on the same socket, until the runner closes it.
pub fn serve_outsider() {
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .expect("the outsider's stdin");
    let mut sock = UnixStream::from(fd);
    let mut server = Server::default();
    while let Some(msg) = recv(&mut sock).expect("the outsider reads a command") {
        let cmd = Cmd::decode(&msg).expect("a command");
        let mut answer = Vec::new();
        server.serve(cmd).encode(&mut answer);
        send(&mut sock, &answer).expect("the outsider answers");
    }
}

static OUTSIDER_COMMAND: OnceLock<fn() -> Command> = OnceLock::new();

/// How to start an outsider: a command that runs this binary again such
/// that [`serve_outsider`] runs (see `outsider_command` in main.rs); the
/// environment variable that tells it, its stdin and stdout are set here.
pub fn set_outsider_command(command: fn() -> Command) {
    let _ = OUTSIDER_COMMAND.set(command);
}

/// An outsider process, and the runner's end of its socket.
struct Outsider {
    child: Child,
    sock: UnixStream,
}

thread_local! {
    /// Outsiders between cases, to spare a process start per case.
    static IDLE_OUTSIDERS: RefCell<Vec<Outsider>> = const { RefCell::new(Vec::new()) };
}

impl Outsider {
    fn spawn() -> io::Result<Outsider> {
        let command = OUTSIDER_COMMAND.get().ok_or_else(|| {
            io::Error::other("no outsider command: call world::set_outsider_command first")
        })?;
        let (ours, theirs) = UnixStream::pair()?;
        let child = command()
            .env(OUTSIDER_ENV, "1")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()?;
        // An outsider's `open` waits while we hold a lease the crate does
        // not release; the kernel breaks it after lease-break-time (45 s).
        ours.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Outsider { child, sock: ours })
    }

    /// An idle one of this thread, attached to `path`, or a new one.
    fn get(path: &Path) -> io::Result<Outsider> {
        let mut o = match IDLE_OUTSIDERS.with(|idle| idle.borrow_mut().pop()) {
            Some(o) => o,
            None => Outsider::spawn()?,
        };
        match o.call(&Cmd::Attach(path.to_owned()))?.res {
            Ok(_) => Ok(o),
            Err(e) => Err(io::Error::other(format!("attach: {e:?}"))),
        }
    }

    fn call(&mut self, cmd: &Cmd) -> io::Result<Outcome> {
        send(&mut self.sock, &cmd.encode())?;
        let answer = recv(&mut self.sock)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "the outsider hung up"))?;
        let mut all = Outcome::decode_all(&answer)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(bad(&format!("{n} outcomes"))),
        }
    }

    /// Closes its handles and keeps it for the next case, if it answers.
    fn release(mut self) {
        if self.call(&Cmd::Close).is_ok_and(|o| o.res.is_ok()) {
            IDLE_OUTSIDERS.with(|idle| idle.borrow_mut().push(self));
        }
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        // Ours, by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Fork children
// ---------------------------------------------------------------------------

/// A fork child of one world, and the parent's end of its socket. The
/// parent sends the index (4 bytes) of the `Op::Fork` or `Op::Child` whose
/// `Kid`s it is to run (the child has the ops: it is a copy of the
/// parent), or `u32::MAX` to `_exit`; the child answers each `Kid`'s
/// outcome in one message.
struct ForkChild {
    pid: libc::pid_t,
    sock: UnixStream,
    /// Whether it was waited for.
    reaped: bool,
}

const KID_EXIT: u32 = u32::MAX;

impl ForkChild {
    fn start<T: Handle>(world: &mut World<T>, ops: &[Op]) -> io::Result<ForkChild> {
        let (ours, theirs) = UnixStream::pair()?;
        // SAFETY: fork has no memory-safety preconditions of its own; what
        // the child may safely do is the question. The fork-bearing tests
        // run in a process with one test thread (`isolated` in main.rs; the
        // fuzzer's process has one working thread), so no other thread
        // holds a lock the child takes (malloc's, the crate's, stdio's);
        // the child only runs `kid_loop` on its copy of `world`, answers on
        // its socket, and leaves by `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(ours);
            let ok = panic::catch_unwind(AssertUnwindSafe(|| kid_loop(world, ops, theirs)));
            // SAFETY: `_exit` ends this process at once, with no destructor,
            // atexit handler or flush of the stdio buffers copied from the
            // parent: the parent's objects (the other world, the runner's
            // files) are left alone.
            unsafe { libc::_exit(if ok.is_ok() { 0 } else { 101 }) }
        }
        drop(theirs);
        ours.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(ForkChild {
            pid,
            sock: ours,
            reaped: false,
        })
    }

    /// Runs the `Kid`s of `ops[index]` (or exits, for `KID_EXIT`).
    fn call(&mut self, index: u32) -> io::Result<Vec<Outcome>> {
        send(&mut self.sock, &index.to_le_bytes())?;
        let answer = recv(&mut self.sock)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "the fork child hung up"))?;
        Outcome::decode_all(&answer)
    }

    /// Waits for it to end; its exit status.
    fn wait(&mut self) -> io::Result<ExitStatus> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid place for the status; `pid` is our
            // child, not yet waited for.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                self.reaped = true;
                return Ok(ExitStatus::from_raw(status));
            }
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for ForkChild {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: `pid` is our child, not yet waited for, so the id is
            // still its own.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.wait();
        }
    }
}

/// The fork child's loop: runs the `Kid`s of the ops it is sent, on its
/// copy of `world`, until told to exit or the parent hangs up.
fn kid_loop<T: Handle>(world: &mut World<T>, ops: &[Op], mut sock: UnixStream) {
    let exit = [Kid::Exit];
    while let Ok(Some(msg)) = recv(&mut sock) {
        let index = msg
            .get(..4)
            .map_or(KID_EXIT, |b| u32::from_le_bytes(b.try_into().expect("4")));
        let kids: &[Kid] = match ops.get(index as usize) {
            Some(Op::Fork { kid } | Op::Child { kid }) => kid,
            _ => &exit,
        };
        let mut answer = Vec::new();
        let mut exiting = false;
        for k in kids {
            let outcome = match k {
                Kid::Do(op) => {
                    match world.slots[op.handle().expect("a handle op").idx()].as_mut() {
                        Some(f) => apply_to(f, op),
                        None => Outcome::not_open(),
                    }
                }
                Kid::Drop(h) => {
                    world.drop_handle(*h);
                    Outcome::unit(Ok(()))
                }
                Kid::DropAll => {
                    for h in HANDLES {
                        world.drop_handle(h);
                    }
                    Outcome::unit(Ok(()))
                }
                Kid::Exit => {
                    exiting = true;
                    Outcome::unit(Ok(()))
                }
            };
            outcome.encode(&mut answer);
            if exiting {
                break;
            }
        }
        if send(&mut sock, &answer).is_err() || exiting {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------

/// Files larger than this are compared byte for byte only at the end, to
/// keep cases fast.
const COMPARE_EVERY_OP: u64 = 1 << 20;
const MIN_GROWTH: u64 = 64 << 10;
/// Larger files mean a huge offset was accepted: stop rather than read them.
const MAX_COMPARED: u64 = 1 << 30;

/// The most a `stat` may show past the length `len`: one growth step (half
/// the size it grows from, taken when a write reaches into the last page,
/// leaving a page past the write) and a few pages.
fn slack(len: u64) -> u64 {
    MIN_GROWTH.max((len + 4096) / 2) + 3 * 4096
}

/// The runner: the `File` world, the world under test (`MmapFile`, or a
/// `File` again for [`run_twins`]), their outsiders and fork children.
struct Run<M: Handle> {
    cfg: Cfg,
    file: World<File>,
    mmap: World<M>,
    /// Per slot of the `MmapFile` world: which open file description the
    /// handle is (`Clone` shares `Main`'s), to count them.
    desc: [u32; 5],
    next_desc: u32,
    /// Per slot: whether writes through it may pad the file (opened
    /// without `exact_len`, not by `try_from`).
    pads: [bool; 5],
    /// Whether a write through a handle that may pad happened since the last
    /// moment something forced the exact size.
    padded: bool,
    /// Whether `MmapFile::len` may not have caught up with an outside change
    /// yet: documented to catch up after `metadata`, a seek from the end, or
    /// a read to the end.
    stale_len: bool,
    /// The outsiders (the `File` world's, the `MmapFile` world's), started
    /// at the first `Op::Outsider`.
    outsiders: Option<[Outsider; 2]>,
    /// Whether an outsider holds a handle of the file.
    outsider_holds: bool,
    /// The living fork children (the `File` world's, the `MmapFile`
    /// world's).
    kids: Option<[ForkChild; 2]>,
    /// The operations so far, for messages.
    log: Vec<String>,
}

impl<M: Handle> Run<M> {
    fn fail(&self, what: String) -> String {
        let mut msg = format!("{what}\n  cfg: {:?}\n  ops so far:\n", self.cfg);
        for (i, op) in self.log.iter().enumerate() {
            msg.push_str(&format!("    #{i}: {op}\n"));
        }
        msg
    }

    /// Whether a `stat` of the `MmapFile` world's file may show padding now
    /// (see the module doc): exactly one open description, which may pad,
    /// nobody else with the file open, and a write since the last cut.
    fn may_pad(&self) -> bool {
        if !self.padded || self.cfg.anonymous || self.outsider_holds || self.kids.is_some() {
            return false;
        }
        let mut open = HANDLES
            .iter()
            .filter(|h| self.mmap.slots[h.idx()].is_some())
            .map(|h| (self.desc[h.idx()], self.pads[h.idx()]));
        let Some(first) = open.next() else {
            return false;
        };
        first.1 && open.all(|d| d.0 == first.0)
    }

    /// After anything that forces the exact size while it is not allowed to
    /// differ: from now on, only a new write may pad.
    fn settle(&mut self) {
        if !self.may_pad() {
            self.padded = false;
        }
    }

    fn disk(&self) -> (Vec<u8>, Vec<u8>) {
        let f = fs::read(&self.file.path).expect("read File world's file");
        let m = fs::read(&self.mmap.path).expect("read MmapFile world's file");
        (f, m)
    }

    /// Sizes on disk by `stat`, which opens nothing.
    fn disk_lens(&self) -> (u64, u64) {
        let f = fs::metadata(&self.file.path).expect("stat").len();
        let m = fs::metadata(&self.mmap.path).expect("stat").len();
        assert!(
            f.max(m) <= MAX_COMPARED,
            "a file grew to {} bytes: does the file system of the temporary \
             directory accept writes past 16 TiB? Run on ext4 (set TMPDIR).",
            f.max(m)
        );
        (f, m)
    }

    /// The sizes by `stat`: equal, or (see `may_pad`) the `MmapFile` world's
    /// longer by up to a growth step.
    fn check_disk_len(&self, at: &str) -> Result<(), String> {
        let (f, m) = self.disk_lens();
        let may_pad = self.may_pad();
        if m == f || (may_pad && m > f && m - f <= slack(f)) {
            return Ok(());
        }
        Err(self.fail(format!(
            "{at}: size on disk (stat): File world {f}, MmapFile world {m} (padding allowed: \
             {may_pad}, up to {})",
            slack(f)
        )))
    }

    /// The files read through an `open`: equal, byte for byte. The open
    /// forces the exact size.
    fn check_disk_bytes(&mut self, at: &str) -> Result<(), String> {
        let (f, m) = self.disk();
        self.padded = false;
        if f != m {
            return Err(self.fail(format!(
                "{at}: the files read through an open differ: {}",
                byte_diff(&f, &m)
            )));
        }
        Ok(())
    }

    /// After every operation: cursors, lengths, sizes on disk, bytes.
    fn check_state(&mut self, at: &str) -> Result<(), String> {
        let (flen, _) = self.disk_lens();
        for h in HANDLES {
            let (Some(f), Some(m)) = (&self.file.slots[h.idx()], &self.mmap.slots[h.idx()]) else {
                if self.file.slots[h.idx()].is_some() != self.mmap.slots[h.idx()].is_some() {
                    return Err(self.fail(format!("{at}: handle {h:?} open in one world only")));
                }
                continue;
            };
            let fp = Outcome::of(f.h_position());
            let mp = Outcome::of(m.h_position());
            if fp != mp {
                return Err(self.fail(format!(
                    "{at}: stream_position of {h:?}: File {fp:?}, MmapFile {mp:?}"
                )));
            }
            let ml = Outcome::of(m.h_len());
            if ml != Outcome::of(Ok(flen)) && !self.stale_len {
                return Err(self.fail(format!(
                    "{at}: {h:?}.len(): MmapFile {ml:?}, File world's length {flen}"
                )));
            }
            if !m.mapped() {
                return Err(self.fail(format!("{at}: {h:?} is not mapped")));
            }
        }
        self.check_disk_len(at)?;
        if self.cfg.observe && flen <= COMPARE_EVERY_OP {
            self.check_disk_bytes(at)?;
        }
        Ok(())
    }

    /// `f` and `m` must be equal; with `len_may_lag` (an `MmapFile::len`
    /// after an outside change), any two lengths are.
    fn compare(
        &self,
        at: &str,
        what: &dyn fmt::Debug,
        len_may_lag: bool,
        f: &Outcome,
        m: &Outcome,
    ) -> Result<(), String> {
        if f == m || (len_may_lag && f.res.is_ok() && m.res.is_ok()) {
            return Ok(());
        }
        let mut msg = format!("{at}: {what:?}\n    File:     {f:?}\n    MmapFile: {m:?}");
        if let (Some(a), Some(b)) = (&f.buf, &m.buf)
            && a != b
        {
            msg.push_str(&format!("\n    buffers: {}", byte_diff(a, b)));
        }
        Err(self.fail(msg))
    }

    fn open_both(&mut self, h: H, at: &str) -> Result<(), String> {
        let main_open = self.mmap.slots[H::Main.idx()].is_some();
        let f = self.file.ensure(h);
        let m = self.mmap.ensure(h);
        match (f, m) {
            (None, None) => Ok(()),
            (Some(f), Some(m)) => {
                if h == H::Clone && main_open {
                    self.desc[h.idx()] = self.desc[H::Main.idx()];
                    self.pads[h.idx()] = self.pads[H::Main.idx()];
                } else {
                    self.new_desc(h);
                }
                self.compare(
                    &format!("{at} (opening {h:?})"),
                    &Op::StreamPosition { h },
                    false,
                    &f,
                    &m,
                )
            }
            _ => Err(self.fail(format!("{at}: {h:?} open in one world only"))),
        }
    }

    /// `h` was opened as a new description, by `open_as`.
    fn new_desc(&mut self, h: H) {
        self.next_desc += 1;
        self.desc[h.idx()] = self.next_desc;
        self.pads[h.idx()] = !self.cfg.exact_len;
    }

    fn step(&mut self, ops: &[Op], i: usize) -> Result<(), String> {
        let at = format!("op #{i}");
        let op = &ops[i];
        self.log.push(format!("{op:?}"));
        match op {
            Op::Outsider { cmd } => self.outsider(&at, cmd)?,
            Op::Fork { kid } => self.fork(&at, ops, i, kid, true)?,
            Op::Child { kid } => self.fork(&at, ops, i, kid, false)?,
            op => self.local(&at, op)?,
        }
        self.settle();
        self.check_state(&at)?;
        self.settle();
        Ok(())
    }

    /// An operation in this process, in both worlds.
    fn local(&mut self, at: &str, op: &Op) -> Result<(), String> {
        if let Some(h) = op.handle() {
            self.open_both(h, at)?;
        }
        let pads = op.handle().is_some_and(|h| self.pads[h.idx()]);
        let op = &match *op {
            Op::Drop { h: H::Main } => Op::Reopen { truncate: false },
            ref op => op.clone(),
        };
        if let Op::Reopen { .. } = op {
            // Main's description may be the file's last: check it closed.
            self.file.drop_handle(H::Main);
            self.mmap.drop_handle(H::Main);
            self.settle();
            self.check_state(&format!("{at} (after dropping Main)"))?;
            self.settle();
        }
        let f = self.file.apply(op);
        let m = self.mmap.apply(op);
        let len_may_lag = matches!(op, Op::Len { .. }) && self.stale_len;
        self.compare(at, op, len_may_lag, &f, &m)?;
        match *op {
            // `TryFrom<File>` never pads (the design: it never leases).
            Op::IntoFile { h } => {
                let d = self.desc[h.idx()];
                for s in HANDLES {
                    if self.desc[s.idx()] == d {
                        self.pads[s.idx()] = false;
                    }
                }
            }
            Op::Reopen { .. } => self.new_desc(H::Main),
            // It opens the file: the exact size from then on.
            Op::External { .. } => {
                self.stale_len = true;
                self.padded = false;
            }
            Op::Metadata { .. }
            | Op::Seek {
                pos: SeekFrom::End(_),
                ..
            }
            | Op::ReadToEnd { .. }
            | Op::ReadToString { .. }
                if m.res.is_ok() =>
            {
                self.stale_len = false;
            }
            _ => {}
        }
        let h_writable = op.handle().is_none_or(H::writable);
        if op.writes() && h_writable && pads {
            self.padded = true;
        }
        Ok(())
    }

    /// `Op::Outsider`: the same command to both worlds' outsiders, which
    /// must answer alike (a `stat` may see padding, see `may_pad`).
    fn outsider(&mut self, at: &str, out: &Out) -> Result<(), String> {
        let (flen, _) = self.disk_lens();
        let cmd = out.resolve(flen);
        if let Some(entry) = self.log.last_mut() {
            entry.push_str(&format!(" = {cmd:?}"));
        }
        if self.outsiders.is_none() {
            let start = |path: &Path, world: &str| {
                Outsider::get(path)
                    .map_err(|e| format!("starting the {world} world's outsider: {e}"))
            };
            let f = start(&self.file.outside, "File");
            let m = start(&self.mmap.outside, "MmapFile");
            match (f, m) {
                (Ok(f), Ok(m)) => self.outsiders = Some([f, m]),
                (Err(e), _) | (_, Err(e)) => return Err(self.fail(format!("{at}: {e}"))),
            }
        }
        let [fo, mo] = self.outsiders.as_mut().expect("started");
        let (f, m) = (fo.call(&cmd), mo.call(&cmd));
        let (f, m) = match (f, m) {
            (Ok(f), Ok(m)) => (f, m),
            (f, m) => {
                self.outsiders = None;
                return Err(self.fail(format!(
                    "{at}: an outsider did not answer: File world's {:?}, MmapFile world's {:?}",
                    f.err(),
                    m.err()
                )));
            }
        };
        let padding = match (&cmd, &f.res, &m.res) {
            (Cmd::StatLen, Ok(fl), Ok(ml)) => self.may_pad() && ml > fl && ml - fl <= slack(*fl),
            _ => false,
        };
        if !padding {
            self.compare(&format!("{at} (the outsider)"), &cmd, false, &f, &m)?;
        }
        self.outsider_holds = cmd.holds() || (self.outsider_holds && !matches!(cmd, Cmd::Close));
        if cmd.changes_size() {
            self.stale_len = true;
        }
        if matches!(cmd, Cmd::OpenLen) {
            self.padded = false;
        }
        Ok(())
    }

    /// `Op::Fork` (`fresh`) and `Op::Child`: the worlds' fork children run
    /// `kid`, which must give the same outcomes.
    fn fork(
        &mut self,
        at: &str,
        ops: &[Op],
        i: usize,
        kid: &[Kid],
        fresh: bool,
    ) -> Result<(), String> {
        if fresh {
            self.end_kids(&format!("{at} (ending the fork children)"))?;
        }
        if self.kids.is_none() {
            for h in kid.iter().filter_map(Kid::handle) {
                self.open_both(h, at)?;
            }
            let f = ForkChild::start(&mut self.file, ops);
            let m = ForkChild::start(&mut self.mmap, ops);
            match (f, m) {
                (Ok(f), Ok(m)) => self.kids = Some([f, m]),
                (f, m) => {
                    return Err(self.fail(format!(
                        "{at}: fork: File world {:?}, MmapFile world {:?}",
                        f.err(),
                        m.err()
                    )));
                }
            }
            // Forking cuts any padding (the design: every file goes Shared).
            self.padded = false;
        }
        let index = u32::try_from(i).expect("few ops");
        let [fk, mk] = self.kids.as_mut().expect("forked");
        let (f, m) = (fk.call(index), mk.call(index));
        let (f, m) = match (f, m) {
            (Ok(f), Ok(m)) if f.len() == m.len() => (f, m),
            (f, m) => {
                let mut kids = self.kids.take().expect("forked");
                let fs = describe_end(&mut kids[0]);
                let ms = describe_end(&mut kids[1]);
                return Err(self.fail(format!(
                    "{at}: the fork children answered {}, {}\n    File world's child: {fs}\n    \
                     MmapFile world's child: {ms}",
                    f.map_or_else(|e| format!("File world's: {e}"), |o| format!("{o:?}")),
                    m.map_or_else(|e| format!("MmapFile world's: {e}"), |o| format!("{o:?}")),
                )));
            }
        };
        for (j, (k, (fo, mo))) in kid.iter().zip(f.iter().zip(&m)).enumerate() {
            let len_may_lag = matches!(k, Kid::Do(Op::Len { .. })) && self.stale_len;
            self.compare(&format!("{at}, fork child's #{j}"), k, len_may_lag, fo, mo)?;
        }
        if kid.iter().any(Kid::changes_size) {
            self.stale_len = true;
        }
        if kid.iter().any(|k| matches!(k, Kid::Exit)) {
            let mut kids = self.kids.take().expect("forked");
            self.reap(at, &mut kids)?;
        }
        Ok(())
    }

    /// Tells the fork children (if any) to exit, and waits for them.
    fn end_kids(&mut self, at: &str) -> Result<(), String> {
        let Some(mut kids) = self.kids.take() else {
            return Ok(());
        };
        let f = kids[0].call(KID_EXIT);
        let m = kids[1].call(KID_EXIT);
        if let (Err(e), _) | (_, Err(e)) = (&f, &m) {
            let fs = describe_end(&mut kids[0]);
            let ms = describe_end(&mut kids[1]);
            return Err(self.fail(format!(
                "{at}: a fork child did not exit as told ({e})\n    File world's child: \
                 {fs}\n    MmapFile world's child: {ms}"
            )));
        }
        self.reap(at, &mut kids)
    }

    /// Waits for fork children that exited: both must have exited with 0.
    fn reap(&self, at: &str, kids: &mut [ForkChild; 2]) -> Result<(), String> {
        let f = kids[0].wait();
        let m = kids[1].wait();
        match (&f, &m) {
            (Ok(f), Ok(m)) if f.success() && m.success() => Ok(()),
            _ => Err(self.fail(format!(
                "{at}: the fork children's exits: File world's {f:?}, MmapFile world's {m:?}"
            ))),
        }
    }

    fn finish(&mut self) -> Result<(), String> {
        self.end_kids("end (ending the fork children)")?;
        self.settle();
        self.check_state("end")?;
        if let Some(outsiders) = self.outsiders.take() {
            for o in outsiders {
                o.release();
            }
            self.outsider_holds = false;
        }
        for h in [H::Clone, H::App, H::Ro, H::Wo, H::Main] {
            self.file.drop_handle(h);
            self.mmap.drop_handle(h);
        }
        self.log.push("(all handles dropped)".into());
        let at = "end, all handles dropped";
        self.settle();
        self.check_disk_len(at)?;
        self.check_disk_bytes(at)
    }
}

/// A fork child's end, for messages (it is killed if still running).
fn describe_end(kid: &mut ForkChild) -> String {
    if !kid.reaped {
        // SAFETY: `pid` is our child, not yet waited for (`reaped` is false
        // until `wait`), so the id is still its own.
        unsafe { libc::kill(kid.pid, libc::SIGKILL) };
    }
    match kid.wait() {
        Ok(s) if s.signal() == Some(libc::SIGKILL) => "killed by the runner (no answer)".into(),
        Ok(s) => format!("{s}"),
        Err(e) => format!("wait: {e}"),
    }
}

impl<M: Handle> Drop for Run<M> {
    fn drop(&mut self) {
        // Fork children (if the case failed) are killed by ForkChild's drop;
        // outsiders that still answer go back to the idle ones.
        if let Some(outsiders) = self.outsiders.take() {
            for o in outsiders {
                o.release();
            }
        }
    }
}

/// A directory of its own under `std::env::temp_dir()` (`TMPDIR`), removed
/// with what is in it on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        loop {
            let dir = std::env::temp_dir().join(format!(
                "mmapfile-model-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::create_dir(&dir) {
                // Left behind by an earlier process with the same id.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                r => return r.map(|()| Scratch(dir)),
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Plays `ops` on a `File` world and an `MmapFile` world set up as `cfg`
/// says, comparing after every operation; `Err` describes the first
/// difference, with the operations up to it.
pub fn run(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    run_with::<MmapFile>(cfg, ops)
}

/// As [`run`] with a `File` in the world under test too: any difference is
/// the harness' own.
pub fn run_twins(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    run_with::<File>(cfg, ops)
}

fn run_with<M: Handle>(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    let setup = |what: &str, e: io::Error| format!("setup: {what}: {e}");
    if cfg.anonymous && cfg.main_append {
        return Err("setup: an anonymous world's Main is read-write, not main_append".into());
    }
    let dir = Scratch::new().map_err(|e| setup("scratch directory", e))?;
    let fpath = dir.0.join("file");
    let init = cfg.init.bytes();
    fs::write(&fpath, &init).map_err(|e| setup("initial content", e))?;
    let mmap = if cfg.anonymous {
        World::<M>::anonymous(cfg, &init).map_err(|e| setup("anonymous world", e))?
    } else {
        let mpath = dir.0.join("mmap");
        fs::write(&mpath, &init).map_err(|e| setup("initial content", e))?;
        World::new(mpath, cfg)
    };
    let mut run = Run {
        cfg,
        file: World::new(fpath, cfg),
        mmap,
        desc: [0; 5],
        next_desc: 0,
        pads: [false; 5],
        padded: false,
        stale_len: false,
        outsiders: None,
        outsider_holds: false,
        kids: None,
        log: Vec::new(),
    };
    if cfg.anonymous {
        // The `MmapFile` world's `Main` is open already (as `try_from`
        // maps it: never padding, see `may_pad`).
        run.new_desc(H::Main);
        run.pads[H::Main.idx()] = false;
        let opened = run.file.ensure(H::Main).expect("Main not open yet");
        run.compare(
            "start (opening Main)",
            &Op::StreamPosition { h: H::Main },
            false,
            &opened,
            &Outcome::unit(Ok(())),
        )?;
    } else {
        run.open_both(H::Main, "start")?;
    }
    run.check_state("start")?;
    for i in 0..ops.len() {
        run.step(ops, i)?;
    }
    run.finish()
}
