//! [`Handle`]: what `File` and `MmapFile` have in common beyond the I/O
//! traits, so that one call can run on either (`&mut dyn Handle`); [`Open`]:
//! one way to open both; [`round_trip`]: out to a `File` and back.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
// The platform's positional I/O: `read_at`/`write_at` on Unix,
// `seek_read`/`seek_write` (which move the cursor) on Windows.
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(windows)]
use std::os::windows::fs::FileExt;
use std::path::Path;

use mmapfile::MmapFile;

/// What `File` and `MmapFile` have in common beyond the I/O traits. The
/// `h_` prefix keeps these apart from the types' own methods of the same
/// name, which they call.
pub trait Handle: Read + Write + Seek + FileExt + fmt::Debug {
    fn h_open(path: &Path, how: &Open) -> io::Result<Self>
    where
        Self: Sized;
    fn h_try_clone(&self) -> io::Result<Self>
    where
        Self: Sized;
    fn h_set_len(&self, size: u64) -> io::Result<()>;
    /// The length as the handle knows it: `MmapFile::len`, and
    /// `metadata().len()` for `File`.
    fn h_len(&self) -> io::Result<u64>;
    fn h_metadata(&self) -> io::Result<fs::Metadata>;
    /// `stream_position` through `&self` (`&File` and `&MmapFile` seek),
    /// for a look that needs no `&mut`.
    fn h_position(&self) -> io::Result<u64>;
    fn h_sync_all(&self) -> io::Result<()>;
    fn h_sync_data(&self) -> io::Result<()>;
    /// `MmapFile::into_file`; the `File` itself.
    fn h_into_file(self) -> io::Result<File>
    where
        Self: Sized;
    /// `MmapFile::try_from`; the `File` itself.
    fn h_from_file(file: File) -> io::Result<Self>
    where
        Self: Sized;
    /// `MmapFile::is_mapped`; always `false` for `File`.
    fn h_is_mapped(&self) -> bool;
}

/// How to open a handle, for both types at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Open {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    pub create: bool,
    pub create_new: bool,
    /// `MmapFile` only: `OpenOptions::exact_len`.
    pub exact_len: bool,
    /// `MmapFile` only: `OpenOptions::reserve`.
    pub reserve: Option<u64>,
    /// `MmapFile` only: `OpenOptions::background_growth`.
    pub background_growth: bool,
    /// `MmapFile` only: `OpenOptions::map_after` (`None`: the default).
    pub map_after: Option<u32>,
}

impl Open {
    const fn mode(read: bool, write: bool, append: bool) -> Open {
        Open {
            read,
            write,
            append,
            truncate: false,
            create: false,
            create_new: false,
            exact_len: false,
            reserve: None,
            background_growth: false,
            map_after: None,
        }
    }
    pub const RO: Open = Open::mode(true, false, false);
    pub const RW: Open = Open::mode(true, true, false);
    pub const WO: Open = Open::mode(false, true, false);
    /// Append only, not readable.
    pub const APPEND: Open = Open::mode(false, false, true);
    pub const READ_APPEND: Open = Open::mode(true, false, true);
}

/// The methods both types have, under the same names.
macro_rules! same_name_methods {
    () => {
        fn h_try_clone(&self) -> io::Result<Self> {
            self.try_clone()
        }
        fn h_set_len(&self, size: u64) -> io::Result<()> {
            self.set_len(size)
        }
        fn h_metadata(&self) -> io::Result<fs::Metadata> {
            self.metadata()
        }
        fn h_position(&self) -> io::Result<u64> {
            (&mut &*self).stream_position()
        }
        fn h_sync_all(&self) -> io::Result<()> {
            self.sync_all()
        }
        fn h_sync_data(&self) -> io::Result<()> {
            self.sync_data()
        }
    };
}

impl Handle for File {
    same_name_methods!();
    fn h_open(path: &Path, how: &Open) -> io::Result<Self> {
        fs::OpenOptions::new()
            .read(how.read)
            .write(how.write)
            .append(how.append)
            .truncate(how.truncate)
            .create(how.create)
            .create_new(how.create_new)
            .open(path)
    }
    fn h_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn h_into_file(self) -> io::Result<File> {
        Ok(self)
    }
    fn h_from_file(file: File) -> io::Result<Self> {
        Ok(file)
    }
    fn h_is_mapped(&self) -> bool {
        false
    }
}

impl Handle for MmapFile {
    same_name_methods!();
    fn h_open(path: &Path, how: &Open) -> io::Result<Self> {
        let mut o = MmapFile::options();
        o.read(how.read)
            .write(how.write)
            .append(how.append)
            .truncate(how.truncate)
            .create(how.create)
            .create_new(how.create_new)
            .exact_len(how.exact_len)
            .background_growth(how.background_growth);
        if let Some(r) = how.reserve {
            o.reserve(r);
        }
        if let Some(calls) = how.map_after {
            o.map_after(calls);
        }
        o.open(path)
    }
    fn h_len(&self) -> io::Result<u64> {
        self.len()
    }
    fn h_into_file(self) -> io::Result<File> {
        self.into_file()
    }
    fn h_from_file(file: File) -> io::Result<Self> {
        MmapFile::try_from(file)
    }
    fn h_is_mapped(&self) -> bool {
        self.is_mapped()
    }
}

/// `into_file`, then `try_from` that `File` (for `File`: itself, as is):
/// the `File`'s offset in between, which must be the cursor, and the handle
/// again, or the error of either step (and no handle).
pub fn round_trip<T: Handle>(h: T) -> (io::Result<u64>, Option<T>) {
    let mut file = match h.h_into_file() {
        Ok(file) => file,
        Err(e) => return (Err(e), None),
    };
    let pos = file.stream_position();
    match T::h_from_file(file) {
        Ok(h) => (pos, Some(h)),
        Err(e) => (Err(e), None),
    }
}
