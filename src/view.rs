//! The zero-copy path: [`MmapFile::view`] borrows bytes of the mapping as a
//! [`View`], which derefs to `[u8]` and splits itself into records with
//! `memchr`. A view pins its range (see `Inode::pin`), so that no write of
//! this crate can change the bytes under the borrow.

use std::fmt;
use std::io;
use std::marker::PhantomData;

#[cfg(mapped_io)]
use crate::Backend;
use crate::MmapFile;
#[cfg(mapped_io)]
use crate::inode::{Inode, MapSource};
#[cfg(mapped_io)]
use crate::os;
#[cfg(mapped_io)]
use crate::private::PrivateMap;
use crate::range::check_range;

impl MmapFile {
    /// Borrows `len` bytes at `offset` without copying them: the zero-copy
    /// path for parsers. The [`View`] derefs to `[u8]` and can split itself
    /// into lines or records with `memchr`.
    ///
    /// While the view lives, writes through any `MmapFile` of this file in
    /// this process that would touch bytes before its end fail with
    /// `ResourceBusy`, and so does shrinking the file below its end; appends
    /// past it proceed. So no write of this crate aliases the borrow. An
    /// unmapped file is read into memory instead, which nothing can alias,
    /// so writes proceed; on Windows it is read with `seek_read`, and the
    /// cursor is put back afterwards (a cursor call racing it through this
    /// handle or a clone may see it moved).
    ///
    /// # Safety
    /// What this crate cannot prevent is left to the caller: while the view
    /// lives, no other process, and no handle in this process other than an
    /// `MmapFile`, may write the viewed bytes (that would change a `&[u8]`
    /// under Rust's feet) or shrink the file below its end (reading the view
    /// would then raise SIGBUS, which is only recovered inside the crate's
    /// own copies). This is the contract of `memmap2::Mmap::map`.
    ///
    /// # Errors
    /// `UnexpectedEof` if the range runs past the end of the file;
    /// `InvalidInput` if it does not fit in `off_t`; `EBADF` if this handle
    /// cannot read (on Windows, `ERROR_ACCESS_DENIED`).
    ///
    /// # Examples
    /// ```
    /// use mmapfile::MmapFile;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.csv");
    /// # std::fs::write(&path, b"a,1\nb,2\nc,3\n")?;
    /// let file = MmapFile::open(&path)?;
    /// let len = file.len()? as usize;
    /// // SAFETY: no other process writes or truncates data.csv meanwhile.
    /// let view = unsafe { file.view(0, len)? };
    /// assert_eq!(view.lines().count(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub unsafe fn view(&self, offset: u64, len: usize) -> io::Result<View<'_>> {
        #[cfg(mapped_io)]
        let backend = self.mapped_backend();
        #[cfg(not(mapped_io))]
        let backend = &self.backend;
        match backend {
            #[cfg(mapped_io)]
            Backend::Shared(d) => {
                if !d.access.read {
                    return Err(os::bad_fd());
                }
                let src = MapSource {
                    fd: self.fd(),
                    readable: true,
                    writable: false,
                    via: d.id(),
                };
                let ptr = d.store.pin(src, offset, len)?;
                Ok(View::pinned(Pinner::Shared(&d.store), ptr, offset, len))
            }
            #[cfg(mapped_io)]
            Backend::Private(d) => {
                if !d.access.read {
                    return Err(os::bad_fd());
                }
                let ptr = d.store.pin(offset, len)?;
                Ok(View::pinned(Pinner::Private(&d.store), ptr, offset, len))
            }
            _ => {
                check_range(offset, len)?;
                let mut bytes = vec![0; len];
                // Windows' positional read moves the cursor: put it back,
                // as a view does not move it elsewhere.
                #[cfg(windows)]
                let cursor = io::Seek::stream_position(&mut &*self)?;
                let read = self.read_exact_at_offset(&mut bytes, offset);
                #[cfg(windows)]
                let read =
                    read.and(io::Seek::seek(&mut &*self, io::SeekFrom::Start(cursor)).map(drop));
                read?;
                Ok(View {
                    bytes: ViewBytes::Owned(bytes, PhantomData),
                })
            }
        }
    }
}

/// Bytes of an [`MmapFile`] borrowed without a copy; see [`MmapFile::view`].
///
/// Derefs to `[u8]`. While it lives, `MmapFile` writes that would change its
/// bytes fail with `ResourceBusy`.
pub struct View<'a> {
    bytes: ViewBytes<'a>,
}

enum ViewBytes<'a> {
    #[cfg(mapped_io)]
    Mapped {
        pinner: Pinner<'a>,
        ptr: *const u8,
        len: usize,
        end: u64,
    },
    /// Read into memory, where the file is not mapped.
    Owned(Vec<u8>, PhantomData<&'a MmapFile>),
}

impl<'a> View<'a> {
    /// A view of the `len` bytes at `offset`, from `ptr` on, pinned by
    /// `pinner`.
    #[cfg(mapped_io)]
    fn pinned(pinner: Pinner<'a>, ptr: *const u8, offset: u64, len: usize) -> View<'a> {
        View {
            bytes: ViewBytes::Mapped {
                pinner,
                ptr,
                len,
                end: offset + len as u64,
            },
        }
    }
}

/// What holds a view's pin.
#[cfg(mapped_io)]
enum Pinner<'a> {
    Shared(&'a Inode),
    Private(&'a PrivateMap),
}

#[cfg(mapped_io)]
// SAFETY: a `View` is a shared borrow of bytes that nothing in this process
// writes while it lives (the pin), so it may move to and be shared with
// other threads like `&[u8]`; unpinning takes a lock.
unsafe impl Send for View<'_> {}
#[cfg(mapped_io)]
// SAFETY: as for `Send`.
unsafe impl Sync for View<'_> {}

impl std::ops::Deref for View<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.bytes {
            // SAFETY: `ptr..ptr + len` lies in a window that stays mapped
            // while the inode lives, which the borrow guarantees; the pin
            // keeps this crate's writes out, and `view`'s contract keeps
            // everyone else's out.
            #[cfg(mapped_io)]
            ViewBytes::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            ViewBytes::Owned(bytes, _) => bytes,
        }
    }
}

impl View<'_> {
    /// The records separated by `delim`, found with `memchr`, without the
    /// delimiter; like [`std::io::BufRead::split`], a last record without a
    /// delimiter is yielded, an empty one after a final delimiter is not.
    pub fn records(&self, delim: u8) -> Records<'_> {
        Records { rest: self, delim }
    }

    /// The lines: records separated by `b'\n'`, without it.
    pub fn lines(&self) -> Records<'_> {
        self.records(b'\n')
    }
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        match &self.bytes {
            #[cfg(mapped_io)]
            ViewBytes::Mapped {
                pinner: Pinner::Shared(inode),
                end,
                ..
            } => inode.unpin(*end),
            #[cfg(mapped_io)]
            ViewBytes::Mapped {
                pinner: Pinner::Private(map),
                end,
                ..
            } => map.unpin(*end),
            ViewBytes::Owned(..) => {}
        }
    }
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View").field("len", &self.len()).finish()
    }
}

/// Iterator over the records of a [`View`]; see [`View::records`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    delim: u8,
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (record, rest) = match memchr::memchr(self.delim, self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        Some(record)
    }
}
