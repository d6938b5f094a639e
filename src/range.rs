//! Offsets, checked as the kernel checks them.

use std::io;

/// The largest offset a read or write may reach, as for `pread`/`pwrite`:
/// offsets are `off_t`, a signed 64-bit integer.
pub(crate) const MAX_OFFSET: u64 = i64::MAX as u64;

/// Checks an offset and length as `pread`/`pwrite` do: `EINVAL` if the range
/// does not fit in `off_t`. Returns the end.
#[inline]
pub(crate) fn check_range(offset: u64, len: usize) -> io::Result<u64> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= MAX_OFFSET => Ok(end),
        _ => Err(crate::os::invalid()),
    }
}
