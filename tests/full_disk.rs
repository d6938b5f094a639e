//! The disk fills up. A naive mapping dies of SIGBUS when a page cannot be
//! backed; `MmapFile` must return the error `File` returns (`ENOSPC`), keep
//! every byte it acknowledged, and leave the file exactly as long as what
//! it acknowledged; growth steps reserve their blocks (unless
//! `preallocate(false)`), and writes into holes fail as `File`'s do.
//!
//! The full disk is a 1 MiB tmpfs or an 8 MiB ext4 image mounted for the
//! test (`common::small_fs`, root only; skipped with a message otherwise).

// Unix only: child processes, SIGBUS, tmpfs, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;

use mmapfile::MmapFile;

mod common;
use common::acked::{check_contents, fill, kind};
use common::pattern::pattern;
use common::small_fs::SmallFs;

const ENOSPC: i32 = 28;

fn append_until_full(chunk: usize, append: bool, preallocate: bool) {
    let fs = SmallFs::tmpfs("1m");
    append_until_full_on(fs, "tmpfs", 0, chunk, append, preallocate, false);
}

/// As [`append_until_full`], on `fs` (`None`: skipped), where the bytes
/// acknowledged before `ENOSPC` may differ from `File`'s by `slack`;
/// `background`: `MmapFile` with `background_growth`.
fn append_until_full_on(
    fs: Option<SmallFs>,
    name: &str,
    slack: u64,
    chunk: usize,
    append: bool,
    preallocate: bool,
    background: bool,
) {
    let Some(fs) = fs else {
        return;
    };
    let capacity = fs.free();

    // MmapFile first, then File on the emptied file system.
    let mm_path = fs.path("mm");
    let mut mm = MmapFile::options()
        .read(true)
        .write(true)
        .append(append)
        .create(true)
        .preallocate(preallocate)
        .background_growth(background)
        .open(&mm_path)
        .unwrap();
    assert!(mm.is_mapped());
    let (mm_acked, mm_err) = fill(&mut mm, chunk, 4 * capacity);
    let mm_err = mm_err.unwrap_or_else(|| panic!("MmapFile: no error after {mm_acked} bytes"));
    // The next write fails the same way, and changes nothing.
    let again = mm.write(&pattern(mm_acked, chunk));
    assert_eq!(mm.len().unwrap(), mm_acked);
    drop(mm);
    check_contents(&mm_path, mm_acked, "MmapFile");
    fs::remove_file(&mm_path).unwrap();
    // A child forked meanwhile by a test running beside this one holds a
    // copy of the mapping until it execs: the space comes back after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fs.free() < capacity && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let fs_path = fs.path("fs");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .append(append)
        .create(true)
        .open(&fs_path)
        .unwrap();
    let (fs_acked, fs_err) = fill(&mut file, chunk, 4 * capacity);
    let fs_err = fs_err.unwrap();
    let fs_again = file.write(&pattern(fs_acked, chunk));
    drop(file);
    check_contents(&fs_path, fs_acked, "File");

    println!(
        "{chunk}-byte writes (append={append}, preallocate={preallocate}) \
         on {name} with {capacity} bytes free: \
         MmapFile acknowledged {mm_acked} then {}; File acknowledged {fs_acked} then {}",
        kind(&mm_err),
        kind(&fs_err)
    );
    assert_eq!(mm_err.kind(), ErrorKind::StorageFull, "{mm_err:?}");
    assert_eq!(mm_err.raw_os_error(), Some(ENOSPC));
    assert_eq!(
        again.map_err(|e| e.raw_os_error()),
        fs_again.map_err(|e| e.raw_os_error()),
        "the write after the first error"
    );
    assert!(
        mm_acked.abs_diff(fs_acked) <= slack,
        "bytes acknowledged: MmapFile {mm_acked} vs File {fs_acked} (slack {slack})"
    );
}

#[test]
fn append_4k_until_full() {
    append_until_full(4096, false, true);
}

#[test]
fn append_100_bytes_until_full() {
    append_until_full(100, false, true);
}

#[test]
fn append_mode_4k_until_full() {
    append_until_full(4096, true, true);
}

#[test]
fn append_mode_100_bytes_until_full() {
    append_until_full(100, true, true);
}

/// ext4 (an 8 MiB image): how many bytes fit before `ENOSPC` depends on
/// the file system's state, and varies by a few KiB from one `File` run to
/// the next (6,560,700 to 6,563,800 bytes of 100 B appends seen here): its
/// delayed allocation switches to allocating at once when space runs low,
/// and blocks freed by a truncate come back only at the next journal
/// commit. `MmapFile`, which writes zeros ahead and cuts them back, lands
/// within that spread (1,000 bytes short of the `File` run beside it with
/// 100 B appends, exact with 4 KiB ones).
const EXT4_SLACK: u64 = 16 << 10;

