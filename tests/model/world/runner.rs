//! The runner: [`run`] plays a case on the `File` world and the world under
//! test, operation by operation ([`Run::step`]), and checks after each
//! (see checks.rs); [`run_twins`] plays it with a `File` in both.

use std::fs::{self, File};
use std::io::{self, SeekFrom};

use mmapfile::MmapFile;

use super::fork::ForkChild;
use super::ops::{Cfg, H, HANDLES, Op};
use super::outsider::Outsider;
use super::worlds::{Model, World};
use crate::twin::{Outcome, Scratch};

/// The runner: the `File` world, the world under test (`MmapFile`, or a
/// `File` again for [`run_twins`]), their outsiders and fork children.
pub(super) struct Run<M: Model> {
    pub(super) cfg: Cfg,
    pub(super) file: World<File>,
    pub(super) mmap: World<M>,
    /// Per slot of the `MmapFile` world: which open file description the
    /// handle is (`Clone` shares `Main`'s), to count them.
    pub(super) desc: [u32; 5],
    pub(super) next_desc: u32,
    /// Per slot: whether writes through it may pad the file (opened
    /// without `exact_len`, not by `try_from`).
    pub(super) pads: [bool; 5],
    /// Whether a write through a handle that may pad happened since the last
    /// moment something forced the exact size.
    pub(super) padded: bool,
    /// Whether `MmapFile::len` may not have caught up with an outside change
    /// yet: documented to catch up after `metadata`, a seek from the end, or
    /// a read to the end.
    pub(super) stale_len: bool,
    /// The outsiders (the `File` world's, the `MmapFile` world's), started
    /// at the first `Op::Outsider`.
    pub(super) outsiders: Option<[Outsider; 2]>,
    /// Whether an outsider holds a handle of the file.
    pub(super) outsider_holds: bool,
    /// The living fork children (the `File` world's, the `MmapFile`
    /// world's).
    pub(super) kids: Option<[ForkChild; 2]>,
    /// The operations so far, for messages.
    pub(super) log: Vec<String>,
}

impl<M: Model> Run<M> {
    pub(super) fn open_both(&mut self, h: H, at: &str) -> Result<(), String> {
        let main_open = self.mmap.slots[H::Main.idx()].is_some();
        let f = self.file.ensure(h);
        let m = self.mmap.ensure(h);
        match (f, m) {
            (None, None) => Ok(()),
            (Some(f), Some(m)) => {
                if h == H::Clone && main_open {
                    self.desc[h.idx()] = self.desc[H::Main.idx()];
                    self.pads[h.idx()] = self.pads[H::Main.idx()];
                } else {
                    self.new_desc(h);
                }
                self.compare(
                    &format!("{at} (opening {h:?})"),
                    &Op::StreamPosition { h },
                    false,
                    &f,
                    &m,
                )
            }
            _ => Err(self.fail(format!("{at}: {h:?} open in one world only"))),
        }
    }

    /// `h` was opened as a new description, by `open_as`.
    pub(super) fn new_desc(&mut self, h: H) {
        self.next_desc += 1;
        self.desc[h.idx()] = self.next_desc;
        self.pads[h.idx()] = !self.cfg.exact_len;
    }

    pub(super) fn step(&mut self, ops: &[Op], i: usize) -> Result<(), String> {
        let at = format!("op #{i}");
        let op = &ops[i];
        self.log.push(format!("{op:?}"));
        match op {
            Op::Outsider { cmd } => self.outsider(&at, cmd)?,
            Op::Fork { kid } => self.fork(&at, ops, i, kid, true)?,
            Op::Child { kid } => self.fork(&at, ops, i, kid, false)?,
            op => self.local(&at, op)?,
        }
        self.settle();
        self.check_state(&at)?;
        self.settle();
        Ok(())
    }

