//! `std::fs::File` over a memory mapping.
//!
//! [`MmapFile`] has `File`'s API and `File`'s observable behaviour — `Read`,
//! `Write`, `Seek`, positional [`FileExt`] I/O, `set_len`, sync, locks,
//! clones, errors — but the bytes move through a shared mapping of the file
//! that grows as the file grows, instead of a system call per call. Swapping
//! `File` for `MmapFile` changes speed, not results.
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! # #[cfg(unix)]
//! use std::os::unix::fs::FileExt;
//! use mmapfile::MmapFile;
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data");
//! let mut file = MmapFile::options().read(true).write(true).create(true).open(&path)?;
//! file.write_all(b"hello, world")?;
//! file.seek(SeekFrom::Start(7))?;
//! let mut word = String::new();
//! file.read_to_string(&mut word)?;
//! assert_eq!(word, "world");
//!
//! # #[cfg(unix)] {
//! let mut hello = [0; 5];
//! file.read_exact_at(&mut hello, 0)?; // positional, through &self
//! assert_eq!(&hello, b"hello");
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it works
//! The file is mapped `MAP_SHARED` from offset 0 for far more bytes than it
//! holds (1 GiB of address space by default, see [`OpenOptions::reserve`]).
//! The mapping's address does not move as the file grows, so positional
//! reads on other threads take no lock; only when the file outgrows the
//! reservation is a larger mapping made, and the old one stays mapped until
//! the last handle closes. All handles of one file in a process share one
//! mapping and agree on its length. Every byte between the mapping and a
//! caller's buffer is copied by assembly (one routine, and for copies of up
//! to 64 bytes a block inlined at the call site), which makes concurrent
//! reads and writes race-free; each copy's instructions are listed in a
//! fault table, so that a SIGBUS handler turns a fault inside one (a file
//! cut short, a disk that cannot back a page) into a short read or an
//! error.
//!
//! What a handle may assume depends on who else can reach the file:
//!
//! - **Alone** (the usual case: one handle and its clones, or several
//!   read-only handles). The crate holds a Linux file lease
//!   (`F_SETLEASE`), which the kernel grants only while no other open file
//!   description of the file exists anywhere, and breaks before anyone else
//!   opens or truncates the file. Then the crate knows the length exactly:
//!   reads are a bounds check and a copy, and appends grow the file on disk
//!   in steps ahead of the data (64 KiB to 4 MiB, written with zeros so
//!   that their blocks are reserved and their pages are in the page cache,
//!   see [`OpenOptions::preallocate`]; with
//!   [`OpenOptions::background_growth`] a thread of the crate makes the
//!   next step while the writer fills the current one), so most make no
//!   system call. Writes through `&mut MmapFile` when no clone shares its
//!   cursor, and positional writes by a thread that writes alone, take no
//!   lock either: the inode's lock is biased towards that only writer, and
//!   whoever else takes the lock (the lease thread, a fork, another open,
//!   another writer) revokes the bias first, with `membarrier`, and waits
//!   for a write in flight. When the lease breaks, a thread of the
//!   crate cuts the file to its exact length and lets go, and only then
//!   does the other open return: whoever opens the file sees exactly what
//!   `File` would have left.
//! - **Shared** (anything else: another process or `File` has the file
//!   open, several writable handles, a handle made with
//!   [`MmapFile::try_from`], one whose descriptor was lent out with `as_fd`,
//!   or any handle after a `fork`). Anyone may change the file at any
//!   moment, so the size on disk is always exact; appends go by `write(2)`
//!   on the `O_APPEND` descriptor, atomically with everyone else's; writes
//!   past the end go by `pwrite`. A read or write inside the file first
//!   reads one byte of a later page (a load that faults if the file no
//!   longer reaches it), or, in the file's last page, asks the kernel for
//!   the size (`statx`), so every call sees a shrink made before it. A
//!   thread that blocks SIGBUS, which such a fault would kill, uses
//!   `pread`/`pwrite` instead. Nothing tells a process that the others
//!   closed the file, so a Shared handle asks for the lease again: a single
//!   writer at each growth step, and every handle after 1,024 of its Shared
//!   calls, then after twice as many at each refusal, up to 8,192 (a
//!   refusal costs a few `fcntl`s). Once granted, the handle is Alone.
//!
//! A handle maps the file at its 16th read, write or seek, not at open
//! ([`OpenOptions::map_after`]): the first fault in a fresh mapping makes
//! its page tables, which with the `mmap`, the lease and the `munmap` cost
//! more than opening a small file, reading it whole and closing it does
//! with `File` (about 25 µs against 3–5 µs here). Until then its calls are
//! `File`'s system calls; its cursor is the kernel's file offset, which
//! the mapping takes over. A write counts four calls more for each whole
//! page it wrote; an append-mode handle (a log's) maps at open. A handle
//! that can write maps at its next call once another `MmapFile` of the
//! process has mapped the file, so that their shared inode sees every
//! write made through an `MmapFile` of the process. One that has not
//! mapped when the process forks stays on system calls.
//!
//! After `fork` (but not `posix_spawn`, which `std::process::Command` uses
//! where it can), parent and child share each handle's open file
//! description, as with `File`: the crate moves every cursor into the
//! kernel's file offset before the fork, and from then on those handles'
//! cursor-relative calls are `File`'s own system calls.
//!
//! Files that cannot be mapped, or whose semantics a mapping cannot keep —
//! directories, FIFOs, sockets, devices, `/proc` and `/sys` files,
//! `O_DIRECT` handles, memfds that can be sealed, or any file on a platform
//! where the crate cannot recover from SIGBUS — are handled with plain
//! system calls, transparently: see [`MmapFile::is_mapped`]. `O_SYNC` and
//! `O_DSYNC` handles read through the mapping and write through the kernel;
//! write-only handles, which cannot map the file, write through the kernel
//! too (or into a mapping another handle made), and open no other
//! descriptor, which would drop the process's POSIX locks when closed.
//!
//! What the crate adds to a process: the SIGBUS handler (installed the first
//! time a file is mapped), `pthread_atfork` handlers, and, the first time a
//! lease is taken, a thread named `mmapfile-leases` to which lease breaks
//! are signalled with `SIGRTMIN + 4`, directed at it alone; and, the first
//! time a handle writes alone, a registration for `membarrier`
//! (`MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`).
//!
//! # Differences from `File`
//! Each comes from the mapping; none changes the bytes a call returns.
//! - **`stat` while appending alone.** While a handle alone appends, the
//!   file's size on disk runs ahead of its length by up to one growth step
//!   of zeros. Anyone who opens the file sees the exact size (the open
//!   breaks the lease, which cuts the file first), but a `stat` by path
//!   (`ls -l`, [`std::fs::metadata`]) does not open it and may see the
//!   padding; so does whoever reads the file after the writer was killed
//!   with SIGKILL. `flush`, the syncs, `metadata`, `into_file` and drop cut
//!   it. [`OpenOptions::exact_len`] keeps the size exact at every moment, at
//!   one system call per extending write.
//! - **An open waits for the lease's holder.** Opening a file that another
//!   process holds alone waits until that process's lease thread has cut
//!   the file and let go (about a millisecond here); while the holder is
//!   stopped (a debugger, SIGSTOP), up to
//!   `/proc/sys/fs/lease-break-time` (45 s by default), after which the
//!   kernel takes the lease away (and the holder may then leave padding).
//!   A process that only reads holds a read lease, which only opens for
//!   writing and truncations wait for. A handle that keeps working takes
//!   the lease back after the other process closes the file (see
//!   [How it works](#how-it-works)), so a file that others open over and
//!   over makes them wait once per lease taken back.
//! - **[`MmapFile::len`]** (which `File` lacks) makes no system call: after
//!   another process changes the size, it reports the old length until a
//!   call of this handle meets the change (any access near or past the new
//!   end, a seek from the end, `metadata`). Every `File` method answers from
//!   the size the file has.
//! - **[`MmapFile::try_from`]** takes the `File`'s cursor as its own: a
//!   duplicate of that descriptor made before (`dup`, `try_clone`) no
//!   longer shares the offset with it, unless the process has forked, after
//!   which a handle made from a `File` keeps its cursor in the kernel.
//! - **Reading a hole on tmpfs** through the mapping allocates its pages, as
//!   a write would; `File`'s read does not.
//! - **Modification time** is updated when a page is first written after
//!   being written back, not on every write.
//! - **Huge transfers.** `read` and `write` move up to the whole buffer in
//!   one call; Linux caps one system call at about 2 GiB. Both are allowed
//!   by the `Read`/`Write` contracts.
//! - **The file offset** of the underlying descriptor is not kept while the
//!   `MmapFile` owns it (unless after a fork, above); [`MmapFile::into_file`]
//!   sets it to the cursor.
//!
//! # Safety
//! No sequence of calls to this crate's safe API, from any number of threads
//! and clones, is undefined behaviour:
//! - every byte between a mapping and a caller's buffer is copied by
//!   assembly (see "How it works"), so concurrent `read_at` and
//!   `write_at` on the same bytes are not data races (a read may see a mix of
//!   old and new bytes, as with `File`);
//! - every access is bounds-checked against the mapping before it is made;
//! - no safe API lends a `&[u8]` into the mapping;
//! - if the file shrinks under the mapping or a page cannot be backed (disk
//!   full, I/O error), the access raises SIGBUS, which a process-wide
//!   handler turns into a short read or an `io::Error`, never a crash. The
//!   handler takes only faults the kernel raised at an instruction its
//!   fault table lists;
//!   a SIGBUS sent by a process, or a fault elsewhere, goes to the handler
//!   before it, run with its own mask and flags; if that handler changes
//!   the disposition (std's resets it to the default), ours stays in front.
//! - a thread that blocks SIGBUS never takes a fault from a shrink: the
//!   crate's own `set_len` makes the pages it cuts off anonymous zeros
//!   before truncating, so a reader racing it reads old bytes or zeros, and
//!   while anyone else could cut the file such a thread uses system calls.
//!
//! What is left to the user:
//! - **Other programs' handlers.** A SIGBUS handler installed after the
//!   crate's that does not chain to it turns a recoverable fault back into
//!   a crash.
//! - **A thread that blocks SIGBUS** is still killed by a fault that is not
//!   a shrink (an I/O error reading a page; a hole on a full tmpfs), and by
//!   a read already under way, alone, at the moment another process's open
//!   breaks the lease and it then cuts the file below that read.
//! - **Writes by other processes** are seen, as with `File`, but are not
//!   atomic with respect to our reads: a read racing with them may return a
//!   mix of old and new bytes, exactly as `pread` racing a `pwrite` can.
//!
//! # Platform support
//! Mapped I/O runs on Linux on x86_64 and aarch64, where the copy routine
//! and the fault handler are implemented ([`MAPPED_IO`] says whether this
//! build is one of them). Elsewhere — macOS, the BSDs, Linux on other CPUs,
//! Windows — every `MmapFile` uses system calls, with `File`'s results and
//! speed. The README's platform table says how each is tested.
//!
//! On Windows every `MmapFile` wraps a `File` and makes its system calls,
//! with Windows' `File` API and results: its positional `FileExt` is
//! `seek_read` and `seek_write`, which move the cursor, and the handle
//! traits are `AsHandle` and `AsRawHandle`.
//!
//! # Minimum supported Rust version
//! 1.89 (for `File::lock` and friends).
//!
#![cfg_attr(unix, doc = "[`FileExt`]: std::os::unix::fs::FileExt")]
#![cfg_attr(windows, doc = "[`FileExt`]: std::os::windows::fs::FileExt")]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

