//! [`Fail`] and [`Outcome`]: a result made comparable (its value, or its
//! error's `ErrorKind` and `raw_os_error()`, and the caller's buffer), with
//! a compact `Debug`; [`byte_diff`]: where two byte strings part.

use std::fmt;
use std::io::{self, ErrorKind};

/// An error as compared: its kind and OS error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub kind: ErrorKind,
    pub os: Option<i32>,
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail {
            kind: e.kind(),
            os: e.raw_os_error(),
        }
    }
}

/// What a call returned, made comparable: its value or [`Fail`], and, for
/// a call that fills a buffer, the bytes the test compares (see
/// [`Outcome::bytes`] and [`Outcome::with`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Outcome<T = u64> {
    pub res: Result<T, Fail>,
    pub buf: Option<Vec<u8>>,
}

impl<T> Outcome<T> {
    pub fn of(r: io::Result<T>) -> Self {
        Outcome {
            res: r.map_err(Fail::from),
            buf: None,
        }
    }

    /// With the caller's buffer after the call.
    pub fn with(mut self, buf: Vec<u8>) -> Self {
        self.buf = Some(buf);
        self
    }

    pub fn is_ok(&self) -> bool {
        self.res.is_ok()
    }

    pub fn is_err(&self) -> bool {
        self.res.is_err()
    }
}

impl Outcome<u64> {
    /// `()` as 0.
    pub fn unit(r: io::Result<()>) -> Self {
        Outcome::of(r.map(|()| 0))
    }

    pub fn count(r: io::Result<usize>) -> Self {
        Outcome::of(r.map(|n| n as u64))
    }

    /// A read that returned the bytes it read ([`read_at_n`] and the
    /// like): their number as the value, the bytes as the buffer.
    pub fn bytes(r: io::Result<Vec<u8>>) -> Self {
        match r {
            Ok(b) => Outcome::of(Ok(b.len() as u64)).with(b),
            Err(e) => Outcome::of(Err(e)),
        }
    }
}

impl<T> From<io::Result<T>> for Outcome<T> {
    fn from(r: io::Result<T>) -> Self {
        Outcome::of(r)
    }
}

impl<T: fmt::Debug> fmt::Debug for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.res {
            Ok(v) => write!(f, "Ok({v:?})")?,
            Err(e) => write!(f, "Err({:?}, os {:?})", e.kind, e.os)?,
        }
        if let Some(buf) = &self.buf {
            let zeros = buf.iter().filter(|&&b| b == 0).count();
            write!(f, " buf[{}, {zeros} zero]", buf.len())?;
            write!(f, " {:02x?}", &buf[..buf.len().min(24)])?;
            if buf.len() > 24 {
                write!(f, "..")?;
            }
        }
        Ok(())
    }
}

/// Where two byte strings first differ, readably.
pub fn byte_diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = i.saturating_sub(4);
    let to_a = (i + 12).min(a.len());
    let to_b = (i + 12).min(b.len());
    format!(
        "lengths {} vs {}; first difference at {i}: {:02x?} vs {:02x?} (from {from})",
        a.len(),
        b.len(),
        &a[from.min(a.len())..to_a],
        &b[from.min(b.len())..to_b],
    )
}
