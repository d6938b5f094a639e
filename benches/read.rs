//! Reading a page-cached file: random `read_at`, sequential `Read`,
//! `read_to_end`, line scanning, and `read_at` from several threads.
//!
//! Contenders in every group: `mmapfile` (this crate), `file`
//! (`std::fs::File`), `memmap2` (the ceiling: `copy_from_slice` out of a
//! plain map) and `fmmap` (the closest peer). File size: `MMAPFILE_BENCH_MB`
//! MiB (default 128). `random_read_at` also times `offsets_only`, its loop
//! without the reads. Last, `mmapfile_shared`: random `read_at` again once
//! a writer has the file open, so that the crate is in the Shared state.
//! And `open_read_close`: a small file opened, read whole and closed, each
//! iteration (`mmapfile` with the default `map_after`, `mmapfile_at_open`
//! with `map_after(0)`).

mod common;

use std::hint::black_box;
use std::io::{BufReader, Read, Seek, SeekFrom};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::time::Duration;

#[cfg(windows)]
use common::FileExt;
use common::{Readers, SEED, Scratch, XorShift, size_label};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use fmmap::MmapFileExt;
use mmapfile::MmapFile;

fn main() {
    let len = common::bench_file_len();
    let scratch = Scratch::new().expect("create a temporary directory");
    let data = scratch
        .binary("data.bin", len)
        .expect("generate the data file");
    let readers = Readers::open(&data).expect("open the data file");
    let (text, lines) = scratch
        .text("lines.txt", len)
        .expect("generate the text file");
    eprintln!(
        "read benches: {} data file, {} text file of {lines} lines",
        size_label(len),
        size_label(len)
    );

    check_same(&readers);

    let mut c = common::criterion();
    random_read_at(&mut c, &readers);
    sequential_read(&mut c, &readers);
    read_to_end(&mut c, &readers);
    line_scan(&mut c, &text, lines);
    threaded_read_at(&mut c, &readers);
    open_read_close(&mut c, &scratch);
    // Last: a writer's open ends the read lease for good.
    random_read_at_shared(&mut c, &readers, &data);
    c.final_summary();
}

/// `random_read_at` of `mmapfile` in the Shared state: with a writer's
/// description of the file open, reads probe for a shrink and check the
/// thread's signal mask (see the crate docs, "How it works").
fn random_read_at_shared(c: &mut Criterion, k: &Readers, path: &std::path::Path) {
    let _writer = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open a writer");
    random_sizes(c, k, |g, size, span| {
        bench_random(g, "mmapfile_shared", size, span, |buf, off| {
            k.mmapfile.read_at(buf, off).expect("MmapFile::read_at")
        });
    });
}

/// Every contender reads the same bytes at the same offsets.
fn check_same(k: &Readers) {
    let mut rng = XorShift::new(SEED);
    let (mut a, mut b, mut c) = (vec![0u8; 4096], vec![0u8; 4096], vec![0u8; 4096]);
    for _ in 0..1000 {
        let off = rng.below(k.len - 4096 + 1);
        assert_eq!(k.mmapfile.read_at(&mut a, off).expect("read_at"), 4096);
        assert_eq!(k.file.read_at(&mut b, off).expect("read_at"), 4096);
        assert_eq!(k.fmmap.read(&mut c, off as usize), 4096);
        let ceiling = &k.memmap2[off as usize..off as usize + 4096];
        assert!(
            a == ceiling && b == ceiling && c == ceiling,
            "contenders disagree at {off}"
        );
    }
}

/// Benchmarks `read(buf, offset)` at pseudo-random offsets; the same offsets
/// for every contender.
fn bench_random<F>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    size: usize,
    span: u64,
    read: F,
) where
    F: Fn(&mut [u8], u64) -> usize,
{
    let mut buf = vec![0u8; size];
    g.bench_function(BenchmarkId::new(name, size_label(size as u64)), |b| {
        let mut rng = XorShift::new(SEED);
        b.iter(|| {
            let n = read(&mut buf, rng.below(span));
            debug_assert_eq!(n, size);
            black_box(&buf);
        })
    });
}

/// Runs `each(group, size, span)` for each read size of the
/// `random_read_at` group.
fn random_sizes(
    c: &mut Criterion,
    k: &Readers,
    mut each: impl FnMut(&mut BenchmarkGroup<'_, WallTime>, usize, u64),
) {
    let mut g = c.benchmark_group("random_read_at");
    g.warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2));
    for size in [64usize, 4 << 10, 64 << 10] {
        g.throughput(Throughput::Bytes(size as u64));
        each(&mut g, size, k.len - size as u64 + 1);
    }
    g.finish();
}