/// Runs `$mapped` with `$d` bound to a mapped backend's description, or
/// `$syscalls` for the system-call backend, counting an I/O call (see
/// `deferred.rs`); `@on` takes the backend to look at.
macro_rules! dispatch {
    ($self:expr, $d:ident => $mapped:expr, _ => $syscalls:expr $(,)?) => {
        dispatch!(@on $self.io_backend(), $d => $mapped, _ => $syscalls)
    };
    (@on $backend:expr, $d:ident => $mapped:expr, _ => $syscalls:expr $(,)?) => {
        match &*$backend {
            #[cfg(mapped_io)]
            $crate::Backend::Shared($d) => $mapped,
            #[cfg(mapped_io)]
            $crate::Backend::Private($d) => $mapped,
            #[cfg(mapped_io)]
            $crate::Backend::Syscalls | $crate::Backend::Deferred(_) => $syscalls,
            #[cfg(not(mapped_io))]
            $crate::Backend::Syscalls => $syscalls,
        }
    };
}

/// The assembler lines that register the instructions from numeric label
/// `$start` up to `$end` (both defined before) with the SIGBUS handler:
/// a fault there resumes at label `$fixup`, or, in the `label` form, at an
/// `asm!` label operand (`"{fault}"`), a block of the Rust caller, as
/// Linux's `asm goto` exception-table entries do. One entry of the fault
/// table in `crate::os::fault`, whose section name and layout this must
/// match.
#[cfg(mapped_io)]
macro_rules! fixup_entry {
    ($start:literal, $end:literal, $fixup:literal) => {
        fixup_entry!(@entry $start, $end, $fixup, "b")
    };
    ($start:literal, $end:literal, label $fixup:literal) => {
        fixup_entry!(@entry $start, $end, $fixup, "")
    };
    (@entry $start:literal, $end:literal, $fixup:literal, $suffix:literal) => {
        concat!(
            ".pushsection mmapfile_fixups_v2,\"aR\",%progbits\n",
            ".balign 4\n",
            ".long ",
            $start,
            "b - .\n",
            ".long ",
            $end,
            "b - .\n",
            ".long ",
            $fixup,
            $suffix,
            " - .\n",
            ".popsection",
        )
    };
}

