//! Races `std::fs::File` against `mmapfile::MmapFile` on the three workloads
//! the crate is for:
//!
//! - (a) a parser reading sequentially: `BufReader` counting lines, and
//!   `read` with a 64 KiB buffer (plus the zero-copy `View`);
//! - (b) copying the file into a Unix socket (a TCP one on Windows):
//!   `io::copy(File)` against `MmapFile::write_to`;
//! - (c) a storage engine: random 4 KiB `read_at` from two threads while a
//!   third appends to the same file.
//!
//! ```sh
//! cargo run --release --example demo                     # 256 MiB file in the temp dir
//! cargo run --release --example demo -- --size-mb 1024   # a bigger file
//! cargo run --release --example demo -- --path data.txt # keep (or reuse) the file
//! ```
//!
//! Each measurement is the best of three runs, File and MmapFile taking turns,
//! so a noisy machine disturbs both alike.

// File generation, the random sequence and the socket sink are shared with the
// benchmarks.
#[path = "../benches/common/mod.rs"]
mod common;

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[cfg(windows)]
use common::FileExt;
use common::{MIB, SEED, XorShift};
use mmapfile::MmapFile;

const USAGE: &str = "\
usage: cargo run --release --example demo -- [--size-mb N] [--path P]

  --size-mb N   size of the generated file in MiB (default 256)
  --path P      generate the file at P and keep it; if P exists it is used
                as is (workload (c) appends to it and cuts it back after)";

/// Runs per measurement; the best one counts.
const RUNS: usize = 3;
/// Random reads per reader thread in workload (c).
const READS_PER_THREAD: u64 = 100_000;

struct Args {
    size_mb: u64,
    path: Option<PathBuf>,
}

fn parse_args() -> io::Result<Option<Args>> {
    // `main` returns the error (printed with `Debug`): show the usage here.
    let bad = |msg: String| {
        eprintln!("{USAGE}\n");
        io::Error::new(io::ErrorKind::InvalidInput, msg)
    };
    let mut args = Args {
        size_mb: 256,
        path: None,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_string_lossy().into_owned();
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || -> io::Result<std::ffi::OsString> {
            match &inline {
                Some(v) => Ok(v.into()),
                None => it
                    .next()
                    .ok_or_else(|| bad(format!("{flag} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--size-mb" => {
                let v = value()?;
                args.size_mb = v
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .filter(|&n: &u64| n > 0)
                    .ok_or_else(|| bad(format!("--size-mb: not a positive number: {v:?}")))?;
            }
            "--path" => args.path = Some(value()?.into()),
            _ => return Err(bad(format!("unknown argument {arg:?}"))),
        }
    }
    Ok(Some(args))
}

fn main() -> io::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let (path, keep) = match &args.path {
        Some(p) => (p.clone(), true),
        None => (
            std::env::temp_dir().join(format!("mmapfile-demo-{}.txt", std::process::id())),
            false,
        ),
    };

    let prepared = if keep && path.exists() {
        reuse(&path)
    } else {
        match args.size_mb.checked_mul(MIB) {
            Some(len) => generate(&path, len),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--size-mb: too large",
            )),
        }
    };
    let result = prepared.and_then(|(len, lines)| run_races(&path, len, lines));
    if !keep {
        // The generated file goes whatever happened; report the first error.
        let removed = std::fs::remove_file(&path);
        result?;
        removed?;
        println!("\nremoved {}", path.display());
    } else {
        result?;
        println!("\nkept {}", path.display());
    }
    Ok(())
}

/// Writes a text file of `len` bytes, showing progress, and flushes it to
/// disk so that writeback does not disturb the races. Returns its length and
/// line count.
///
/// The file stands for data written by someone else, so it is written the
/// ordinary way (`BufWriter<File>`): a file written through a mapping is
/// cached in 4 KiB pages, which makes every later reader of it slower, `File`
/// and `MmapFile` alike (see the benchmarks' `append` and `growth` groups for
/// writing with `MmapFile`).
fn generate(path: &Path, len: u64) -> io::Result<(u64, u64)> {
    let total_mib = len / MIB;
    let start = Instant::now();
    let mut shown = 0;
    let mut stdout = io::stdout();
    let lines = common::create_with(path, |out| {
        common::fill_text(out, len, &mut |done| {
            let mib = done / MIB;
            if mib >= shown + 8 || done == len {
                shown = mib;
                // Progress is best effort: a closed stdout must not stop the
                // demo.
                let _ = write!(
                    stdout,
                    "\rgenerating {}: {mib:>5} / {total_mib} MiB",
                    path.display()
                );
                let _ = stdout.flush();
            }
        })
    })?;
    println!(
        "\rgenerated {}: {total_mib} MiB, {lines} lines, written and synced in {:.2} s",
        path.display(),
        start.elapsed().as_secs_f64(),
    );
    Ok((len, lines))
}

/// Uses an existing file as is; counting its lines also pulls it into the page
/// cache.
fn reuse(path: &Path) -> io::Result<(u64, u64)> {
    let len = std::fs::metadata(path)?.len();
    if len < 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is too small (under 4 KiB)", path.display()),
        ));
    }
    let lines = common::count_lines_read_until(BufReader::new(File::open(path)?))?;
    println!(
        "using existing {}: {} MiB, {lines} lines",
        path.display(),
        len / MIB
    );
    Ok((len, lines))
}

