//! Bad and unusual input, each case compared with what `std::fs::File` does
//! on the same input: the same `Ok` value, or an error of the same
//! `ErrorKind` and `raw_os_error()`; and where a call fails, nothing changes
//! (the file's bytes, its length, the cursor).
//!
//! Cases: directories, FIFOs, sockets, character devices, `/proc` and `/sys`
//! files that stat as empty, write-only handles, offsets and lengths near
//! `u64::MAX` and `i64::MAX`, writes far past the end and at the file
//! system's largest offset, empty files, writes through read-only handles,
//! and the conversions to and from `File`.
//!
//! A case whose file or tool is missing is skipped with a message.

use std::fmt::Debug;
use std::fs::{self, File};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use mmapfile::MmapFile;

fn maps_files() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

fn skip(why: &str) {
    println!("SKIPPED: {why}");
}

// ---------------------------------------------------------------------------
// Comparing outcomes
// ---------------------------------------------------------------------------

/// A result made comparable: errors by kind and OS error number.
type Outcome<T> = Result<T, (ErrorKind, Option<i32>)>;

fn outcome<T>(r: io::Result<T>) -> Outcome<T> {
    r.map_err(|e| (e.kind(), e.raw_os_error()))
}

/// The outcomes of one operation on both types.
struct Pair<T> {
    file: Outcome<T>,
    mm: Outcome<T>,
}

/// Collects every discrepancy of a test, so that one run reports them all.
#[derive(Default)]
struct Diffs(Vec<String>);

impl Diffs {
    /// Records a discrepancy unless `file` and `mm` agree; returns both.
    fn same<T: Debug + PartialEq>(
        &mut self,
        what: &str,
        file: io::Result<T>,
        mm: io::Result<T>,
    ) -> Pair<T> {
        let (f, m) = (outcome(file), outcome(mm));
        if f != m {
            self.0
                .push(format!("{what}: File gives {f:?}, MmapFile gives {m:?}"));
        }
        Pair { file: f, mm: m }
    }

    /// Compares two opens; both handles if both succeeded.
    fn open(
        &mut self,
        what: &str,
        file: io::Result<File>,
        mm: io::Result<MmapFile>,
    ) -> Option<(File, MmapFile)> {
        let (f, m) = (outcome(file), outcome(mm));
        let (fo, mo) = (f.as_ref().map(|_| ()), m.as_ref().map(|_| ()));
        if fo != mo {
            self.0
                .push(format!("{what}: File gives {fo:?}, MmapFile gives {mo:?}"));
        }
        Some((f.ok()?, m.ok()?))
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }

    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} discrepancies with File:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

/// What `File` and `MmapFile` have in common, for running one operation on
/// both.
trait Handle: Read + Write + Seek + FileExt + Debug {
    fn set_len_(&self, n: u64) -> io::Result<()>;
    fn metadata_(&self) -> io::Result<fs::Metadata>;
    /// The length as the handle knows it.
    fn len_(&self) -> io::Result<u64>;
}

impl Handle for File {
    fn set_len_(&self, n: u64) -> io::Result<()> {
        self.set_len(n)
    }
    fn metadata_(&self) -> io::Result<fs::Metadata> {
        self.metadata()
    }
    fn len_(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl Handle for MmapFile {
    fn set_len_(&self, n: u64) -> io::Result<()> {
        self.set_len(n)
    }
    fn metadata_(&self) -> io::Result<fs::Metadata> {
        self.metadata()
    }
    fn len_(&self) -> io::Result<u64> {
        self.len()
    }
}

/// An operation whose result is bytes (or a number as bytes).
type Op = fn(&mut dyn Handle) -> io::Result<Vec<u8>>;

/// Runs `op` on both handles and compares the outcomes.
fn both<T: Debug + PartialEq>(
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

// Operations returning comparable values.

fn read_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0xEE; n];
    let got = h.read(&mut buf)?;
    buf.truncate(got);
    Ok(buf)
}

fn read_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0xEE; n];
    let got = h.read_at(&mut buf, off)?;
    buf.truncate(got);
    Ok(buf)
}

fn read_exact_at_n(h: &mut dyn Handle, n: usize, off: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0xEE; n];
    h.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

fn read_exact_n(h: &mut dyn Handle, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0xEE; n];
    h.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_vectored_n(h: &mut dyn Handle, a: usize, b: usize) -> io::Result<Vec<u8>> {
    let (mut x, mut y) = (vec![0xEE; a], vec![0xEE; b]);
    let n = h.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])?;
    x.extend_from_slice(&y);
    x.truncate(n);
    Ok(x)
}

fn read_to_end_(h: &mut dyn Handle) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    h.read_to_end(&mut v)?;
    Ok(v)
}

fn read_to_string_(h: &mut dyn Handle) -> io::Result<String> {
    let mut s = String::new();
    h.read_to_string(&mut s)?;
    Ok(s)
}

/// The comparable part of metadata.
fn meta_(h: &mut dyn Handle) -> io::Result<(bool, bool, bool, u64, u32)> {
    let m = h.metadata_()?;
    Ok((
        m.is_file(),
        m.is_dir(),
        m.file_type().is_char_device(),
        m.len(),
        m.mode(),
    ))
}

/// What must not change when a call fails: the bytes (up to the length),
/// the length, and the cursor.
#[derive(Debug, PartialEq)]
struct State {
    len: u64,
    pos: u64,
    bytes: Vec<u8>,
}

fn state(h: &mut dyn Handle, path: &Path) -> State {
    let len = h.len_().unwrap();
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

/// Twin files with the same content, one for `File` and one for `MmapFile`.
struct Twins {
    _dir: tempfile::TempDir,
    f: PathBuf,
    m: PathBuf,
}

fn twins(content: &[u8]) -> Twins {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("file");
    let m = dir.path().join("mmap");
    fs::write(&f, content).unwrap();
    fs::write(&m, content).unwrap();
    Twins { _dir: dir, f, m }
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 + 1).collect()
}

/// Runs `f` on another thread, failing if it takes longer than `secs`
/// (a FIFO open that never returns, say) instead of hanging the suite.
fn with_timeout<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

// ---------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------