// The platform, chosen here and only here. `build.rs` sets `mapped_io`
// where the crate maps files: Linux on the CPUs `arch/` has a copy routine
// for. The mapped machinery below compiles only there; elsewhere every
// `MmapFile` uses system calls.
#[cfg(mapped_io)]
#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
mod arch;
#[cfg_attr(mapped_io, path = "os/linux/mod.rs")]
#[cfg_attr(all(unix, not(mapped_io)), path = "os/unix.rs")]
#[cfg_attr(windows, path = "os/windows.rs")]
mod os;

mod backend;
mod controls;
#[cfg(mapped_io)]
mod copy;
#[cfg(mapped_io)]
mod deferred;
#[cfg(mapped_io)]
mod description;
#[cfg(mapped_io)]
mod fork;
#[cfg(mapped_io)]
mod inode;
mod io_traits;
mod mirror;
mod options;
#[cfg(mapped_io)]
mod private;
mod range;
mod view;
#[cfg(mapped_io)]
mod window;

/// Whether this build maps files: Linux on x86_64 and aarch64. Elsewhere every
/// [`MmapFile`] uses system calls, with `File`'s results and speed (see the
/// README's platform table), and [`MmapFile::is_mapped`] is always `false`.
pub const MAPPED_IO: bool = cfg!(mapped_io);