    /// An operation in this process, in both worlds.
    pub(super) fn local(&mut self, at: &str, op: &Op) -> Result<(), String> {
        if let Some(h) = op.handle() {
            self.open_both(h, at)?;
        }
        let pads = op.handle().is_some_and(|h| self.pads[h.idx()]);
        let op = &match *op {
            Op::Drop { h: H::Main } => Op::Reopen { truncate: false },
            ref op => op.clone(),
        };
        if let Op::Reopen { .. } = op {
            // Main's description may be the file's last: check it closed.
            self.file.drop_handle(H::Main);
            self.mmap.drop_handle(H::Main);
            self.settle();
            self.check_state(&format!("{at} (after dropping Main)"))?;
            self.settle();
        }
        let f = self.file.apply(op);
        let m = self.mmap.apply(op);
        let len_may_lag = matches!(op, Op::Len { .. }) && self.stale_len;
        self.compare(at, op, len_may_lag, &f, &m)?;
        match *op {
            // `TryFrom<File>` never pads (the design: it never leases).
            Op::IntoFile { h } => {
                let d = self.desc[h.idx()];
                for s in HANDLES {
                    if self.desc[s.idx()] == d {
                        self.pads[s.idx()] = false;
                    }
                }
            }
            Op::Reopen { .. } => self.new_desc(H::Main),
            // It opens the file: the exact size from then on.
            Op::External { .. } => {
                self.stale_len = true;
                self.padded = false;
            }
            Op::Metadata { .. }
            | Op::Seek {
                pos: SeekFrom::End(_),
                ..
            }
            | Op::ReadToEnd { .. }
            | Op::ReadToString { .. }
            | Op::WriteTo { .. }
                if m.res.is_ok() =>
            {
                self.stale_len = false;
            }
            _ => {}
        }
        let h_writable = op.handle().is_none_or(H::writable);
        if op.writes() && h_writable && pads {
            self.padded = true;
        }
        Ok(())
    }

    pub(super) fn finish(&mut self) -> Result<(), String> {
        self.end_kids("end (ending the fork children)")?;
        self.settle();
        self.check_state("end")?;
        if let Some(outsiders) = self.outsiders.take() {
            for o in outsiders {
                o.release();
            }
            self.outsider_holds = false;
        }
        for h in [H::Clone, H::App, H::Ro, H::Wo, H::Main] {
            self.file.drop_handle(h);
            self.mmap.drop_handle(h);
        }
        self.log.push("(all handles dropped)".into());
        let at = "end, all handles dropped";
        self.settle();
        self.check_disk_len(at)?;
        self.check_disk_bytes(at)
    }
}

impl<M: Model> Drop for Run<M> {
    fn drop(&mut self) {
        // Fork children (if the case failed) are killed by ForkChild's drop;
        // outsiders that still answer go back to the idle ones.
        if let Some(outsiders) = self.outsiders.take() {
            for o in outsiders {
                o.release();
            }
        }
    }
}

/// Plays `ops` on a `File` world and an `MmapFile` world set up as `cfg`
/// says, comparing after every operation; `Err` describes the first
/// difference, with the operations up to it.
pub fn run(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    run_with::<MmapFile>(cfg, ops)
}

/// As [`run`] with a `File` in the world under test too: any difference is
/// the harness' own.
pub fn run_twins(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    run_with::<File>(cfg, ops)
}

pub(super) fn run_with<M: Model>(cfg: Cfg, ops: &[Op]) -> Result<(), String> {
    let setup = |what: &str, e: io::Error| format!("setup: {what}: {e}");
    if cfg.anonymous && cfg.main_append {
        return Err("setup: an anonymous world's Main is read-write, not main_append".into());
    }
    let dir = Scratch::new("model").map_err(|e| setup("scratch directory", e))?;
    let fpath = dir.path().join("file");
    let init = cfg.init.bytes();
    fs::write(&fpath, &init).map_err(|e| setup("initial content", e))?;
    let mmap = if cfg.anonymous {
        World::<M>::anonymous(cfg, &init).map_err(|e| setup("anonymous world", e))?
    } else {
        let mpath = dir.path().join("mmap");
        fs::write(&mpath, &init).map_err(|e| setup("initial content", e))?;
        World::new(mpath, cfg)
    };
    let mut run = Run {
        cfg,
        file: World::new(fpath, cfg),
        mmap,
        desc: [0; 5],
        next_desc: 0,
        pads: [false; 5],
        padded: false,
        stale_len: false,
        outsiders: None,
        outsider_holds: false,
        kids: None,
        log: Vec::new(),
    };
    if cfg.anonymous {
        // The `MmapFile` world's `Main` is open already (as `try_from`
        // maps it: never padding, see `may_pad`).
        run.new_desc(H::Main);
        run.pads[H::Main.idx()] = false;
        let opened = run.file.ensure(H::Main).expect("Main not open yet");
        run.compare(
            "start (opening Main)",
            &Op::StreamPosition { h: H::Main },
            false,
            &opened,
            &Outcome::unit(Ok(())),
        )?;
    } else {
        run.open_both(H::Main, "start")?;
    }
    run.check_state("start")?;
    for i in 0..ops.len() {
        run.step(ops, i)?;
    }
    run.finish()
}
