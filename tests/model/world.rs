//! The model's core, shared by the proptest test (`main.rs`) and the
//! `model` fuzz target (fuzz/fuzz_targets/model.rs, which includes this file
//! with `#[path]`): the operations, the two worlds, and [`run`], which plays
//! a sequence of operations on both and compares every result. It needs
//! only `std` and `mmapfile`, so that the fuzz crate can build it.
//!
//! `File` is the specification. Each world has one file and up to five
//! handles to it: the main read-write handle, a `try_clone` of it (sharing
//! its cursor), an independently opened read+append handle, a read-only
//! handle and a write-only handle. After every operation [`run`] compares
//! the operation's result (values, buffers, `ErrorKind` and `raw_os_error`),
//! every live handle's `stream_position`, `MmapFile::len` against the `File`
//! world's length, and the bytes on disk.
//!
//! The one difference allowed on disk is the documented one: while a
//! writable `MmapFile` appends, the file on disk may be longer than its
//! length, by zeros, up to one growth step (and two pages); right after `flush`, `sync_all`,
//! `sync_data`, `metadata`, `into_file` or the drop of a writable handle it
//! must be exact, and with `OpenOptions::exact_len(true)` it must always be.
//! `metadata()` of a read-only handle may report that longer size.
//!
//! `External` operations play "another process": a plain `File` on the same
//! path writes, appends or sets the length (after `Main` flushes, so that it
//! sees the exact file). No handle is told; every result after it must
//! still match `File`'s. Only `MmapFile::len` may lag, as documented, until
//! `metadata`, a seek from the end, or a read to the end.
//!
//! With [`Cfg::anonymous`], the `MmapFile` world's file is a memfd: its
//! `Main` handle starts as `MmapFile::anonymous()`, and every other handle,
//! reopen and outside change goes through `/proc/self/fd/N`, which opens
//! the memfd again. The `File` world keeps an ordinary file.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mmapfile::MmapFile;

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// Which handle an operation goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H {
    /// Read-write, opened without truncation; always open.
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
    /// Drops `Main` and opens it again, read-write, optionally truncating;
    /// its cursor starts at 0.
    Reopen {
        truncate: bool,
    },
    /// `into_file()`, then `MmapFile::try_from` that `File`: the `File`'s
    /// offset must be the cursor. `stream_position` in the `File` world.
    IntoFile {
        h: H,
    },
    /// "Another process": `Main` flushes (so that the file on disk is
    /// exact), then a plain `File` opened on the path changes the file.
    External {
        change: Ext,
    },
}

/// What "another process" does to the file.
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
            Drop { .. } | Reopen { .. } | External { .. } => None,
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

    /// Whether, done through a writable handle, the operation must leave the
    /// file on disk exactly as long as its length (documented trim points).
    fn trims(&self) -> bool {
        match *self {
            Op::Flush { h } | Op::SyncData { h } | Op::SyncAll { h } | Op::Metadata { h } => {
                h.writable()
            }
            Op::Drop { h } | Op::IntoFile { h } => h.writable(),
            Op::Reopen { .. } | Op::External { .. } => true,
            _ => false,
        }
    }
}

/// Per test case: how the `MmapFile` world opens its handles, and the
/// file's initial content (the same in both worlds).
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
    /// (see `MAX_COMPARED`).
    pub anonymous: bool,
}

// ---------------------------------------------------------------------------
// Outcomes
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
trait Handle: Read + Write + Seek + FileExt + Sized {
    fn open_as(path: &Path, h: H, cfg: &Cfg, truncate: bool) -> io::Result<Self>;
    fn h_try_clone(&self) -> io::Result<Self>;
    fn h_set_len(&self, size: u64) -> io::Result<()>;
    fn h_sync_all(&self) -> io::Result<()>;
    fn h_sync_data(&self) -> io::Result<()>;
    fn h_metadata_len(&self) -> io::Result<u64>;
    /// `MmapFile::len`; `metadata().len()` for `File`.
    fn h_len(&self) -> io::Result<u64>;
    /// `into_file` and back; returns the position of the `File` in between.
    fn round_trip(self) -> (io::Result<u64>, Option<Self>);
    fn mapped(&self) -> bool;
}