/// Which side of a race runs.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    File,
    MmapFile,
}

/// The best of [`RUNS`] timings of `run` for each side, File and MmapFile
/// taking turns. Each run returns what it saw (bytes, lines, reads), which
/// must be `expect`.
fn best_of(
    expect: u64,
    mut run: impl FnMut(Side) -> io::Result<u64>,
) -> io::Result<(Duration, Duration)> {
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        for side in [Side::File, Side::MmapFile] {
            let start = Instant::now();
            let got = run(side)?;
            let elapsed = start.elapsed();
            if got != expect {
                return Err(io::Error::other(format!(
                    "wrong result: expected {expect}, got {got}"
                )));
            }
            let slot = match side {
                Side::File => &mut best.0,
                Side::MmapFile => &mut best.1,
            };
            *slot = (*slot).min(elapsed);
        }
    }
    Ok(best)
}

/// Reads `r` to its end with a 64 KiB buffer; returns the bytes read.
fn read_all(mut r: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

struct Row {
    workload: &'static str,
    file: f64,
    mmap: f64,
    unit: &'static str,
}

fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

fn race_all(path: &Path, len: u64, lines: u64) -> io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut bytes_row = |workload, (file, mmap): (Duration, Duration)| {
        rows.push(Row {
            workload,
            file: mb_per_s(len, file),
            mmap: mb_per_s(len, mmap),
            unit: "MB/s",
        })
    };

    println!("(a) parser-style sequential reads");
    let t = best_of(lines, |side| match side {
        Side::File => common::count_lines_read_until(BufReader::new(File::open(path)?)),
        Side::MmapFile => common::count_lines_read_until(BufReader::new(MmapFile::open(path)?)),
    })?;
    bytes_row("(a) BufReader::read_until, count lines", t);
    let t = best_of(len, |side| match side {
        Side::File => read_all(File::open(path)?),
        Side::MmapFile => read_all(MmapFile::open(path)?),
    })?;
    bytes_row("(a) read, 64 KiB buffer", t);
    let t = best_of(lines, |side| match side {
        Side::File => common::count_lines_read_until(BufReader::new(File::open(path)?)),
        Side::MmapFile => {
            let file = MmapFile::open(path)?;
            // SAFETY: the demo owns the file; nothing else writes or
            // truncates it while the view lives.
            let view = unsafe { file.view(0, len as usize)? };
            Ok(view.lines().count() as u64)
        }
    })?;
    bytes_row("(a) count lines, MmapFile::view (zero-copy)", t);

    #[cfg(unix)]
    let (socket, mut sink) = ("a Unix socket", common::unix_sink(None)?);
    #[cfg(windows)]
    let (socket, mut sink) = ("a TCP socket", common::tcp_sink()?);
    println!("(b) copy into {socket}");
    let t = best_of(len, |side| {
        let sent = match side {
            Side::File => io::copy(&mut File::open(path)?, sink.stream())?,
            Side::MmapFile => MmapFile::open(path)?.write_to(sink.stream())?,
        };
        // The copy is done when the reader has every byte.
        sink.wait_for(sent)?;
        Ok(sent)
    })?;
    bytes_row("(b) io::copy(File) vs MmapFile::write_to", t);
    sink.close()?;

    println!("(c) 2 threads read_at 4 KiB while a third appends");
    let mut appended = [0u64; 2];
    let reads = 2 * READS_PER_THREAD;
    let t = best_of(reads, |side| {
        // Each side appends through its own handle, and cuts the file back
        // to its length afterwards.
        let (n, records) = match side {
            Side::File => {
                let f = OpenOptions::new().read(true).append(true).open(path)?;
                let result = storage_engine(&f, len);
                f.set_len(len)?;
                result?
            }
            Side::MmapFile => {
                let f = MmapFile::options().read(true).append(true).open(path)?;
                let result = storage_engine(&f, len);
                f.set_len(len)?;
                result?
            }
        };
        let slot = &mut appended[(side == Side::MmapFile) as usize];
        *slot = (*slot).max(records);
        Ok(n)
    })?;
    rows.push(Row {
        workload: "(c) 2 x read_at 4 KiB + 1 appender",
        file: reads as f64 / t.0.as_secs_f64(),
        mmap: reads as f64 / t.1.as_secs_f64(),
        unit: "op/s",
    });
    println!(
        "    (the appender added up to {} 4 KiB records per run with File, {} with MmapFile)",
        appended[0], appended[1]
    );
    Ok(rows)
}

