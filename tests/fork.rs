//! Issue 11, rows 3 and 4, and "What must hold" item 2: `fork` with a
//! handle open. A forked child and its parent share the handle's open file
//! description, so with `File` they share the file offset (the cursor), the
//! size is the kernel's, and neither side's close or write loses what the
//! other wrote:
//! - row 3: the parent writes, the child drops its inherited handle: the
//!   parent's bytes stay (MmapFile today: the child's drop cuts the file to
//!   the child's length);
//! - row 4: the child writes `C`, then the parent writes `P` through the
//!   same handle: `... C P`, as the offset is shared (MmapFile today: the
//!   cursor is per process, `P` overwrites `C`);
//! - both sides write in turn several times, through a cursor handle and
//!   through an O_APPEND handle; the child appends through a handle of its
//!   own while the parent appends through the inherited one.
//!
//! Forking the multi-threaded test harness is hazardous, so each scenario
//! runs in a child process of the test binary (`common::child`), which runs
//! it once with `File` and once with `MmapFile` and compares what both
//! sides saw and the bytes on disk. The forked child does only simple I/O
//! on the handle and the pipes, then `_exit`s; the two sides take turns
//! over pipes, never by sleeping.

// Unix only: child processes, libc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::child::{child, child_mode, describe};
use common::outsider::{Diffs, Opts, Twin, outcome, picture};

// ---------------------------------------------------------------------------
// fork, with two pipes to take turns and a report from the child
// ---------------------------------------------------------------------------

/// One side's ends of the two pipes between a forked child and its parent.
struct Chan {
    rx: File,
    tx: File,
}

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 just returned these descriptors, owned by no one else.
    unsafe {
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

impl Chan {
    /// Lets the other side go on.
    fn go(&mut self) {
        self.tx.write_all(b"T").unwrap();
    }

    /// Waits for the other side's `go`. In the parent, a child that ended
    /// instead is reported.
    fn wait(&mut self) {
        let mut b = [0];
        let n = self.rx.read(&mut b).unwrap();
        if n == 1 && b[0] == b'T' {
            return;
        }
        let mut rest = String::new();
        let _ = self.rx.read_to_string(&mut rest);
        panic!(
            "the other side ended instead of taking its turn: {}{rest}",
            String::from_utf8_lossy(&b[..n])
        );
    }
}

/// The parent's side of a forked child.
struct Forked {
    pid: libc::pid_t,
    chan: Chan,
}

impl Forked {
    /// Waits for the child to exit; returns its report (one line per
    /// thing it saw).
    fn finish(mut self) -> Vec<String> {
        let mut text = String::new();
        self.chan.rx.read_to_string(&mut text).unwrap();
        let mut status = 0;
        // SAFETY: `pid` is our child, not yet waited for.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(rc, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        let report = text.strip_prefix('R').unwrap_or(&text);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "forked child: wait status {status:#x}, report {report:?}"
        );
        report.lines().map(str::to_string).collect()
    }
}

/// Forks. The child runs `f` (which may `wait` and `go`), sends what it
/// returns as its report and `_exit`s, without running any destructor or
/// returning into the harness; the parent gets the child's pid and its
/// side of the pipes.
fn fork_with(f: impl FnOnce(&mut Chan) -> Vec<String>) -> Forked {
    let (to_child_rx, to_child_tx) = pipe();
    let (to_parent_rx, to_parent_tx) = pipe();
    // SAFETY: this process (a child of the test binary running one test)
    // has no other thread that holds a lock the forked child needs: the
    // child only writes through the handle and the pipes, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop((to_child_tx, to_parent_rx));
        let mut chan = Chan {
            rx: to_child_rx,
            tx: to_parent_tx,
        };
        let (code, report) = match catch_unwind(AssertUnwindSafe(|| f(&mut chan))) {
            Ok(lines) => (0, lines.join("\n")),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                (101, format!("panic: {msg}"))
            }
        };
        let _ = chan.tx.write_all(format!("R{report}").as_bytes());
        // SAFETY: ends the forked child at once, as a forked child of a
        // multi-threaded program should.
        unsafe { libc::_exit(code) };
    }
    drop((to_child_rx, to_parent_tx));
    Forked {
        pid,
        chan: Chan {
            rx: to_parent_rx,
            tx: to_child_tx,
        },
    }
}