impl Handle for File {
    fn open_as(path: &Path, h: H, _: &Cfg, truncate: bool) -> io::Result<Self> {
        let mut o = fs::OpenOptions::new();
        o.truncate(truncate);
        match h {
            H::Main | H::Clone => o.read(true).write(true),
            H::App => o.read(true).append(true),
            H::Ro => o.read(true),
            H::Wo => o.write(true),
        };
        o.open(path)
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
            path,
            cfg,
            slots: [None, None, None, None, None],
            _memfd: None,
        }
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
            _ => {
                let h = op.handle().expect("an operation on a handle");
                let f = self.slots[h.idx()].as_mut().expect("handle opened");
                apply_to(f, op)
            }
        }
    }
}

impl World<MmapFile> {
    /// `Main` is `MmapFile::anonymous()`, which writes `init` and rewinds;
    /// the memfd is reopened read-only through `/proc/self/fd/N` to keep it,
    /// and the world's path is `/proc/self/fd/N` of that descriptor.
    fn anonymous(cfg: Cfg, init: &[u8]) -> io::Result<Self> {
        let mut main = MmapFile::anonymous()?;
        let memfd = File::open(format!("/proc/self/fd/{}", main.as_raw_fd()))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", memfd.as_raw_fd()));
        let target = fs::read_link(&path)?;
        if !target.to_string_lossy().starts_with("/memfd:") {
            return Err(io::Error::other(format!(
                "MmapFile::anonymous() is not a memfd: {}",
                target.display()
            )));
        }
        main.write_all(init)?;
        main.flush()?;
        main.rewind()?;
        let mut world = World::new(path, cfg);
        world.slots[H::Main.idx()] = Some(main);
        world._memfd = Some(memfd);
        Ok(world)
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
        Op::Drop { .. } | Op::Reopen { .. } | Op::IntoFile { .. } | Op::External { .. } => {
            unreachable!()
        }
    }
}

// ---------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------

/// Files larger than this are compared byte for byte only at trim points and
/// at the end, to keep cases fast.
const COMPARE_EVERY_OP: u64 = 1 << 20;
const MIN_GROWTH: u64 = 64 << 10;
/// Larger files mean a huge offset was accepted: stop rather than read them.
const MAX_COMPARED: u64 = 1 << 30;

struct Run {
    cfg: Cfg,
    file: World<File>,
    mmap: World<MmapFile>,
    /// Per slot: whether the `MmapFile` handle's description was opened
    /// with `exact_len(true)` (`try_from` opens without).
    exact: [bool; 5],
    /// Whether a handle without `exact_len` may have grown the file on disk
    /// past its length since the last trim.
    padded: bool,
    /// Whether `MmapFile::len` may not have caught up with an external
    /// change yet: documented to catch up after `metadata`, a seek from the
    /// end, or a read to the end.
    stale_len: bool,
    /// The operations so far, for messages.
    log: Vec<String>,
}

impl Run {
    fn fail(&self, what: String) -> String {
        let mut msg = format!("{what}\n  cfg: {:?}\n  ops so far:\n", self.cfg);
        for (i, op) in self.log.iter().enumerate() {
            msg.push_str(&format!("    #{i}: {op}\n"));
        }
        msg
    }

    fn disk(&self) -> (Vec<u8>, Vec<u8>) {
        let f = fs::read(&self.file.path).expect("read File world's file");
        let m = fs::read(&self.mmap.path).expect("read MmapFile world's file");
        (f, m)
    }

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

