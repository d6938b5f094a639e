//! Model test: random sequences of operations run on an `MmapFile` world and
//! on a `std::fs::File` world side by side, comparing every result.
//!
//! `File` is the specification. Each world has one file and up to five
//! handles to it: the main read-write handle, a `try_clone` of it (sharing
//! its cursor), an independently opened read+append handle, a read-only
//! handle and a write-only handle. After every operation the test compares
//! the operation's result (values, buffers, `ErrorKind` and `raw_os_error`),
//! every live handle's `stream_position`, `MmapFile::len` against the `File`
//! world's length, and the bytes on disk.
//!
//! The one difference allowed on disk is the documented one: while a
//! writable `MmapFile` appends, the file on disk may be longer than its
//! length, by zeros, up to one growth step; right after `flush`, `sync_all`,
//! `sync_data`, `metadata`, `into_file` or the drop of a writable handle it
//! must be exact, and with `OpenOptions::exact_len(true)` it must always be.
//! `metadata()` of a read-only handle may report that longer size.
//!
//! `External` operations play "another process": a plain `File` on the same
//! path writes, appends or sets the length (after `Main` flushes, so that it
//! sees the exact file). Results must still match `File`'s; only
//! `MmapFile::len` may lag, as documented, until `metadata`, a seek from the
//! end, or a read to the end.
//!
//! Discrepancies found so far are also kept below as fixed sequences, one
//! `#[test]` each. Run with `PROPTEST_CASES=2000` for a deeper search.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use mmapfile::MmapFile;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// Which handle an operation goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum H {
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
struct Data {
    len: usize,
    seed: u32,
    /// ASCII text (valid UTF-8) or arbitrary bytes (almost never UTF-8).
    text: bool,
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
enum Op {
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
enum Ext {
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
/// too large to compare (see `MAX_COMPARED`).
fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64 << 50),
        Just(1u64 << 62),
        (i64::MAX as u64 - 16)..=(i64::MAX as u64 + 16),
        (u64::MAX - 16)..=u64::MAX,
    ]
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..70_000,
        2 => (0u64..24, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d)),
        1 => (0u64..6, -8i64..8).prop_map(|(p, d)| (p << 16).saturating_add_signed(d)),
        1 => 0u64..(4 << 20),
        1 => huge(),
    ]
}

fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -70_000i64..70_000,
        2 => -16i64..16,
        1 => -(4i64 << 20)..(4 << 20),
        1 => prop_oneof![
            Just(i64::MAX),
            Just(i64::MAX - 1),
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(1i64 << 50),
            Just(-(1i64 << 50)),
        ],
    ]
}

fn seek_from() -> impl Strategy<Value = SeekFrom> {
    prop_oneof![
        2 => offset().prop_map(SeekFrom::Start),
        2 => delta().prop_map(SeekFrom::Current),
        2 => delta().prop_map(SeekFrom::End),
        1 => (-16i64..16).prop_map(SeekFrom::End),
    ]
}

fn set_len_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..70_000,
        1 => (0u64..24, -8i64..8).prop_map(|(p, d)| (p * 4096).saturating_add_signed(d)),
        1 => 0u64..(4 << 20),
        1 => huge(),
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

fn op() -> impl Strategy<Value = Op> {
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
        5 => (handle(), seek_from()).prop_map(|(h, pos)| Op::Seek { h, pos }),
        1 => handle().prop_map(|h| Op::StreamPosition { h }),
        4 => (handle(), size(), offset()).prop_map(|(h, len, offset)| Op::ReadAt { h, len, offset }),
        2 => (handle(), size(), offset())
            .prop_map(|(h, len, offset)| Op::ReadExactAt { h, len, offset }),
        4 => (handle(), data(), offset())
            .prop_map(|(h, data, offset)| Op::WriteAt { h, data, offset }),
        2 => (handle(), data(), offset())
            .prop_map(|(h, data, offset)| Op::WriteAllAt { h, data, offset }),
        2 => (handle(), set_len_size()).prop_map(|(h, size)| Op::SetLen { h, size }),
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

/// Per test case: how the `MmapFile` world opens its handles, and the
/// file's initial content (the same in both worlds).
#[derive(Clone, Copy, Debug)]
struct Cfg {
    exact_len: bool,
    reserve: Option<u64>,
    init: Data,
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
        })
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
}

