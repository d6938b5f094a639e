//! Writing: appends of small records to a fresh file, the cost per byte of
//! growing a file to 4 MiB and to 256 MiB (1 GiB with `MMAPFILE_BENCH_BIG=1`),
//! and durable 4 KiB writes (`sync_data` after each).
//!
//! Contenders: `mmapfile` (this crate, the only handle of its file),
//! `mmapfile_shared` (the same with another description of the file open,
//! so that it is in the Shared state), `file` (`std::fs::File`), and where
//! it applies `bufwriter` (`BufWriter<File>`), `bufwriter_mmapfile`
//! (`BufWriter<MmapFile>`, appends only), `mmapfile_background` and
//! `bufwriter_mmapfile_background` (the same with `background_growth`) and
//! `fmmap`. `memmap2` and `fmmap`
//! cannot append to a file (a map does not grow), so they sit out the append
//! and growth groups.

mod common;

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{self, BufWriter, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

#[cfg(windows)]
use common::FileExt;
use common::{MIB, Scratch, size_label};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use fmmap::{MmapFileExt, MmapFileMutExt};
use mmapfile::MmapFile;

fn main() {
    let scratch = Scratch::new().expect("create a temporary directory");
    let mut c = common::criterion();
    appends(&mut c, &scratch);
    growth(&mut c, &scratch);
    durable(&mut c, &scratch);
    c.final_summary();
}

fn remove(path: &Path) {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => panic!("remove {path:?}: {e}"),
        _ => {}
    }
}

/// Runs `work` on `iters` fresh files: each is created (empty) by `open`
/// before the timer starts and dropped and removed after it stops. Returns
/// the time spent in `work`.
fn on_fresh_files<W>(
    iters: u64,
    path: &Path,
    open: &dyn Fn(&Path) -> W,
    work: &mut dyn FnMut(&mut W),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        remove(path);
        let mut w = open(path);
        let start = Instant::now();
        work(&mut w);
        total += start.elapsed();
        drop(w);
    }
    remove(path);
    total
}

/// A log's open: read and append, created if missing.
fn open_log_mmapfile(path: &Path) -> MmapFile {
    open_log_with(path, false)
}

/// The same with `background_growth(true)`.
fn open_log_background(path: &Path) -> MmapFile {
    open_log_with(path, true)
}

fn open_log_with(path: &Path, background: bool) -> MmapFile {
    let f = MmapFile::options()
        .read(true)
        .append(true)
        .create(true)
        .background_growth(background)
        .open(path)
        .expect("open MmapFile");
    assert!(f.is_mapped(), "MmapFile fell back to system calls");
    f
}

fn open_log_file(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .expect("open File")
}

/// Appends `count` records of `record.len()` bytes with `write_all`.
fn append<W: Write>(w: &mut W, record: &[u8], count: u64) {
    for _ in 0..count {
        w.write_all(record).expect("write_all");
    }
    black_box(w);
}

/// Appends through a `BufWriter` (8 KiB) over what `open` opens, flushed
/// at the end.
fn buffered<W: Write>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    path: &Path,
    open: &dyn Fn(&Path) -> W,
    record: &[u8],
    count: u64,
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            on_fresh_files(iters, path, &|p| BufWriter::new(open(p)), &mut |w| {
                append(w, record, count);
                w.flush().expect("flush");
            })
        })
    });
}

fn appends(c: &mut Criterion, scratch: &Scratch) {
    // Each measured iteration appends 1 MiB of records to a fresh file.
    const PER_ITER: u64 = MIB;
    let mut g = c.benchmark_group("append");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .throughput(Throughput::Bytes(PER_ITER));
    let path = scratch.path("append.log");
    for size in [16u64, 256, 4096] {
        let record = vec![b'r'; size as usize];
        let count = PER_ITER / size;
        let label = size_label(size);
        for (name, open) in [
            ("mmapfile", &open_log_mmapfile as &dyn Fn(&Path) -> MmapFile),
            ("mmapfile_background", &open_log_background),
        ] {
            g.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter_custom(|iters| {
                    on_fresh_files(iters, &path, open, &mut |f| append(f, &record, count))
                })
            });
        }
        // The same with a second description of the file open (a reader):
        // no lease, so every append goes through the kernel.
        g.bench_function(BenchmarkId::new("mmapfile_shared", &label), |b| {
            b.iter_custom(|iters| {
                on_fresh_files(
                    iters,
                    &path,
                    &|p| {
                        let log = open_log_mmapfile(p);
                        (log, File::open(p).expect("open a reader"))
                    },
                    &mut |(f, _reader)| append(f, &record, count),
                )
            })
        });
        g.bench_function(BenchmarkId::new("file", &label), |b| {
            b.iter_custom(|iters| {
                on_fresh_files(iters, &path, &open_log_file, &mut |f| {
                    append(f, &record, count)
                })
            })
        });
        let id = BenchmarkId::new("bufwriter", &label);
        buffered(&mut g, id, &path, &open_log_file, &record, count);
        let id = BenchmarkId::new("bufwriter_mmapfile", &label);
        buffered(&mut g, id, &path, &open_log_mmapfile, &record, count);
        let id = BenchmarkId::new("bufwriter_mmapfile_background", &label);
        buffered(&mut g, id, &path, &open_log_background, &record, count);
    }
    g.finish();
}