fn random_read_at(c: &mut Criterion, k: &Readers) {
    random_sizes(c, k, |g, size, span| {
        // The loop's own cost, the offsets without the reads: what every
        // contender's figure includes.
        bench_random(g, "offsets_only", size, span, |buf, off| {
            black_box(off);
            buf.len()
        });
        bench_random(g, "mmapfile", size, span, |buf, off| {
            k.mmapfile.read_at(buf, off).expect("MmapFile::read_at")
        });
        bench_random(g, "file", size, span, |buf, off| {
            k.file.read_at(buf, off).expect("File::read_at")
        });
        bench_random(g, "memmap2", size, span, |buf, off| {
            let off = off as usize;
            buf.copy_from_slice(&k.memmap2[off..off + buf.len()]);
            buf.len()
        });
        bench_random(g, "fmmap", size, span, |buf, off| {
            k.fmmap.read(buf, off as usize)
        });
    });
}

/// Reads `r` to its end through `buf`; returns the bytes read.
fn drain<R: Read>(mut r: R, buf: &mut [u8]) -> u64 {
    let mut total = 0;
    loop {
        match r.read(buf).expect("read") {
            0 => return total,
            n => total += n as u64,
        }
        black_box(&buf);
    }
}

fn sequential_read(c: &mut Criterion, k: &Readers) {
    let mut g = c.benchmark_group("sequential_read");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Bytes(k.len));
    for size in [8usize << 10, 64 << 10] {
        let mut buf = vec![0u8; size];
        let label = size_label(size as u64);
        g.bench_function(BenchmarkId::new("mmapfile", &label), |b| {
            b.iter(|| {
                let mut f: &MmapFile = &k.mmapfile;
                f.seek(SeekFrom::Start(0)).expect("rewind");
                assert_eq!(drain(f, &mut buf), k.len);
            })
        });
        g.bench_function(BenchmarkId::new("file", &label), |b| {
            b.iter(|| {
                let mut f = &k.file;
                f.seek(SeekFrom::Start(0)).expect("rewind");
                assert_eq!(drain(f, &mut buf), k.len);
            })
        });
        g.bench_function(BenchmarkId::new("memmap2", &label), |b| {
            b.iter(|| {
                let mut total = 0;
                for chunk in k.memmap2.chunks(size) {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    black_box(&buf);
                    total += chunk.len() as u64;
                }
                assert_eq!(total, k.len);
            })
        });
        g.bench_function(BenchmarkId::new("fmmap", &label), |b| {
            b.iter(|| {
                let r = k.fmmap.reader(0).expect("fmmap reader");
                assert_eq!(drain(r, &mut buf), k.len);
            })
        });
    }
    g.finish();
}

fn read_to_end(c: &mut Criterion, k: &Readers) {
    let mut g = c.benchmark_group("read_to_end");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Bytes(k.len));
    // The 128 MiB vectors are freed outside the timing (`iter_with_large_drop`).
    g.bench_function("mmapfile", |b| {
        b.iter_with_large_drop(|| {
            let mut f: &MmapFile = &k.mmapfile;
            f.seek(SeekFrom::Start(0)).expect("rewind");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("MmapFile::read_to_end");
            assert_eq!(v.len() as u64, k.len);
            v
        })
    });
    g.bench_function("file", |b| {
        b.iter_with_large_drop(|| {
            let mut f = &k.file;
            f.seek(SeekFrom::Start(0)).expect("rewind");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("File::read_to_end");
            assert_eq!(v.len() as u64, k.len);
            v
        })
    });
    g.bench_function("memmap2", |b| b.iter_with_large_drop(|| k.memmap2.to_vec()));
    g.bench_function("fmmap", |b| {
        b.iter_with_large_drop(|| {
            let mut v = Vec::new();
            let mut r = k.fmmap.reader(0).expect("fmmap reader");
            r.read_to_end(&mut v).expect("fmmap read_to_end");
            assert_eq!(v.len() as u64, k.len);
            v
        })
    });
    g.finish();
}

/// Opens a file of each size, reads it whole into a reused vector, closes
/// it: a parser's or a config loader's whole use of a file.
fn open_read_close(c: &mut Criterion, scratch: &Scratch) {
    let mut g = c.benchmark_group("open_read_close");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for len in [100u64, 4 << 10, 64 << 10, 1 << 20] {
        let label = size_label(len);
        let path = scratch
            .binary(&format!("small-{len}.bin"), len)
            .expect("generate a small file");
        g.throughput(Throughput::Bytes(len));
        let mut v = Vec::with_capacity(len as usize + 64);
        let mut whole =
            |g: &mut BenchmarkGroup<'_, WallTime>, name: &str, read: &dyn Fn(&mut Vec<u8>)| {
                g.bench_function(BenchmarkId::new(name, &label), |b| {
                    b.iter(|| {
                        v.clear();
                        read(&mut v);
                        assert_eq!(v.len() as u64, len);
                    })
                });
            };
        whole(&mut g, "file", &|v| {
            std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(v))
                .expect("File::read_to_end");
        });
        whole(&mut g, "mmapfile", &|v| {
            MmapFile::open(&path)
                .and_then(|mut f| f.read_to_end(v))
                .expect("MmapFile::read_to_end");
        });
        whole(&mut g, "mmapfile_at_open", &|v| {
            MmapFile::options()
                .read(true)
                .map_after(0)
                .open(&path)
                .and_then(|mut f| f.read_to_end(v))
                .expect("MmapFile::read_to_end");
        });
        whole(&mut g, "memmap2", &|v| {
            let f = std::fs::File::open(&path).expect("File::open");
            // SAFETY: the benchmark owns the file: nothing writes or
            // truncates it while it is mapped.
            let map = unsafe { memmap2::Mmap::map(&f) }.expect("memmap2 map");
            v.extend_from_slice(&map);
        });
    }
    g.finish();
}