    /// The MmapFile world's size on disk may exceed the File world's by zeros
    /// (growth padding) unless `exact`.
    fn check_disk_len(&self, at: &str, exact: bool) -> Result<(), String> {
        let (f, m) = self.disk_lens();
        // A step is half the size it grows from, taken when a write reaches
        // into the last page; it leaves a page past the write.
        let slack = MIN_GROWTH.max((f + 4096) / 2) + 3 * 4096;
        if m == f || (!exact && m > f && m - f <= slack) {
            return Ok(());
        }
        Err(self.fail(format!(
            "{at}: size on disk: File world {f}, MmapFile world {m} (exact required: {exact}, \
             allowed padding {slack})"
        )))
    }

    fn check_disk_bytes(&self, at: &str, exact: bool) -> Result<(), String> {
        self.check_disk_len(at, exact)?;
        let (f, m) = self.disk();
        let n = f.len().min(m.len());
        if f[..n] != m[..n] {
            return Err(self.fail(format!("{at}: bytes on disk differ: {}", byte_diff(&f, &m))));
        }
        if let Some(i) = m[n..].iter().position(|&b| b != 0) {
            return Err(self.fail(format!(
                "{at}: MmapFile world's padding past the length {n} is not zero at {}",
                n + i
            )));
        }
        Ok(())
    }

    /// After every operation: cursors, lengths, sizes on disk, bytes.
    fn check_state(&self, at: &str, trimmed: bool) -> Result<(), String> {
        let (flen, _) = self.disk_lens();
        for h in HANDLES {
            let (Some(f), Some(m)) = (&self.file.slots[h.idx()], &self.mmap.slots[h.idx()]) else {
                if self.file.slots[h.idx()].is_some() != self.mmap.slots[h.idx()].is_some() {
                    return Err(self.fail(format!("{at}: handle {h:?} open in one world only")));
                }
                continue;
            };
            let fp = Outcome::of((&mut &*f).stream_position());
            let mp = Outcome::of((&mut &*m).stream_position());
            if fp != mp {
                return Err(self.fail(format!(
                    "{at}: stream_position of {h:?}: File {fp:?}, MmapFile {mp:?}"
                )));
            }
            let ml = Outcome::of(m.len());
            if ml != Outcome::of(Ok(flen)) && !self.stale_len {
                return Err(self.fail(format!(
                    "{at}: {h:?}.len(): MmapFile {ml:?}, File world's length {flen}"
                )));
            }
            if !m.mapped() {
                return Err(self.fail(format!("{at}: {h:?} is not mapped")));
            }
        }
        let exact = trimmed || !self.padded;
        if trimmed || flen <= COMPARE_EVERY_OP {
            self.check_disk_bytes(at, exact)
        } else {
            self.check_disk_len(at, exact)
        }
    }

    fn compare(&self, at: &str, op: &Op, f: &Outcome, m: &Outcome) -> Result<(), String> {
        if f == m {
            return Ok(());
        }
        // Documented: metadata() of a read-only handle reports the size on
        // disk, which may include a writer's growth padding.
        if let (Op::Metadata { h: H::Ro }, Ok(fl), Ok(ml)) = (op, &f.res, &m.res) {
            let (_, on_disk) = self.disk_lens();
            if self.padded && ml > fl && *ml == on_disk {
                return Ok(());
            }
        }
        // Documented: `len` catches up with another process's change only
        // at certain calls.
        if let (Op::Len { .. }, true, Ok(_), Ok(_)) = (op, self.stale_len, &f.res, &m.res) {
            return Ok(());
        }
        let mut msg = format!("{at}: {op:?}\n    File:    {f:?}\n    MmapFile: {m:?}");
        if let (Some(a), Some(b)) = (&f.buf, &m.buf)
            && a != b
        {
            msg.push_str(&format!("\n    buffers: {}", byte_diff(a, b)));
        }
        Err(self.fail(msg))
    }

