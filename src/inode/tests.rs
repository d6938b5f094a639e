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