#[test]
fn directory_opened_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("entry"), b"x").unwrap();
    let mut d = Diffs::default();

    let Some((mut f, mut m)) = d.open("open", File::open(&sub), MmapFile::open(&sub)) else {
        return d.finish();
    };
    d.check(!m.is_mapped(), "a directory must not be mapped");
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 16));
    both(&mut d, "read of 0 bytes", &mut f, &mut m, |h| read_n(h, 0));
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 16, 0));
    both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
        read_exact_at_n(h, 16, 0)
    });
    both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
    both(&mut d, "read_to_string", &mut f, &mut m, read_to_string_);
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(&mut d, "seek Current(1)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Current(1))
    });
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "seek Start(1)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(1))
    });
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"x"));
    both(&mut d, "write_at", &mut f, &mut m, |h| h.write_at(b"x", 0));
    both(&mut d, "set_len", &mut f, &mut m, |h| h.set_len_(0));
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.same("sync_all", f.sync_all(), m.sync_all());
    d.same(
        "try_clone then read",
        f.try_clone().and_then(|mut c| read_n(&mut c, 4)),
        m.try_clone().and_then(|mut c| read_n(&mut c, 4)),
    );
    let m_len = m.len();
    d.same(
        "len() (File: metadata().len())",
        f.metadata().map(|md| md.len()),
        m_len,
    );
    d.same(
        "into_file then read",
        Ok::<_, io::Error>(()).and_then(|()| read_n(&mut f, 4)),
        m.into_file().and_then(|mut c| read_n(&mut c, 4)),
    );

    // Opening a directory for writing fails.
    d.same(
        "open read+write",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&sub)
            .map(|_| ()),
        MmapFile::options()
            .read(true)
            .write(true)
            .open(&sub)
            .map(|_| ()),
    );
    d.same(
        "create",
        File::create(&sub).map(|_| ()),
        MmapFile::create(&sub).map(|_| ()),
    );
    d.same(
        "append",
        fs::OpenOptions::new().append(true).open(&sub).map(|_| ()),
        MmapFile::options().append(true).open(&sub).map(|_| ()),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// FIFOs
// ---------------------------------------------------------------------------

fn mkfifo(path: &Path) -> bool {
    match std::process::Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => true,
        other => {
            skip(&format!("mkfifo {} failed: {other:?}", path.display()));
            false
        }
    }
}

/// The bytes a FIFO writer sends: more than one pipe buffer, so the reader
/// must wait for more.
fn fifo_message() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

/// What reading a FIFO through `open` gives: the read-side results.
#[derive(Debug, PartialEq)]
struct FifoRead {
    first: Vec<u8>,
    rest: Vec<u8>,
    read_at: Outcome<usize>,
    seek: Outcome<u64>,
    is_fifo: bool,
}

#[test]
fn fifo_reads_what_the_writer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    if !mkfifo(&path) {
        return;
    }
    let run = |use_mmap: bool| -> FifoRead {
        let path = path.clone();
        with_timeout(20, "FIFO read", move || {
            let writer = {
                let path = path.clone();
                thread::spawn(move || {
                    let mut w = fs::OpenOptions::new().write(true).open(&path).unwrap();
                    w.write_all(&fifo_message()).unwrap();
                })
            };
            let mut h: Box<dyn Handle> = if use_mmap {
                Box::new(MmapFile::open(&path).unwrap())
            } else {
                Box::new(File::open(&path).unwrap())
            };
            // One small read, then the rest to the end of the stream.
            let mut first = vec![0u8; 10];
            h.read_exact(&mut first).unwrap();
            let read_at = outcome(h.read_at(&mut [0u8; 4], 0));
            let seek = outcome(h.seek(SeekFrom::Start(0)));
            let mut rest = Vec::new();
            h.read_to_end(&mut rest).unwrap();
            writer.join().unwrap();
            let is_fifo = h.metadata_().unwrap().file_type().is_fifo();
            FifoRead {
                first,
                rest,
                read_at,
                seek,
                is_fifo,
            }
        })
    };
    let file = run(false);
    let mm = run(true);
    // is_mapped, checked separately: open a handle while a writer waits.
    let mapped = {
        let path = path.clone();
        with_timeout(20, "FIFO is_mapped", move || {
            let w = thread::spawn({
                let path = path.clone();
                move || drop(fs::OpenOptions::new().write(true).open(&path).unwrap())
            });
            let m = MmapFile::open(&path).unwrap();
            w.join().unwrap();
            m.is_mapped()
        })
    };
    let msg = fifo_message();
    assert_eq!(file.first, msg[..10], "File's read of the FIFO");
    assert!(file.rest == msg[10..], "File's read_to_end of the FIFO");
    assert!(
        !mm.first.is_empty() && !mm.rest.is_empty(),
        "MmapFile read nothing from the FIFO"
    );
    assert!(!mapped, "a FIFO must not be mapped");
    let mut d = Diffs::default();
    d.check(
        file == mm,
        format!(
            "FIFO: File gives first {:?}, {} more bytes, read_at {:?}, seek {:?}; \
             MmapFile gives first {:?}, {} more bytes, read_at {:?}, seek {:?}",
            file.first,
            file.rest.len(),
            file.read_at,
            file.seek,
            mm.first,
            mm.rest.len(),
            mm.read_at,
            mm.seek
        ),
    );
    d.finish();
}

