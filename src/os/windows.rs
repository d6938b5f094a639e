//! Windows, where the crate does not map files: the few calls the
//! system-call backend needs.

use std::fs::File;
use std::io;
use std::os::windows::fs::OpenOptionsExt;

/// `GetSystemInfo().dwPageSize`: the size of a page of memory.
///
/// # References
///  - [Windows](https://learn.microsoft.com/en-us/windows/win32/api/sysinfoapi/nf-sysinfoapi-getsysteminfo)
pub(crate) fn page_size() -> usize {
    use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
    let mut info = std::mem::MaybeUninit::<SYSTEM_INFO>::zeroed();
    // SAFETY: GetSystemInfo fills the structure it is given and cannot fail.
    unsafe {
        GetSystemInfo(info.as_mut_ptr());
        info.assume_init().dwPageSize as usize
    }
}

/// The error for an offset out of range: `InvalidInput`, as `File` gives
/// for an offset its `seek_read`/`seek_write` cannot take.
pub(crate) fn invalid() -> io::Error {
    io::Error::from(io::ErrorKind::InvalidInput)
}

/// A temporary file that Windows deletes when its last handle closes
/// (`FILE_FLAG_DELETE_ON_CLOSE`), for `MmapFile::anonymous`; marked
/// `FILE_ATTRIBUTE_TEMPORARY`, so that the cache manager keeps its pages
/// in memory rather than writing them back. A name another file already
/// has (left by an earlier process with the same id, say) is passed over.
///
/// # References
///  - [Windows](https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-createfilew)
pub(crate) fn anonymous_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_ATTRIBUTE_TEMPORARY, FILE_FLAG_DELETE_ON_CLOSE, FILE_SHARE_DELETE, FILE_SHARE_READ,
        FILE_SHARE_WRITE,
    };
    static SEQ: AtomicU64 = AtomicU64::new(0);
    loop {
        let path = std::env::temp_dir().join(format!(
            ".mmapfile-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
            .custom_flags(FILE_FLAG_DELETE_ON_CLOSE)
            .attributes(FILE_ATTRIBUTE_TEMPORARY)
            .open(&path)
        {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            r => return r,
        }
    }
}
