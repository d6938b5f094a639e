//! Fork children: each world forks a child holding the world's handles as
//! inherited, which runs the [`Kid`]s of the ops the runner names and
//! answers their outcomes ([`ForkChild`], [`kid_loop`]); and the runner's
//! steps for `Op::Fork` and `Op::Child`.

use std::io::{self, ErrorKind};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitStatus;
use std::time::Duration;

use super::ops::{HANDLES, Kid, Op};
use super::runner::Run;
use super::wire::{recv, send};
use super::worlds::{Model, World, apply_to};
use crate::twin::Outcome;

/// A fork child of one world, and the parent's end of its socket. The
/// parent sends the index (4 bytes) of the `Op::Fork` or `Op::Child` whose
/// `Kid`s it is to run (the child has the ops: it is a copy of the
/// parent), or `u32::MAX` to `_exit`; the child answers each `Kid`'s
/// outcome in one message.
pub(super) struct ForkChild {
    pub(super) pid: libc::pid_t,
    pub(super) sock: UnixStream,
    /// Whether it was waited for.
    pub(super) reaped: bool,
}

pub(super) const KID_EXIT: u32 = u32::MAX;

impl ForkChild {
    pub(super) fn start<T: Model>(world: &mut World<T>, ops: &[Op]) -> io::Result<ForkChild> {
        let (ours, theirs) = UnixStream::pair()?;
        // SAFETY: fork has no memory-safety preconditions of its own; what
        // the child may safely do is the question. The fork-bearing tests
        // run in a process with one test thread (`isolated` in main.rs; the
        // fuzzer's process has one working thread), so no other thread
        // holds a lock the child takes (malloc's, the crate's, stdio's);
        // the child only runs `kid_loop` on its copy of `world`, answers on
        // its socket, and leaves by `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(ours);
            let ok = panic::catch_unwind(AssertUnwindSafe(|| kid_loop(world, ops, theirs)));
            // SAFETY: `_exit` ends this process at once, with no destructor,
            // atexit handler or flush of the stdio buffers copied from the
            // parent: the parent's objects (the other world, the runner's
            // files) are left alone.
            unsafe { libc::_exit(if ok.is_ok() { 0 } else { 101 }) }
        }
        drop(theirs);
        ours.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(ForkChild {
            pid,
            sock: ours,
            reaped: false,
        })
    }

    /// Runs the `Kid`s of `ops[index]` (or exits, for `KID_EXIT`).
    pub(super) fn call(&mut self, index: u32) -> io::Result<Vec<Outcome>> {
        send(&mut self.sock, &index.to_le_bytes())?;
        let answer = recv(&mut self.sock)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "the fork child hung up"))?;
        Outcome::decode_all(&answer)
    }

    /// Waits for it to end; its exit status.
    pub(super) fn wait(&mut self) -> io::Result<ExitStatus> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid place for the status; `pid` is our
            // child, not yet waited for.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                self.reaped = true;
                return Ok(ExitStatus::from_raw(status));
            }
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for ForkChild {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: `pid` is our child, not yet waited for, so the id is
            // still its own.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.wait();
        }
    }
}

/// The fork child's loop: runs the `Kid`s of the ops it is sent, on its
/// copy of `world`, until told to exit or the parent hangs up.
pub(super) fn kid_loop<T: Model>(world: &mut World<T>, ops: &[Op], mut sock: UnixStream) {
    let exit = [Kid::Exit];
    while let Ok(Some(msg)) = recv(&mut sock) {
        let index = msg
            .get(..4)
            .map_or(KID_EXIT, |b| u32::from_le_bytes(b.try_into().expect("4")));
        let kids: &[Kid] = match ops.get(index as usize) {
            Some(Op::Fork { kid } | Op::Child { kid }) => kid,
            _ => &exit,
        };
        let mut answer = Vec::new();
        let mut exiting = false;
        for k in kids {
            let outcome = match k {
                Kid::Do(op) => {
                    match world.slots[op.handle().expect("a handle op").idx()].as_mut() {
                        Some(f) => apply_to(f, op),
                        None => Outcome::not_open(),
                    }
                }
                Kid::Drop(h) => {
                    world.drop_handle(*h);
                    Outcome::unit(Ok(()))
                }
                Kid::DropAll => {
                    for h in HANDLES {
                        world.drop_handle(h);
                    }
                    Outcome::unit(Ok(()))
                }
                Kid::Exit => {
                    exiting = true;
                    Outcome::unit(Ok(()))
                }
            };
            outcome.encode(&mut answer);
            if exiting {
                break;
            }
        }
        if send(&mut sock, &answer).is_err() || exiting {
            return;
        }
    }
}

