//! A time-bounded stress run (`MMAPFILE_STRESS_SECS`, default 2): four
//! workers mix every operation (lock-free reads, appends, positional and
//! cursor writes, `set_len`, flush/sync/metadata, clones, fresh handles)
//! on three open file descriptions of one file, checked against a model of
//! the file and the cursors.

// Unix only: `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;
use std::thread;
use std::time::{Duration, Instant};

use mmapfile::MmapFile;

mod common;
use common::assert_mapped;
use common::race::{Rng, SMALL_RESERVE};

/// The time budget of the stress test.
fn stress_duration() -> Duration {
    let secs = std::env::var("MMAPFILE_STRESS_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// Two fill patterns, both never zero and never equal to each other, so a
/// lock-free read can tell a byte that was written from one that was not.
fn fill_a(o: u64) -> u8 {
    1 + (o % 127) as u8
}
fn fill_b(o: u64) -> u8 {
    128 + (o % 127) as u8
}
fn fill(from: u64, len: usize, alt: bool) -> Vec<u8> {
    (from..from + len as u64)
        .map(|o| if alt { fill_b(o) } else { fill_a(o) })
        .collect()
}

/// What the file and the cursors must be.
struct Model {
    data: Vec<u8>,
    /// Cursors of the three open file descriptions: A (read-write), B
    /// (read + append), R (read-only).
    cursor: [u64; 3],
}

const A: usize = 0;
const B: usize = 1;
const R: usize = 2;

/// The handles of the stress test: two per description (the second a
/// clone), and the read-only one.
struct World {
    a: [MmapFile; 2],
    b: [MmapFile; 2],
    r: MmapFile,
}

impl World {
    /// A handle of description `d`, picked at random.
    fn pick(&self, d: usize, rng: &mut Rng) -> &MmapFile {
        let i = rng.below(2) as usize;
        match d {
            A => &self.a[i],
            B => &self.b[i],
            _ => &self.r,
        }
    }
    fn all(&self) -> [(usize, &MmapFile); 5] {
        [
            (A, &self.a[0]),
            (A, &self.a[1]),
            (B, &self.b[0]),
            (B, &self.b[1]),
            (R, &self.r),
        ]
    }
}

const STRESS_CAP: u64 = 4 << 20;
const OPS: u64 = 11;

/// One operation of the stress test; returns an error message on a
/// discrepancy.
fn stress_op(
    op: u64,
    w: &World,
    model: &RwLock<Model>,
    path: &Path,
    rng: &mut Rng,
) -> Result<(), String> {
    let alt = rng.chance(50);
    match op {
        // Lock-free read_at: only pattern bytes or zeros.
        0 => {
            let d = rng.below(3) as usize;
            let h = w.pick(d, rng);
            let off = rng.below(STRESS_CAP + 4096);
            let mut buf = vec![0u8; rng.below(16 << 10) as usize];
            let n = h
                .read_at(&mut buf, off)
                .map_err(|e| format!("lock-free read_at({}, {off}): {e}", buf.len()))?;
            if n > buf.len() {
                return Err(format!("read_at returned {n} > {}", buf.len()));
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                let o = off + i as u64;
                if b != 0 && b != fill_a(o) && b != fill_b(o) {
                    return Err(format!("lock-free read_at: byte {o} is {b:#04x}"));
                }
            }
            Ok(())
        }
        // read_at while no mutation runs: exactly the model.
        1 => {
            let m = model.read().unwrap();
            let h = w.pick(rng.below(3) as usize, rng);
            let len = m.data.len() as u64;
            let off = rng.below(len + 100);
            let mut buf = vec![0u8; rng.below(16 << 10) as usize];
            let n = h
                .read_at(&mut buf, off)
                .map_err(|e| format!("read_at({}, {off}): {e}", buf.len()))?;
            let want: &[u8] = if off >= len {
                &[]
            } else {
                &m.data[off as usize..(off as usize + buf.len()).min(len as usize)]
            };
            if buf[..n] != *want {
                return Err(format!(
                    "read_at({}, {off}) of a {len}-byte file: {n} bytes, model has {}, \
                     or the bytes differ",
                    buf.len(),
                    want.len()
                ));
            }
            for (d, h) in w.all() {
                let l = h.len().map_err(|e| e.to_string())?;
                if l != len {
                    return Err(format!("len() of description {d}: {l}, model {len}"));
                }
            }
            Ok(())
        }
        // Append through B.
        2 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let n = 1 + rng.below(8 << 10) as usize;
            if len + n as u64 > STRESS_CAP {
                let to = rng.below(STRESS_CAP / 2);
                w.a[0]
                    .set_len(to)
                    .map_err(|e| format!("set_len({to}): {e}"))?;
                m.data.truncate(to as usize);
                return Ok(());
            }
            let bytes = fill(len, n, alt);
            let h = w.pick(B, rng);
            let got = if rng.chance(30) {
                // Through a fresh clone, dropped right after.
                let c = h.try_clone().map_err(|e| e.to_string())?;
                (&c).write(&bytes)
            } else {
                (&*h).write(&bytes)
            }
            .map_err(|e| format!("append of {n}: {e}"))?;
            if got != n {
                return Err(format!("append of {n} wrote {got}"));
            }
            m.data.extend_from_slice(&bytes);
            m.cursor[B] = m.data.len() as u64;
            Ok(())
        }
        // write_at through A, inside the file or a little past its end.
        3 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let off = rng.below((len + 2000).min(STRESS_CAP));
            let n = (1 + rng.below(8 << 10)).min(STRESS_CAP - off) as usize;
            let bytes = fill(off, n, alt);
            let got = w
                .pick(A, rng)
                .write_at(&bytes, off)
                .map_err(|e| format!("write_at({n}, {off}): {e}"))?;
            if got != n {
                return Err(format!("write_at({n}, {off}) wrote {got}"));
            }
            let end = off as usize + n;
            if m.data.len() < end {
                m.data.resize(end, 0);
            }
            m.data[off as usize..end].copy_from_slice(&bytes);
            Ok(())
        }
        // Cursor write through A.
        4 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let off = rng.below((len + 100).min(STRESS_CAP));
            let n = (1 + rng.below(4 << 10)).min(STRESS_CAP - off) as usize;
            let mut h = w.pick(A, rng);
            let pos = match rng.below(3) {
                0 => h.seek(SeekFrom::Start(off)),
                1 => h.seek(SeekFrom::Current(off as i64 - m.cursor[A] as i64)),
                _ => h.seek(SeekFrom::End(off as i64 - len as i64)),
            }
            .map_err(|e| format!("seek to {off}: {e}"))?;
            if pos != off {
                return Err(format!("seek to {off} gave {pos}"));
            }
            m.cursor[A] = off;
            let bytes = fill(off, n, alt);
            let got = h
                .write(&bytes)
                .map_err(|e| format!("write({n}) at {off}: {e}"))?;
            if got != n {
                return Err(format!("write({n}) at {off} wrote {got}"));
            }
            let end = off as usize + n;
            if m.data.len() < end {
                m.data.resize(end, 0);
            }
            m.data[off as usize..end].copy_from_slice(&bytes);
            m.cursor[A] = end as u64;
            Ok(())
        }
        // Cursor read through any description.
        5 => {
            let mut m = model.write().unwrap();
            let d = rng.below(3) as usize;
            let mut h = w.pick(d, rng);
            let len = m.data.len() as u64;
            let off = rng.below(len + 100);
            h.seek(SeekFrom::Start(off))
                .map_err(|e| format!("seek({off}): {e}"))?;
            m.cursor[d] = off;
            let mut buf = vec![0u8; rng.below(8 << 10) as usize];
            let n = h
                .read(&mut buf)
                .map_err(|e| format!("read({}) at {off}: {e}", buf.len()))?;
            let want: &[u8] = if off >= len {
                &[]
            } else {
                &m.data[off as usize..(off as usize + buf.len()).min(len as usize)]
            };
            if buf[..n] != *want {
                return Err(format!(
                    "read({}) at {off} of description {d}: {n} bytes, model {}, or bytes differ",
                    buf.len(),
                    want.len()
                ));
            }
            m.cursor[d] = off + n as u64;
            Ok(())
        }
        // set_len, shrinking or growing.
        6 => {
            let mut m = model.write().unwrap();
            let len = m.data.len() as u64;
            let to = if rng.chance(50) {
                rng.below(len + 1)
            } else {
                (len + rng.below(64 << 10)).min(STRESS_CAP)
            };
            let h = if rng.chance(50) {
                w.pick(A, rng)
            } else {
                w.pick(B, rng)
            };
            h.set_len(to).map_err(|e| format!("set_len({to}): {e}"))?;
            m.data.resize(to as usize, 0);
            Ok(())
        }
        // flush / sync_data / metadata: the file on disk is then exact.
        7 => {
            // Mutations take the write lock, so the length holds still.
            let m = model.read().unwrap();
            let d = if rng.chance(50) { A } else { B };
            let h = w.pick(d, rng);
            // sync_data rarely: an fsync costs milliseconds.
            match rng.below(20) {
                0..=9 => (&*h).flush().map_err(|e| format!("flush: {e}"))?,
                10 => h.sync_data().map_err(|e| format!("sync_data: {e}"))?,
                _ => {
                    let md = h.metadata().map_err(|e| format!("metadata: {e}"))?;
                    if md.len() != m.data.len() as u64 {
                        return Err(format!(
                            "metadata().len() {}, model {}",
                            md.len(),
                            m.data.len()
                        ));
                    }
                }
            }
            let disk = fs::metadata(path).map_err(|e| e.to_string())?.len();
            if disk != m.data.len() as u64 {
                return Err(format!(
                    "after flush/sync/metadata the file on disk is {disk} bytes, model {}",
                    m.data.len()
                ));
            }
            Ok(())
        }
        // Cursors agree with the model, through fresh clones too.
        8 => {
            let m = model.read().unwrap();
            for (d, h) in w.all() {
                let c = h.try_clone().map_err(|e| format!("try_clone: {e}"))?;
                for (what, mut x) in [("handle", h), ("clone", &c)] {
                    let p = x.stream_position().map_err(|e| e.to_string())?;
                    if p != m.cursor[d] {
                        return Err(format!(
                            "stream_position of a {what} of description {d}: {p}, model {}",
                            m.cursor[d]
                        ));
                    }
                }
            }
            Ok(())
        }
        // A write through the read-only handle fails and changes nothing.
        9 => {
            let m = model.read().unwrap();
            let e =
                w.r.write_at(b"x", rng.below(m.data.len() as u64 + 1))
                    .expect_err("write_at through a read-only handle succeeded");
            if e.raw_os_error() != Some(9) {
                return Err(format!("write_at through read-only handle: {e}, not EBADF"));
            }
            Ok(())
        }
        // A fresh, independent handle (joining the shared mapping while
        // others write) reads everything through its own cursor, lock-free:
        // only pattern bytes or zeros, never past the cap.
        _ => {
            let mut h = MmapFile::options()
                .read(true)
                .reserve(SMALL_RESERVE)
                .open(path)
                .map_err(|e| format!("open: {e}"))?;
            let mut all = Vec::new();
            h.read_to_end(&mut all)
                .map_err(|e| format!("read_to_end of a fresh handle: {e}"))?;
            if all.len() as u64 > STRESS_CAP {
                return Err(format!("read_to_end gave {} > cap {STRESS_CAP}", all.len()));
            }
            for (o, &b) in all.iter().enumerate() {
                let o = o as u64;
                if b != 0 && b != fill_a(o) && b != fill_b(o) {
                    return Err(format!(
                        "read_to_end of a fresh handle: byte {o} is {b:#04x}"
                    ));
                }
            }
            let pos = h.stream_position().map_err(|e| e.to_string())?;
            if pos != all.len() as u64 {
                return Err(format!(
                    "fresh handle: cursor {pos} after reading {} bytes",
                    all.len()
                ));
            }
            Ok(())
        }
    }
}

