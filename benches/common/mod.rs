//! Setup shared by the benchmarks (`benches/*.rs`) and the demo
//! (`examples/demo.rs`): test files, the fixed-seed random number generator,
//! line counting, socket sinks drained by a reader thread, and on Windows
//! the positional reads and writes of Unix's `FileExt` ([`FileExt`]).
//!
//! Everything here returns `io::Result`, so the demo can use it with `?`; the
//! benchmarks `expect` instead.

// Each benchmark binary and the demo use only part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use mmapfile::MmapFile;

pub const MIB: u64 = 1 << 20;

/// The seed of every pseudo-random sequence, so each contender of a group
/// sees the same offsets.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Size of the benchmark files: `MMAPFILE_BENCH_MB` MiB, default 128.
pub fn bench_file_len() -> u64 {
    let mb = std::env::var("MMAPFILE_BENCH_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&mb| mb > 0)
        .unwrap_or(128);
    mb * MIB
}

/// Whether the growth benchmark appends 1 GiB (`MMAPFILE_BENCH_BIG=1`)
/// rather than 256 MiB.
pub fn bench_big() -> bool {
    std::env::var("MMAPFILE_BENCH_BIG").is_ok_and(|v| v.trim() == "1")
}

/// The benchmarks' `Criterion`: without the HTML plots (they cost seconds
/// per benchmark on a small machine; `MMAPFILE_BENCH_PLOTS=1` keeps them) and
/// with fewer bootstrap resamples, then the command line's options.
pub fn criterion() -> criterion::Criterion {
    let c = criterion::Criterion::default().nresamples(20_000);
    let c = if std::env::var_os("MMAPFILE_BENCH_PLOTS").is_some_and(|v| v == "1") {
        c
    } else {
        c.without_plots()
    };
    c.configure_from_args()
}

/// `64B`, `4KiB`, `128MiB`, `1GiB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= MIB && b % MIB == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// xorshift64: a fixed-seed pseudo-random sequence, no `rand` needed.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`), by multiply and shift (Lemire's
    /// reduction; its bias is irrelevant here). Not `%`: a 64-bit
    /// division by a runtime `n` takes 20 to 90 cycles, which in the
    /// random-read loops is a third of what each read is timed at.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Writes `len` pseudo-random bytes to `out`, calling `progress` with the
/// bytes written so far after every MiB.
pub fn fill_binary<W: Write>(
    out: &mut W,
    len: u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let mut rng = XorShift::new(SEED);
    let mut chunk = vec![0u8; MIB as usize];
    let mut done = 0;
    while done < len {
        for word in chunk.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let n = (len - done).min(MIB) as usize;
        out.write_all(&chunk[..n])?;
        done += n as u64;
        progress(done);
    }
    Ok(())
}

/// Longest line of the text files, newline included.
const MAX_LINE: u64 = 240;

/// Writes exactly `len` bytes of text to `out`: lines of 1 to 240 bytes
/// (newline included), lengths drawn at random, ending with a newline.
/// Returns the number of lines. Calls `progress` with the bytes written so far
/// about every MiB.
pub fn fill_text<W: Write>(
    out: &mut W,
    len: u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789,;:.";
    let mut rng = XorShift::new(SEED);
    let pool: Vec<u8> = (0..64 << 10)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect();
    let mut line = Vec::with_capacity(MAX_LINE as usize);
    let (mut done, mut lines, mut reported) = (0u64, 0u64, 0u64);
    while done < len {
        let left = len - done;
        // The last line takes whatever is left.
        let n = if left <= MAX_LINE {
            left
        } else {
            1 + rng.below(MAX_LINE)
        };
        let start = rng.below(pool.len() as u64 - MAX_LINE) as usize;
        line.clear();
        line.extend_from_slice(&pool[start..start + n as usize - 1]);
        line.push(b'\n');
        out.write_all(&line)?;
        done += n;
        lines += 1;
        if done - reported >= MIB || done == len {
            reported = done;
            progress(done);
        }
    }
    Ok(lines)
}

/// Creates `path` (truncating it) with `fill`, and flushes it to disk so that
/// background writeback does not disturb the measurements that follow. The
/// file stays in the page cache.
pub fn create_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    let mut out = io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let result = fill(&mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(result)
}

/// A temporary directory holding the benchmark files, removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> io::Result<Scratch> {
        Ok(Scratch {
            dir: tempfile::Builder::new()
                .prefix("mmapfile-bench")
                .tempdir()?,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file of `len` pseudo-random bytes, in the page cache.
    pub fn binary(&self, name: &str, len: u64) -> io::Result<PathBuf> {
        let path = self.path(name);
        create_with(&path, |out| fill_binary(out, len, &mut |_| {}))?;
        Ok(path)
    }

    /// A text file of `len` bytes, in the page cache, and its line count.
    pub fn text(&self, name: &str, len: u64) -> io::Result<(PathBuf, u64)> {
        let path = self.path(name);
        let lines = create_with(&path, |out| fill_text(out, len, &mut |_| {}))?;
        Ok((path, lines))
    }
}

/// Counts lines with `read_until` and one reused buffer: a parser's loop.
pub fn count_lines_read_until<R: BufRead>(mut reader: R) -> io::Result<u64> {
    let mut line = Vec::with_capacity(256);
    let mut lines = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(lines);
        }
        lines += 1;
    }
}

/// Counts lines with `BufRead::split`, which allocates one `Vec` per line.
pub fn count_lines_split<R: BufRead>(reader: R) -> io::Result<u64> {
    let mut lines = 0;
    for line in reader.split(b'\n') {
        line?;
        lines += 1;
    }
    Ok(lines)
}