#[test]
fn fifo_write_only_handle_writes_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    if !mkfifo(&path) {
        return;
    }
    let run = |use_mmap: bool| -> (Vec<u8>, Outcome<usize>, Outcome<Vec<u8>>, Option<bool>) {
        let path = path.clone();
        with_timeout(20, "FIFO write", move || {
            let reader = {
                let path = path.clone();
                thread::spawn(move || {
                    let mut r = File::open(&path).unwrap();
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).unwrap();
                    got
                })
            };
            let (mut h, mapped): (Box<dyn Handle>, Option<bool>) = if use_mmap {
                let m = MmapFile::options().write(true).open(&path).unwrap();
                let mapped = m.is_mapped();
                (Box::new(m), Some(mapped))
            } else {
                (
                    Box::new(fs::OpenOptions::new().write(true).open(&path).unwrap()),
                    None,
                )
            };
            h.write_all(&fifo_message()).unwrap();
            let write_at = outcome(h.write_at(b"x", 0));
            let read = outcome(read_n(&mut *h, 4));
            h.flush().unwrap();
            drop(h);
            (reader.join().unwrap(), write_at, read, mapped)
        })
    };
    let (f_got, f_write_at, f_read, _) = run(false);
    let (m_got, m_write_at, m_read, mapped) = run(true);
    assert!(f_got == fifo_message(), "File's writes through the FIFO");
    let mut d = Diffs::default();
    d.check(mapped == Some(false), "a FIFO must not be mapped");
    d.check(
        m_got == f_got,
        format!(
            "the reader got {} bytes from MmapFile, {} from File",
            m_got.len(),
            f_got.len()
        ),
    );
    d.check(
        f_write_at == m_write_at,
        format!("write_at on a FIFO: File {f_write_at:?}, MmapFile {m_write_at:?}"),
    );
    d.check(
        f_read == m_read,
        format!("read on a write-only FIFO: File {f_read:?}, MmapFile {m_read:?}"),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Sockets and devices
// ---------------------------------------------------------------------------

#[test]
fn unix_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let _listener = match std::os::unix::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => return skip(&format!("cannot bind a Unix socket: {e}")),
    };
    let mut d = Diffs::default();
    // Opening a socket's path fails with ENXIO on Linux.
    d.same(
        "open read-only",
        File::open(&path).map(|_| ()),
        MmapFile::open(&path).map(|m| assert!(!m.is_mapped())),
    );
    d.same(
        "open read+write",
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map(|_| ()),
        MmapFile::options()
            .read(true)
            .write(true)
            .open(&path)
            .map(|m| assert!(!m.is_mapped())),
    );
    d.same(
        "open append",
        fs::OpenOptions::new().append(true).open(&path).map(|_| ()),
        MmapFile::options()
            .append(true)
            .open(&path)
            .map(|m| assert!(!m.is_mapped())),
    );
    d.finish();
}

/// Opens `path` read+write with both types, or skips.
fn open_device(path: &str) -> Option<(File, MmapFile)> {
    match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => {
            let m = MmapFile::options()
                .read(true)
                .write(true)
                .open(path)
                .unwrap_or_else(|e| panic!("File opens {path}, MmapFile fails: {e}"));
            assert!(!m.is_mapped(), "{path} must not be mapped");
            Some((f, m))
        }
        Err(e) => {
            skip(&format!("cannot open {path}: {e}"));
            None
        }
    }
}

#[test]
fn dev_null() {
    let Some((mut f, mut m)) = open_device("/dev/null") else {
        return;
    };
    let mut d = Diffs::default();
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 64));
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"hello"));
    both(&mut d, "write_all", &mut f, &mut m, |h| {
        h.write_all(&[7u8; 100_000])
    });
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 64, 10));
    both(&mut d, "write_at", &mut f, &mut m, |h| {
        h.write_at(b"abc", 10)
    });
    both(&mut d, "read_exact", &mut f, &mut m, |h| read_exact_n(h, 1));
    both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
    both(&mut d, "seek Start(100)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(100))
    });
    both(&mut d, "seek End(-5)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(-5))
    });
    both(&mut d, "set_len", &mut f, &mut m, |h| h.set_len_(10));
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.finish();
}

#[test]
fn dev_zero() {
    let Some((mut f, mut m)) = open_device("/dev/zero") else {
        return;
    };
    let mut d = Diffs::default();
    let Pair { mm: got, .. } = both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 100_000));
    d.check(
        matches!(&got, Ok(v) if v.len() == 100_000 && v.iter().all(|&b| b == 0)),
        format!(
            "MmapFile read of /dev/zero must be 100000 zeros, got {:?} bytes",
            got.as_ref().map(Vec::len)
        ),
    );
    both(&mut d, "read_exact", &mut f, &mut m, |h| {
        read_exact_n(h, 4097)
    });
    both(&mut d, "read_at", &mut f, &mut m, |h| {
        read_at_n(h, 5000, 12345)
    });
    both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
        read_exact_at_n(h, 5000, 1 << 40)
    });
    both(&mut d, "read_vectored", &mut f, &mut m, |h| {
        read_vectored_n(h, 3, 5000)
    });
    both(&mut d, "take(300000).read_to_end", &mut f, &mut m, |h| {
        let mut v = Vec::new();
        h.take(300_000).read_to_end(&mut v)?;
        Ok(v)
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"abc"));
    both(&mut d, "seek Start(1<<40)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(1 << 40))
    });
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    d.finish();
}

#[test]
fn dev_urandom() {
    let Some((mut f, mut m)) = open_device("/dev/urandom") else {
        return;
    };
    let mut d = Diffs::default();
    // Random bytes: compare how many, and that they are not all zero.
    let Pair { file: fr, mm: mr } = both(&mut d, "read length", &mut f, &mut m, |h| {
        read_n(h, 4096).map(|v| v.len())
    });
    d.check(
        fr == Ok(4096) && mr == Ok(4096),
        "reads of 4096 random bytes",
    );
    let mut buf = [0u8; 64];
    m.read_exact(&mut buf).unwrap();
    d.check(buf != [0u8; 64], "64 bytes of /dev/urandom are all zero");
    both(&mut d, "read_at length", &mut f, &mut m, |h| {
        read_at_n(h, 100, 0).map(|v| v.len())
    });
    both(&mut d, "seek Start(7)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(7))
    });
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    d.finish();
}

#[test]
fn dev_full() {
    let Some((mut f, mut m)) = open_device("/dev/full") else {
        return;
    };
    let mut d = Diffs::default();
    // Writes fail with ENOSPC; reads give zeros.
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"abc"));
    both(&mut d, "write_at", &mut f, &mut m, |h| {
        h.write_at(b"abc", 0)
    });
    both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 1000));
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.finish();
}

// ---------------------------------------------------------------------------
// /proc and /sys: size 0 on stat, content on read
// ---------------------------------------------------------------------------