// ---------------------------------------------------------------------------
// Scenarios, each run on File and on MmapFile
// ---------------------------------------------------------------------------

/// What both sides saw, and the file's bytes once both closed.
struct Seen {
    parent: Vec<String>,
    child: Vec<String>,
    disk: String,
}

fn read_all<T: Twin>(h: &T) -> String {
    let mut buf = vec![0xff; 1 << 16];
    match h.read_at(&mut buf, 0) {
        Ok(n) => format!("read back {}", picture(&buf[..n])),
        Err(e) => format!("read back {}", outcome::<()>(&Err(e))),
    }
}

fn open<T: Twin>(path: &Path, opts: Opts) -> T {
    let mut h = T::open_with(&opts, path).unwrap();
    // A write before the fork, so that both sides inherit a grown file.
    h.write_all(b"head").unwrap();
    h
}

/// Row 3 as the issue has it: the parent writes, then the child drops its
/// inherited handle; the parent writes again and closes.
fn parent_writes_child_drops<T: Twin>(path: &Path) -> Seen {
    let mut slot = Some(open::<T>(path, Opts::rw()));
    let forked = fork_with(|chan| {
        chan.wait();
        drop(slot.take());
        chan.go();
        vec!["dropped".into()]
    });
    let mut chan_forked = forked;
    let h = slot.as_mut().unwrap();
    let mut parent = vec![outcome(&h.write_all(b"parent-1"))];
    chan_forked.chan.go();
    chan_forked.chan.wait();
    parent.push(outcome(&h.write_all(b"parent-2")));
    parent.push(outcome(&h.stream_position()));
    parent.push(read_all(h));
    let child = chan_forked.finish();
    drop(slot);
    Seen {
        parent,
        child,
        disk: picture(&fs::read(path).unwrap()),
    }
}

/// The parent writes and closes first; then the child, which never wrote,
/// drops its handle.
fn parent_closes_then_child_drops<T: Twin>(path: &Path) -> Seen {
    let mut slot = Some(open::<T>(path, Opts::rw()));
    let mut forked = fork_with(|chan| {
        chan.wait();
        drop(slot.take());
        vec!["dropped".into()]
    });
    let mut h = slot.take().unwrap();
    let parent = vec![outcome(&h.write_all(b"parent-1"))];
    drop(h);
    forked.chan.go();
    let child = forked.finish();
    Seen {
        parent,
        child,
        disk: picture(&fs::read(path).unwrap()),
    }
}

/// The child writes and drops its handle first; the parent writes after.
fn child_writes_and_drops<T: Twin>(path: &Path) -> Seen {
    let mut slot = Some(open::<T>(path, Opts::rw()));
    let mut forked = fork_with(|chan| {
        let mut h = slot.take().unwrap();
        let mut seen = vec![outcome(&h.write_all(b"child"))];
        seen.push(outcome(&h.stream_position()));
        drop(h);
        chan.go();
        seen
    });
    forked.chan.wait();
    let h = slot.as_mut().unwrap();
    let mut parent = vec![outcome(&h.stream_position())];
    parent.push(outcome(&h.write_all(b"parent")));
    parent.push(outcome(&h.stream_position()));
    parent.push(read_all(h));
    let child = forked.finish();
    drop(slot);
    Seen {
        parent,
        child,
        disk: picture(&fs::read(path).unwrap()),
    }
}

