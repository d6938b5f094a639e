//! The File-against-MmapFile harness: `std::fs::File` is the specification,
//! so a test runs the same call on twin files (same content), one through
//! each type, and compares the outcomes: the same value, the same bytes in
//! the caller's buffer, or an error of the same `ErrorKind` and
//! `raw_os_error()`; and where `File` refuses a call, nothing changes.
//!
//! - [`Handle`]: what both types do, so that one call can run on either
//!   (`&mut dyn Handle`), and [`Open`]: one way to open both.
//! - [`Fail`] and [`Outcome`]: a result made comparable, with a compact
//!   `Debug` (buffers by length, zero count and first bytes).
//! - [`Twins`] (in a [`Scratch`] directory): twin files of the same content.
//! - [`both`] runs a call on both and records a difference in [`Diffs`],
//!   which collects every difference of a test and reports them together;
//!   [`refused`] also checks that a refused call changed nothing
//!   ([`State`]); [`Step`] and [`Diffs::steps`] compare sequences of calls.
//! - Reads that return what they read ([`read_n`], [`read_at_n`], ...).
//!
//! It uses `std` and `mmapfile` only (no tempfile, no proptest), so that
//! the model test (tests/model/world.rs) and the fuzz crate, which includes
//! world.rs, can take it in with `#[path]`. Each includer uses a part of
//! it: put `#[allow(dead_code)]` on the `mod` line.

use std::any::Any;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, IoSliceMut, Read, Seek, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mmapfile::MmapFile;

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

/// What `File` and `MmapFile` have in common beyond the I/O traits. The
/// `h_` prefix keeps these apart from the types' own methods of the same
/// name, which they call.
pub trait Handle: Read + Write + Seek + FileExt + fmt::Debug {
    fn h_open(path: &Path, how: &Open) -> io::Result<Self>
    where
        Self: Sized;
    fn h_try_clone(&self) -> io::Result<Self>
    where
        Self: Sized;
    fn h_set_len(&self, size: u64) -> io::Result<()>;
    /// The length as the handle knows it: `MmapFile::len`, and
    /// `metadata().len()` for `File`.
    fn h_len(&self) -> io::Result<u64>;
    fn h_metadata(&self) -> io::Result<fs::Metadata>;
    fn h_sync_all(&self) -> io::Result<()>;
    fn h_sync_data(&self) -> io::Result<()>;
    /// `MmapFile::into_file`; the `File` itself.
    fn h_into_file(self) -> io::Result<File>
    where
        Self: Sized;
    /// `MmapFile::try_from`; the `File` itself.
    fn h_from_file(file: File) -> io::Result<Self>
    where
        Self: Sized;
    /// `MmapFile::is_mapped`; always `false` for `File`.
    fn h_is_mapped(&self) -> bool;
}

/// How to open a handle, for both types at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Open {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    pub create: bool,
    pub create_new: bool,
    /// `MmapFile` only: `OpenOptions::exact_len`.
    pub exact_len: bool,
    /// `MmapFile` only: `OpenOptions::reserve`.
    pub reserve: Option<u64>,
}

impl Open {
    const fn mode(read: bool, write: bool, append: bool) -> Open {
        Open {
            read,
            write,
            append,
            truncate: false,
            create: false,
            create_new: false,
            exact_len: false,
            reserve: None,
        }
    }
    pub const RO: Open = Open::mode(true, false, false);
    pub const RW: Open = Open::mode(true, true, false);
    pub const WO: Open = Open::mode(false, true, false);
    /// Append only, not readable.
    pub const APPEND: Open = Open::mode(false, false, true);
    pub const READ_APPEND: Open = Open::mode(true, false, true);
}

/// The methods both types have, under the same names.
macro_rules! same_name_methods {
    () => {
        fn h_try_clone(&self) -> io::Result<Self> {
            self.try_clone()
        }
        fn h_set_len(&self, size: u64) -> io::Result<()> {
            self.set_len(size)
        }
        fn h_metadata(&self) -> io::Result<fs::Metadata> {
            self.metadata()
        }
        fn h_sync_all(&self) -> io::Result<()> {
            self.sync_all()
        }
        fn h_sync_data(&self) -> io::Result<()> {
            self.sync_data()
        }
    };
}

impl Handle for File {
    same_name_methods!();
    fn h_open(path: &Path, how: &Open) -> io::Result<Self> {
        fs::OpenOptions::new()
            .read(how.read)
            .write(how.write)
            .append(how.append)
            .truncate(how.truncate)
            .create(how.create)
            .create_new(how.create_new)
            .open(path)
    }
    fn h_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn h_into_file(self) -> io::Result<File> {
        Ok(self)
    }
    fn h_from_file(file: File) -> io::Result<Self> {
        Ok(file)
    }
    fn h_is_mapped(&self) -> bool {
        false
    }
}

