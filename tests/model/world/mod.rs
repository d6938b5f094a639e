//! The model's core, shared by the proptest test (`main.rs`) and the
//! `model` fuzz target (fuzz/fuzz_targets/model.rs, which includes this
//! file with `#[path]`, and tests/common/twin beside it): the operations,
//! the two worlds, the other actors, and [`run`], which plays a sequence of
//! operations on both worlds and compares every result. It needs only
//! `std`, `libc`, `mmapfile` and the File-against-MmapFile harness
//! (tests/common/twin: its `Handle`, `Open`, `Outcome`, `Scratch`, ...),
//! which the including crate declares as `crate::twin`, so that the fuzz
//! crate can build it.
//!
//! # Modules
//! - `ops.rs`: the operations ([`Op`], [`H`], [`Data`], [`Ext`], [`Out`],
//!   [`Pos`], [`Kid`]) and a case's [`Cfg`];
//! - `worlds.rs`: the two worlds, and an operation applied to one;
//! - `wire.rs`: messages to and from the other processes;
//! - `outsider.rs`: the outsider process, its protocol, and its step;
//! - `fork.rs`: the fork children, and their steps;
//! - `checks.rs`: what is compared after every operation;
//! - `runner.rs`: [`run`] and [`run_twins`], a case step by step.
//!
//! `File` is the specification. Each world has one file and up to five
//! handles to it: the main read-write handle (read-append with
//! [`Cfg::main_append`]), a `try_clone` of it (sharing its cursor), an
//! independently opened read+append handle, a read-only handle and a
//! write-only handle. After every operation [`run`] compares the operation's
//! result (values, buffers, `ErrorKind` and `raw_os_error`), every live
//! handle's `stream_position`, `MmapFile::len` against the `File` world's
//! length, the size on disk (`stat`) and, with [`Cfg::observe`], the bytes
//! on disk (read through an `open`).
//!
//! # Actors outside this process
//! - **The outsider** ([`Op::Outsider`]): a real second process per world
//!   (this test binary run again, see [`set_outsider_command`] and
//!   [`serve_outsider`]), holding plain `File`s on the world's path: one
//!   read-write, one `O_APPEND`, each opened when first needed and kept
//!   until [`Out::Close`]. It writes anywhere (just past our length, inside
//!   our growth step, or far), appends, sets the length, reads, asks for
//!   sizes and syncs, interleaved with our calls and with no flush of ours
//!   before. Both worlds' outsiders get the same command; their results
//!   must agree exactly. The runner talks to each over a Unix socket pair
//!   that is the outsider's stdin: a command or an answer is a 4-byte
//!   little-endian length and that many bytes ([`Cmd`], [`Outcome`]
//!   encoded); the outsider's stdout (where libtest prints) goes nowhere.
//!   Outsiders are spawned once per thread and kept between cases.
//! - **Fork** ([`Op::Fork`], [`Op::Child`]): each world forks a child that
//!   holds the world's handles as inherited, runs short lists of [`Kid`]
//!   operations on them (reads, writes, seeks, `set_len`, drops) when the
//!   runner sends it the index of the op that lists them, answers each
//!   result over a socket pair, and stays alive, holding its copies, until
//!   a [`Kid::Exit`], the next `Fork`, or the end of the case. The File
//!   world's child touches only the File world's handles, the MmapFile
//!   world's child only the MmapFile world's. Parent and child share each
//!   description's cursor as File's share the file offset: the parent's
//!   cursors after a child's reads and writes, the bytes, and the sizes
//!   must be File's. Forking is safe only where no other thread can hold a
//!   lock the child needs (malloc's, stdio's, the crate's): the test runs
//!   its fork-bearing cases in a process of their own with one test thread
//!   (see `isolated` in main.rs); the child never prints and leaves by
//!   `_exit` (no destructors, no atexit handlers).
//!
//! # Sizes on disk
//! After issue 11 (see /work/notes/issue11-design.md): every `open()` of the
//! file, by anyone, sees the exact size and bytes (so the runner's reads of
//! the file, an `open`, must match byte for byte, always). Only a path
//! `stat()`, which opens nothing, may show more, by up to one growth step,
//! and only while the MmapFile world's file has exactly one open file
//! description (`Main` and its clones), not `exact_len`, not from
//! `try_from` (`IntoFile`), not a memfd (the world keeps a second
//! description of those), with no outsider handle open and no fork child
//! alive, and a write went through it since the last moment something
//! forced the exact size (an open by anyone, a second description, a
//! fork). [`Cfg::observe`] off reads the file only at the end, so that a
//! case can run long stretches with one handle undisturbed.
//!
//! `External` operations are the older "another process": a plain `File`
//! opened on the path in this process writes, appends or sets the length
//! (after `Main` flushes). No handle is told; every result after it, and
//! after every outsider or fork child change, must still match `File`'s.
//! Only `MmapFile::len` may lag, as documented, until `metadata`, a seek
//! from the end, or a read to the end.
//!
//! With [`Cfg::anonymous`], the `MmapFile` world's file is a memfd: its
//! `Main` handle starts as `MmapFile::anonymous()`, and every other handle,
//! reopen and outside change goes through `/proc/self/fd/N` (the
//! outsider's through `/proc/<our pid>/fd/N`), which opens the memfd again.
//! The `File` world keeps an ordinary file.
//!
//! [`run_twins`] plays the same with a `File` in both worlds: the harness'
//! own check, which must never fail.

mod checks;
mod fork;
mod ops;
mod outsider;
mod runner;
mod wire;
mod worlds;

// Each includer uses a part of what is re-exported.
#[allow(unused_imports)]
pub use ops::{Cfg, Data, Ext, H, Kid, Op, Out, Pos};
#[allow(unused_imports)]
pub use outsider::{is_outsider, serve_outsider, set_outsider_command};
#[allow(unused_imports)]
pub use runner::{run, run_twins};
