//! What the tests of issue 11 (File's results outside one process) share:
//! the `File`-or-`MmapFile` twin, comparable outcomes, a compact picture of
//! a file's bytes, and an outsider: another process holding a plain `File`
//! on the path, run as a child of the test binary, which does a few
//! operations and reports what it saw.

use std::fmt::{Debug, Write as _};
use std::fs::{self, File, FileTimes, Metadata};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

use mmapfile::MmapFile;

use super::child::{child, describe};

// ---------------------------------------------------------------------------
// The twin
// ---------------------------------------------------------------------------

/// How a twin is opened: std's `OpenOptions`, field by field, so that the
/// same options open a `File` and an `MmapFile`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    pub create: bool,
    pub create_new: bool,
    /// `custom_flags` (`O_SYNC`, `O_DIRECT`, ...).
    pub flags: i32,
}

impl Opts {
    /// Read and write, creating the file.
    pub fn rw() -> Opts {
        Opts {
            read: true,
            write: true,
            create: true,
            ..Opts::default()
        }
    }

    /// Append only (`O_WRONLY | O_APPEND`), creating the file.
    pub fn append_only() -> Opts {
        Opts {
            append: true,
            create: true,
            ..Opts::default()
        }
    }

    pub fn std(&self) -> fs::OpenOptions {
        let mut o = fs::OpenOptions::new();
        o.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new)
            .custom_flags(self.flags);
        o
    }

    pub fn mmap(&self) -> mmapfile::OpenOptions {
        let mut o = mmapfile::OpenOptions::new();
        o.read(self.read)
            .write(self.write)
            .append(self.append)
            .truncate(self.truncate)
            .create(self.create)
            .create_new(self.create_new)
            .custom_flags(self.flags);
        o
    }
}

/// What `File` and `MmapFile` have in common, so that one test body runs on
/// either.
pub trait Twin: Read + Write + Seek + FileExt + AsFd + AsRawFd + Sized {
    /// "File" or "MmapFile", for messages.
    const NAME: &'static str;
    fn open_with(opts: &Opts, path: &Path) -> io::Result<Self>;
    fn wrap(file: File) -> io::Result<Self>;
    fn set_len(&self, size: u64) -> io::Result<()>;
    fn metadata(&self) -> io::Result<Metadata>;
    fn sync_all(&self) -> io::Result<()>;
    fn sync_data(&self) -> io::Result<()>;
    fn set_modified(&self, time: SystemTime) -> io::Result<()>;
    fn set_times(&self, times: FileTimes) -> io::Result<()>;
}

impl Twin for File {
    const NAME: &'static str = "File";
    fn open_with(opts: &Opts, path: &Path) -> io::Result<Self> {
        opts.std().open(path)
    }
    fn wrap(file: File) -> io::Result<Self> {
        Ok(file)
    }
    fn set_len(&self, size: u64) -> io::Result<()> {
        File::set_len(self, size)
    }
    fn metadata(&self) -> io::Result<Metadata> {
        File::metadata(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        File::set_modified(self, time)
    }
    fn set_times(&self, times: FileTimes) -> io::Result<()> {
        File::set_times(self, times)
    }
}

impl Twin for MmapFile {
    const NAME: &'static str = "MmapFile";
    fn open_with(opts: &Opts, path: &Path) -> io::Result<Self> {
        opts.mmap().open(path)
    }
    fn wrap(file: File) -> io::Result<Self> {
        MmapFile::try_from(file)
    }
    fn set_len(&self, size: u64) -> io::Result<()> {
        MmapFile::set_len(self, size)
    }
    fn metadata(&self) -> io::Result<Metadata> {
        MmapFile::metadata(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        MmapFile::sync_all(self)
    }
    fn sync_data(&self) -> io::Result<()> {
        MmapFile::sync_data(self)
    }
    fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        MmapFile::set_modified(self, time)
    }
    fn set_times(&self, times: FileTimes) -> io::Result<()> {
        MmapFile::set_times(self, times)
    }
}

// ---------------------------------------------------------------------------
// Outcomes and bytes, for comparing and for messages
// ---------------------------------------------------------------------------

/// A result as text that compares as `File`'s results do: the value, or the
/// OS error number (or, for an error std made up, its kind).
pub fn outcome<T: Debug>(r: &io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => match e.raw_os_error() {
            Some(code) => format!("Err(os error {code}: {:?})", e.kind()),
            None => format!("Err({:?})", e.kind()),
        },
    }
}

/// A compact picture of bytes: runs of printable text quoted, runs of zeros
/// counted, anything else in hex. `"a1" <65530 zeros> "b1"`.
pub fn picture(bytes: &[u8]) -> String {
    let mut out = format!("{} bytes:", bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let kind = |b: u8| match b {
            0 => 0,
            0x20..=0x7e => 1,
            _ => 2,
        };
        let k = kind(bytes[i]);
        let run = bytes[i..].iter().take_while(|&&b| kind(b) == k).count();
        let part = &bytes[i..i + run];
        match k {
            0 => write!(out, " <{run} zeros>").unwrap(),
            1 if run <= 64 => write!(out, " {:?}", String::from_utf8_lossy(part)).unwrap(),
            1 => write!(
                out,
                " {:?}...<{run} chars>",
                String::from_utf8_lossy(&part[..32])
            )
            .unwrap(),
            _ if run <= 16 => write!(out, " {part:02x?}").unwrap(),
            _ => write!(out, " <{run} bytes from {:02x}>", part[0]).unwrap(),
        }
        i += run;
        if out.len() > 2000 {
            out.push_str(" ...");
            break;
        }
    }
    out
}