#[test]
fn ext4_append_4k_until_full() {
    append_until_full_on(
        SmallFs::ext4(8),
        "ext4",
        EXT4_SLACK,
        4096,
        false,
        true,
        false,
    );
}

#[test]
fn ext4_append_100_bytes_until_full() {
    append_until_full_on(
        SmallFs::ext4(8),
        "ext4",
        EXT4_SLACK,
        100,
        false,
        true,
        false,
    );
}

#[test]
fn ext4_append_mode_100_bytes_until_full() {
    append_until_full_on(SmallFs::ext4(8), "ext4", EXT4_SLACK, 100, true, true, false);
}

/// With `background_growth`, past the 4 MiB from which the grower thread
/// makes the steps: a step it cannot make is the writer's to make or to
/// refuse with `ENOSPC`, as `File` would.
#[test]
fn background_growth_100_bytes_until_full() {
    let fs = SmallFs::tmpfs("8m");
    append_until_full_on(fs, "tmpfs", 0, 100, false, true, true);
}

#[test]
fn background_growth_ext4_4k_until_full() {
    let fs = SmallFs::ext4(16);
    append_until_full_on(fs, "ext4", EXT4_SLACK, 4096, true, true, true);
}

/// Sparse growth: the disk fills up on the first write to a page, which
/// faults in the copy routine; the write is redone by `pwrite`.
#[test]
fn sparse_growth_4k_until_full() {
    append_until_full(4096, false, false);
}

#[test]
fn sparse_growth_100_bytes_until_full() {
    append_until_full(100, false, false);
}

/// By default a growth step's blocks are allocated when it is taken (so the
/// disk cannot run out under a page already handed to a write); with
/// `preallocate(false)` the step is a hole, but for the first MiB, which is
/// faulted in ahead of the writes. Seen in `st_blocks` of the file while it
/// is padded, on tmpfs and on the temporary directory's file system.
#[test]
fn growth_steps_reserve_their_blocks() {
    use std::os::unix::fs::MetadataExt;
    let fs = SmallFs::tmpfs("64m");
    let tmp = tempfile::tempdir().unwrap();
    let dirs = [fs.as_ref().map(|fs| fs.dir()), Some(tmp.path())];
    for dir in dirs.into_iter().flatten() {
        for preallocate in [true, false] {
            let path = dir.join(format!("grown-{preallocate}"));
            let mut mm = MmapFile::options()
                .read(true)
                .write(true)
                .create(true)
                .preallocate(preallocate)
                .open(&path)
                .unwrap();
            // Append until a step of 2 MiB or more has just been taken.
            let mut written = 0;
            let meta = loop {
                mm.write_all(&pattern(written, 4096)).unwrap();
                written += 4096;
                let meta = fs::metadata(&path).unwrap();
                if meta.len() >= written + (2 << 20) || written > 32 << 20 {
                    break meta;
                }
            };
            let allocated = meta.blocks() * 512;
            println!(
                "{}: preallocate={preallocate}: size on disk {}, allocated {allocated}",
                dir.display(),
                meta.len()
            );
            assert!(meta.len() >= written + (2 << 20), "a growth step is taken");
            if preallocate {
                assert!(allocated >= meta.len(), "the whole step is allocated");
            } else {
                assert!(allocated < meta.len(), "the step is a hole");
            }
            drop(mm);
            check_contents(&path, written, "MmapFile");
        }
    }
}