impl<M: Model> Run<M> {
    /// `Op::Fork` (`fresh`) and `Op::Child`: the worlds' fork children run
    /// `kid`, which must give the same outcomes.
    pub(super) fn fork(
        &mut self,
        at: &str,
        ops: &[Op],
        i: usize,
        kid: &[Kid],
        fresh: bool,
    ) -> Result<(), String> {
        if fresh {
            self.end_kids(&format!("{at} (ending the fork children)"))?;
        }
        if self.kids.is_none() {
            for h in kid.iter().filter_map(Kid::handle) {
                self.open_both(h, at)?;
            }
            let f = ForkChild::start(&mut self.file, ops);
            let m = ForkChild::start(&mut self.mmap, ops);
            match (f, m) {
                (Ok(f), Ok(m)) => self.kids = Some([f, m]),
                (f, m) => {
                    return Err(self.fail(format!(
                        "{at}: fork: File world {:?}, MmapFile world {:?}",
                        f.err(),
                        m.err()
                    )));
                }
            }
            // Forking cuts any padding (the design: every file goes Shared),
            // and the descriptions open now are shared with the child for
            // good; one opened later is alone again, and may pad.
            self.padded = false;
            for h in HANDLES {
                if self.mmap.slots[h.idx()].is_some() {
                    self.pads[h.idx()] = false;
                }
            }
        }
        let index = u32::try_from(i).expect("few ops");
        let [fk, mk] = self.kids.as_mut().expect("forked");
        let (f, m) = (fk.call(index), mk.call(index));
        let (f, m) = match (f, m) {
            (Ok(f), Ok(m)) if f.len() == m.len() => (f, m),
            (f, m) => {
                let mut kids = self.kids.take().expect("forked");
                let fs = describe_end(&mut kids[0]);
                let ms = describe_end(&mut kids[1]);
                return Err(self.fail(format!(
                    "{at}: the fork children answered {}, {}\n    File world's child: {fs}\n    \
                     MmapFile world's child: {ms}",
                    f.map_or_else(|e| format!("File world's: {e}"), |o| format!("{o:?}")),
                    m.map_or_else(|e| format!("MmapFile world's: {e}"), |o| format!("{o:?}")),
                )));
            }
        };
        for (j, (k, (fo, mo))) in kid.iter().zip(f.iter().zip(&m)).enumerate() {
            let len_may_lag = matches!(k, Kid::Do(Op::Len { .. })) && self.stale_len;
            self.compare(&format!("{at}, fork child's #{j}"), k, len_may_lag, fo, mo)?;
        }
        if kid.iter().any(Kid::changes_size) {
            self.stale_len = true;
        }
        if kid.iter().any(|k| matches!(k, Kid::Exit)) {
            let mut kids = self.kids.take().expect("forked");
            self.reap(at, &mut kids)?;
        }
        Ok(())
    }

    /// Tells the fork children (if any) to exit, and waits for them.
    pub(super) fn end_kids(&mut self, at: &str) -> Result<(), String> {
        let Some(mut kids) = self.kids.take() else {
            return Ok(());
        };
        let f = kids[0].call(KID_EXIT);
        let m = kids[1].call(KID_EXIT);
        if let (Err(e), _) | (_, Err(e)) = (&f, &m) {
            let fs = describe_end(&mut kids[0]);
            let ms = describe_end(&mut kids[1]);
            return Err(self.fail(format!(
                "{at}: a fork child did not exit as told ({e})\n    File world's child: \
                 {fs}\n    MmapFile world's child: {ms}"
            )));
        }
        self.reap(at, &mut kids)
    }

    /// Waits for fork children that exited: both must have exited with 0.
    pub(super) fn reap(&self, at: &str, kids: &mut [ForkChild; 2]) -> Result<(), String> {
        let f = kids[0].wait();
        let m = kids[1].wait();
        match (&f, &m) {
            (Ok(f), Ok(m)) if f.success() && m.success() => Ok(()),
            _ => Err(self.fail(format!(
                "{at}: the fork children's exits: File world's {f:?}, MmapFile world's {m:?}"
            ))),
        }
    }
}

/// A fork child's end, for messages (it is killed if still running).
pub(super) fn describe_end(kid: &mut ForkChild) -> String {
    if !kid.reaped {
        // SAFETY: `pid` is our child, not yet waited for (`reaped` is false
        // until `wait`), so the id is still its own.
        unsafe { libc::kill(kid.pid, libc::SIGKILL) };
    }
    match kid.wait() {
        Ok(s) if s.signal() == Some(libc::SIGKILL) => "killed by the runner (no answer)".into(),
        Ok(s) => format!("{s}"),
        Err(e) => format!("wait: {e}"),
    }
}