use std::fs::File;
use std::io::{self, Write};
#[cfg(mapped_io)]
use std::os::fd::{AsFd, RawFd};
#[cfg(mapped_io)]
use std::sync::atomic::AtomicPtr;

use backend::Backend;
pub use controls::{Advice, Protection, Region, page_size};
#[cfg(mapped_io)]
use description::Store;
#[cfg(mapped_io)]
use inode::Inode;
pub use options::OpenOptions;
pub use view::{Records, View};

/// A file whose bytes move through a shared memory mapping: the API and
/// behaviour of [`std::fs::File`], much faster.
///
/// Every method mirrors the `File` method of the same name; `Read`, `Write`
/// and `Seek` are implemented for `MmapFile` and `&MmapFile`, and the
/// positional [`FileExt`] methods take `&self`, so one handle can serve many
/// threads. `MmapFile` is `Send + Sync`.
///
/// # Safety
/// The mapping is private to this type: no method lends out a reference into
/// it, and every copy in or out goes through a race-free routine that
/// survives the file shrinking under it. See the [crate docs](crate#safety)
/// for what is left to the user.
///
/// # Examples
/// A storage engine's pattern: one thread appends, others read what was
/// published, without locks.
/// ```
/// use std::io::Write;
/// # #[cfg(unix)]
/// use std::os::unix::fs::FileExt;
/// use mmapfile::MmapFile;
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log");
/// let mut log = MmapFile::options().read(true).append(true).create(true).open(&path)?;
/// std::thread::scope(|s| -> std::io::Result<()> {
///     let reader = &log;
///     s.spawn(move || {
///         let mut record = [0; 8];
///         // Reads whatever has been appended so far.
///         # #[cfg(unix)]
///         let _ = reader.read_at(&mut record, 0);
///     });
///     for i in 0u64..1000 {
///         (&log).write_all(&i.to_le_bytes())?;
///     }
///     Ok(())
/// })?;
/// assert_eq!(log.len()?, 8000);
/// # Ok::<(), std::io::Error>(())
/// ```
///
#[cfg_attr(unix, doc = "[`FileExt`]: std::os::unix::fs::FileExt")]
#[cfg_attr(windows, doc = "[`FileExt`]: std::os::windows::fs::FileExt")]
pub struct MmapFile {
    file: File,
    /// `file`'s descriptor, read once: std's `as_fd` is not inlined across
    /// crates, and this saves a call on every read and write.
    #[cfg(mapped_io)]
    fd: RawFd,
    /// The inode of a shared backend open for reading, reached in one load
    /// by the inlined `read_at` fast path (see [`Inode::read_fast`]); null
    /// for any other backend, and until a handle that maps later has mapped
    /// the file. Only ever points at the inode of `backend`'s description.
    #[cfg(mapped_io)]
    reads: AtomicPtr<Inode>,
    backend: Backend,
}

