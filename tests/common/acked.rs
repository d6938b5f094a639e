//! Writing until the first error (a full disk, a file-size limit), then
//! checking that every acknowledged byte is in the file, and nothing else.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::pattern::{pat, pattern};

/// An error's kind and number, for messages.
pub fn kind(e: &io::Error) -> String {
    format!("{:?} (os error {:?})", e.kind(), e.raw_os_error())
}

/// Writes `chunk`-byte pieces of the pattern with `write` until it fails
/// (or more than `cap` bytes went in); returns the bytes acknowledged and
/// the error. An `Ok(0)` fails the test.
pub fn fill(w: &mut dyn Write, chunk: usize, cap: u64) -> (u64, Option<io::Error>) {
    let mut acked = 0u64;
    loop {
        if acked > cap {
            return (acked, None);
        }
        match w.write(&pattern(acked, chunk)) {
            Ok(0) => panic!("write returned Ok(0) after {acked} bytes"),
            Ok(n) => {
                assert!(n <= chunk);
                acked += n as u64;
            }
            Err(e) => return (acked, Some(e)),
        }
    }
}

/// Every acknowledged byte is there, and nothing else.
pub fn check_contents(path: &Path, acked: u64, who: &str) {
    let got = fs::read(path).unwrap();
    assert_eq!(
        got.len() as u64,
        acked,
        "{who}: file length after close vs bytes acknowledged"
    );
    if let Some(i) = got
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pat(i as u64))
    {
        panic!(
            "{who}: acknowledged byte {i} is {:#04x}, written {:#04x}",
            got[i],
            pat(i as u64)
        );
    }
}
