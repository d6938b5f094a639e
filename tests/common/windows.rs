//! What tests/windows_*.rs share: Windows' error codes and flags, and
//! checks of a twin pair's errors and cursors.

use std::fs::File;
use std::io::{self, Seek};

use mmapfile::MmapFile;

use super::twin::Diffs;

/// Windows' error codes (winerror.h) the tests expect of `File`.
pub const ERROR_FILE_NOT_FOUND: i32 = 2;
pub const ERROR_ACCESS_DENIED: i32 = 5;
pub const ERROR_SHARING_VIOLATION: i32 = 32;
pub const ERROR_LOCK_VIOLATION: i32 = 33;
pub const ERROR_FILE_EXISTS: i32 = 80;
pub const ERROR_INVALID_PARAMETER: i32 = 87;
/// `FILE_FLAG_BACKUP_SEMANTICS`: what opening a directory takes.
pub const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
pub const FILE_ATTRIBUTE_READONLY: u32 = 0x1;

/// Records a difference unless `r` failed with OS error `code`.
pub fn os_error<T: std::fmt::Debug>(d: &mut Diffs, what: &str, r: &io::Result<T>, code: i32) {
    match r {
        Err(e) if e.raw_os_error() == Some(code) => {}
        other => d.push(format!("{what}: want OS error {code}, got {other:?}")),
    }
}

/// Both cursors, which must agree with each other and with `want`.
pub fn cursors(d: &mut Diffs, what: &str, f: &mut File, m: &mut MmapFile, want: u64) {
    let p = d.same(what, f.stream_position(), m.stream_position());
    d.check(
        p.file.res == Ok(want),
        format!("{what}: want cursor {want}, File's is {:?}", p.file),
    );
}
