//! [`OpenOptions`]: std's builder, plus the knobs of the mapping.

use std::fs;
use std::io;
#[cfg(mapped_io)]
use std::os::fd::AsFd;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
#[cfg(windows)]
use std::os::windows::fs::OpenOptionsExt;
use std::path::Path;

#[cfg(mapped_io)]
use crate::inode::{Growth, Inode};
#[cfg(mapped_io)]
use crate::os;
use crate::{Advice, MmapFile};

/// Address space reserved for a file by default, before it must move to a
/// larger mapping.
const DEFAULT_RESERVE: u64 = if cfg!(target_pointer_width = "64") {
    1 << 30
} else {
    64 << 20
};

/// How a file is mapped; the part of [`OpenOptions`] that `std` lacks.
#[derive(Clone, Debug)]
pub(crate) struct MapOptions {
    /// Address space reserved before the mapping must move.
    pub(crate) reserve: u64,
    /// Never let the file's size on disk run ahead of its length.
    pub(crate) exact_len: bool,
    /// Allocate the blocks of each growth step.
    pub(crate) preallocate: bool,
    /// Make growth steps on a background thread.
    pub(crate) background_growth: bool,
    /// Advice for every mapping of the file, given at open.
    pub(crate) advice: Vec<Advice>,
    /// Fault the file's pages in at open.
    pub(crate) populate: bool,
    /// Copy-on-write: writes stay in memory.
    pub(crate) private: bool,
    /// Map at the handle's N-th I/O call; `None`: the default.
    pub(crate) map_after: Option<u32>,
}

#[cfg(mapped_io)]
impl MapOptions {
    /// How writes past the end grow the file.
    pub(crate) fn growth(&self) -> Growth {
        match (self.exact_len, self.preallocate) {
            (true, _) => Growth::Exact,
            (false, true) if self.background_growth => Growth::Background,
            (false, true) => Growth::Reserved,
            (false, false) => Growth::Sparse,
        }
    }
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            reserve: DEFAULT_RESERVE,
            exact_len: false,
            preallocate: true,
            background_growth: false,
            advice: Vec::new(),
            populate: false,
            private: false,
            map_after: None,
        }
    }
}

/// Options and flags for opening an [`MmapFile`]: the builder of
/// [`std::fs::OpenOptions`], method for method, plus the mapping's own knobs.
///
/// # Examples
/// ```
/// use mmapfile::OpenOptions;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log");
/// let log = OpenOptions::new().append(true).create(true).open(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    std: fs::OpenOptions,
    /// What `std` was told that decides whether the open truncates, which
    /// the crate does itself (see [`OpenOptions::open`]).
    #[cfg(mapped_io)]
    truncate: Truncate,
    map: MapOptions,
}

/// The options that decide whether an open truncates the file, as std's
/// `get_creation_mode` reads them.
#[cfg(mapped_io)]
#[derive(Clone, Copy, Debug, Default)]
struct Truncate {
    truncate: bool,
    write: bool,
    append: bool,
    create_new: bool,
    custom_flags: i32,
}

#[cfg(mapped_io)]
impl Truncate {
    /// Whether the open is to truncate a file that exists: std passes
    /// `O_TRUNC` for `truncate` with `write` but neither `append` nor
    /// `create_new`, or it comes with the custom flags.
    fn applies(&self) -> bool {
        let o_trunc = self.custom_flags & libc::O_TRUNC != 0 && (self.write || self.append);
        (self.truncate && self.write && !self.append && !self.create_new) || o_trunc
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Like [`std::fs::OpenOptions::new`]: every option off.
    pub fn new() -> Self {
        OpenOptions {
            std: fs::OpenOptions::new(),
            #[cfg(mapped_io)]
            truncate: Truncate::default(),
            map: MapOptions::default(),
        }
    }

    /// Like [`std::fs::OpenOptions::read`].
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.std.read(read);
        self
    }

