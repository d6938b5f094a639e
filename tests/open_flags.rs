//! Issue 11, rows 5 and 9, and "What must hold" item 3: open flags.
//!
//! - **O_SYNC / O_DSYNC** (row 5): `File`'s writes are durable when they
//!   return: the kernel has written the pages through and waited for them,
//!   so none of the file's pages in the page cache is dirty or under
//!   writeback. MmapFile today copies into the mapping and leaves them all
//!   dirty (8,192 of 8,192 pages after 32 x 1 MiB).
//! - **O_DIRECT**: `File`'s reads and writes go to the device, and an
//!   unaligned buffer, length or offset is `EINVAL`; every result, errors
//!   included, must be `File`'s.
//! - **Write-only handles and POSIX locks** (row 9): closing any descriptor
//!   of a file drops every fcntl lock the process holds on it, so a handle
//!   that opens and closes a second descriptor (today's write-only
//!   `MmapFile` reopens through `/proc/self/fd` to map) drops the caller's
//!   lock. With `File` the lock stays until the caller closes a
//!   descriptor; another process checks it with `F_GETLK`.
//!
//! How "durable on return" is measured: `cachestat(2)` (Linux 6.5) counts
//! the dirty and the under-writeback pages of the file's page cache, whoever
//! dirtied them (a `write` or a store through a mapping), without mapping
//! or touching them. Zero of both right after a write returns is what
//! `O_SYNC` promises of the page cache (the device's own cache is flushed
//! by the same `fsync` path, which no test can observe). Nothing else
//! writes the test's file, and the kernel's background writeback only
//! ever cleans pages, so `File`'s zero is deterministic, and a dirty count
//! for `MmapFile` can only shrink by flusher timing, never appear; the test
//! fails on any nonzero count after any write. Where `cachestat` is
//! missing (before Linux 6.5), the test falls back on `/proc/self/smaps`
//! of a fresh mapping of the file, whose dirty counts include pages dirty
//! in the page cache.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fs::{self, File};
use std::io::{self, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::child::child_mode;
use common::outsider::{self, Diffs, Op, Opts, Twin, outcome, outsider, picture};

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Dirty pages of a file
// ---------------------------------------------------------------------------

/// Pages of the file's page cache that are dirty and under writeback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Unsynced {
    dirty: u64,
    writeback: u64,
}

impl Unsynced {
    fn is_clean(&self) -> bool {
        self.dirty == 0 && self.writeback == 0
    }
}

/// `cachestat(fd, {0, 0}, &stat, 0)`: the whole file's page-cache counts.
fn cachestat(file: &File) -> io::Result<Unsynced> {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    /// `__NR_cachestat`, the same on every architecture.
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = Range { off: 0, len: 0 };
    let mut stat = Stat::default();
    // SAFETY: cachestat reads `range` and writes `stat`, both valid and of
    // the layout the kernel's uapi gives them.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Unsynced {
        dirty: stat.nr_dirty,
        writeback: stat.nr_writeback,
    })
}