/// Collects the discrepancies of a test, so that one run reports them all in
/// one assertion.
#[derive(Default)]
pub struct Diffs {
    lines: Vec<String>,
}

impl Diffs {
    /// Records a discrepancy unless `mmap` (MmapFile's) prints as `file`
    /// (File's) does.
    pub fn same(&mut self, what: &str, file: impl Debug, mmap: impl Debug) {
        let (f, m) = (format!("{file:?}"), format!("{mmap:?}"));
        if f != m {
            self.lines.push(format!(
                "{what}:\n    File gave     {f}\n    MmapFile gave {m}"
            ));
        }
    }

    /// Records a failed expectation, in the caller's words.
    pub fn fail(&mut self, line: String) {
        self.lines.push(line);
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Panics with every discrepancy, if there is any.
    #[track_caller]
    pub fn check(self, context: &str) {
        assert!(
            self.lines.is_empty(),
            "{context}: {} discrepancies\n{}",
            self.lines.len(),
            self.lines.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The outsider: another process with a plain File on the path
// ---------------------------------------------------------------------------

/// One thing the outsider does, each with a `File` it opens for it and
/// closes after.
#[derive(Clone, Debug)]
pub enum Op {
    /// `OpenOptions::new().append(true)`, `write_all`: an O_APPEND write.
    Append(Vec<u8>),
    /// `write(true)`, `write_all_at`, then `sync_all`.
    WriteAt(u64, Vec<u8>),
    /// `write(true)`, `set_len`.
    SetLen(u64),
    /// `std::fs::metadata(path).len()`: a `stat` by path, no open.
    StatLen,
    /// `File::open(path)?.metadata()?.len()`: an open, then `fstat`.
    OpenLen,
    /// `std::fs::read(path)`, reported as a [`picture`].
    Read,
    /// `fcntl(F_GETLK)` for a write lock on the whole file: who holds a
    /// POSIX (fcntl) lock on it, `unlocked`, or `write lock held by parent`
    /// (the process that ran the outsider).
    LockHolder,
}

const OP_SEP: char = '\u{1f}';

fn encode(path: &Path, ops: &[Op]) -> String {
    let mut s = path.to_str().expect("a UTF-8 temp path").to_string();
    for op in ops {
        s.push(OP_SEP);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match op {
            Op::Append(b) => write!(s, "append {}", hex(b)),
            Op::WriteAt(off, b) => write!(s, "write_at {off} {}", hex(b)),
            Op::SetLen(n) => write!(s, "set_len {n}"),
            Op::StatLen => write!(s, "stat_len"),
            Op::OpenLen => write!(s, "open_len"),
            Op::Read => write!(s, "read"),
            Op::LockHolder => write!(s, "lock_holder"),
        }
        .unwrap();
    }
    s
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// In the outsider child: does the operations `mode` names and prints one
/// `OUTSIDER <result>` line for each.
pub fn serve(mode: &str) {
    let mut parts = mode.split(OP_SEP);
    let path = Path::new(parts.next().unwrap());
    for op in parts {
        let mut words = op.split(' ');
        let result = match words.next().unwrap() {
            "append" => {
                let data = unhex(words.next().unwrap());
                let r = fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(&data));
                outcome(&r)
            }
            "write_at" => {
                let off: u64 = words.next().unwrap().parse().unwrap();
                let data = unhex(words.next().unwrap());
                let r = fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.write_all_at(&data, off).and_then(|()| f.sync_all()));
                outcome(&r)
            }
            "set_len" => {
                let n: u64 = words.next().unwrap().parse().unwrap();
                let r = fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(n));
                outcome(&r)
            }
            "stat_len" => outcome(&fs::metadata(path).map(|m| m.len())),
            "open_len" => outcome(&File::open(path).and_then(|f| f.metadata()).map(|m| m.len())),
            "read" => match fs::read(path) {
                Ok(b) => picture(&b),
                Err(e) => outcome::<()>(&Err(e)),
            },
            "lock_holder" => lock_holder(path),
            other => panic!("unknown outsider op {other}"),
        };
        println!("OUTSIDER {result}");
    }
}

fn lock_holder(path: &Path) -> String {
    let file = match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) => return outcome::<()>(&Err(e)),
    };
    // SAFETY: all-zero is a valid `flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_GETLK on an open descriptor, with a valid `flock` to fill.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    if rc != 0 {
        return outcome::<()>(&Err(io::Error::last_os_error()));
    }
    let kind = match i32::from(lock.l_type) {
        libc::F_UNLCK => return "unlocked".to_string(),
        libc::F_WRLCK => "write",
        libc::F_RDLCK => "read",
        _ => "strange",
    };
    let who = if lock.l_pid as u32 == std::os::unix::process::parent_id() {
        "parent".to_string()
    } else {
        format!("pid {}", lock.l_pid)
    };
    format!("{kind} lock held by {who}")
}

/// Runs `ops` in another process (this test binary re-run as `test`, whose
/// child half must call [`serve`]), waits for it to exit, and returns one
/// result per operation, as [`outcome`] or [`picture`] prints it.
pub fn outsider(test: &str, path: &Path, ops: &[Op]) -> Vec<String> {
    let out = child(test, &encode(path, ops))
        .output()
        .expect("run the outsider");
    assert!(out.status.success(), "outsider: {}", describe(&out));
    let results: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        // The harness prints the test's name on the line of the first one.
        .filter_map(|l| l.find("OUTSIDER ").map(|i| l[i + 9..].to_string()))
        .collect();
    assert_eq!(results.len(), ops.len(), "outsider: {}", describe(&out));
    results
}