/// Reads `path` every way through both types; `normalise` makes two reads
/// of a changing file comparable. Returns the MmapFile's read_to_string.
fn pseudo_file(path: &str, normalise: impl Fn(&str) -> String) -> Option<String> {
    if !Path::new(path).exists() {
        skip(&format!("{path} is not present"));
        return None;
    }
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            skip(&format!("cannot open {path}: {e}"));
            return None;
        }
    };
    let mut m = MmapFile::open(path).unwrap_or_else(|e| panic!("MmapFile::open({path}): {e}"));
    let mut d = Diffs::default();
    d.check(!m.is_mapped(), format!("{path} must not be mapped"));
    let Pair { file: fs_, mm: ms } = both(&mut d, "read_to_string", &mut f, &mut m, |h| {
        read_to_string_(h).map(|s| normalise(&s))
    });
    let mm_text = match (&fs_, &ms) {
        (Ok(a), Ok(b)) => {
            d.check(!a.is_empty(), format!("File read nothing from {path}"));
            d.check(!b.is_empty(), format!("MmapFile read nothing from {path}"));
            b.clone()
        }
        _ => String::new(),
    };
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    // Small reads from the start until the end, through read.
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(&mut d, "7-byte reads to the end", &mut f, &mut m, |h| {
        let mut all = Vec::new();
        loop {
            let got = read_n(h, 7)?;
            if got.is_empty() {
                break;
            }
            all.extend_from_slice(&got);
        }
        Ok(normalise(&String::from_utf8_lossy(&all)))
    });
    let Pair { mm: m_at, .. } = both(&mut d, "read_at(64, 0) is not empty", &mut f, &mut m, |h| {
        read_at_n(h, 64, 0).map(|v| !v.is_empty())
    });
    d.check(
        m_at == Ok(true),
        format!("read_at of {path} returned nothing"),
    );
    both(&mut d, "read_to_end is not empty", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h).map(|v| !v.is_empty())
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"x"));
    d.finish();
    Some(mm_text)
}

#[test]
fn proc_self_status() {
    // Two processes' status differ (and ours changes): compare the shape.
    let Some(text) = pseudo_file("/proc/self/status", |s| {
        s.lines()
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned()
    }) else {
        return;
    };
    assert_eq!(text, "Name", "/proc/self/status must start with \"Name:\"");
    let mut full = String::new();
    MmapFile::open("/proc/self/status")
        .unwrap()
        .read_to_string(&mut full)
        .unwrap();
    assert!(
        full.starts_with("Name:") && full.contains("\nPid:"),
        "{full:?}"
    );
}

#[test]
fn proc_cpuinfo() {
    // The clock speed may change between reads; everything else may not.
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("MHz") && !l.starts_with("bogomips"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(text) = pseudo_file("/proc/cpuinfo", strip) {
        assert!(!text.is_empty());
    }
}

#[test]
fn proc_version() {
    if let Some(text) = pseudo_file("/proc/version", str::to_owned) {
        assert!(text.starts_with("Linux version"), "{text:?}");
    }
}

#[test]
fn sys_transparent_hugepage_enabled() {
    if let Some(text) = pseudo_file("/sys/kernel/mm/transparent_hugepage/enabled", str::to_owned) {
        assert!(text.contains('['), "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// Write-only handles
// ---------------------------------------------------------------------------

/// The read operations a write-only handle must refuse as File does.
fn reads_refused(d: &mut Diffs, what: &str, f: &mut File, m: &mut MmapFile) {
    let ops: [(&str, Op); 8] = [
        ("read", |h| read_n(h, 4)),
        ("read of 0 bytes", |h| read_n(h, 0)),
        ("read_at", |h| read_at_n(h, 4, 0)),
        ("read_at of 0 bytes", |h| read_at_n(h, 0, 0)),
        ("read_exact_at", |h| read_exact_at_n(h, 2, 0)),
        ("read_vectored", |h| read_vectored_n(h, 2, 2)),
        ("read_to_end", read_to_end_),
        ("read_to_string", |h| {
            read_to_string_(h).map(String::into_bytes)
        }),
    ];
    for (name, op) in ops {
        let Pair { file: fr, .. } = both(d, &format!("{what}: {name}"), f, m, op);
        d.check(
            fr.is_err(),
            format!("{what}: File's {name} on a write-only handle succeeded?"),
        );
    }
}

#[test]
fn write_only_create() {
    let t = twins(b"old content that create truncates");
    let mut f = File::create(&t.f).unwrap();
    let mut m = MmapFile::create(&t.m).unwrap();
    let mut d = Diffs::default();
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"hello, "));
    both(&mut d, "write_all", &mut f, &mut m, |h| {
        h.write_all(b"world")
    });
    both(&mut d, "write_at", &mut f, &mut m, |h| h.write_at(b"H", 0));
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    reads_refused(&mut d, "File::create", &mut f, &mut m);
    both(
        &mut d,
        "stream_position after refused reads",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    // into_file: a write-only File with the same cursor.
    let mut mf = m.into_file().unwrap();
    d.same(
        "into_file: stream_position",
        f.stream_position(),
        mf.stream_position(),
    );
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut mf, 4));
    d.same("into_file: write", f.write(b"!"), mf.write(b"!"));
    drop((f, mf));
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        format!(
            "file contents: File wrote {:?}, MmapFile {:?}",
            String::from_utf8_lossy(&fs::read(&t.f).unwrap()),
            String::from_utf8_lossy(&fs::read(&t.m).unwrap())
        ),
    );
    d.check(
        fs::read(&t.f).unwrap() == b"Hello, world!",
        "File's own result",
    );
    d.finish();
}

#[test]
fn write_only_open_existing() {
    let t = twins(&content(10_000));
    let mut f = fs::OpenOptions::new().write(true).open(&t.f).unwrap();
    let mut m = MmapFile::options().write(true).open(&t.m).unwrap();
    let mut d = Diffs::default();
    both(&mut d, "write at the start", &mut f, &mut m, |h| {
        h.write(b"overwritten")
    });
    both(&mut d, "write_at inside", &mut f, &mut m, |h| {
        h.write_at(b"middle", 5000)
    });
    both(&mut d, "write_at past the end", &mut f, &mut m, |h| {
        h.write_at(b"tail", 20_000)
    });
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "write at the end", &mut f, &mut m, |h| {
        h.write(b"end")
    });
    both(&mut d, "set_len shrink", &mut f, &mut m, |h| {
        h.set_len_(19_000)
    });
    reads_refused(&mut d, "write(true)", &mut f, &mut m);
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    let sf = state(&mut f, &t.f);
    let sm = state(&mut m, &t.m);
    d.check(sf == sm, "state after writes differs");
    let mf = m.into_file().unwrap();
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut { mf }, 4));
    drop(f);
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "file contents differ",
    );
    d.finish();
}

