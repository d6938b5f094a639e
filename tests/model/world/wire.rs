//! The wire between the runner and the other processes (the outsider, the
//! fork children): messages framed by their length ([`send`], [`recv`]),
//! read field by field ([`Rd`]), and an [`Outcome`]'s encoding (an
//! inherent impl on the harness' type: twin is a module of this crate).

use std::io::{self, ErrorKind, Read, Write};

use crate::twin::{Fail, Outcome};

/// The kinds an error without an OS code may have, by their index on the
/// wire (an OS error's kind follows from its code).
pub(super) const KINDS: [ErrorKind; 24] = [
    ErrorKind::Other,
    ErrorKind::UnexpectedEof,
    ErrorKind::WriteZero,
    ErrorKind::InvalidInput,
    ErrorKind::InvalidData,
    ErrorKind::Unsupported,
    ErrorKind::OutOfMemory,
    ErrorKind::Interrupted,
    ErrorKind::NotFound,
    ErrorKind::PermissionDenied,
    ErrorKind::AlreadyExists,
    ErrorKind::WouldBlock,
    ErrorKind::TimedOut,
    ErrorKind::BrokenPipe,
    ErrorKind::ResourceBusy,
    ErrorKind::StorageFull,
    ErrorKind::FileTooLarge,
    ErrorKind::NotSeekable,
    ErrorKind::IsADirectory,
    ErrorKind::NotADirectory,
    ErrorKind::ReadOnlyFilesystem,
    ErrorKind::ExecutableFileBusy,
    ErrorKind::Deadlock,
    ErrorKind::TooManyLinks,
];
/// `os` on the wire for an error without an OS code.
pub(super) const NO_OS: i32 = i32::MIN;

impl Outcome {
    /// For an operation on a handle that is not open (in a fork child).
    pub(super) fn not_open() -> Self {
        Outcome::unit(Err(io::Error::other("handle not open")))
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match &self.res {
            Ok(v) => {
                out.push(0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Err(e) => {
                out.push(1);
                out.extend_from_slice(&e.os.unwrap_or(NO_OS).to_le_bytes());
                let kind = KINDS.iter().position(|&k| k == e.kind);
                out.push(kind.map_or(u8::MAX, |i| i as u8));
            }
        }
        match &self.buf {
            None => out.push(0),
            Some(buf) => {
                out.push(1);
                out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
                out.extend_from_slice(buf);
            }
        }
    }

    pub(super) fn decode(r: &mut Rd<'_>) -> io::Result<Self> {
        let res = match r.u8()? {
            0 => Ok(r.u64()?),
            _ => {
                let os = r.i32()?;
                let kind = r.u8()?;
                let os = (os != NO_OS).then_some(os);
                let kind = match (KINDS.get(usize::from(kind)), os) {
                    (Some(&k), _) => k,
                    (None, Some(code)) => io::Error::from_raw_os_error(code).kind(),
                    (None, None) => return Err(bad("an error of a kind the wire lacks")),
                };
                Err(Fail { kind, os })
            }
        };
        let buf = match r.u8()? {
            0 => None,
            _ => {
                let n = r.u64()?;
                Some(
                    r.take(usize::try_from(n).map_err(|_| bad("length"))?)?
                        .to_vec(),
                )
            }
        };
        Ok(Outcome { res, buf })
    }

    /// All the outcomes in `msg`.
    pub(super) fn decode_all(msg: &[u8]) -> io::Result<Vec<Outcome>> {
        let mut r = Rd(msg);
        let mut all = Vec::new();
        while !r.0.is_empty() {
            all.push(Outcome::decode(&mut r)?);
        }
        Ok(all)
    }
}

pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("malformed message: {what}"))
}

/// Reads a message's fields, little-endian.
pub(super) struct Rd<'a>(pub(super) &'a [u8]);

impl<'a> Rd<'a> {
    pub(super) fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn i32(&mut self) -> io::Result<i32> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(super) fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(super) fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Sends one message: its length (4 bytes, little-endian), then its bytes.
pub(super) fn send(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let len = u32::try_from(msg.len()).map_err(|_| bad("too long"))?;
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(msg);
    w.write_all(&frame)
}

/// Receives one message; `None` at the end of the stream between messages.
pub(super) fn recv(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut msg = vec![0; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut msg)?;
    Ok(Some(msg))
}
