//! Sequential `Read` of a whole file with the contenders interleaved:
//! `MmapFile`, `File`, and the copy out of a plain `memmap2` map (the
//! ceiling) each read the file once per round through the same buffer, 20
//! rounds, and each one's best round counts. On a shared, noisy machine
//! this compares them more fairly than criterion, which runs one contender
//! after another.
//!
//! ```text
//! cargo run --release --example sequential_reads                # 128 MiB file
//! cargo run --release --example sequential_reads -- 512         # 512 MiB
//! ```

mod common;

use std::fs::File;
use std::io::{self, Read, Seek};
use std::time::Instant;

use mmapfile::MmapFile;

const ROUNDS: usize = 20;
const MIB: u64 = 1 << 20;

/// Reads `reader` from its start to its end through `buf`; returns the bytes.
fn read_all(reader: &mut (impl Read + Seek), buf: &mut [u8]) -> io::Result<u64> {
    reader.rewind()?;
    let mut total = 0;
    loop {
        match reader.read(buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

fn main() -> io::Result<()> {
    let (_dir, path, size_mb) = common::data_file("sequential_reads.bin")?;
    let len = size_mb * MIB;

    let mut mmapfile = MmapFile::open(&path)?;
    let mut file = File::open(&path)?;
    // SAFETY: the file lives in our own temporary directory; nothing else
    // changes it while it is mapped.
    let memmap2 = unsafe { memmap2::Mmap::map(&file)? };

    println!("{size_mb} MiB file, best of {ROUNDS} interleaved rounds");
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "buffer", "MmapFile", "File", "memmap2", "/File", "/memmap2"
    );
    for size in [8usize << 10, 64 << 10, 1 << 20] {
        let mut buf = vec![0u8; size];
        let mut best = [f64::MAX; 3];
        for _ in 0..ROUNDS {
            for (contender, best) in best.iter_mut().enumerate() {
                let start = Instant::now();
                let total = match contender {
                    0 => read_all(&mut mmapfile, &mut buf)?,
                    1 => read_all(&mut file, &mut buf)?,
                    _ => {
                        for chunk in memmap2.chunks(size) {
                            buf[..chunk.len()].copy_from_slice(chunk);
                            std::hint::black_box(&buf);
                        }
                        len
                    }
                };
                *best = best.min(start.elapsed().as_secs_f64());
                assert_eq!(total, len, "short read");
            }
        }
        let [mm, f, map] = best.map(|seconds| len as f64 / seconds / 1e9);
        println!(
            "{size:>8} {mm:>10.2} {f:>10.2} {map:>10.2} {:>8.2}x {:>8.2}x",
            mm / f,
            mm / map
        );
    }
    println!("(GB/s; the ratios are MmapFile's speed over each other's)");
    Ok(())
}