fn line_scan(c: &mut Criterion, path: &std::path::Path, lines: u64) {
    use common::{count_lines_read_until, count_lines_slice, count_lines_split};

    let k = Readers::open(path).expect("open the text file");
    let mut g = c.benchmark_group("lines");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Bytes(k.len));

    // `BufReader<MmapFile>` and `BufReader<File>`, built once and rewound
    // (which empties their buffer) before each pass.
    let mut mmap_reader = BufReader::new(MmapFile::open(path).expect("open"));
    let mut file_reader = BufReader::new(std::fs::File::open(path).expect("open"));
    macro_rules! bufread {
        ($reader:expr, $count:path) => {
            |b: &mut criterion::Bencher<'_>| {
                b.iter(|| {
                    $reader.seek(SeekFrom::Start(0)).expect("rewind");
                    assert_eq!($count(&mut $reader).expect("scan"), lines);
                })
            }
        };
    }
    g.bench_function(
        "mmapfile/bufreader_read_until",
        bufread!(mmap_reader, count_lines_read_until),
    );
    g.bench_function(
        "mmapfile/bufreader_split",
        bufread!(mmap_reader, count_lines_split),
    );
    g.bench_function("mmapfile/view_lines", |b| {
        b.iter(|| {
            // SAFETY: the benchmark owns the file; no other process or
            // handle writes or truncates it while the view lives.
            let view = unsafe { k.mmapfile.view(0, k.len as usize) }.expect("MmapFile::view");
            assert_eq!(view.lines().count() as u64, lines);
        })
    });
    g.bench_function(
        "file/bufreader_read_until",
        bufread!(file_reader, count_lines_read_until),
    );
    g.bench_function(
        "file/bufreader_split",
        bufread!(file_reader, count_lines_split),
    );
    g.bench_function("memmap2/memchr", |b| {
        b.iter(|| assert_eq!(count_lines_slice(&k.memmap2), lines))
    });
    g.bench_function("fmmap/reader_read_until", |b| {
        b.iter(|| {
            let r = k.fmmap.reader(0).expect("fmmap reader");
            assert_eq!(count_lines_read_until(r).expect("scan"), lines);
        })
    });
    g.finish();
}

/// `total` 4 KiB reads at pseudo-random offsets, split across `threads`
/// scoped threads (spawned inside the measurement).
fn parallel_reads<F>(threads: u64, total: u64, span: u64, read: &F)
where
    F: Fn(&mut [u8], u64) -> usize + Sync,
{
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut rng = XorShift::new(SEED ^ (t + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let mut buf = vec![0u8; 4096];
                for _ in 0..total / threads {
                    let n = read(&mut buf, rng.below(span));
                    debug_assert_eq!(n, buf.len());
                    black_box(&buf);
                }
            });
        }
    });
}

fn threaded_read_at(c: &mut Criterion, k: &Readers) {
    const TOTAL: u64 = 16 << 10; // 16 Ki reads of 4 KiB: 64 MiB per iteration
    let mut g = c.benchmark_group("read_at_threads");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Bytes(TOTAL * 4096));
    let span = k.len - 4096 + 1;
    fn bench<F: Fn(&mut [u8], u64) -> usize + Sync>(
        g: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        span: u64,
        read: F,
    ) {
        for threads in [1u64, 2] {
            g.bench_function(BenchmarkId::new(name, format!("{threads}_threads")), |b| {
                b.iter(|| parallel_reads(threads, TOTAL, span, &read))
            });
        }
    }
    bench(&mut g, "mmapfile", span, |buf, off| {
        k.mmapfile.read_at(buf, off).expect("MmapFile::read_at")
    });
    bench(&mut g, "file", span, |buf, off| {
        k.file.read_at(buf, off).expect("File::read_at")
    });
    bench(&mut g, "memmap2", span, |buf, off| {
        let off = off as usize;
        buf.copy_from_slice(&k.memmap2[off..off + buf.len()]);
        buf.len()
    });
    bench(&mut g, "fmmap", span, |buf, off| {
        k.fmmap.read(buf, off as usize)
    });
    g.finish();
}
