//! The bytes the test files hold, derived from their offsets, so that a
//! byte read back shows whether it is the one written there.

/// The byte at `offset`: never zero (a zero is always one that a
/// truncation, an extension or a hole made), never 0xff.
pub fn pat(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

/// `len` bytes of [`pat`] from `from`.
pub fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(pat).collect()
}

/// Writes `len` bytes of [`pattern`] from 0 to `path`; returns them.
pub fn pattern_file(path: &std::path::Path, len: usize) -> Vec<u8> {
    let bytes = pattern(0, len);
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// `n` bytes of another never-zero sequence, for the File-against-MmapFile
/// files.
pub fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 + 1).collect()
}
