//! A world of one handle type (`File` or `MmapFile`) and how it plays an
//! operation.

use std::fs::{File, TryLockError};
use std::io::{self, IoSlice};
use std::path::Path;

use mmapfile::MmapFile;

use crate::common::twin::{
    Handle, Outcome, meta_, read_n, read_to_end_, read_vectored_n, round_trip, seek_read_n,
};
use crate::strategies::*;

/// A world: the file and its live handles, all of one type.
pub(crate) struct World<'a, T: Handle> {
    pub(crate) path: &'a Path,
    pub(crate) handles: Vec<T>,
}

/// `try_lock`'s result as a number: 0 taken, 1 `WouldBlock`.
pub(crate) fn lock_outcome(r: Result<(), TryLockError>) -> io::Result<u64> {
    match r {
        Ok(()) => Ok(0),
        Err(TryLockError::WouldBlock) => Ok(1),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The locks of a `Handle`, which the trait does not have.
pub(crate) trait Locks {
    fn try_lock_(&self, shared: bool) -> io::Result<u64>;
    fn unlock_(&self) -> io::Result<()>;
}

/// `File` and `MmapFile` have the same lock methods.
macro_rules! impl_locks {
    ($($t:ty),*) => {$(
        impl Locks for $t {
            fn try_lock_(&self, shared: bool) -> io::Result<u64> {
                lock_outcome(if shared {
                    self.try_lock_shared()
                } else {
                    self.try_lock()
                })
            }
            fn unlock_(&self) -> io::Result<()> {
                self.unlock()
            }
        }
    )*};
}
impl_locks!(File, MmapFile);

impl<T: Handle + Locks> World<'_, T> {
    /// Runs `op`; `None` if there is no handle to run it on.
    pub(crate) fn step(&mut self, op: &Op) -> Option<Outcome> {
        let n = self.handles.len();
        let pick = |h: usize| if n == 0 { None } else { Some(h % n) };
        let out = match *op {
            Op::Open { mode } => {
                let r = T::h_open(self.path, &MODES[mode].1);
                let out = Outcome::unit(r.as_ref().map(drop).map_err(clone_error));
                if let Ok(h) = r {
                    self.handles.push(h);
                }
                return Some(out);
            }
            Op::TryClone { h } => {
                let i = pick(h)?;
                let r = self.handles[i].h_try_clone();
                let out = Outcome::unit(r.as_ref().map(drop).map_err(clone_error));
                if let Ok(c) = r {
                    self.handles.push(c);
                }
                out
            }
            Op::Drop { h } => {
                let i = pick(h)?;
                drop(self.handles.remove(i));
                Outcome::unit(Ok(()))
            }
            Op::RoundTrip { h } => {
                let i = pick(h)?;
                let (pos, back) = round_trip(self.handles.remove(i));
                if let Some(back) = back {
                    self.handles.insert(i, back);
                }
                Outcome::of(pos)
            }
            ref op => {
                let i = pick(op_handle(op))?;
                let h = &mut self.handles[i];
                match *op {
                    Op::Read { n, .. } => Outcome::bytes(read_n(h, n)),
                    Op::ReadToEnd { .. } => Outcome::bytes(read_to_end_(h)),
                    Op::ReadVectored { a, b, .. } => Outcome::bytes(read_vectored_n(h, a, b)),
                    Op::Write { data, .. } => Outcome::count(h.write(&data.bytes())),
                    Op::WriteVectored { a, b, .. } => {
                        let (a, b) = (a.bytes(), b.bytes());
                        Outcome::count(h.write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)]))
                    }
                    Op::Seek { to, .. } => Outcome::of(h.seek(to)),
                    Op::SeekRead { n, off, .. } => Outcome::bytes(seek_read_n(h, n, off)),
                    Op::SeekWrite { data, off, .. } => {
                        Outcome::count(h.seek_write(&data.bytes(), off))
                    }
                    Op::SetLen { len, .. } => Outcome::unit(h.h_set_len(len)),
                    Op::Metadata { .. } => {
                        let m = meta_(h);
                        let text = m.map(|m| format!("{m:?}").into_bytes());
                        Outcome::bytes(text)
                    }
                    Op::Len { .. } => Outcome::of(h.h_len()),
                    Op::Position { .. } => Outcome::of(h.stream_position()),
                    Op::TryLock { shared, .. } => Outcome::of(h.try_lock_(shared)),
                    Op::Unlock { .. } => Outcome::unit(h.unlock_()),
                    Op::SyncData { .. } => Outcome::unit(h.h_sync_data()),
                    Op::Flush { .. } => Outcome::unit(h.flush()),
                    _ => unreachable!(),
                }
            }
        };
        Some(out)
    }

    /// Every live handle's cursor.
    pub(crate) fn cursors(&self) -> Vec<Outcome> {
        self.handles
            .iter()
            .map(|h| Outcome::of(h.h_position()))
            .collect()
    }
}

/// The handle an operation that needs one runs on.
pub(crate) fn op_handle(op: &Op) -> usize {
    match *op {
        Op::Read { h, .. }
        | Op::ReadToEnd { h }
        | Op::ReadVectored { h, .. }
        | Op::Write { h, .. }
        | Op::WriteVectored { h, .. }
        | Op::Seek { h, .. }
        | Op::SeekRead { h, .. }
        | Op::SeekWrite { h, .. }
        | Op::SetLen { h, .. }
        | Op::TryClone { h }
        | Op::Drop { h }
        | Op::Metadata { h }
        | Op::Len { h }
        | Op::Position { h }
        | Op::RoundTrip { h }
        | Op::TryLock { h, .. }
        | Op::Unlock { h }
        | Op::SyncData { h }
        | Op::Flush { h } => h,
        Op::Open { .. } => 0,
    }
}

/// An error with the same kind and OS code (`io::Error` is not `Clone`).
pub(crate) fn clone_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::from(e.kind()),
    }
}