fn growth(c: &mut Criterion, scratch: &Scratch) {
    let big = if common::bench_big() {
        1 << 30
    } else {
        256 * MIB
    };
    eprintln!(
        "growth: appending 4MiB and {} in 256 B writes{}",
        size_label(big),
        if big < 1 << 30 {
            " (MMAPFILE_BENCH_BIG=1 for 1GiB)"
        } else {
            ""
        }
    );
    let mut g = c.benchmark_group("growth");
    g.sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    let path = scratch.path("growth.log");
    let record = [b'g'; 256];
    for total in [4 * MIB, big] {
        g.throughput(Throughput::Bytes(total));
        let label = size_label(total);
        let count = total / record.len() as u64;
        for (name, open) in [
            ("mmapfile", &open_log_mmapfile as &dyn Fn(&Path) -> MmapFile),
            ("mmapfile_background", &open_log_background),
        ] {
            g.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter_custom(|iters| {
                    on_fresh_files(iters, &path, open, &mut |f| {
                        append(f, &record, count);
                        assert_eq!(f.len().expect("len"), total);
                    })
                })
            });
        }
        g.bench_function(BenchmarkId::new("file", &label), |b| {
            b.iter_custom(|iters| {
                on_fresh_files(iters, &path, &open_log_file, &mut |f| {
                    append(f, &record, count)
                })
            })
        });
    }
    g.finish();
}

/// What the durable benchmarks do, for `File` and `MmapFile` alike.
trait Durable: FileExt {
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    fn sync_data(&self) -> io::Result<()>;
}

impl Durable for File {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut w = self;
        w.write_all(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
}

impl Durable for MmapFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut w = self;
        w.write_all(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        MmapFile::sync_data(self)
    }
}

/// In-place overwrites cycle through the 4 KiB blocks of a 1 MiB file.
const BLOCKS: u64 = 256;

/// Appends a 4 KiB record, then `sync_data`.
fn bench_wal<F: Durable>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: &F) {
    let block = [b'w'; 4096];
    g.bench_function(name, |b| {
        b.iter(|| {
            f.append(&block).expect("append");
            f.sync_data().expect("sync_data");
        })
    });
}

/// Overwrites a 4 KiB block in place, then `sync_data`.
fn bench_overwrite<F: Durable>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: &F) {
    let block = [b'o'; 4096];
    let mut i = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            f.write_all_at(&block, (i % BLOCKS) * 4096)
                .expect("write_all_at");
            f.sync_data().expect("sync_data");
        })
    });
}

fn durable(c: &mut Criterion, scratch: &Scratch) {
    let mut g = c.benchmark_group("durable");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .throughput(Throughput::Bytes(4096));

    // Appending to a write-ahead log, each record made durable.
    bench_wal(
        &mut g,
        "wal_append/mmapfile",
        &open_log_mmapfile(&scratch.path("wal.mmapfile")),
    );
    // The same with `exact_len(true)`: no growth step ahead, so `sync_data`
    // has nothing to cut back.
    let exact = MmapFile::options()
        .read(true)
        .append(true)
        .create(true)
        .exact_len(true)
        .open(scratch.path("wal.mmapfile_exact"))
        .expect("open MmapFile");
    bench_wal(&mut g, "wal_append/mmapfile_exact_len", &exact);
    bench_wal(
        &mut g,
        "wal_append/file",
        &open_log_file(&scratch.path("wal.file")),
    );

    // Overwriting a block in place, in a file of its own for each contender.
    let prepared = |name: &str| {
        let path = scratch.path(name);
        common::create_with(&path, |out| {
            out.write_all(&vec![0u8; (BLOCKS * 4096) as usize])
        })
        .expect("create the file to overwrite");
        path
    };
    let open = |name| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(prepared(name))
            .expect("open File")
    };
    let mmapfile = MmapFile::try_from(open("inplace.mmapfile")).expect("MmapFile::try_from");
    bench_overwrite(&mut g, "overwrite/mmapfile", &mmapfile);
    bench_overwrite(&mut g, "overwrite/file", &open("inplace.file"));
    // fmmap's way: write into the map, then `msync` the range.
    // SAFETY: the benchmark owns the file: nothing else writes or truncates
    // it while it is mapped.
    let mut f =
        unsafe { fmmap::MmapFileMut::open_exist(prepared("inplace.fmmap")) }.expect("open fmmap");
    assert_eq!(f.len() as u64, BLOCKS * 4096);
    let block = [b'o'; 4096];
    let mut i = 0u64;
    g.bench_function("overwrite/fmmap", |b| {
        b.iter(|| {
            i += 1;
            let off = ((i % BLOCKS) * 4096) as usize;
            f.write_all(&block, off).expect("write_all");
            f.flush_range(off, block.len())
                .expect("flush_range (msync)");
        })
    });
    g.finish();
}