const FILL: u8 = 0xa5;

impl<T: Handle> World<T> {
    fn new(path: PathBuf, cfg: Cfg) -> Self {
        World {
            path,
            cfg,
            slots: [None, None, None, None, None],
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
                let result = change.apply(&self.path);
                // A change from outside is seen at the documented points
                // (crate docs, "A shrink by someone else"): here `metadata`
                // on every handle. From then on the worlds must agree.
                if result.is_ok() {
                    for f in self.slots.iter().flatten() {
                        if let Err(e) = f.h_metadata_len() {
                            return Outcome::unit(Err(e));
                        }
                    }
                }
                Outcome::unit(result)
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
    fn fail(&self, what: String) -> TestCaseError {
        let mut msg = format!("{what}\n  cfg: {:?}\n  ops so far:\n", self.cfg);
        for (i, op) in self.log.iter().enumerate() {
            msg.push_str(&format!("    #{i}: {op}\n"));
        }
        TestCaseError::fail(msg)
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
    fn check_disk_len(&self, at: &str, exact: bool) -> Result<(), TestCaseError> {
        let (f, m) = self.disk_lens();
        let slack = MIN_GROWTH.max(f / 2) + 4096;
        if m == f || (!exact && m > f && m - f <= slack) {
            return Ok(());
        }
        Err(self.fail(format!(
            "{at}: size on disk: File world {f}, MmapFile world {m} (exact required: {exact}, \
             allowed padding {slack})"
        )))
    }

    fn check_disk_bytes(&self, at: &str, exact: bool) -> Result<(), TestCaseError> {
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
    fn check_state(&self, at: &str, trimmed: bool) -> Result<(), TestCaseError> {
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

    fn compare(&self, at: &str, op: &Op, f: &Outcome, m: &Outcome) -> Result<(), TestCaseError> {
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

    fn open_both(&mut self, h: H, at: &str) -> Result<(), TestCaseError> {
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

    fn step(&mut self, i: usize, op: &Op) -> Result<(), TestCaseError> {
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

    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.check_state("end", false)?;
        for h in [H::Clone, H::App, H::Ro, H::Wo, H::Main] {
            self.file.drop_handle(h);
            self.mmap.drop_handle(h);
        }
        self.log.push("(all handles dropped)".into());
        self.check_disk_bytes("end, all handles dropped", true)
    }
}

fn run(cfg: Cfg, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let fpath = dir.path().join("file");
    let mpath = dir.path().join("mmap");
    let init = cfg.init.bytes();
    fs::write(&fpath, &init).expect("write initial content");
    fs::write(&mpath, &init).expect("write initial content");
    let mut run = Run {
        cfg,
        file: World::new(fpath, cfg),
        mmap: World::new(mpath, cfg),
        exact: [cfg.exact_len; 5],
        padded: false,
        stale_len: false,
        log: Vec::new(),
    };
    run.open_both(H::Main, "start")?;
    run.check_state("start", false)?;
    for (i, op) in ops.iter().enumerate() {
        run.step(i, op)?;
    }
    run.finish()
}

/// `ProptestConfig::default()` (which takes `PROPTEST_CASES` from the
/// environment), with failures saved next to this file, in
/// `tests/model.proptest-regressions`.
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
    fn mmapfile_behaves_like_file(cfg in cfg(), ops in prop::collection::vec(op(), 1..60)) {
        run(cfg, &ops)?;
    }
}

// ---------------------------------------------------------------------------
// Fixed sequences: discrepancies the model found, kept as deterministic
// regression tests (proptest's saved seeds go stale when the strategies
// change).
// ---------------------------------------------------------------------------

fn check(ops: Vec<Op>) {
    let cfg = Cfg {
        exact_len: false,
        reserve: None,
        init: Data {
            len: 5,
            seed: 1,
            text: true,
        },
    };
    if let Err(e) = run(cfg, &ops) {
        panic!("{e}");
    }
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
