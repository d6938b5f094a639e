//! Running a call on both types and collecting the differences: [`both`],
//! [`Diffs`] (every difference of a test, reported together), [`refused`]
//! (a refused call changed nothing, see [`State`]), [`Step`] for sequences
//! of calls.

use std::any::Any;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use mmapfile::MmapFile;

use super::{Fail, Handle, Outcome, Twins, byte_diff};

/// Two `Debug` texts cut to where they differ, so that a large value (a
/// buffer of a megabyte) makes a message of a line.
fn contrast(a: &str, b: &str) -> (String, String) {
    const MAX: usize = 200;
    if a.len() <= MAX && b.len() <= MAX {
        return (a.to_owned(), b.to_owned());
    }
    let i = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let cut = |s: &str| {
        let mut from = i.saturating_sub(60).min(s.len());
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (i + 100).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        let head = if from > 0 { "..." } else { "" };
        let tail = if to < s.len() { "..." } else { "" };
        format!("{head}{}{tail} ({} chars)", &s[from..to], s.len())
    };
    (cut(a), cut(b))
}

/// The outcomes of one call on both types.
#[derive(Debug)]
pub struct Pair<T> {
    pub file: Outcome<T>,
    pub mm: Outcome<T>,
}

/// Collects every difference of a test, so that one run reports them all.
#[derive(Debug, Default)]
pub struct Diffs(Vec<String>);

impl Diffs {
    pub fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    /// Records a difference unless `file` and `mm` agree; returns both.
    pub fn same<T: fmt::Debug + PartialEq + 'static>(
        &mut self,
        what: &str,
        file: impl Into<Outcome<T>>,
        mm: impl Into<Outcome<T>>,
    ) -> Pair<T> {
        let (f, m) = (file.into(), mm.into());
        if f != m {
            let (fs, ms) = contrast(&format!("{f:?}"), &format!("{m:?}"));
            let mut msg = format!("{what}: File gives {fs}, MmapFile gives {ms}");
            // Where two byte values or buffers differ, by offset.
            if let (Some(a), Some(b)) = (value_bytes(&f), value_bytes(&m)) {
                msg.push_str(&format!("; values: {}", byte_diff(a, b)));
            }
            if let (Some(a), Some(b)) = (&f.buf, &m.buf)
                && a != b
            {
                msg.push_str(&format!("; buffers: {}", byte_diff(a, b)));
            }
            self.0.push(msg);
        }
        Pair { file: f, mm: m }
    }

    /// Compares two opens; both handles if both succeeded.
    pub fn open(
        &mut self,
        what: &str,
        file: io::Result<File>,
        mm: io::Result<MmapFile>,
    ) -> Option<(File, MmapFile)> {
        let (f, m) = (file.map_err(Fail::from), mm.map_err(Fail::from));
        let (fo, mo) = (f.as_ref().map(|_| ()), m.as_ref().map(|_| ()));
        if fo != mo {
            self.0
                .push(format!("{what}: File gives {fo:?}, MmapFile gives {mo:?}"));
        }
        Some((f.ok()?, m.ok()?))
    }

    /// Compares two sequences of calls, step by step; `tag` says where.
    pub fn steps(&mut self, tag: &str, file: &[Step], mm: &[Step]) {
        if file.len() != mm.len() {
            self.0.push(format!(
                "{tag}: {} calls on File, {} on MmapFile",
                file.len(),
                mm.len()
            ));
        }
        for (f, m) in file.iter().zip(mm) {
            self.same(&format!("{tag}: {}", f.what), f.out.clone(), m.out.clone());
        }
    }

    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes in another test part's differences.
    pub fn merge(&mut self, other: Diffs) {
        self.0.extend(other.0);
    }

    /// Fails the test with every difference recorded, if any.
    pub fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} discrepancies with File:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

/// The value of `o` as bytes, if it is bytes (`Vec<u8>` or `String`).
fn value_bytes<T: 'static>(o: &Outcome<T>) -> Option<&[u8]> {
    let v: &dyn Any = o.res.as_ref().ok()?;
    v.downcast_ref::<Vec<u8>>()
        .map(Vec::as_slice)
        .or_else(|| v.downcast_ref::<String>().map(String::as_bytes))
}

/// Runs `op` on both handles and compares the outcomes.
pub fn both<T: fmt::Debug + PartialEq + 'static>(
    d: &mut Diffs,
    what: &str,
    f: &mut File,
    m: &mut MmapFile,
    op: impl Fn(&mut dyn Handle) -> io::Result<T>,
) -> Pair<T> {
    let file = op(f);
    let mm = op(m);
    d.same(what, file, mm)
}

/// One call of a sequence, named for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub out: Outcome,
}

impl Step {
    pub fn new(what: impl Into<String>, out: Outcome) -> Self {
        Step {
            what: what.into(),
            out,
        }
    }
}

/// What must not change when a call fails: the bytes (up to the length),
/// the length, and the cursor.
#[derive(Debug, PartialEq)]
pub struct State {
    pub len: u64,
    pub pos: u64,
    pub bytes: Vec<u8>,
}

/// `h`'s state; `path` is its file.
pub fn state(h: &mut dyn Handle, path: &Path) -> State {
    let len = h.h_len().unwrap();
    let pos = h.stream_position().unwrap();
    let mut bytes = fs::read(path).unwrap();
    // The only difference allowed on disk: zeros past the length while a
    // writable MmapFile grows the file ahead of its writes.
    assert!(
        bytes.len() as u64 >= len && bytes[len as usize..].iter().all(|&b| b == 0),
        "{}: {} bytes on disk, length {len}",
        path.display(),
        bytes.len()
    );
    bytes.truncate(len as usize);
    State { len, pos, bytes }
}

/// Runs `op` on both handles (of twin files in the same state) and compares
/// the outcomes and the effects: afterwards both files and cursors must
/// still be alike, and where `File` refused the call, nothing may have
/// changed.
pub fn refused<T: fmt::Debug + PartialEq + 'static>(
    d: &mut Diffs,
    what: &str,
    t: &Twins,
    f: &mut File,
    m: &mut MmapFile,
    op: impl Fn(&mut dyn Handle) -> io::Result<T>,
) {
    let (bf, bm) = (state(f, &t.file), state(m, &t.mmap));
    let out = both(d, what, f, m, op);
    let (af, am) = (state(f, &t.file), state(m, &t.mmap));
    // `a`, `between`, `b`, and `bytes` if their bytes differ.
    let two = |a: &State, between: &str, b: &State, bytes: &str| {
        let show = |s: &State| format!("len {}, cursor {}", s.len, s.pos);
        let bytes = if a.bytes == b.bytes { "" } else { bytes };
        format!("{}{between}{}{bytes}", show(a), show(b))
    };
    if out.file.is_err() {
        d.check(
            bm == am,
            format!(
                "{what}: File refuses it, yet MmapFile's state changed: {}",
                two(&bm, " -> ", &am, ", bytes changed")
            ),
        );
    } else if bf == bm {
        d.check(
            af == am,
            format!(
                "{what}: File's state after it: {}",
                two(&af, "; MmapFile's: ", &am, ", bytes differ")
            ),
        );
    }
}
