//! Random `read_at` with the contenders interleaved: `MmapFile`, the copy
//! out of a plain `memmap2` map (the ceiling), `fmmap` (the closest peer)
//! and `File` each take a round in turn, 30 rounds, and each one's best
//! round counts. On a shared, noisy
//! machine this compares them more fairly than criterion, which runs one
//! contender after another.
//!
//! The row marked `dep` makes each 64-byte read's offset depend on the
//! bytes the read before it returned, as a lookup in a tree on disk does:
//! the processor can then overlap no two reads' cache misses, and the row
//! shows what one read costs. In the other rows the next offset is known
//! ahead, and a shorter loop (the inlined copy out of a map) keeps more
//! misses in flight at once.
//!
//! ```text
//! cargo run --release --example random_reads            # 128 MiB file
//! cargo run --release --example random_reads -- 512     # 512 MiB
//! ```

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io;
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::time::Instant;

#[cfg(windows)]
use common::FileExt;
use common::Offsets;
use fmmap::MmapFileExt;
use mmapfile::MmapFile;

const ROUNDS: usize = 30;
const MIB: u64 = 1 << 20;

fn main() -> io::Result<()> {
    let (_dir, path, size_mb) = common::data_file("random_reads.bin")?;
    let len = size_mb * MIB;

    let mmapfile = MmapFile::open(&path)?;
    let file = File::open(&path)?;
    // SAFETY: the file lives in our own temporary directory; nothing else
    // changes it while it is mapped.
    let memmap2 = unsafe { memmap2::Mmap::map(&file)? };
    // SAFETY: as above.
    let fmmap = unsafe { fmmap::MmapFile::open(&path) }.map_err(io::Error::other)?;

    println!("{size_mb} MiB file, best of {ROUNDS} interleaved rounds");
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "size", "MmapFile", "memmap2", "fmmap", "File", "/memmap2", "/fmmap", "/File"
    );
    for (size, dependent) in [
        (64usize, false),
        (64, true),
        (4 << 10, false),
        (64 << 10, false),
    ] {
        let reads = if size >= 64 << 10 { 20_000 } else { 300_000 };
        let span = len - size as u64 + 1;
        let mut buf = vec![0u8; size];
        let mut best = [f64::MAX; 4];
        for round in 0..ROUNDS {
            for (contender, best) in best.iter_mut().enumerate() {
                // `File` is slow and steady: a few rounds suffice.
                if contender == 3 && round % 5 != 0 {
                    continue;
                }
                let mut offsets = Offsets(0x9e37_79b9_7f4a_7c15);
                let start = Instant::now();
                for _ in 0..reads {
                    let mut offset = offsets.next_below(span);
                    if dependent {
                        let read: [u8; 8] = buf[..8].try_into().expect("8 bytes");
                        offset = (offset ^ u64::from_le_bytes(read)) % span;
                    }
                    let n = match contender {
                        0 => mmapfile.read_at(&mut buf, offset)?,
                        1 => {
                            let at = offset as usize;
                            buf.copy_from_slice(&memmap2[at..at + size]);
                            size
                        }
                        2 => fmmap.read(&mut buf, offset as usize),
                        _ => file.read_at(&mut buf, offset)?,
                    };
                    assert_eq!(n, size, "short read");
                    black_box(&buf);
                }
                *best = best.min(start.elapsed().as_nanos() as f64 / reads as f64);
            }
        }
        let [mm, map, fm, f] = best;
        let label = if dependent {
            format!("{size} dep")
        } else {
            size.to_string()
        };
        println!(
            "{label:>8} {mm:>10.1} {map:>10.1} {fm:>10.1} {f:>10.1} {:>8.2}x {:>8.2}x {:>8.1}x",
            map / mm,
            fm / mm,
            f / mm
        );
    }
    println!("(ns per read_at; the ratios are MmapFile's speed over each other's)");
    Ok(())
}
