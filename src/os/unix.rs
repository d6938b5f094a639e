//! Unix where the crate does not map files (macOS, the BSDs, Linux on CPUs
//! without a copy routine): the few calls the system-call backend needs.

use std::fs::File;
use std::io;

use rustix::io::Errno;

/// `sysconf(_SC_PAGESIZE)`: the size of a page of memory.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// The error `File` reports for an offset out of range: `EINVAL`.
pub(crate) fn invalid() -> io::Error {
    Errno::INVAL.into()
}

/// A file created and unlinked at once in the temporary directory, for
/// `MmapFile::anonymous`.
pub(crate) fn anonymous_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        ".mmapfile-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}
