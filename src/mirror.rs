//! The mirror of [`File`]'s own methods, method by method ("Like
//! [`File::set_len`]"): what a caller of `File` finds with the same name,
//! signature and results. The crate's additions (`len`, `is_mapped`,
//! `write_to`, the mapping controls) are in `lib.rs` and `controls.rs`;
//! the trait impls (`Read`, `Write`, `Seek`, `FileExt`, ...) in
//! `io_traits.rs`.

use std::fs::{File, FileTimes, Metadata, Permissions, TryLockError};
use std::io;
use std::mem::ManuallyDrop;
#[cfg(mapped_io)]
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
#[cfg(mapped_io)]
use std::sync::Arc;
use std::time::SystemTime;

#[cfg(mapped_io)]
use crate::os;
use crate::{Backend, MmapFile, OpenOptions};

impl MmapFile {
    /// Like [`File::open`]: opens a file read-only and maps it.
    ///
    /// # Errors
    /// Those of [`File::open`].
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<MmapFile> {
        OpenOptions::new().read(true).open(path)
    }

    /// Like [`File::create`]: opens a file write-only, creating or
    /// truncating it.
    ///
    /// # Errors
    /// Those of [`File::create`].
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<MmapFile> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Like [`File::create_new`]: creates a file read-write, failing if it
    /// exists.
    ///
    /// # Errors
    /// Those of [`File::create_new`].
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<MmapFile> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// Like [`File::options`]: a new [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Like [`File::set_len`]: truncates or extends the file. The cursor does
    /// not move.
    ///
    /// # Errors
    /// Those of [`File::set_len`]: `InvalidInput` past `i64::MAX`, `EINVAL`
    /// on a handle not open for writing, `EFBIG` past the largest file; on
    /// Windows, `ERROR_ACCESS_DENIED` on a handle not open for writing.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        // (The backend's guard, where it has one, lasts until the call returns.)
        let backend = self.backend();
        match std::ops::Deref::deref(&backend) {
            #[cfg(mapped_io)]
            Backend::Shared(d) => d.store.set_len(&d.io(self.fd()), &self.file, size),
            #[cfg(mapped_io)]
            Backend::Private(d) => d.store.set_len(&d.io(self.fd()), size),
            _ => self.file.set_len(size),
        }
    }

    /// Like [`File::metadata`]. Catches up with a size set by another
    /// process, and cuts the file on disk back to its length first, so that
    /// the size reported is exact.
    ///
    /// # Errors
    /// Those of [`File::metadata`], or of cutting the file back.
    pub fn metadata(&self) -> io::Result<Metadata> {
        #[cfg(mapped_io)]
        if let Some(d) = self.shared() {
            d.store.refresh(self.fd())?;
        } else if let Backend::Deferred(d) = &self.backend {
            d.catch_up(self.fd());
        }
        self.trim()?;
        self.file.metadata()
    }

    /// Like [`File::sync_all`]: the data and metadata reach the disk. On
    /// Linux, `fsync` writes back pages dirtied through the mapping too.
    ///
    /// # Errors
    /// Those of [`File::sync_all`].
    pub fn sync_all(&self) -> io::Result<()> {
        self.trim()?;
        #[cfg(mapped_io)]
        if let Some(d) = self.shared() {
            d.store.note_sync();
        }
        self.file.sync_all()
    }

    /// Like [`File::sync_data`]: the data reach the disk.
    ///
    /// The next few writes after a sync go through `pwrite` rather than the
    /// mapping: syncing pages written that way costs a fraction of syncing
    /// pages dirtied through a mapping, so a write-ahead log that writes and
    /// syncs in turn runs at `File`'s speed, and bulk writers return to the
    /// mapping after a handful of writes.
    ///
    /// # Errors
    /// Those of [`File::sync_data`].
    pub fn sync_data(&self) -> io::Result<()> {
        self.trim()?;
        #[cfg(mapped_io)]
        if let Some(d) = self.shared() {
            d.store.note_sync();
        }
        self.file.sync_data()
    }

    /// Like [`File::try_clone`]: a new handle to the same open file. Clones
    /// share the cursor, as `File` clones share the file offset.
    ///
    /// # Errors
    /// Those of [`File::try_clone`] (on Unix, `EMFILE` when out of
    /// descriptors).
    pub fn try_clone(&self) -> io::Result<MmapFile> {
        // Clones share the backend: a handle that maps later maps now.
        #[cfg(mapped_io)]
        let backend = self.mapped_backend();
        #[cfg(not(mapped_io))]
        let backend = &self.backend;
        let file = self.file.try_clone()?;
        let backend = match backend {
            #[cfg(mapped_io)]
            Backend::Shared(d) => {
                d.add_fd(file.as_raw_fd());
                Backend::Shared(Arc::clone(d))
            }
            #[cfg(mapped_io)]
            Backend::Private(d) => Backend::Private(Arc::clone(d)),
            _ => match &self.backend {
                // One that will never map still catches the others up.
                #[cfg(mapped_io)]
                Backend::Deferred(d) => Backend::Deferred(Box::new(d.never_mapping())),
                _ => Backend::Syscalls,
            },
        };
        Ok(MmapFile::with_backend(file, backend))
    }

    /// Like [`File::set_permissions`].
    ///
    /// # Errors
    /// Those of [`File::set_permissions`].
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.file.set_permissions(perm)
    }

    /// Like [`File::set_modified`]. Cuts any growth padding first, so that
    /// closing the handle later has nothing to cut, which would set the
    /// time again.
    ///
    /// # Errors
    /// Those of [`File::set_modified`], or of cutting the file back.
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.trim()?;
        self.file.set_modified(time)
    }

    /// Like [`File::set_times`]; cuts any growth padding first, as
    /// [`set_modified`](Self::set_modified) does.
    ///
    /// # Errors
    /// Those of [`File::set_times`], or of cutting the file back.
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        self.trim()?;
        self.file.set_times(times)
    }

    /// Like [`File::lock`]: an exclusive advisory lock on the whole file,
    /// waiting for it. (For locking pages in memory, see `mlock`.)
    ///
    /// # Errors
    /// Those of [`File::lock`].
    pub fn lock(&self) -> io::Result<()> {
        self.file.lock()
    }

    /// Like [`File::lock_shared`].
    ///
    /// # Errors
    /// Those of [`File::lock_shared`].
    pub fn lock_shared(&self) -> io::Result<()> {
        self.file.lock_shared()
    }

    /// Like [`File::try_lock`].
    ///
    /// # Errors
    /// Those of [`File::try_lock`]: [`TryLockError::WouldBlock`] if held.
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        self.file.try_lock()
    }

    /// Like [`File::try_lock_shared`].
    ///
    /// # Errors
    /// Those of [`File::try_lock_shared`].
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        self.file.try_lock_shared()
    }

    /// Like [`File::unlock`].
    ///
    /// # Errors
    /// Those of [`File::unlock`].
    pub fn unlock(&self) -> io::Result<()> {
        self.file.unlock()
    }

    /// Gives back the `File`, exactly as the writes left it: cut back to its
    /// length, with its file offset at this handle's cursor.
    ///
    /// # Errors
    /// Those of cutting the file back (`ftruncate`) or setting the offset
    /// (`lseek`); the file is then dropped. A handle that is not mapped
    /// (every handle on Windows) gives its `File` back as it is, without
    /// error.
    pub fn into_file(mut self) -> io::Result<File> {
        self.settle();
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so each field is
        // moved out exactly once.
        let (file, backend) =
            unsafe { (std::ptr::read(&this.file), std::ptr::read(&this.backend)) };
        match backend {
            #[cfg(mapped_io)]
            Backend::Shared(d) => {
                if Arc::strong_count(&d) > 1 {
                    // Other clones live on and share the kernel's file offset
                    // with this File from now on.
                    d.share_with_file(file.as_fd())?;
                } else {
                    os::seek_to(file.as_fd(), d.position(file.as_fd())?)?;
                }
                d.store.release(&d, file.as_fd(), true)?;
            }
            #[cfg(mapped_io)]
            Backend::Private(d) => {
                os::seek_to(file.as_fd(), d.position(file.as_fd())?)?;
            }
            // Not mapped (yet): the kernel's offset is the cursor.
            _ => {}
        }
        Ok(file)
    }
}