#[test]
fn append_only() {
    let t = twins(b"start;");
    let mut f = fs::OpenOptions::new().append(true).open(&t.f).unwrap();
    let mut m = MmapFile::options().append(true).open(&t.m).unwrap();
    let mut d = Diffs::default();
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"one;"));
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(
        &mut d,
        "write after seeking to 0 appends",
        &mut f,
        &mut m,
        |h| h.write(b"two;"),
    );
    both(&mut d, "stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write_at(0) on O_APPEND", &mut f, &mut m, |h| {
        h.write_at(b"three;", 0)
    });
    both(
        &mut d,
        "stream_position after write_at",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "write_vectored", &mut f, &mut m, |h| {
        h.write_vectored(&[IoSlice::new(b"fo"), IoSlice::new(b"ur;")])
    });
    both(&mut d, "set_len shrink", &mut f, &mut m, |h| h.set_len_(8));
    both(&mut d, "write after set_len", &mut f, &mut m, |h| {
        h.write(b"after;")
    });
    reads_refused(&mut d, "append(true)", &mut f, &mut m);
    let mut mf = m.into_file().unwrap();
    d.same(
        "into_file: stream_position",
        f.stream_position(),
        mf.stream_position(),
    );
    d.same("into_file: read", read_n(&mut f, 4), read_n(&mut mf, 4));
    d.same(
        "into_file: write_at(0) still appends",
        f.write_at(b"five", 0),
        mf.write_at(b"five", 0),
    );
    drop((f, mf));
    let (fb, mb) = (fs::read(&t.f).unwrap(), fs::read(&t.m).unwrap());
    d.check(
        fb == mb,
        format!(
            "file contents: File {:?}, MmapFile {:?}",
            String::from_utf8_lossy(&fb),
            String::from_utf8_lossy(&mb)
        ),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Offsets and lengths near u64::MAX and i64::MAX
// ---------------------------------------------------------------------------

const I64_MAX: u64 = i64::MAX as u64;

/// Runs `op` on both handles (of twin files in the same state) and compares
/// the outcomes and the effects: afterwards both files and cursors must
/// still be alike, and where `File` refused the call, nothing may have
/// changed.
fn refused<T: Debug + PartialEq>(
    d: &mut Diffs,
    what: &str,
    t: &Twins,
    f: &mut File,
    m: &mut MmapFile,
    op: impl Fn(&mut dyn Handle) -> io::Result<T>,
) {
    let (bf, bm) = (state(f, &t.f), state(m, &t.m));
    let out = both(d, what, f, m, op);
    let (af, am) = (state(f, &t.f), state(m, &t.m));
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

/// A result of the operations of [`huge_offsets`].
#[derive(Debug, PartialEq)]
enum Val {
    N(usize),
    Bytes(Vec<u8>),
    Unit,
}

/// Positional reads and writes at huge offsets, through handles of the
/// given access, each on fresh twin files with the cursor moved to 10.
fn huge_offsets(opts: impl Fn(&mut fs::OpenOptions), mopts: impl Fn(&mut mmapfile::OpenOptions)) {
    let mut d = Diffs::default();
    let mut run = |what: String, op: &dyn Fn(&mut dyn Handle) -> io::Result<Val>| {
        let t = twins(&content(100));
        let mut fo = fs::OpenOptions::new();
        opts(&mut fo);
        let mut mo = MmapFile::options();
        mopts(&mut mo);
        let mut f = fo.open(&t.f).unwrap();
        let mut m = mo.open(&t.m).unwrap();
        if maps_files() {
            assert!(m.is_mapped());
        }
        f.seek(SeekFrom::Start(10)).unwrap();
        m.seek(SeekFrom::Start(10)).unwrap();
        refused(&mut d, &what, &t, &mut f, &mut m, op);
    };
    let offsets = [
        u64::MAX,
        u64::MAX - 1,
        I64_MAX + 1,
        I64_MAX,
        I64_MAX - 1,
        I64_MAX - 4096,
        1 << 62,
    ];
    for off in offsets {
        for len in [0usize, 1, 2, 4096] {
            run(format!("write_at({len}, {off})"), &|h| {
                h.write_at(&vec![b'w'; len], off).map(Val::N)
            });
            run(format!("read_at({len}, {off})"), &|h| {
                read_at_n(h, len, off).map(Val::Bytes)
            });
            run(format!("read_exact_at({len}, {off})"), &|h| {
                read_exact_at_n(h, len, off).map(Val::Bytes)
            });
        }
        run(format!("write_all_at(3, {off})"), &|h| {
            h.write_all_at(b"abc", off).map(|()| Val::Unit)
        });
    }
    // A range that starts in the file and would end past i64::MAX cannot be
    // built (the buffer would not fit in memory); one starting just below
    // the end of the file and running past it is an ordinary short read.
    run("read_at(4096, 90)".into(), &|h| {
        read_at_n(h, 4096, 90).map(Val::Bytes)
    });
    d.finish();
}

#[test]
fn huge_offsets_read_write_handle() {
    huge_offsets(
        |o| {
            o.read(true).write(true);
        },
        |o| {
            o.read(true).write(true);
        },
    );
}

#[test]
fn huge_offsets_read_only_handle() {
    // The kernel rejects a negative offset before it looks at the access
    // mode: EINVAL, not EBADF.
    huge_offsets(
        |o| {
            o.read(true);
        },
        |o| {
            o.read(true);
        },
    );
}

#[test]
fn huge_offsets_write_only_handle() {
    huge_offsets(
        |o| {
            o.write(true);
        },
        |o| {
            o.write(true);
        },
    );
}

#[test]
fn huge_offsets_append_handle() {
    huge_offsets(
        |o| {
            o.read(true).append(true);
        },
        |o| {
            o.read(true).append(true);
        },
    );
}

#[test]
fn set_len_huge() {
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    f.seek(SeekFrom::Start(10)).unwrap();
    m.seek(SeekFrom::Start(10)).unwrap();
    let mut d = Diffs::default();
    for size in [
        u64::MAX,
        u64::MAX - 1,
        I64_MAX + 1,
        I64_MAX,
        I64_MAX - 1,
        1 << 62,
    ] {
        refused(
            &mut d,
            &format!("set_len({size})"),
            &t,
            &mut f,
            &mut m,
            |h| h.set_len_(size),
        );
    }
    // Through a read-only handle: EINVAL for a size that fits, InvalidInput
    // for one that does not.
    let mut fr = File::open(&t.f).unwrap();
    let mut mr = MmapFile::open(&t.m).unwrap();
    for size in [0, 50, 100, 200, I64_MAX, u64::MAX] {
        refused(
            &mut d,
            &format!("set_len({size}) through a read-only handle"),
            &t,
            &mut fr,
            &mut mr,
            |h| h.set_len_(size),
        );
    }
    d.finish();
}

#[test]
fn seek_huge() {
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    let mut d = Diffs::default();
    let targets = [
        SeekFrom::Start(u64::MAX),
        SeekFrom::Start(I64_MAX + 1),
        SeekFrom::Start(I64_MAX),
        SeekFrom::Start(I64_MAX - 1),
        SeekFrom::Start(1 << 62),
        SeekFrom::Start(1 << 44),
        SeekFrom::Current(i64::MAX),
        SeekFrom::Current(i64::MAX - 10),
        SeekFrom::Current(i64::MAX - 9),
        SeekFrom::Current(i64::MIN),
        SeekFrom::Current(-10),
        SeekFrom::Current(-11),
        SeekFrom::End(i64::MIN),
        SeekFrom::End(i64::MAX),
        SeekFrom::End(i64::MAX - 100),
        SeekFrom::End(i64::MAX - 99),
        SeekFrom::End(-100),
        SeekFrom::End(-101),
    ];
    for target in targets {
        // From 10 each time.
        f.seek(SeekFrom::Start(10)).unwrap();
        m.seek(SeekFrom::Start(10)).unwrap();
        let what = format!("seek({target:?}) from 10");
        // Same result; where it fails, the cursor, length and bytes stay.
        refused(&mut d, &what, &t, &mut f, &mut m, |h| h.seek(target));
        both(&mut d, &format!("{what}: then read"), &mut f, &mut m, |h| {
            read_n(h, 8)
        });
        both(
            &mut d,
            &format!("{what}: then stream_position"),
            &mut f,
            &mut m,
            |h| h.stream_position(),
        );
    }
    d.finish();
}

/// The largest offset the file system takes (`s_maxbytes`): the largest
/// `lseek` target it accepts, found by bisection with a `File`.
fn fs_max_offset(path: &Path) -> u64 {
    let mut f = File::open(path).unwrap();
    if f.seek(SeekFrom::Start(I64_MAX)).is_ok() {
        return I64_MAX;
    }
    let (mut ok, mut bad) = (0u64, I64_MAX);
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if f.seek(SeekFrom::Start(mid)).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

#[test]
fn writes_at_the_file_systems_largest_offset() {
    let probe = twins(b"");
    let max = fs_max_offset(&probe.f);
    println!(
        "largest offset on this file system: {max} ({:.1} TiB)",
        max as f64 / 2f64.powi(40)
    );
    if max == I64_MAX {
        return skip("the file system has no limit below i64::MAX");
    }
    let mut d = Diffs::default();
    // (offset, bytes): the last byte, a write cut short at the limit, a
    // write at the limit, and cursor writes there.
    for (off, n) in [
        (max - 1, 1usize),
        (max - 1, 2),
        (max, 1),
        (max - 4096, 10_000),
    ] {
        let t = twins(&content(100));
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&t.f)
            .unwrap();
        let mut m = MmapFile::options()
            .read(true)
            .write(true)
            .open(&t.m)
            .unwrap();
        let what = format!("write_at({n}, {off})");
        let Pair { file: fr, .. } = both(&mut d, &what, &mut f, &mut m, |h| {
            h.write_at(&vec![b'x'; n], off)
        });
        both(&mut d, &format!("{what}: length"), &mut f, &mut m, |h| {
            h.len_()
        });
        both(&mut d, &format!("{what}: metadata"), &mut f, &mut m, meta_);
        if fr.is_ok() {
            both(&mut d, &format!("{what}: read back"), &mut f, &mut m, |h| {
                read_at_n(h, n + 10, off)
            });
            both(
                &mut d,
                &format!("{what}: read the gap"),
                &mut f,
                &mut m,
                |h| read_at_n(h, 64, off - 64),
            );
        }
        // The same through the cursor.
        let what = format!("seek({off}) + write({n})");
        both(&mut d, &what, &mut f, &mut m, |h| {
            h.seek(SeekFrom::Start(off))?;
            h.write(&vec![b'y'; n])
        });
        both(&mut d, &format!("{what}: cursor"), &mut f, &mut m, |h| {
            h.stream_position()
        });
        both(&mut d, &format!("{what}: length"), &mut f, &mut m, |h| {
            h.len_()
        });
        drop((f, m));
        d.check(
            fs::metadata(&t.f).unwrap().len() == fs::metadata(&t.m).unwrap().len(),
            format!(
                "{what}: on disk, File's file is {} bytes, MmapFile's {}",
                fs::metadata(&t.f).unwrap().len(),
                fs::metadata(&t.m).unwrap().len()
            ),
        );
    }
    d.finish();
}

#[test]
fn write_far_past_the_end() {
    const TIB: u64 = 1 << 40;
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    let mut d = Diffs::default();
    let Pair { file: fr, .. } = both(&mut d, "write_at(5, 1 TiB)", &mut f, &mut m, |h| {
        h.write_at(b"far!!", TIB)
    });
    if let Err(e) = &fr {
        println!("this file system refuses a write at 1 TiB: {e:?}");
    }
    both(&mut d, "length", &mut f, &mut m, |h| h.len_());
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    both(&mut d, "read back", &mut f, &mut m, |h| {
        read_at_n(h, 16, TIB - 3)
    });
    for gap in [100, 4096, TIB / 2, TIB - 4096, TIB - 1] {
        let Pair { mm: mr, .. } = both(
            &mut d,
            &format!("read the gap at {gap}"),
            &mut f,
            &mut m,
            |h| read_at_n(h, 64.min((TIB - gap) as usize), gap),
        );
        if fr.is_ok() {
            d.check(
                matches!(&mr, Ok(v) if !v.is_empty() && v.iter().all(|&b| b == 0)),
                format!("gap at {gap} must read as zeros: {mr:?}"),
            );
        }
    }
    both(
        &mut d,
        "read_exact_at across the gap's end",
        &mut f,
        &mut m,
        |h| read_exact_at_n(h, 8, TIB - 4),
    );
    both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::End(0))
    });
    both(&mut d, "read at the end", &mut f, &mut m, |h| read_n(h, 8));
    both(&mut d, "write at the end", &mut f, &mut m, |h| {
        h.write(b"more")
    });
    both(&mut d, "length after", &mut f, &mut m, |h| h.len_());
    // Shrinking it back.
    both(&mut d, "set_len(50)", &mut f, &mut m, |h| h.set_len_(50));
    both(&mut d, "read after shrinking", &mut f, &mut m, |h| {
        read_at_n(h, 100, 0)
    });
    drop((f, m));
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "file contents after shrinking differ",
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Vectored I/O with more buffers than one system call takes
// ---------------------------------------------------------------------------

