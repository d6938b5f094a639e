//! What the unit tests of the inode's parts share.

use crate::{Backend, MmapFile};

/// The inode of a mapped handle (mapping it now if it maps later).
pub(super) fn inode(f: &MmapFile) -> &super::Inode {
    match f.mapped_backend() {
        Backend::Shared(desc) => &desc.store,
        _ => panic!("not mapped"),
    }
}

/// Opens `path` to read and write, created if missing, mapped at open.
pub(super) fn open_rw(path: &std::path::Path) -> MmapFile {
    MmapFile::options()
        .read(true)
        .write(true)
        .create(true)
        .map_after(0)
        .open(path)
        .unwrap()
}

/// Opens `path` to read, mapped at open.
pub(super) fn open_ro(path: &std::path::Path) -> MmapFile {
    MmapFile::options()
        .read(true)
        .map_after(0)
        .open(path)
        .unwrap()
}

/// Writes `record` through `f` until its inode is biased towards it (see
/// `fast.rs`); returns the bytes written.
pub(super) fn write_until_biased(f: &mut MmapFile, record: &[u8]) -> u64 {
    let mut written = 0u64;
    while !inode(f).bias.is_biased() {
        assert!(written < 64 * record.len() as u64, "never biased");
        std::io::Write::write_all(f, record).unwrap();
        written += record.len() as u64;
    }
    written
}