/// Two threads make [`READS_PER_THREAD`] random 4 KiB `read_at`s each in the
/// first `len` bytes while a third appends 4 KiB records, one every 100 µs,
/// through the same handle. Returns the reads made and the records appended.
fn storage_engine<T>(file: &T, len: u64) -> io::Result<(u64, u64)>
where
    T: FileExt + Sync,
    for<'a> &'a T: Write,
{
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let appender = s.spawn(|| -> io::Result<u64> {
            let mut record = [b'+'; 4096];
            record[4095] = b'\n';
            let mut appended = 0;
            while !done.load(Ordering::Relaxed) {
                let mut w = file;
                w.write_all(&record)?;
                appended += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            Ok(appended)
        });
        let readers: Vec<_> = (0..2u64)
            .map(|t| {
                s.spawn(move || -> io::Result<u64> {
                    let mut rng = XorShift::new(SEED ^ (t + 1));
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..READS_PER_THREAD {
                        file.read_exact_at(&mut buf, rng.below(len - 4096 + 1))?;
                    }
                    Ok(READS_PER_THREAD)
                })
            })
            .collect();
        let mut reads = Ok(0);
        for r in readers {
            let n = r
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
            reads = reads.and_then(|total| n.map(|n| total + n));
        }
        // Stop the appender even if a reader failed, or the scope never ends.
        done.store(true, Ordering::Relaxed);
        let appended = appender
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("appender panicked")))?;
        Ok((reads?, appended))
    })
}

/// Runs every workload and prints the table.
fn run_races(path: &Path, len: u64, lines: u64) -> io::Result<()> {
    println!(
        "\nracing File against MmapFile, best of {RUNS} runs each, on {} MiB:",
        len / MIB
    );
    let rows = race_all(path, len, lines)?;
    println!();
    println!(
        "{:<46} {:>16} {:>16} {:>8}",
        "workload", "File", "MmapFile", "ratio"
    );
    println!("{}", "-".repeat(46 + 16 + 16 + 8 + 3));
    for r in &rows {
        println!(
            "{:<46} {:>11.0} {:<4} {:>11.0} {:<4} {:>7.2}x",
            r.workload,
            r.file,
            r.unit,
            r.mmap,
            r.unit,
            r.mmap / r.file
        );
    }
    println!(
        "\nratio = MmapFile / File throughput; the zero-copy row compares MmapFile::view\n\
         with the BufReader<File> line count above it."
    );
    Ok(())
}