/// More buffers than `IOV_MAX` (1024 on Linux): `File` passes the first
/// `IOV_MAX` to one `readv`/`writev` and reports what those moved.
#[test]
fn vectored_io_with_more_buffers_than_iov_max() {
    const BUFS: usize = 2000;
    let t = twins(&content(10_000));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    let mut d = Diffs::default();
    both(
        &mut d,
        "read_vectored of 2000 one-byte buffers",
        &mut f,
        &mut m,
        |h| {
            let mut bytes = vec![0u8; BUFS];
            let mut bufs: Vec<IoSliceMut<'_>> = bytes.chunks_mut(1).map(IoSliceMut::new).collect();
            let n = h.read_vectored(&mut bufs)?;
            // How many bytes, and whether they are the file's.
            Ok((n, bytes[..n] == content(10_000)[..n]))
        },
    );
    both(&mut d, "cursor after read_vectored", &mut f, &mut m, |h| {
        h.stream_position()
    });
    // From the same place, whatever the reads did.
    f.seek(SeekFrom::Start(5000)).unwrap();
    m.seek(SeekFrom::Start(5000)).unwrap();
    both(
        &mut d,
        "write_vectored of 2000 one-byte buffers",
        &mut f,
        &mut m,
        |h| {
            let bytes = vec![b'v'; BUFS];
            let bufs: Vec<IoSlice<'_>> = bytes.chunks(1).map(IoSlice::new).collect();
            h.write_vectored(&bufs)
        },
    );
    both(&mut d, "cursor after write_vectored", &mut f, &mut m, |h| {
        h.stream_position()
    });
    drop((f, m));
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "file contents after write_vectored differ",
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Empty files
// ---------------------------------------------------------------------------

#[test]
fn empty_file() {
    let t = twins(b"");
    let mut d = Diffs::default();
    {
        let mut f = File::open(&t.f).unwrap();
        let mut m = MmapFile::open(&t.m).unwrap();
        if maps_files() {
            d.check(m.is_mapped(), "an empty regular file must be mapped");
        }
        d.same("len", f.metadata().map(|x| x.len()), m.len());
        d.same("is_empty", Ok(true), m.is_empty());
        both(&mut d, "read", &mut f, &mut m, |h| read_n(h, 16));
        both(&mut d, "read_exact", &mut f, &mut m, |h| read_exact_n(h, 1));
        both(&mut d, "read_to_end", &mut f, &mut m, read_to_end_);
        both(&mut d, "read_to_string", &mut f, &mut m, read_to_string_);
        both(&mut d, "read_at(16, 0)", &mut f, &mut m, |h| {
            read_at_n(h, 16, 0)
        });
        both(&mut d, "read_at(16, 4096)", &mut f, &mut m, |h| {
            read_at_n(h, 16, 4096)
        });
        both(&mut d, "read_exact_at", &mut f, &mut m, |h| {
            read_exact_at_n(h, 1, 0)
        });
        both(&mut d, "read_vectored", &mut f, &mut m, |h| {
            read_vectored_n(h, 4, 4)
        });
        both(&mut d, "seek End(0)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(0))
        });
        both(&mut d, "seek End(-1)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(-1))
        });
        both(&mut d, "seek End(5)", &mut f, &mut m, |h| {
            h.seek(SeekFrom::End(5))
        });
        both(&mut d, "read past the end", &mut f, &mut m, |h| {
            read_n(h, 4)
        });
        both(&mut d, "metadata", &mut f, &mut m, meta_);
        both(&mut d, "write through read-only", &mut f, &mut m, |h| {
            h.write(b"x")
        });
    }
    // Writing grows it.
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    if maps_files() {
        d.check(
            m.is_mapped(),
            "an empty regular file must be mapped read-write",
        );
    }
    both(
        &mut d,
        "read of the empty file",
        &mut f,
        &mut m,
        read_to_end_,
    );
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"grown"));
    both(&mut d, "length", &mut f, &mut m, |h| h.len_());
    both(&mut d, "read_at", &mut f, &mut m, |h| read_at_n(h, 16, 0));
    both(&mut d, "write_at past the end", &mut f, &mut m, |h| {
        h.write_at(b"!", 10)
    });
    both(&mut d, "read_to_end from the start", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });
    both(&mut d, "flush", &mut f, &mut m, |h| h.flush());
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "after flush the files on disk differ",
    );
    // Truncated back to empty, it is still usable.
    both(&mut d, "set_len(0)", &mut f, &mut m, |h| h.set_len_(0));
    both(&mut d, "read_at after set_len(0)", &mut f, &mut m, |h| {
        read_at_n(h, 16, 0)
    });
    both(&mut d, "write after set_len(0)", &mut f, &mut m, |h| {
        h.write(b"z")
    });
    both(&mut d, "final contents", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });
    d.finish();
}