/// `set_len` far beyond what the file system holds, then reads of the hole.
#[test]
fn set_len_beyond_capacity_then_read_hole_matches_file() {
    let Some(fs) = SmallFs::tmpfs("1m") else {
        return;
    };
    const BIG: u64 = 16 << 20;
    let mm_path = fs.path("mm");
    let fs_path = fs.path("fs");
    let mm = MmapFile::create_new(&mm_path).unwrap();
    let file = File::create_new(&fs_path).unwrap();
    let r_mm = mm.set_len(BIG).map_err(|e| kind(&e));
    let r_fs = file.set_len(BIG).map_err(|e| kind(&e));
    println!("set_len({BIG}) on a 1 MiB tmpfs: MmapFile {r_mm:?}, File {r_fs:?}");
    assert_eq!(r_mm, r_fs);
    assert_eq!(mm.len().unwrap(), file.metadata().unwrap().len());

    // Writing into the middle of the hole while the file system has room.
    let w_mm = mm.write_at(b"middle", BIG / 2).map_err(|e| kind(&e));
    let w_fs = file.write_at(b"middle", BIG / 2).map_err(|e| kind(&e));
    assert_eq!(w_mm, w_fs);
    // Reading the whole hole: zeros, like File, and no crash even though
    // a tmpfs backs every page touched through a mapping.
    let free_before = fs.free();
    let mut got = Vec::new();
    (&mm).read_to_end(&mut got).unwrap();
    let free_after_mm = fs.free();
    let mut want = Vec::new();
    (&file).read_to_end(&mut want).unwrap();
    let free_after_fs = fs.free();
    println!(
        "read_to_end of the {BIG}-byte hole: MmapFile {} bytes ({} zero), File {} bytes; \
         free space {free_before} -> {free_after_mm} after MmapFile's read -> \
         {free_after_fs} after File's",
        got.len(),
        got.iter().filter(|&&b| b == 0).count(),
        want.len()
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    drop(mm);
    drop(file);
    assert_eq!(
        fs::metadata(&mm_path).unwrap().len(),
        fs::metadata(&fs_path).unwrap().len()
    );
    // A documented difference: on tmpfs a page touched through a shared
    // mapping is allocated, even by a read, so reading a hole takes space
    // that File's read does not. File's read takes none.
    assert_eq!(
        free_after_fs, free_after_mm,
        "File's read of the hole used space"
    );
    assert!(free_after_mm <= free_before);
}

/// Writes into holes of sparse files once the file system is full.
#[test]
fn write_into_hole_on_full_fs_matches_file() {
    let Some(fs) = SmallFs::tmpfs("1m") else {
        return;
    };
    const SPARSE: u64 = 8 << 20;
    let mm_path = fs.path("mm");
    let fs_path = fs.path("fs");
    let mm = MmapFile::create_new(&mm_path).unwrap();
    let file = File::create_new(&fs_path).unwrap();
    // Some data at the start, then a hole to SPARSE.
    mm.write_all_at(&pattern(0, 8192), 0).unwrap();
    file.write_all_at(&pattern(0, 8192), 0).unwrap();
    mm.set_len(SPARSE).unwrap();
    file.set_len(SPARSE).unwrap();

    // Fill the rest of the file system.
    let mut filler = File::create_new(fs.path("filler")).unwrap();
    let (filled, err) = fill(&mut filler, 4096, 8 << 20);
    assert_eq!(err.unwrap().raw_os_error(), Some(ENOSPC));
    println!("filler took {filled} bytes; {} free", fs.free());

    type Call = (&'static str, fn(&dyn FileExt) -> io::Result<usize>);
    let calls: [Call; 6] = [
        ("write_at 4096 into the hole", |f| {
            f.write_at(&[0xa5; 4096], SPARSE / 2)
        }),
        ("write_at 100 into the hole", |f| {
            f.write_at(&[0xa5; 100], SPARSE / 2 + 10_000)
        }),
        ("write_at 100 past the end", |f| {
            f.write_at(&[0xa5; 100], SPARSE + 10_000)
        }),
        ("write_at over data", |f| f.write_at(&[0x5a; 4096], 4096)),
        ("read_at in the hole", |f| {
            let mut buf = [0xff; 4096];
            let n = f.read_at(&mut buf, SPARSE / 4)?;
            assert!(buf[..n].iter().all(|&b| b == 0));
            Ok(n)
        }),
        ("read_at over data", |f| {
            let mut buf = [0; 4096];
            f.read_at(&mut buf, 0)
        }),
    ];
    let mut differences = Vec::new();
    for (what, call) in calls {
        let r_mm = call(&mm).map_err(|e| kind(&e));
        let r_fs = call(&file).map_err(|e| kind(&e));
        println!("{what}: MmapFile {r_mm:?}, File {r_fs:?}");
        if r_mm != r_fs {
            differences.push(format!("{what}: MmapFile {r_mm:?}, File {r_fs:?}"));
        }
    }
    // The cursor's write and an append, too.
    let r_mm = (&mm).write(&[1; 100]).map_err(|e| kind(&e));
    let r_fs = (&file).write(&[1; 100]).map_err(|e| kind(&e));
    println!("write at cursor 0 (over data): MmapFile {r_mm:?}, File {r_fs:?}");
    if r_mm != r_fs {
        differences.push(format!("write at cursor: MmapFile {r_mm:?}, File {r_fs:?}"));
    }
    drop(mm);
    drop(file);
    let (a, b) = (fs::read(&mm_path).unwrap(), fs::read(&fs_path).unwrap());
    if a != b {
        differences.push(format!(
            "files afterwards differ: {} vs {} bytes, first difference at {:?}",
            a.len(),
            b.len(),
            a.iter().zip(&b).position(|(x, y)| x != y)
        ));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
