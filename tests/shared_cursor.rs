//! The cursor: clones share one, as `File`'s `try_clone` does, and an
//! independent open has its own; concurrent cursor reads and writes through
//! one description each take a distinct range, as the kernel's `f_pos`
//! lock makes them do for `File`.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Barrier;
use std::thread;

use mmapfile::MmapFile;

mod common;
use common::assert_mapped;
use common::race::{Rng, SMALL_RESERVE};
use common::records::{app_record, check_app_records};
use common::twin::Twins;

#[test]
fn clones_share_the_cursor_like_file() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let t = Twins::new(&data);
    let (fp, mp) = (&t.file, &t.mmap);

    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fp)
        .unwrap();
    let mut fc = f.try_clone().unwrap();
    let mut fo = fs::File::open(fp).unwrap();
    let mut m = MmapFile::options().read(true).write(true).open(mp).unwrap();
    let mut mc = m.try_clone().unwrap();
    let mut mo = MmapFile::open(mp).unwrap();

    let trace = |what: &str, file: (u64, u64, u64), mm: (u64, u64, u64)| {
        assert_eq!(file, mm, "{what}: positions (handle, clone, other open)");
    };
    let mut buf = [0u8; 10];
    let mut mbuf = [0u8; 10];
    f.read_exact(&mut buf).unwrap();
    m.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf);
    trace(
        "after reading 10 through the handle",
        (
            f.stream_position().unwrap(),
            fc.stream_position().unwrap(),
            fo.stream_position().unwrap(),
        ),
        (
            m.stream_position().unwrap(),
            mc.stream_position().unwrap(),
            mo.stream_position().unwrap(),
        ),
    );
    fc.seek(SeekFrom::Start(500)).unwrap();
    mc.seek(SeekFrom::Start(500)).unwrap();
    f.read_exact(&mut buf).unwrap();
    m.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf, "the handle reads where its clone seeked");
    fc.write_all(b"xyz").unwrap();
    mc.write_all(b"xyz").unwrap();
    trace(
        "after a seek and write through the clone",
        (
            f.stream_position().unwrap(),
            fc.stream_position().unwrap(),
            fo.stream_position().unwrap(),
        ),
        (
            m.stream_position().unwrap(),
            mc.stream_position().unwrap(),
            mo.stream_position().unwrap(),
        ),
    );
    // A clone of a clone still shares it; dropping clones keeps it.
    let fcc = fc.try_clone().unwrap();
    let mcc = mc.try_clone().unwrap();
    drop((fc, mc));
    (&fcc).seek(SeekFrom::End(-1)).unwrap();
    (&mcc).seek(SeekFrom::End(-1)).unwrap();
    assert_eq!(f.stream_position().unwrap(), 999);
    assert_eq!(m.stream_position().unwrap(), 999);
    let mut rest = Vec::new();
    m.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [data[999]]);
    assert_eq!((&mcc).stream_position().unwrap(), 1000);
    fo.read_exact(&mut buf).unwrap();
    mo.read_exact(&mut mbuf).unwrap();
    assert_eq!(buf, mbuf, "an independent open has its own cursor at 0");
    assert_eq!(mo.stream_position().unwrap(), 10);
}

#[test]
fn concurrent_reads_consume_distinct_bytes() {
    const WORDS: u64 = 1 << 20;
    const THREADS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data: Vec<u8> = (0..WORDS).flat_map(|k| k.to_le_bytes()).collect();
    fs::write(&path, &data).unwrap();
    let f = MmapFile::options()
        .read(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    assert_mapped(&f, "reader");
    let clones = [f.try_clone().unwrap(), f.try_clone().unwrap()];
    let go = Barrier::new(THREADS as usize);

    let chunks: Vec<Vec<(u64, u64)>> = thread::scope(|s| {
        let ts: Vec<_> = (0..THREADS)
            .map(|t| {
                let h: &MmapFile = match t % 3 {
                    0 => &f,
                    1 => &clones[0],
                    _ => &clones[1],
                };
                let go = &go;
                s.spawn(move || {
                    let mut rng = Rng::new(50 + t);
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 8 * 512];
                    let mut h = h;
                    go.wait();
                    loop {
                        let want = {
                            let max = if rng.chance(10) { 512 } else { 16 };
                            8 * (1 + rng.below(max) as usize)
                        };
                        let n = h.read(&mut buf[..want]).unwrap();
                        if n == 0 {
                            break;
                        }
                        // A regular file gives full reads of what is left,
                        // and what is left is whole words.
                        assert_eq!(n % 8, 0, "read of {want} returned {n}");
                        let first = u64::from_le_bytes(buf[..8].try_into().unwrap());
                        for (j, w) in buf[..n].chunks(8).enumerate() {
                            let k = u64::from_le_bytes(w.try_into().unwrap());
                            assert_eq!(k, first + j as u64, "a read returned non-contiguous bytes");
                        }
                        got.push((first * 8, n as u64));
                        // Give the other readers a turn at the cursor.
                        thread::yield_now();
                    }
                    got
                })
            })
            .collect();
        ts.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let mut all: Vec<(u64, u64)> = chunks.iter().flatten().copied().collect();
    all.sort_unstable();
    let mut at = 0u64;
    for (start, len) in &all {
        assert_eq!(
            *start, at,
            "reads overlapped or skipped bytes: a read started at {start}, expected {at}"
        );
        at += len;
    }
    assert_eq!(at, WORDS * 8, "every byte read exactly once");
    for (t, c) in chunks.iter().enumerate() {
        println!("thread {t}: {} reads", c.len());
    }
    for mut h in [&f, &clones[0], &clones[1]] {
        assert_eq!(h.stream_position().unwrap(), WORDS * 8);
        assert_eq!(h.read(&mut [0u8; 8]).unwrap(), 0);
    }
}

#[test]
fn concurrent_cursor_writes_take_distinct_ranges() {
    const THREADS: u8 = 4;
    const PER_THREAD: u32 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let f = MmapFile::options()
        .read(true)
        .write(true)
        .create(true)
        .reserve(SMALL_RESERVE)
        .open(&path)
        .unwrap();
    assert_mapped(&f, "writer");
    let clone = f.try_clone().unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let h = if t % 2 == 0 { &f } else { &clone };
            s.spawn(move || {
                let mut h = h;
                for seq in 0..PER_THREAD {
                    let r = app_record(t, seq);
                    let n = h.write(&r).unwrap();
                    assert_eq!(n, r.len(), "short write");
                }
            });
        }
    });
    let expected: u64 = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |s| app_record(t, s).len() as u64))
        .sum();
    assert_eq!(f.len().unwrap(), expected);
    assert_eq!((&f).stream_position().unwrap(), expected);
    let mut data = Vec::new();
    let mut r = &f;
    r.seek(SeekFrom::Start(0)).unwrap();
    r.read_to_end(&mut data).unwrap();
    check_app_records(&data, THREADS, PER_THREAD);
    drop((f, clone));
    assert!(fs::read(&path).unwrap() == data);
}