// ---------------------------------------------------------------------------
// Writing through a read-only handle
// ---------------------------------------------------------------------------

#[test]
fn write_through_read_only_handle() {
    let t = twins(&content(1000));
    let mut f = File::open(&t.f).unwrap();
    let mut m = MmapFile::open(&t.m).unwrap();
    f.seek(SeekFrom::Start(10)).unwrap();
    m.seek(SeekFrom::Start(10)).unwrap();
    let mut d = Diffs::default();
    let ops: [(&str, Op); 11] = [
        ("write", |h| h.write(b"abc").map(|n| vec![n as u8])),
        ("write of 0 bytes", |h| h.write(b"").map(|n| vec![n as u8])),
        ("write_all", |h| h.write_all(b"abc").map(|()| Vec::new())),
        ("write_vectored", |h| {
            h.write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")])
                .map(|n| vec![n as u8])
        }),
        ("write_at", |h| h.write_at(b"abc", 0).map(|n| vec![n as u8])),
        ("write_at of 0 bytes", |h| {
            h.write_at(b"", 0).map(|n| vec![n as u8])
        }),
        ("write_at past the end", |h| {
            h.write_at(b"abc", 5000).map(|n| vec![n as u8])
        }),
        ("write_all_at", |h| {
            h.write_all_at(b"abc", 3).map(|()| Vec::new())
        }),
        ("set_len shrink", |h| h.set_len_(5).map(|()| Vec::new())),
        ("set_len grow", |h| h.set_len_(5000).map(|()| Vec::new())),
        ("flush", |h| h.flush().map(|()| Vec::new())),
    ];
    for (name, op) in ops {
        refused(&mut d, name, &t, &mut f, &mut m, op);
    }
    d.same("sync_all", f.sync_all(), m.sync_all());
    d.same("sync_data", f.sync_data(), m.sync_data());
    d.same(
        "into_file then write",
        f.try_clone().and_then(|mut c| c.write(b"x")),
        m.into_file().and_then(|mut c| c.write(b"x")),
    );
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap()
            && fs::read(&t.m).unwrap() == content(1000),
        "a refused write changed the file",
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// Conversions to and from File
// ---------------------------------------------------------------------------

#[test]
fn into_file_after_writes() {
    let t = twins(b"");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    let mut d = Diffs::default();
    // Small appends: the MmapFile grows the file on disk ahead of them.
    for i in 0..100u32 {
        let rec = format!("record {i}\n");
        both(&mut d, "write", &mut f, &mut m, |h| h.write(rec.as_bytes()));
    }
    both(&mut d, "seek Start(300)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(300))
    });
    let cursor = m.stream_position().unwrap();
    let len = m.len().unwrap();
    let mut mf = m.into_file().unwrap();
    d.same(
        "length of the File",
        f.metadata().map(|x| x.len()),
        mf.metadata().map(|x| x.len()),
    );
    d.check(
        mf.metadata().unwrap().len() == len,
        format!(
            "into_file: File is {} bytes, MmapFile had {len}",
            mf.metadata().unwrap().len()
        ),
    );
    d.check(
        fs::metadata(&t.m).unwrap().len() == len,
        "into_file: the file on disk is not cut back to its length",
    );
    d.same("stream_position", f.stream_position(), mf.stream_position());
    d.check(
        mf.stream_position().unwrap() == cursor,
        "into_file: the File's offset is not the MmapFile's cursor",
    );
    d.same("read from there", read_n(&mut f, 20), read_n(&mut mf, 20));
    d.same("write from there", f.write(b"XX"), mf.write(b"XX"));
    drop((f, mf));
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "file contents differ",
    );

    // The cursor past the end survives too.
    let t = twins(&content(10));
    let m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    (&m).seek(SeekFrom::Start(1 << 20)).unwrap();
    let mut mf = m.into_file().unwrap();
    d.check(
        mf.stream_position().unwrap() == 1 << 20,
        "into_file: a cursor past the end is lost",
    );
    d.finish();
}