impl MmapFile {
    /// Whether I/O goes through a mapping (`true`), or through plain system
    /// calls because the file cannot be mapped (`false`). Results are the
    /// same either way. A handle that has not mapped its file yet (see
    /// [`OpenOptions::map_after`]) maps it now, to answer.
    pub fn is_mapped(&self) -> bool {
        #[cfg(mapped_io)]
        return !matches!(self.mapped_backend(), Backend::Syscalls);
        #[cfg(not(mapped_io))]
        false
    }

    /// The file's length: for a mapped file, exact for every write made
    /// through any `MmapFile` in this process, and without a system call.
    /// It sees the writes of other processes after a read reaches the end, a
    /// seek from the end, or [`metadata`](Self::metadata). (So that this
    /// holds, a handle that can write and has not mapped its file yet maps
    /// it at its next call once another handle has; see
    /// [`OpenOptions::map_after`].)
    ///
    /// # Errors
    /// For an unmapped file, those of [`File::metadata`].
    pub fn len(&self) -> io::Result<u64> {
        dispatch!(self, d => Ok(d.store.len()), _ => Ok(self.file.metadata()?.len()))
    }

    /// Whether [`len`](Self::len) is 0.
    ///
    /// # Errors
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes everything from the cursor to the end of the file into `out`,
    /// advancing the cursor, and returns the number of bytes written: what
    /// `io::copy(&mut file, out)` does, much faster.
    ///
    /// The kernel moves the bytes, so they are never copied through a
    /// buffer of ours: std's `io::copy` moves a generic reader's bytes
    /// through an 8 KiB stack buffer, one `write` per 8 KiB. A megabyte or
    /// more into a Unix-domain stream socket goes by `write`s straight out
    /// of the mapping taking turns with `sendfile`s (where the handle is
    /// alone with the file), so that the sender's core and the receiver's
    /// share the copy; the rest by `sendfile` from the page cache. The
    /// module docs of `src/description/send.rs` give the measurements.
    /// `out` must have a file descriptor (a socket, pipe, file or
    /// terminal); that is also what keeps this safe, since no reference
    /// into the mapping reaches user code. Where the kernel cannot send to
    /// `out` (an `O_APPEND` file, say) it copies through
    /// [`Read`](std::io::Read) instead.
    ///
    /// # Errors
    /// Those of writing to `out` (`WouldBlock` on a non-blocking socket that
    /// is full: the cursor then tells how far it got), and `EBADF` if this
    /// handle cannot read.
    ///
    /// # Examples
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use mmapfile::MmapFile;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("page.html");
    /// # std::fs::write(&path, b"<html></html>")?;
    /// let (mut tx, mut rx) = UnixStream::pair()?;
    /// let mut file = MmapFile::open(&path)?;
    /// assert_eq!(file.write_to(&mut tx)?, 13);
    /// drop(tx);
    /// let mut got = String::new();
    /// rx.read_to_string(&mut got)?;
    /// assert_eq!(got, "<html></html>");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn write_to<W: Write + std::os::fd::AsFd + ?Sized>(
        &mut self,
        out: &mut W,
    ) -> io::Result<u64> {
        #[cfg(mapped_io)]
        if let Backend::Shared(d) = self.mapped_backend() {
            match d.send_to(self.fd(), out.as_fd()) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                other => return other,
            }
        }
        io::copy(&mut &*self, out)
    }

    /// Writes everything from the cursor to the end of the file into `out`,
    /// advancing the cursor, and returns the number of bytes written:
    /// `io::copy(&mut file, out)`, which is what it does on Windows. There
    /// is no `sendfile` to need a handle there, so `out` may be any writer:
    /// whatever Unix takes (a socket, pipe, file or console, though a
    /// Windows socket has no `AsHandle`) and more.
    ///
    /// # Errors
    /// Those of reading this handle (`ERROR_ACCESS_DENIED` if it cannot
    /// read) and of writing to `out`.
    #[cfg(windows)]
    pub fn write_to<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<u64> {
        io::copy(&mut &*self, out)
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<MmapFile>();
};

// The README's example uses Unix's `FileExt::read_exact_at`.
#[cfg(all(doctest, unix))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
