//! What the runner compares after every operation: each live handle's
//! cursor and length, the sizes on disk (`stat`, which may show the
//! `MmapFile` world's padding only while [`Run::may_pad`]) and the bytes
//! read through an `open`; and one outcome against the other
//! ([`Run::compare`]).

use std::fmt;
use std::fs;

use super::ops::HANDLES;
use super::runner::Run;
use super::worlds::Model;
use crate::twin::{Handle, Outcome, byte_diff};

/// Files larger than this are compared byte for byte only at the end, to
/// keep cases fast.
pub(super) const COMPARE_EVERY_OP: u64 = 1 << 20;
pub(super) const MIN_GROWTH: u64 = 64 << 10;
/// Larger files mean a huge offset was accepted: stop rather than read them.
pub(super) const MAX_COMPARED: u64 = 1 << 30;

/// The most a `stat` may show past the length `len`: one growth step (half
/// the size it grows from, taken when a write reaches into the last page,
/// leaving a page past the write) and a few pages (of the system's size:
/// 16 or 64 KiB on some aarch64 kernels). With `background_growth` the
/// grower thread keeps up to a step past `len` plus a step more, each at
/// most as large as what the file had.
pub(super) fn slack(len: u64, background_growth: bool) -> u64 {
    let page = mmapfile::page_size() as u64;
    if background_growth {
        2 * MIN_GROWTH.max(len + page) + 3 * page
    } else {
        MIN_GROWTH.max((len + page) / 2) + 3 * page
    }
}

impl<M: Model> Run<M> {
    pub(super) fn fail(&self, what: String) -> String {
        let mut msg = format!("{what}\n  cfg: {:?}\n  ops so far:\n", self.cfg);
        for (i, op) in self.log.iter().enumerate() {
            msg.push_str(&format!("    #{i}: {op}\n"));
        }
        msg
    }

    /// Whether a `stat` of the `MmapFile` world's file may show padding now
    /// (see the module doc): exactly one open description, which may pad
    /// (a description a fork child shares may not), nobody else with the
    /// file open, and a write since the last cut.
    pub(super) fn may_pad(&self) -> bool {
        if !self.padded || self.cfg.anonymous || self.outsider_holds {
            return false;
        }
        let mut open = HANDLES
            .iter()
            .filter(|h| self.mmap.slots[h.idx()].is_some())
            .map(|h| (self.desc[h.idx()], self.pads[h.idx()]));
        let Some(first) = open.next() else {
            return false;
        };
        first.1 && open.all(|d| d.0 == first.0)
    }

    /// After anything that forces the exact size while it is not allowed to
    /// differ: from now on, only a new write may pad.
    pub(super) fn settle(&mut self) {
        if !self.may_pad() {
            self.padded = false;
        }
    }

    pub(super) fn disk(&self) -> (Vec<u8>, Vec<u8>) {
        let f = fs::read(&self.file.path).expect("read File world's file");
        let m = fs::read(&self.mmap.path).expect("read MmapFile world's file");
        (f, m)
    }

    /// Sizes on disk by `stat`, which opens nothing.
    pub(super) fn disk_lens(&self) -> (u64, u64) {
        let f = fs::metadata(&self.file.path).expect("stat").len();
        let m = fs::metadata(&self.mmap.path).expect("stat").len();
        assert!(
            f.max(m) <= MAX_COMPARED,
            "a file grew to {} bytes: does the file system of the temporary \
             directory accept writes past 16 TiB? Run on ext4 (set TMPDIR).",
            f.max(m)
        );
        (f, m)
    }

    /// The sizes by `stat`: equal, or (see `may_pad`) the `MmapFile` world's
    /// longer by up to a growth step.
    pub(super) fn check_disk_len(&self, at: &str) -> Result<(), String> {
        let (f, m) = self.disk_lens();
        let may_pad = self.may_pad();
        if m == f || (may_pad && m > f && m - f <= slack(f, self.cfg.background_growth)) {
            return Ok(());
        }
        Err(self.fail(format!(
            "{at}: size on disk (stat): File world {f}, MmapFile world {m} (padding allowed: \
             {may_pad}, up to {})",
            slack(f, self.cfg.background_growth)
        )))
    }

    /// The files read through an `open`: equal, byte for byte. The open
    /// forces the exact size.
    pub(super) fn check_disk_bytes(&mut self, at: &str) -> Result<(), String> {
        let (f, m) = self.disk();
        self.padded = false;
        if f != m {
            return Err(self.fail(format!(
                "{at}: the files read through an open differ: {}",
                byte_diff(&f, &m)
            )));
        }
        Ok(())
    }

    /// After every operation: cursors, lengths, sizes on disk, bytes.
    pub(super) fn check_state(&mut self, at: &str) -> Result<(), String> {
        let (flen, _) = self.disk_lens();
        for h in HANDLES {
            let (Some(f), Some(m)) = (&self.file.slots[h.idx()], &self.mmap.slots[h.idx()]) else {
                if self.file.slots[h.idx()].is_some() != self.mmap.slots[h.idx()].is_some() {
                    return Err(self.fail(format!("{at}: handle {h:?} open in one world only")));
                }
                continue;
            };
            let fp = Outcome::of(f.h_position());
            let mp = Outcome::of(m.h_position());
            if fp != mp {
                return Err(self.fail(format!(
                    "{at}: stream_position of {h:?}: File {fp:?}, MmapFile {mp:?}"
                )));
            }
            let ml = Outcome::of(m.h_len());
            if ml != Outcome::of(Ok(flen)) && !self.stale_len {
                return Err(self.fail(format!(
                    "{at}: {h:?}.len(): MmapFile {ml:?}, File world's length {flen}"
                )));
            }
            // A handle may map later (`map_after`), and never does once the
            // process forked; `is_mapped` would map it now.
            if M::MAPPED && self.cfg.map_after == Some(0) && !m.h_is_mapped() {
                return Err(self.fail(format!("{at}: {h:?} is not mapped")));
            }
        }
        self.check_disk_len(at)?;
        if self.cfg.observe && flen <= COMPARE_EVERY_OP {
            self.check_disk_bytes(at)?;
        }
        Ok(())
    }

    /// `f` and `m` must be equal; with `len_may_lag` (an `MmapFile::len`
    /// after an outside change), any two lengths are.
    pub(super) fn compare(
        &self,
        at: &str,
        what: &dyn fmt::Debug,
        len_may_lag: bool,
        f: &Outcome,
        m: &Outcome,
    ) -> Result<(), String> {
        if f == m || (len_may_lag && f.res.is_ok() && m.res.is_ok()) {
            return Ok(());
        }
        let mut msg = format!("{at}: {what:?}\n    File:     {f:?}\n    MmapFile: {m:?}");
        if let (Some(a), Some(b)) = (&f.buf, &m.buf)
            && a != b
        {
            msg.push_str(&format!("\n    buffers: {}", byte_diff(a, b)));
        }
        Err(self.fail(msg))
    }
}