#[test]
fn stress_mixed_operations_against_model() {
    const WORKERS: u64 = 4;
    let budget = stress_duration();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let initial = fill(0, 100_000, false);
    fs::write(&path, &initial).unwrap();
    let open = |o: &mut mmapfile::OpenOptions| o.reserve(SMALL_RESERVE).open(&path).unwrap();
    let a = open(MmapFile::options().read(true).write(true));
    let a2 = a.try_clone().unwrap();
    let b = open(MmapFile::options().read(true).append(true));
    let b2 = b.try_clone().unwrap();
    let r = open(MmapFile::options().read(true));
    let world = World {
        a: [a, a2],
        b: [b, b2],
        r,
    };
    for (_, h) in world.all() {
        assert_mapped(h, "stress handle");
    }
    let model = RwLock::new(Model {
        data: initial,
        cursor: [0; 3],
    });

    let deadline = Instant::now() + budget;
    let counts: Vec<[u64; OPS as usize]> = thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|t| {
                let (world, model, path) = (&world, &model, &path);
                s.spawn(move || {
                    let mut rng = Rng::new(1000 + t);
                    let mut counts = [0u64; OPS as usize];
                    let mut i = 0u64;
                    // Every operation at least once, then at random until
                    // the deadline.
                    while i < OPS || Instant::now() < deadline {
                        let op = if i < OPS {
                            (i + t) % OPS
                        } else if rng.chance(35) {
                            0
                        } else {
                            rng.below(OPS)
                        };
                        if let Err(e) = stress_op(op, world, model, path, &mut rng) {
                            panic!("worker {t}, operation {i} (kind {op}): {e}");
                        }
                        counts[op as usize] += 1;
                        i += 1;
                    }
                    counts
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect()
    });

    // Final state against the model.
    let m = model.into_inner().unwrap();
    let len = m.data.len() as u64;
    for (d, h) in world.all() {
        assert_eq!(h.len().unwrap(), len, "final len() of description {d}");
        let mut hh = h;
        assert_eq!(
            hh.stream_position().unwrap(),
            m.cursor[d],
            "final cursor of description {d}"
        );
        let mut got = vec![0u8; len as usize];
        h.read_exact_at(&mut got, 0).unwrap();
        assert!(got == m.data, "final bytes through description {d}");
    }
    let mut r = &world.r;
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert!(got == m.data, "final read_to_end");
    drop(world);
    assert!(
        fs::read(&path).unwrap() == m.data,
        "file on disk after every handle closed"
    );
    let total: u64 = counts.iter().flatten().sum();
    println!("stress: {total} operations in {budget:?}; per worker and kind: {counts:?}");
    for (t, c) in counts.iter().enumerate() {
        assert!(c.iter().all(|&n| n > 0), "worker {t} skipped a kind: {c:?}");
    }
}