    fn open_both(&mut self, h: H, at: &str) -> Result<(), String> {
        let f = self.file.ensure(h);
        let m = self.mmap.ensure(h);
        match (f, m) {
            (None, None) => Ok(()),
            (Some(f), Some(m)) => {
                self.exact[h.idx()] = if h == H::Clone {
                    self.exact[H::Main.idx()]
                } else {
                    self.cfg.exact_len
                };
                self.compare(
                    &format!("{at} (opening {h:?})"),
                    &Op::StreamPosition { h },
                    &f,
                    &m,
                )
            }
            _ => Err(self.fail(format!("{at}: {h:?} open in one world only"))),
        }
    }

    fn step(&mut self, i: usize, op: &Op) -> Result<(), String> {
        let at = format!("op #{i}");
        self.log.push(format!("{op:?}"));
        if let Some(h) = op.handle() {
            self.open_both(h, &at)?;
        }
        let writable_exact = op.handle().is_some_and(|h| self.exact[h.idx()]);
        let was_open = match op {
            Op::Drop { h } => self.file.slots[h.idx()].is_some(),
            _ => true,
        };
        let op = &match *op {
            Op::Drop { h: H::Main } => Op::Reopen { truncate: false },
            ref op => op.clone(),
        };
        if let Op::Reopen { .. } = op {
            // Dropping Main is a trim point: check it before reopening.
            self.file.drop_handle(H::Main);
            self.mmap.drop_handle(H::Main);
            self.padded = false;
            self.check_state(&format!("{at} (after dropping Main)"), true)?;
        }
        let f = self.file.apply(op);
        let m = self.mmap.apply(op);
        self.compare(&at, op, &f, &m)?;
        match *op {
            // `TryFrom<File>` maps without `exact_len`.
            Op::IntoFile { h } => self.exact[h.idx()] = false,
            Op::Reopen { .. } => self.exact[H::Main.idx()] = self.cfg.exact_len,
            Op::External { .. } => self.stale_len = true,
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
        if op.writes() && h_writable && !writable_exact {
            self.padded = true;
        }
        let trimmed = op.trims() && was_open;
        if trimmed {
            self.padded = false;
        }
        self.check_state(&at, trimmed)
    }

    fn finish(&mut self) -> Result<(), String> {
        self.check_state("end", false)?;
        for h in [H::Clone, H::App, H::Ro, H::Wo, H::Main] {
            self.file.drop_handle(h);
            self.mmap.drop_handle(h);
        }
        self.log.push("(all handles dropped)".into());
        self.check_disk_bytes("end, all handles dropped", true)
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
    let setup = |what: &str, e: io::Error| format!("setup: {what}: {e}");
    let dir = Scratch::new().map_err(|e| setup("scratch directory", e))?;
    let fpath = dir.0.join("file");
    let init = cfg.init.bytes();
    fs::write(&fpath, &init).map_err(|e| setup("initial content", e))?;
    let mmap = if cfg.anonymous {
        World::anonymous(cfg, &init).map_err(|e| setup("anonymous MmapFile", e))?
    } else {
        let mpath = dir.0.join("mmap");
        fs::write(&mpath, &init).map_err(|e| setup("initial content", e))?;
        World::new(mpath, cfg)
    };
    let mut run = Run {
        cfg,
        file: World::new(fpath, cfg),
        mmap,
        exact: [cfg.exact_len; 5],
        padded: false,
        stale_len: false,
        log: Vec::new(),
    };
    if cfg.anonymous {
        // The `MmapFile` world's `Main` is open already, without `exact_len`.
        run.exact[H::Main.idx()] = false;
        let opened = run.file.ensure(H::Main).expect("Main not open yet");
        run.compare(
            "start (opening Main)",
            &Op::StreamPosition { h: H::Main },
            &opened,
            &Outcome::unit(Ok(())),
        )?;
    } else {
        run.open_both(H::Main, "start")?;
    }
    run.check_state("start", false)?;
    for (i, op) in ops.iter().enumerate() {
        run.step(i, op)?;
    }
    run.finish()
}