impl Handle for MmapFile {
    same_name_methods!();
    fn h_open(path: &Path, how: &Open) -> io::Result<Self> {
        let mut o = MmapFile::options();
        o.read(how.read)
            .write(how.write)
            .append(how.append)
            .truncate(how.truncate)
            .create(how.create)
            .create_new(how.create_new)
            .exact_len(how.exact_len);
        if let Some(r) = how.reserve {
            o.reserve(r);
        }
        o.open(path)
    }
    fn h_len(&self) -> io::Result<u64> {
        self.len()
    }
    fn h_into_file(self) -> io::Result<File> {
        self.into_file()
    }
    fn h_from_file(file: File) -> io::Result<Self> {
        MmapFile::try_from(file)
    }
    fn h_is_mapped(&self) -> bool {
        self.is_mapped()
    }
}

// ---------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------

/// An error as compared: its kind and OS error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub kind: ErrorKind,
    pub os: Option<i32>,
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail {
            kind: e.kind(),
            os: e.raw_os_error(),
        }
    }
}

/// What a call returned, made comparable: its value or [`Fail`], and, for
/// a call that fills a buffer, the bytes the test compares (see
/// [`Outcome::bytes`] and [`Outcome::with`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Outcome<T = u64> {
    pub res: Result<T, Fail>,
    pub buf: Option<Vec<u8>>,
}

impl<T> Outcome<T> {
    pub fn of(r: io::Result<T>) -> Self {
        Outcome {
            res: r.map_err(Fail::from),
            buf: None,
        }
    }

    /// With the caller's buffer after the call.
    pub fn with(mut self, buf: Vec<u8>) -> Self {
        self.buf = Some(buf);
        self
    }

    pub fn is_ok(&self) -> bool {
        self.res.is_ok()
    }

    pub fn is_err(&self) -> bool {
        self.res.is_err()
    }
}

impl Outcome<u64> {
    /// `()` as 0.
    pub fn unit(r: io::Result<()>) -> Self {
        Outcome::of(r.map(|()| 0))
    }

    pub fn count(r: io::Result<usize>) -> Self {
        Outcome::of(r.map(|n| n as u64))
    }

    /// A read that returned the bytes it read ([`read_at_n`] and the
    /// like): their number as the value, the bytes as the buffer.
    pub fn bytes(r: io::Result<Vec<u8>>) -> Self {
        match r {
            Ok(b) => Outcome::of(Ok(b.len() as u64)).with(b),
            Err(e) => Outcome::of(Err(e)),
        }
    }
}

impl<T> From<io::Result<T>> for Outcome<T> {
    fn from(r: io::Result<T>) -> Self {
        Outcome::of(r)
    }
}

impl<T: fmt::Debug> fmt::Debug for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.res {
            Ok(v) => write!(f, "Ok({v:?})")?,
            Err(e) => write!(f, "Err({:?}, os {:?})", e.kind, e.os)?,
        }
        if let Some(buf) = &self.buf {
            let zeros = buf.iter().filter(|&&b| b == 0).count();
            write!(f, " buf[{}, {zeros} zero]", buf.len())?;
            write!(f, " {:02x?}", &buf[..buf.len().min(24)])?;
            if buf.len() > 24 {
                write!(f, "..")?;
            }
        }
        Ok(())
    }
}