/// Row 4 and more: the two sides write in turn, `rounds` times each, the
/// child first, through the inherited handle (opened with `opts`), or, with
/// `own_handle`, the child through a handle it opens itself after the fork.
/// The child leaves by `_exit` without closing anything.
fn take_turns<T: Twin>(path: &Path, opts: Opts, rounds: usize, own_handle: bool) -> Seen {
    let mut h = open::<T>(path, opts);
    let inherited = &mut h;
    let mut forked = fork_with(|chan| {
        let mut own = own_handle.then(|| T::open_with(&opts, path).unwrap());
        let h = match own.as_mut() {
            Some(own) => own,
            None => inherited,
        };
        let mut seen = Vec::new();
        for i in 1..=rounds {
            seen.push(outcome(&h.write_all(format!("C{i}").as_bytes())));
            seen.push(outcome(&h.stream_position()));
            chan.go();
            chan.wait();
        }
        std::mem::forget(own);
        seen
    });
    let mut parent = Vec::new();
    for i in 1..=rounds {
        forked.chan.wait();
        parent.push(outcome(&h.write_all(format!("P{i}").as_bytes())));
        parent.push(outcome(&h.stream_position()));
        forked.chan.go();
    }
    let child = forked.finish();
    if opts.read {
        parent.push(read_all(&h));
    }
    drop(h);
    Seen {
        parent,
        child,
        disk: picture(&fs::read(path).unwrap()),
    }
}

type Scenario = fn(&Path) -> Seen;
/// A scenario by name, run on a path.
type Named = (&'static str, Box<dyn Fn(&Path) -> Seen>);

/// The scenarios, by name, for one type.
fn scenarios<T: Twin>() -> Vec<Named> {
    let append = Opts {
        read: true,
        ..Opts::append_only()
    };
    let s: Vec<Named> = vec![
        (
            "drop: row 3, parent writes, child drops its handle",
            Box::new(parent_writes_child_drops::<T> as Scenario),
        ),
        (
            "drop: parent writes and closes, then child drops its handle",
            Box::new(parent_closes_then_child_drops::<T> as Scenario),
        ),
        (
            "drop: child writes and drops its handle, then parent writes",
            Box::new(child_writes_and_drops::<T> as Scenario),
        ),
        (
            "turns: row 4, child writes C, then parent writes P, same handle",
            Box::new(|p: &Path| take_turns::<T>(p, Opts::rw(), 1, false)),
        ),
        (
            "turns: both write in turn 4 times, same cursor handle",
            Box::new(|p: &Path| take_turns::<T>(p, Opts::rw(), 4, false)),
        ),
        (
            "turns: both append in turn 4 times, same O_APPEND handle",
            Box::new(move |p: &Path| take_turns::<T>(p, append, 4, false)),
        ),
        (
            "turns: child appends through its own O_APPEND handle, parent through the inherited one",
            Box::new(move |p: &Path| take_turns::<T>(p, append, 4, true)),
        ),
    ];
    s
}

/// In the child of the test binary: the scenarios whose name starts with
/// `group`, on both types, compared.
fn run_worlds(group: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut diffs = Diffs::default();
    for (i, ((what, file), (_, mmap))) in scenarios::<File>()
        .into_iter()
        .zip(scenarios::<MmapFile>())
        .enumerate()
        .filter(|(_, ((what, _), _))| what.starts_with(group))
    {
        let f = file(&dir.path().join(format!("file-{i}")));
        let m = mmap(&dir.path().join(format!("mmap-{i}")));
        diffs.same(&format!("{what}: parent saw"), &f.parent, &m.parent);
        diffs.same(&format!("{what}: child saw"), &f.child, &m.child);
        diffs.same(&format!("{what}: bytes on disk"), &f.disk, &m.disk);
    }
    diffs.check(&format!("fork with a handle open, {group}"));
}

fn run_in_child(test: &str, group: &str) {
    if child_mode(test).is_some() {
        run_worlds(group);
        return;
    }
    let out = child(test, group).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// Row 3, and the other orders of writing and closing: nothing either side
/// acknowledged is lost whichever side drops first.
#[test]
fn fork_a_drop_on_either_side_keeps_what_the_other_wrote() {
    run_in_child(
        "fork_a_drop_on_either_side_keeps_what_the_other_wrote",
        "drop:",
    );
}

/// Row 4 and the turn-taking variants: the two sides share the cursor, and
/// appends from both land one after the other.
#[test]
fn fork_both_sides_share_the_cursor_and_the_end() {
    run_in_child("fork_both_sides_share_the_cursor_and_the_end", "turns:");
}