/// Counts lines of bytes in memory with one `memchr` per line, as
/// `mmapfile::View::lines` does: the ceiling for a zero-copy scan.
pub fn count_lines_slice(mut bytes: &[u8]) -> u64 {
    let mut lines = 0;
    while !bytes.is_empty() {
        lines += 1;
        bytes = match memchr::memchr(b'\n', bytes) {
            Some(i) => &bytes[i + 1..],
            None => &[],
        };
    }
    lines
}

/// The contenders for reading one file, each opened on its own.
pub struct Readers {
    pub mmapfile: MmapFile,
    pub file: File,
    /// The ceiling: a plain read-only `memmap2` map, copied with
    /// `copy_from_slice`.
    pub memmap2: memmap2::Mmap,
    /// The closest peer.
    pub fmmap: fmmap::MmapFile,
    pub len: u64,
}

impl Readers {
    pub fn open(path: &Path) -> io::Result<Readers> {
        let mmapfile = MmapFile::open(path)?;
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        // SAFETY: the benchmark owns the file: nothing writes or truncates it
        // while it is mapped.
        let memmap2 = unsafe { memmap2::Mmap::map(&File::open(path)?)? };
        // SAFETY: as above.
        let fmmap = unsafe { fmmap::MmapFile::open(path)? };
        assert!(mmapfile.is_mapped(), "MmapFile fell back to system calls");
        assert_eq!(mmapfile.len()?, len);
        assert_eq!(memmap2.len() as u64, len);
        assert_eq!(fmmap::MmapFileExt::len(&fmmap) as u64, len);
        Ok(Readers {
            mmapfile,
            file,
            memmap2,
            fmmap,
            len,
        })
    }
}

/// Unix's positional `FileExt` methods the benchmarks and the demo call,
/// on Windows: `seek_read` and `seek_write`, which also move the cursor
/// (nothing here uses it).
#[cfg(windows)]
pub trait FileExt: std::os::windows::fs::FileExt {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.seek_read(buf, offset)
    }

    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.seek_read(buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.seek_write(buf, offset)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

#[cfg(windows)]
impl<T: std::os::windows::fs::FileExt + ?Sized> FileExt for T {}

/// What `MmapFile::write_to` writes into: something with a descriptor on
/// Unix (for `sendfile`), any writer on Windows.
#[cfg(unix)]
pub trait Target: std::os::fd::AsFd {}
#[cfg(unix)]
impl<T: std::os::fd::AsFd + ?Sized> Target for T {}
#[cfg(windows)]
pub trait Target {}
#[cfg(windows)]
impl<T: ?Sized> Target for T {}

/// A stream whose writing half can be shut down, so the reader sees EOF.
pub trait Stream: Write + Target + Send + 'static {
    fn shutdown_write(&self) -> io::Result<()>;
}

#[cfg(unix)]
impl Stream for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Stream for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// The writing end of a connected socket whose other end a thread drains
/// into a sink buffer, counting the bytes.
pub struct Sink<S: Stream> {
    tx: S,
    received: Arc<AtomicU64>,
    sent: u64,
    drain: Option<JoinHandle<io::Result<()>>>,
}

/// A `UnixStream::pair` with a draining thread on one end; with
/// `send_buffer`, the writing end's `SO_SNDBUF` asks for that many bytes
/// (the kernel doubles it, up to `net.core.wmem_max`).
#[cfg(unix)]
pub fn unix_sink(send_buffer: Option<usize>) -> io::Result<Sink<UnixStream>> {
    let (tx, rx) = UnixStream::pair()?;
    if let Some(size) = send_buffer {
        rustix::net::sockopt::set_socket_send_buffer_size(&tx, size)?;
    }
    Ok(Sink::new(tx, rx))
}

/// A loopback TCP connection (127.0.0.1, ephemeral port) with a draining
/// thread on the accepted end.
pub fn tcp_sink() -> io::Result<Sink<TcpStream>> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let tx = TcpStream::connect(listener.local_addr()?)?;
    let (rx, _) = listener.accept()?;
    Ok(Sink::new(tx, rx))
}

impl<S: Stream> Sink<S> {
    fn new<R: Read + Send + 'static>(tx: S, mut rx: R) -> Self {
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let drain = std::thread::spawn(move || -> io::Result<()> {
            let mut sink = vec![0u8; 256 << 10];
            loop {
                match rx.read(&mut sink) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        counter.fetch_add(n as u64, Ordering::Release);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        });
        Sink {
            tx,
            received,
            sent: 0,
            drain: Some(drain),
        }
    }

    /// The socket to write into.
    pub fn stream(&mut self) -> &mut S {
        &mut self.tx
    }

    /// Waits until the reader has received the `n` bytes just written, so a
    /// measurement ends when the bytes have arrived.
    pub fn wait_for(&mut self, n: u64) -> io::Result<()> {
        self.sent += n;
        while self.received.load(Ordering::Acquire) < self.sent {
            if self.drain.as_ref().is_none_or(|t| t.is_finished()) {
                return Err(io::Error::other("the socket reader stopped early"));
            }
            std::thread::yield_now();
        }
        Ok(())
    }

    /// Shuts the socket down and joins the reader.
    pub fn close(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        let Some(drain) = self.drain.take() else {
            return Ok(());
        };
        self.tx.shutdown_write()?;
        drain
            .join()
            .map_err(|_| io::Error::other("the socket reader panicked"))?
    }
}

impl<S: Stream> Drop for Sink<S> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