    /// Like [`std::fs::OpenOptions::write`].
    ///
    /// A mapping needs read access. A handle opened for writing only is
    /// still mapped, through a second read-write open of the same file
    /// (`/proc/self/fd`), and reading through it fails with `EBADF` as it
    /// does for `File`. Where that open is refused, the handle uses system
    /// calls.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.std.write(write);
        #[cfg(mapped_io)]
        {
            self.truncate.write = write;
        }
        self
    }

    /// Like [`std::fs::OpenOptions::append`]: every write lands at the end,
    /// atomically, whatever the cursor.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.std.append(append);
        #[cfg(mapped_io)]
        {
            self.truncate.append = append;
        }
        self
    }

    /// Like [`std::fs::OpenOptions::truncate`]; but the open fails with
    /// `ResourceBusy`, leaving the file as it is, while this process has a
    /// live [`crate::View`] of the file (where it is mapped), as
    /// [`MmapFile::set_len`] does.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.std.truncate(truncate);
        #[cfg(mapped_io)]
        {
            self.truncate.truncate = truncate;
        }
        self
    }

    /// Like [`std::fs::OpenOptions::create`].
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.std.create(create);
        self
    }

    /// Like [`std::fs::OpenOptions::create_new`].
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.std.create_new(create_new);
        #[cfg(mapped_io)]
        {
            self.truncate.create_new = create_new;
        }
        self
    }

    /// Address space to reserve for the mapping, in bytes (default 1 GiB on
    /// 64-bit targets). The file grows inside it without a remap; past it, a
    /// larger mapping is made. Reserving costs no memory, only address space.
    /// If the reservation is refused (`RLIMIT_AS`), a smaller one is taken.
    pub fn reserve(&mut self, bytes: u64) -> &mut Self {
        self.map.reserve = bytes;
        self
    }

    /// Keep the file's size on disk equal to its length at every moment
    /// (default `false`).
    ///
    /// By default, appends grow the file on disk in steps (64 KiB up to
    /// 4 MiB) so that most of them need no system call, and the file is cut
    /// back to its length on `flush`, `sync_all`, `sync_data`, `metadata`,
    /// `into_file` and drop. Until then, another process that reads the
    /// file, or is killed mid-stream, sees zeros past the last write. With
    /// `exact_len(true)` every write past the end extends the file by
    /// exactly what it needs, at the cost of one system call per such write.
    pub fn exact_len(&mut self, exact: bool) -> &mut Self {
        self.map.exact_len = exact;
        self
    }

    /// Reserve the disk blocks of each growth step by writing it with
    /// zeros, default `true`.
    ///
    /// Appends grow the file in steps ahead of the writes (see
    /// [`exact_len`](Self::exact_len)). By default each step is written
    /// with zeros (`pwritev`) as it is taken, so that a full disk, a quota
    /// or a size limit is an error from the write that meets it, exactly as
    /// with `File`, a byte copied into the mapping always has a block to go
    /// to, and the step's pages are in the page cache before the mapping
    /// writes them (a third of the cost of faulting in fresh pages). The
    /// cost: the step's pages are dirty at once, and cutting the unused
    /// ones back on `flush` and drop.
    ///
    /// With `preallocate(false)` a step is a hole (`ftruncate`). Results do
    /// not change: a page the disk cannot back faults when first written,
    /// the copy routine recovers, and the write is redone by `pwrite`, which
    /// reports the error.
    pub fn preallocate(&mut self, preallocate: bool) -> &mut Self {
        self.map.preallocate = preallocate;
        self
    }

    /// Make the next growth step on a background thread while the writer
    /// writes into the current one, default `false`.
    ///
    /// Each growth step (see [`preallocate`](Self::preallocate)) is written
    /// with zeros by the append that reaches it, and those zeros are most
    /// of what an append of a page costs. With `background_growth(true)`, a
    /// handle writing alone (the case where appends take no lock, see the
    /// crate docs) to a file of 4 MiB or more has a thread of the crate
    /// (`mmapfile-grower`, one per process, started when first needed)
    /// write the next step while the appends fill the current one, so that
    /// they rarely wait for one. Below 4 MiB the steps are short and waking
    /// the thread for each would cost more than it saves. The cost: the
    /// zeros' CPU time moves to that thread rather than going away, and up
    /// to two steps (8 MiB at most) run ahead of the data instead of one.
    /// The thread writes through the writer's own descriptor and holds the
    /// file only while it makes a step. Results do not change: a step the
    /// thread cannot make (a full disk) is made, or refused with `File`'s
    /// error, by the append that reaches it. No effect with
    /// `preallocate(false)` or `exact_len(true)`, or where files are not
    /// mapped.
    ///
    /// # Examples
    /// ```
    /// use std::io::Write;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("log");
    /// let mut log = mmapfile::MmapFile::options()
    ///     .read(true)
    ///     .append(true)
    ///     .create(true)
    ///     .background_growth(true)
    ///     .open(&path)?;
    /// for _ in 0..1000 {
    ///     log.write_all(&[b'x'; 256])?;
    /// }
    /// assert_eq!(log.len()?, 256_000);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn background_growth(&mut self, background: bool) -> &mut Self {
        self.map.background_growth = background;
        self
    }

    /// The handle maps the file at its `calls`-th read, write or seek rather
    /// than at open (0: at open). Until then each call is `File`'s own
    /// system call; from then on every call goes through the mapping. A
    /// handle that makes few calls, one that reads a small file whole or
    /// writes a short one, say, then never pays for a mapping, which costs
    /// more than such a handle's whole life as a `File` does (the README's
    /// Performance section has the figures); one that makes many pays a
    /// few system calls more than if it had mapped at open. A write counts
    /// four calls more for each whole page it wrote, and a handle that can
    /// write maps at its next call once another `MmapFile` of the file in
    /// the process has mapped it (see [`MmapFile::len`] for why). The
    /// default is 16, or the value of the environment variable
    /// `MMAPFILE_MAP_AFTER` (read once, at the first open). Results do not change. The mapping controls
    /// ([`MmapFile::advise`], [`MmapFile::view`] and the rest),
    /// [`MmapFile::is_mapped`], [`MmapFile::try_clone`],
    /// [`MmapFile::write_to`] and lending the descriptor (`as_fd`) map the
    /// file first. No effect on a handle that maps at open anyway:
    /// [`private`](Self::private), [`populate`](Self::populate), advice
    /// for the pages, an append-mode or write-only handle (an append-mode
    /// one is a log's, which the mapping serves from its first append), or
    /// a file that is not a regular file (which is never mapped).
    ///
    /// # Errors
    /// [`open`](Self::open) fails with `InvalidInput` where the default is
    /// needed and `MMAPFILE_MAP_AFTER` is set but is not a number.
    ///
    /// # Examples
    /// ```
    /// use std::io::Read;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("config");
    /// # std::fs::write(&path, b"verbose = true")?;
    /// // A storage engine's file: mapped at open.
    /// let db = mmapfile::MmapFile::options().read(true).map_after(0).open(&path)?;
    /// // A file read once: `File`'s two reads, and no mapping.
    /// let mut text = String::new();
    /// mmapfile::MmapFile::open(&path)?.read_to_string(&mut text)?;
    /// assert_eq!(text, "verbose = true");
    /// # drop(db);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_after(&mut self, calls: u32) -> &mut Self {
        self.map.map_after = Some(calls);
        self
    }

    /// Fault the file's pages into the mapping at open
    /// (`MADV_POPULATE_READ`, or `MADV_WILLNEED` on kernels before 5.14), so
    /// that the first reads take no page faults. Default `false`.
    pub fn populate(&mut self, populate: bool) -> &mut Self {
        self.map.populate = populate;
        self
    }

    /// Ask for transparent huge pages (`MADV_HUGEPAGE`) where the file
    /// system supports them for files (tmpfs with `huge=`, or read-only
    /// file THP); elsewhere the advice is accepted and has no effect.
    /// Default `false`.
    pub fn huge_pages(&mut self, huge: bool) -> &mut Self {
        self.map.advice.retain(|a| *a != Advice::HugePage);
        if huge {
            self.map.advice.push(Advice::HugePage);
        }
        self
    }

    /// Advice applied to the mapping when it is made (at open, or see
    /// [`map_after`](Self::map_after)) and to every larger mapping the file
    /// moves to as it grows; may be given more than once (see
    /// [`MmapFile::advise`]).
    pub fn advice(&mut self, advice: Advice) -> &mut Self {
        self.map.advice.push(advice);
        self
    }

    /// Map the file copy-on-write (`MAP_PRIVATE`): the handle reads the file,
    /// and its own writes (and `set_len`) stay in its memory and never reach
    /// the file. Default `false`.
    ///
    /// Such a handle shares nothing with other handles of the file: its
    /// length is its own, `flush` and the syncs have nothing to write, and
    /// [`MmapFile::metadata`] and [`MmapFile::into_file`] give the file as
    /// it is on disk. Pages it has not written still show the file, so if
    /// another process shrinks the file, reading them fails with an error.
    /// Growing past [`reserve`](Self::reserve) copies what was written into
    /// a larger mapping.
    pub fn private(&mut self, private: bool) -> &mut Self {
        self.map.private = private;
        self
    }

    /// Like [`std::fs::OpenOptions::open`]: opens the file at `path` and maps
    /// it.
    ///
    /// Where files are mapped, a truncating open is an open without
    /// `O_TRUNC` and then `ftruncate(0)`, so that the crate can first
    /// refuse it while a view of the file lives (and only a regular file is
    /// cut, as `O_TRUNC` cuts only those).
    ///
    /// # Errors
    /// Those of [`std::fs::OpenOptions::open`]; `ResourceBusy` for a
    /// truncating open of a mapped file with a live [`crate::View`] in this
    /// process. A file that cannot be mapped (a directory, FIFO, socket or
    /// device, a `/proc` file, or any file on a platform without fault
    /// recovery) is not an error: the handle then does plain system calls,
    /// as [`MmapFile::is_mapped`] tells.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<MmapFile> {
        let opened = crate::backend::opened_now();
        #[cfg(mapped_io)]
        if self.truncate.applies() {
            return self.open_truncating(path.as_ref(), opened);
        }
        MmapFile::from_file_with(self.std.open(path)?, &self.map, opened)
    }

    /// A truncating open where files are mapped (see [`OpenOptions::open`]).
    #[cfg(mapped_io)]
    fn open_truncating(&self, path: &Path, opened: Option<u64>) -> io::Result<MmapFile> {
        let mut std = self.std.clone();
        std.truncate(false)
            .custom_flags(self.truncate.custom_flags & !libc::O_TRUNC);
        let file = std.open(path)?;
        let identity = os::identify(file.as_fd())?;
        if identity.regular {
            Inode::truncate_opened(identity.key, &file)?;
        }
        MmapFile::from_file_with(file, &self.map, opened)
    }
}

#[cfg(unix)]
impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut Self {
        self.std.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.std.custom_flags(flags);
        #[cfg(mapped_io)]
        {
            self.truncate.custom_flags = flags;
        }
        self
    }
}

#[cfg(windows)]
impl OpenOptionsExt for OpenOptions {
    fn access_mode(&mut self, access: u32) -> &mut Self {
        self.std.access_mode(access);
        self
    }

    fn share_mode(&mut self, val: u32) -> &mut Self {
        self.std.share_mode(val);
        self
    }

    fn custom_flags(&mut self, flags: u32) -> &mut Self {
        self.std.custom_flags(flags);
        self
    }

    fn attributes(&mut self, val: u32) -> &mut Self {
        self.std.attributes(val);
        self
    }

    fn security_qos_flags(&mut self, flags: u32) -> &mut Self {
        self.std.security_qos_flags(flags);
        self
    }
}
