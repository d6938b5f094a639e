//! The File-against-MmapFile harness: `std::fs::File` is the specification,
//! so a test runs the same call on twin files (same content), one through
//! each type, and compares the outcomes: the same value, the same bytes in
//! the caller's buffer, or an error of the same `ErrorKind` and
//! `raw_os_error()`; and where `File` refuses a call, nothing changes.
//!
//! - `handle.rs`: [`Handle`], what both types do, so that one call can run
//!   on either (`&mut dyn Handle`); [`Open`], one way to open both;
//!   [`round_trip`] through `into_file` and `try_from`.
//! - `outcome.rs`: [`Fail`] and [`Outcome`], a result made comparable, with
//!   a compact `Debug` (buffers by length, zero count and first bytes);
//!   [`byte_diff`].
//! - `scratch.rs`: [`Twins`] (in a [`Scratch`] directory), twin files of
//!   the same content.
//! - `diffs.rs`: [`both`] runs a call on both and records a difference in
//!   [`Diffs`], which collects every difference of a test and reports them
//!   together; [`refused`] also checks that a refused call changed nothing
//!   ([`State`]); [`Step`] and [`Diffs::steps`] compare sequences of calls.
//! - `reads.rs`: reads that return what they read ([`read_n`],
//!   [`read_at_n`] on Unix, [`seek_read_n`] on Windows, ...), and
//!   [`meta_`].
//!
//! It builds on Unix and on Windows, where [`Handle`]'s positional I/O is
//! Windows' `FileExt` (`seek_read`/`seek_write`, which move the cursor)
//! and [`Meta`] has the file attributes instead of the mode.
//!
//! It uses `std` and `mmapfile` only (no tempfile, no proptest), so that
//! the model test (tests/model, whose `world` module builds on it) and the
//! fuzz crate, which includes both, can take it in with `#[path]` (this
//! file: its modules are found beside it). Each includer uses a part of
//! it: put `#[allow(dead_code)]` on the `mod` line.

mod diffs;
mod handle;
mod outcome;
mod reads;
mod scratch;

// Each includer uses a part of what is re-exported.
#[allow(unused_imports)]
pub use diffs::*;
#[allow(unused_imports)]
pub use handle::*;
#[allow(unused_imports)]
pub use outcome::*;
#[allow(unused_imports)]
pub use reads::*;
#[allow(unused_imports)]
pub use scratch::*;
