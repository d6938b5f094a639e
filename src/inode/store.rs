//! The inode as the [`Store`] of its descriptions: each call handed to
//! its home (reads in `read.rs`, writes in `write.rs`, lengths here and in
//! `length.rs`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;

use super::{At, Inode};
use crate::description::{Io, Store};

impl Store for Inode {
    const SENDS_FILE: bool = true;

    #[inline]
    fn len(&self) -> u64 {
        Inode::len(self)
    }

    fn size(&self, fd: BorrowedFd<'_>) -> io::Result<u64> {
        self.refresh(fd)
    }

    fn send_mapped(
        &self,
        out: BorrowedFd<'_>,
        offset: u64,
        count: usize,
    ) -> Option<io::Result<usize>> {
        Inode::send_mapped(self, out, offset, count)
    }

    #[inline(always)]
    fn read_at(&self, io: &Io<'_>, buf: &mut [MaybeUninit<u8>], offset: u64) -> io::Result<usize> {
        Inode::read_at(self, io.source(), buf, offset)
    }

    fn write(
        &self,
        io: &Io<'_>,
        bufs: &[io::IoSlice<'_>],
        at: At,
    ) -> io::Result<(usize, Option<u64>)> {
        Inode::write(self, io, bufs, at)
    }

    fn caught_up(&self, fd: BorrowedFd<'_>) {
        // Where the kernel's offset went only the kernel knows; the size
        // tells the length.
        let _ = self.refresh(fd);
    }

    fn share_offsets(&self) {
        Inode::share_offsets(self);
    }
}