/// Where two byte strings first differ, readably.
pub fn byte_diff(a: &[u8], b: &[u8]) -> String {
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

/// Two `Debug` texts cut to where they differ, so that a large value (a
/// buffer of a megabyte) makes a message of a line.
fn contrast(a: &str, b: &str) -> (String, String) {
    const MAX: usize = 200;
    if a.len() <= MAX && b.len() <= MAX {
        return (a.to_owned(), b.to_owned());
    }
    let i = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let cut = |s: &str| {
        let mut from = i.saturating_sub(60).min(s.len());
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (i + 100).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        let head = if from > 0 { "..." } else { "" };
        let tail = if to < s.len() { "..." } else { "" };
        format!("{head}{}{tail} ({} chars)", &s[from..to], s.len())
    };
    (cut(a), cut(b))
}

// ---------------------------------------------------------------------------
// Scratch directories and twin files
// ---------------------------------------------------------------------------

/// A directory of its own under `std::env::temp_dir()` (`TMPDIR`), removed
/// with what is in it on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// `mmapfile-{name}-{pid}-{n}`.
    pub fn new(name: &str) -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        loop {
            let dir = std::env::temp_dir().join(format!(
                "mmapfile-{name}-{}-{}",
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

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Twin files with the same content in a scratch directory: `file` for
/// `File`, `mmap` for `MmapFile`.
#[derive(Debug)]
pub struct Twins {
    pub file: PathBuf,
    pub mmap: PathBuf,
    _dir: Scratch,
}

impl Twins {
    /// Both files, holding `content`.
    pub fn new(content: &[u8]) -> Self {
        let t = Twins::absent();
        fs::write(&t.file, content).expect("write the File twin");
        fs::write(&t.mmap, content).expect("write the MmapFile twin");
        t
    }

    /// The paths only, for a test that creates the files.
    pub fn absent() -> Self {
        let dir = Scratch::new("twins").expect("a scratch directory");
        Twins {
            file: dir.path().join("file"),
            mmap: dir.path().join("mmap"),
            _dir: dir,
        }
    }

    /// Both opened alike; panics if either fails.
    pub fn open(&self, how: &Open) -> (File, MmapFile) {
        let f = File::h_open(&self.file, how).unwrap_or_else(|e| panic!("File: open {how:?}: {e}"));
        let m = MmapFile::h_open(&self.mmap, how)
            .unwrap_or_else(|e| panic!("MmapFile: open {how:?}: {e}"));
        (f, m)
    }

    /// Records a difference unless the two files hold the same bytes.
    pub fn same_files(&self, d: &mut Diffs, what: &str) {
        let f = fs::read(&self.file).expect("read the File twin");
        let m = fs::read(&self.mmap).expect("read the MmapFile twin");
        if f != m {
            d.push(format!(
                "{what}: the files differ (File's, MmapFile's): {}",
                byte_diff(&f, &m)
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Running a call on both, collecting the differences
// ---------------------------------------------------------------------------

/// The outcomes of one call on both types.
#[derive(Debug)]
pub struct Pair<T> {
    pub file: Outcome<T>,
    pub mm: Outcome<T>,
}

/// Collects every difference of a test, so that one run reports them all.
#[derive(Debug, Default)]
pub struct Diffs(Vec<String>);

impl Diffs {
    pub fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    /// Records a difference unless `file` and `mm` agree; returns both.
    pub fn same<T: fmt::Debug + PartialEq + 'static>(
        &mut self,
        what: &str,
        file: impl Into<Outcome<T>>,
        mm: impl Into<Outcome<T>>,
    ) -> Pair<T> {
        let (f, m) = (file.into(), mm.into());
        if f != m {
            let (fs, ms) = contrast(&format!("{f:?}"), &format!("{m:?}"));
            let mut msg = format!("{what}: File gives {fs}, MmapFile gives {ms}");
            // Where two byte values or buffers differ, by offset.
            if let (Some(a), Some(b)) = (value_bytes(&f), value_bytes(&m)) {
                msg.push_str(&format!("; values: {}", byte_diff(a, b)));
            }
            if let (Some(a), Some(b)) = (&f.buf, &m.buf)
                && a != b
            {
                msg.push_str(&format!("; buffers: {}", byte_diff(a, b)));
            }
            self.0.push(msg);
        }
        Pair { file: f, mm: m }
    }

    /// Compares two opens; both handles if both succeeded.
    pub fn open(
        &mut self,
        what: &str,
        file: io::Result<File>,
        mm: io::Result<MmapFile>,
    ) -> Option<(File, MmapFile)> {
        let (f, m) = (file.map_err(Fail::from), mm.map_err(Fail::from));
        let (fo, mo) = (f.as_ref().map(|_| ()), m.as_ref().map(|_| ()));
        if fo != mo {
            self.0
                .push(format!("{what}: File gives {fo:?}, MmapFile gives {mo:?}"));
        }
        Some((f.ok()?, m.ok()?))
    }

    /// Compares two sequences of calls, step by step; `tag` says where.
    pub fn steps(&mut self, tag: &str, file: &[Step], mm: &[Step]) {
        if file.len() != mm.len() {
            self.0.push(format!(
                "{tag}: {} calls on File, {} on MmapFile",
                file.len(),
                mm.len()
            ));
        }
        for (f, m) in file.iter().zip(mm) {
            self.same(&format!("{tag}: {}", f.what), f.out.clone(), m.out.clone());
        }
    }

    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes in another test part's differences.
    pub fn merge(&mut self, other: Diffs) {
        self.0.extend(other.0);
    }

    /// Fails the test with every difference recorded, if any.
    pub fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} discrepancies with File:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

/// The value of `o` as bytes, if it is bytes (`Vec<u8>` or `String`).
fn value_bytes<T: 'static>(o: &Outcome<T>) -> Option<&[u8]> {
    let v: &dyn Any = o.res.as_ref().ok()?;
    v.downcast_ref::<Vec<u8>>()
        .map(Vec::as_slice)
        .or_else(|| v.downcast_ref::<String>().map(String::as_bytes))
}

/// Runs `op` on both handles and compares the outcomes.
pub fn both<T: fmt::Debug + PartialEq + 'static>(
    d: &mut Diffs,
    what: &str,
    f: &mut File,
    m: &mut MmapFile,
    op: impl Fn(&mut dyn Handle) -> io::Result<T>,
) -> Pair<T> {
    let file = op(f);
    let mm = op(m);
    d.same(what, file, mm)
}

/// One call of a sequence, named for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub out: Outcome,
}

impl Step {
    pub fn new(what: impl Into<String>, out: Outcome) -> Self {
        Step {
            what: what.into(),
            out,
        }
    }
}

/// What must not change when a call fails: the bytes (up to the length),
/// the length, and the cursor.
#[derive(Debug, PartialEq)]
pub struct State {
    pub len: u64,
    pub pos: u64,
    pub bytes: Vec<u8>,
}

/// `h`'s state; `path` is its file.
pub fn state(h: &mut dyn Handle, path: &Path) -> State {
    let len = h.h_len().unwrap();
    let pos = h.stream_position().unwrap();
    let mut bytes = fs::read(path).unwrap();
    // The only difference allowed on disk: zeros past the length while a
    // writable MmapFile grows the file ahead of its writes.
    assert!(
        bytes.len() as u64 >= len && bytes[len as usize..].iter().all(|&b| b == 0),
        "{}: {} bytes on disk, length {len}",
        path.display(),
        bytes.len()
    );
    bytes.truncate(len as usize);
    State { len, pos, bytes }
}

/// Runs `op` on both handles (of twin files in the same state) and compares
/// the outcomes and the effects: afterwards both files and cursors must
/// still be alike, and where `File` refused the call, nothing may have
/// changed.
pub fn refused<T: fmt::Debug + PartialEq + 'static>(
    d: &mut Diffs,
    what: &str,
    t: &Twins,
    f: &mut File,
    m: &mut MmapFile,
    op: impl Fn(&mut dyn Handle) -> io::Result<T>,
) {
    let (bf, bm) = (state(f, &t.file), state(m, &t.mmap));
    let out = both(d, what, f, m, op);
    let (af, am) = (state(f, &t.file), state(m, &t.mmap));
    let show = |s: &State| format!("len {}, cursor {}", s.len, s.pos);
    if out.file.is_err() {
        d.check(
            bm == am,
            format!(
                "{what}: File refuses it, yet MmapFile's state changed: {} -> {}{}",
                show(&bm),
                show(&am),
                if bm.bytes == am.bytes {
                    ""
                } else {
                    ", bytes changed"
                }
            ),
        );
    } else if bf == bm {
        d.check(
            af == am,
            format!(
                "{what}: File's state after it: {}; MmapFile's: {}{}",
                show(&af),
                show(&am),
                if af.bytes == am.bytes {
                    ""
                } else {
                    ", bytes differ"
                }
            ),
        );
    }
}

// ---------------------------------------------------------------------------
// Reads that return what they read
// ---------------------------------------------------------------------------

/// What read buffers hold before a call, so that bytes it did not write
/// show.
pub const FILL: u8 = 0xEE;

/// `read` into `n` bytes: the bytes read.
pub fn read_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    let got = h.read(&mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

pub fn read_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    let got = h.read_at(&mut buf, off)?;
    buf.truncate(got);
    Ok(buf)
}

/// `read_exact_at` of `n` bytes: the buffer (whose content is unspecified
/// after an error, so then only the error).
pub fn read_exact_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    h.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

pub fn read_exact_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![FILL; n];
    h.read_exact(&mut buf)?;
    Ok(buf)
}

/// `read_vectored` into two buffers of `a` and `b` bytes: the bytes read.
pub fn read_vectored_n(h: &mut dyn Handle, a: usize, b: usize) -> io::Result<Vec<u8>> {
    let (mut x, mut y) = (vec![FILL; a], vec![FILL; b]);
    let n = h.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])?;
    x.extend_from_slice(&y);
    x.truncate(n);
    Ok(x)
}

pub fn read_to_end_(h: &mut dyn Handle) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    h.read_to_end(&mut v)?;
    Ok(v)
}

pub fn read_to_string_(h: &mut dyn Handle) -> io::Result<String> {
    let mut s = String::new();
    h.read_to_string(&mut s)?;
    Ok(s)
}

/// The comparable part of metadata.
#[derive(Debug, PartialEq, Eq)]
pub struct Meta {
    pub is_file: bool,
    pub is_dir: bool,
    pub is_char_device: bool,
    pub len: u64,
    pub mode: u32,
}

pub fn meta_(h: &mut dyn Handle) -> io::Result<Meta> {
    let m = h.h_metadata()?;
    Ok(Meta {
        is_file: m.is_file(),
        is_dir: m.is_dir(),
        is_char_device: m.file_type().is_char_device(),
        len: m.len(),
        mode: m.mode(),
    })
}
