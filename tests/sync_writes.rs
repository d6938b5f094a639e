//! Issue 11, row 5, and "What must hold" item 3: open flags O_SYNC and
//! O_DSYNC. `File`'s writes are durable when they return: the kernel has
//! written the pages through and waited for them, so none of the file's
//! pages in the page cache is dirty or under writeback. MmapFile today
//! copies into the mapping and leaves them all dirty (8,192 of 8,192 pages
//! after 32 x 1 MiB). (O_DIRECT: direct_io.rs; row 9, write-only handles
//! and POSIX locks: posix_locks.rs.)
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

// Unix only: child processes, /proc, libc, `read_at`/`write_at`, `std::os::unix::fs` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::outsider::{Diffs, Opts, Twin, outcome};

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