/// The fallback: maps the file, faults every page in for reading, and adds
/// up the dirty kB `smaps` reports for that mapping (it counts a page
/// dirty in the page cache even where this mapping never wrote it).
fn smaps_dirty(file: &File) -> Unsynced {
    let len = file.metadata().unwrap().len() as usize;
    if len == 0 {
        return Unsynced::default();
    }
    // SAFETY: a fresh read-only shared mapping of our own file; nothing
    // reads through it but the kernel (populate), and it is unmapped below.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(ptr, libc::MAP_FAILED, "{}", io::Error::last_os_error());
    let start = format!("{:x}-", ptr as usize);
    let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
    let mut kb = 0;
    let mut inside = false;
    for line in smaps.lines() {
        let header = line.split(' ').next().is_some_and(|w| {
            w.contains('-') && w.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        if header {
            inside = line.starts_with(&start);
        } else if inside
            && (line.starts_with("Shared_Dirty:") || line.starts_with("Private_Dirty:"))
        {
            kb += line
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
    }
    // SAFETY: the mapping made above, not used again.
    unsafe { libc::munmap(ptr, len) };
    Unsynced {
        dirty: kb / 4,
        writeback: 0,
    }
}

fn unsynced(path: &Path) -> Unsynced {
    let file = File::open(path).unwrap();
    match cachestat(&file) {
        Ok(u) => u,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => smaps_dirty(&file),
        Err(e) => panic!("cachestat: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Rows 5 and O_DSYNC: durable on return
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Pattern {
    /// 32 x 1 MiB `write_at`, one after the other, into an empty file.
    WriteAtFresh,
    /// 32 x 1 MiB `write_at` over a 32 MiB file already on disk and clean.
    WriteAtOver,
    /// 32 x 1 MiB `write` at the cursor, into an empty file.
    WriteFresh,
    /// 64 x 4 KiB `write_at` scattered over a clean 32 MiB file.
    SmallOver,
    /// 32 x 1 MiB `write` on an `O_APPEND` handle.
    Append,
}

/// Runs `pattern` on a `T` opened with `flags`; returns, for each write,
/// its result and the unsynced pages right after it returned.
fn durable_writes<T: Twin>(dir: &Path, flags: i32, pattern: Pattern) -> Vec<(String, Unsynced)> {
    let path = dir.join(format!("{}-{pattern:?}", T::NAME));
    let over = matches!(pattern, Pattern::WriteAtOver | Pattern::SmallOver);
    if over {
        let f = File::create(&path).unwrap();
        f.write_all_at(&vec![b'o'; 32 * MIB], 0).unwrap();
        f.sync_all().unwrap();
        assert!(unsynced(&path).is_clean(), "a synced file is clean");
    }
    let opts = Opts {
        flags,
        ..if matches!(pattern, Pattern::Append) {
            Opts::append_only()
        } else {
            Opts::rw()
        }
    };
    let mut h = T::open_with(&opts, &path).unwrap();
    let mut seen = Vec::new();
    let big = vec![b'w'; MIB];
    let small = vec![b's'; 4096];
    match pattern {
        Pattern::WriteAtFresh | Pattern::WriteAtOver => {
            for i in 0..32 {
                let r = h.write_at(&big, (i * MIB) as u64);
                seen.push((
                    format!("write_at @ {i} MiB: {}", outcome(&r)),
                    unsynced(&path),
                ));
            }
        }
        Pattern::WriteFresh | Pattern::Append => {
            for i in 0..32 {
                let r = h.write(&big);
                seen.push((format!("write #{i}: {}", outcome(&r)), unsynced(&path)));
            }
        }
        Pattern::SmallOver => {
            for i in 0..64u64 {
                let off = (i * 7919 % 8192) * 4096;
                let r = h.write_at(&small, off);
                seen.push((
                    format!("write_at 4 KiB @ {off}: {}", outcome(&r)),
                    unsynced(&path),
                ));
            }
        }
    }
    drop(h);
    seen
}

fn durable_on_return(flags: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for pattern in [
        Pattern::WriteAtFresh,
        Pattern::WriteAtOver,
        Pattern::WriteFresh,
        Pattern::SmallOver,
        Pattern::Append,
    ] {
        let file = durable_writes::<File>(dir.path(), flags, pattern);
        for (what, u) in &file {
            assert!(
                u.is_clean(),
                "File itself, {name} {pattern:?}, {what}: {u:?}"
            );
        }
        let mmap = durable_writes::<MmapFile>(dir.path(), flags, pattern);
        let results =
            |v: &[(String, Unsynced)]| v.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>();
        diffs.same(
            &format!("{name} {pattern:?}: results"),
            results(&file),
            results(&mmap),
        );
        let unclean: Vec<_> = mmap.iter().filter(|(_, u)| !u.is_clean()).collect();
        if let Some((what, u)) = unclean.first() {
            let worst = unclean
                .iter()
                .map(|(_, u)| u.dirty + u.writeback)
                .max()
                .unwrap();
            diffs.fail(format!(
                "{name} {pattern:?}: File left no page dirty or under writeback after any \
                 write; MmapFile did after {} of {} writes (first: {what}: {} dirty, {} under \
                 writeback; at most {worst} pages)",
                unclean.len(),
                mmap.len(),
                u.dirty,
                u.writeback
            ));
        }
    }
    diffs.check(&format!("{name} writes are durable on return"));
}

/// Row 5: `custom_flags(O_SYNC)`, and every write returns with nothing of
/// the file left dirty in the page cache, as `File`'s do.
#[test]
fn o_sync_writes_are_durable_on_return() {
    durable_on_return(libc::O_SYNC, "O_SYNC");
}

/// As row 5, with `O_DSYNC`.
#[test]
fn o_dsync_writes_are_durable_on_return() {
    durable_on_return(libc::O_DSYNC, "O_DSYNC");
}

// ---------------------------------------------------------------------------
// O_DIRECT
// ---------------------------------------------------------------------------

/// A zeroed buffer of `len` bytes aligned to 4 KiB, with one more page, so
/// that `unaligned` can start it one byte on.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
    len: usize,
}

impl Aligned {
    fn new(len: usize, byte: u8) -> Aligned {
        let layout = Layout::from_size_align(len + 4096, 4096).unwrap();
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        let mut a = Aligned { ptr, layout, len };
        a.slice_mut().fill(byte);
        a
    }

    fn slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `len + 4096` bytes, ours alone while `self`
        // is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The same length, starting one byte past the alignment.
    fn unaligned_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `slice_mut`; `1 + len` is within the allocation.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(1), self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

/// A run of O_DIRECT calls, aligned and not; every result and the bytes
/// read.
fn direct_io<T: Twin>(path: &Path) -> Vec<String> {
    let opts = Opts {
        flags: libc::O_DIRECT,
        ..Opts::rw()
    };
    let mut h = match T::open_with(&opts, path) {
        Ok(h) => h,
        Err(e) => return vec![format!("open: {}", outcome::<()>(&Err(e)))],
    };
    let mut seen = Vec::new();
    let mut log = |what: &str, r: String| seen.push(format!("{what}: {r}"));
    let mut a4k = Aligned::new(4096, b'a');
    let mut b8k = Aligned::new(8192, b'b');
    let mut r16k = Aligned::new(16384, 0xee);
    let mut small = Aligned::new(100, b'c');

    log(
        "write_at(aligned 4 KiB, 0)",
        outcome(&h.write_at(a4k.slice_mut(), 0)),
    );
    log(
        "write_at(aligned 100 B, 4096)",
        outcome(&h.write_at(small.slice_mut(), 4096)),
    );
    log(
        "write_at(aligned 4 KiB, 100)",
        outcome(&h.write_at(a4k.slice_mut(), 100)),
    );
    log(
        "write_at(unaligned 4 KiB, 4096)",
        outcome(&h.write_at(a4k.unaligned_mut(), 4096)),
    );
    log("write(aligned 8 KiB)", outcome(&h.write(b8k.slice_mut())));
    log("stream_position", outcome(&h.stream_position()));
    log(
        "write(unaligned 4 KiB)",
        outcome(&h.write(a4k.unaligned_mut())),
    );
    log("stream_position", outcome(&h.stream_position()));
    let r = h.read_at(r16k.slice_mut(), 0);
    log(
        "read_at(aligned 16 KiB, 0)",
        format!(
            "{} {}",
            outcome(&r),
            picture(&r16k.slice_mut()[..*r.as_ref().unwrap_or(&0)])
        ),
    );
    log(
        "read_at(unaligned 4 KiB, 0)",
        outcome(&h.read_at(a4k.unaligned_mut(), 0)),
    );
    log(
        "read_at(aligned 4 KiB, 1)",
        outcome(&h.read_at(a4k.slice_mut(), 1)),
    );
    log(
        "read_at(aligned 100 B, 0)",
        outcome(&h.read_at(small.slice_mut(), 0)),
    );
    log("set_len(10000)", outcome(&h.set_len(10_000)));
    let r = h.read_at(r16k.slice_mut(), 0);
    log(
        "read_at(aligned 16 KiB, 0) after set_len",
        format!(
            "{} {}",
            outcome(&r),
            picture(&r16k.slice_mut()[..*r.as_ref().unwrap_or(&0)])
        ),
    );
    log(
        "read_at(aligned 4 KiB, 8192)",
        outcome(&h.read_at(a4k.slice_mut(), 8192)),
    );
    log(
        "read_at(aligned 4 KiB, 12288)",
        outcome(&h.read_at(a4k.slice_mut(), 12288)),
    );
    log("seek(Start(4096))", outcome(&h.seek(SeekFrom::Start(4096))));
    log(
        "read(unaligned 4 KiB)",
        outcome(&h.read(a4k.unaligned_mut())),
    );
    log("read(aligned 4 KiB)", outcome(&h.read(a4k.slice_mut())));
    log("stream_position", outcome(&h.stream_position()));
    log(
        "write_at(aligned 4 KiB, 1 MiB)",
        outcome(&h.write_at(a4k.slice_mut(), MIB as u64)),
    );
    log("metadata().len()", outcome(&h.metadata().map(|m| m.len())));
    drop(h);
    seen.push(format!("on disk: {}", picture(&fs::read(path).unwrap())));
    seen
}

/// O_DIRECT: `File`'s results, errors included: an unaligned buffer,
/// length or offset is `EINVAL`, aligned I/O works, short reads at the end.
#[test]
fn o_direct_gives_file_results_errors_included() {
    let dir = tempfile::tempdir().unwrap();
    let file = direct_io::<File>(&dir.path().join("file"));
    if file.len() == 1 || !file[1].contains("os error 22") {
        println!(
            "SKIPPED: O_DIRECT is not enforced on {:?}: {file:?}",
            dir.path()
        );
        return;
    }
    let mmap = direct_io::<MmapFile>(&dir.path().join("mmap"));
    let mut diffs = Diffs::default();
    for (f, m) in file.iter().zip(&mmap) {
        let what = f.split(':').next().unwrap();
        diffs.same(what, f, m);
    }
    diffs.same("call count", file.len(), mmap.len());
    diffs.check("O_DIRECT");
}

// ---------------------------------------------------------------------------
// Row 9: a write-only handle keeps the process's POSIX locks
// ---------------------------------------------------------------------------

fn set_write_lock(file: &File) {
    // SAFETY: all-zero is a valid `flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_SETLK on an open descriptor with a valid `flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
    assert_eq!(rc, 0, "F_SETLK: {}", io::Error::last_os_error());
}

/// Holds a write lock through a read-write `File`, opens a `T` with `opts`,
/// writes through it; another process checks the lock after each step.
fn lock_kept<T: Twin>(test: &str, path: &Path, opts: Opts) -> Vec<String> {
    let holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    holder.write_all_at(b"locked file", 0).unwrap();
    set_write_lock(&holder);
    let check = |what: &str| format!("{what}: {}", outsider(test, path, &[Op::LockHolder])[0]);
    let mut seen = vec![check("lock taken")];
    let mut h = T::open_with(&opts, path).unwrap();
    seen.push(check("write-only handle opened"));
    seen.push(format!("write: {}", outcome(&h.write(b"0123456789"))));
    seen.push(check("after a write"));
    seen.push(format!("set_len(100000): {}", outcome(&h.set_len(100_000))));
    seen.push(format!(
        "write_at(2 MiB): {}",
        outcome(&h.write_at(b"far", 2 << 20))
    ));
    seen.push(check("after set_len and a write past the end"));
    // Past the default 1 GiB reservation: MmapFile maps a larger window.
    seen.push(format!(
        "write_at(1 GiB + 4 KiB): {}",
        outcome(&h.write_at(b"farther", (1 << 30) + 4096))
    ));
    seen.push(check("after a write past 1 GiB"));
    seen.push(format!(
        "metadata: {}",
        outcome(&h.metadata().map(|m| m.len()))
    ));
    seen.push(format!("flush: {}", outcome(&h.flush())));
    seen.push(check("after metadata and flush"));
    drop(h);
    // Closing a descriptor of the file drops the lock, for File as for any.
    seen.push(check("write-only handle dropped"));
    drop(holder);
    seen
}

/// Row 9. File: the lock stays while the write-only handle lives and is
/// used (and goes when a descriptor of the file is closed). MmapFile today:
/// gone as soon as the handle opens (its `/proc/self/fd` reopen is closed).
#[test]
fn a_write_only_handle_keeps_the_processes_posix_locks() {
    const TEST: &str = "a_write_only_handle_keeps_the_processes_posix_locks";
    if let Some(mode) = child_mode(TEST) {
        outsider::serve(&mode);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    let write_only = Opts {
        write: true,
        ..Opts::default()
    };
    let append_only = Opts {
        append: true,
        ..Opts::default()
    };
    for (what, opts) in [("write-only", write_only), ("append-only", append_only)] {
        let file = lock_kept::<File>(TEST, &dir.path().join(format!("file-{what}")), opts);
        assert_eq!(
            file[1], "write-only handle opened: write lock held by parent",
            "File itself"
        );
        let mmap = lock_kept::<MmapFile>(TEST, &dir.path().join(format!("mmap-{what}")), opts);
        for (f, m) in file.iter().zip(&mmap) {
            diffs.same(&format!("{what}: {}", f.split(':').next().unwrap()), f, m);
        }
    }
    diffs.check("a POSIX lock, then a write-only handle");
}