#[test]
fn try_from_file_keeps_offset_and_mode() {
    let mut d = Diffs::default();

    // Read-only, offset 5.
    let t = twins(&content(100));
    let mut f = File::open(&t.f).unwrap();
    f.seek(SeekFrom::Start(5)).unwrap();
    let src = File::open(&t.m).unwrap();
    (&src).seek(SeekFrom::Start(5)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    if maps_files() {
        d.check(m.is_mapped(), "TryFrom<File> of a regular file must map it");
    }
    both(&mut d, "read-only: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "read-only: read", &mut f, &mut m, |h| read_n(h, 10));
    both(&mut d, "read-only: write", &mut f, &mut m, |h| {
        h.write(b"x")
    });
    both(&mut d, "read-only: write_at", &mut f, &mut m, |h| {
        h.write_at(b"x", 0)
    });
    both(&mut d, "read-only: set_len", &mut f, &mut m, |h| {
        h.set_len_(1)
    });

    // Write-only, offset 3.
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new().write(true).open(&t.f).unwrap();
    f.seek(SeekFrom::Start(3)).unwrap();
    let mut src = fs::OpenOptions::new().write(true).open(&t.m).unwrap();
    src.seek(SeekFrom::Start(3)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(&mut d, "write-only: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "write-only: read", &mut f, &mut m, |h| read_n(h, 4));
    both(&mut d, "write-only: write", &mut f, &mut m, |h| {
        h.write(b"XY")
    });
    both(
        &mut d,
        "write-only: stream_position after",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    drop((f, m));
    d.check(
        fs::read(&t.f).unwrap() == fs::read(&t.m).unwrap(),
        "write-only: contents differ",
    );

    // Append, read+append, offset 7.
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&t.f)
        .unwrap();
    f.seek(SeekFrom::Start(7)).unwrap();
    let mut src = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&t.m)
        .unwrap();
    src.seek(SeekFrom::Start(7)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(&mut d, "append: stream_position", &mut f, &mut m, |h| {
        h.stream_position()
    });
    both(&mut d, "append: read", &mut f, &mut m, |h| read_n(h, 4));
    both(
        &mut d,
        "append: write lands at the end",
        &mut f,
        &mut m,
        |h| h.write(b"tail"),
    );
    both(
        &mut d,
        "append: stream_position after",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(
        &mut d,
        "append: write_at(0) lands at the end",
        &mut f,
        &mut m,
        |h| h.write_at(b"at0", 0),
    );
    both(&mut d, "append: contents", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h)
    });

    // Read+write with the offset past the end.
    let t = twins(&content(100));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.f)
        .unwrap();
    f.seek(SeekFrom::Start(5000)).unwrap();
    let mut src = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.m)
        .unwrap();
    src.seek(SeekFrom::Start(5000)).unwrap();
    let mut m = MmapFile::try_from(src).unwrap();
    both(
        &mut d,
        "past the end: stream_position",
        &mut f,
        &mut m,
        |h| h.stream_position(),
    );
    both(&mut d, "past the end: read", &mut f, &mut m, |h| {
        read_n(h, 4)
    });
    both(&mut d, "past the end: write", &mut f, &mut m, |h| {
        h.write(b"far")
    });
    both(&mut d, "past the end: length", &mut f, &mut m, |h| h.len_());
    d.finish();
}
