//! The outsider: a real second process per world (this binary run again),
//! holding plain `File`s on the world's path and doing what the runner
//! sends it ([`Cmd`], resolved from an [`Out`]); its server loop
//! ([`serve_outsider`]), the runner's end ([`Outsider`]), and the runner's
//! step for `Op::Outsider`.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::checks::slack;
use super::ops::{Data, Out};
use super::runner::Run;
use super::wire::{Rd, bad, recv, send};
use super::worlds::Model;
use crate::twin::{FILL, Outcome};

/// Set in the outsider's environment.
pub(super) const OUTSIDER_ENV: &str = "MMAPFILE_MODEL_OUTSIDER";

/// A resolved outsider command, as sent.
#[derive(Debug)]
pub(super) enum Cmd {
    /// Drops its handles; later commands use this path.
    Attach(PathBuf),
    WriteAt {
        data: Data,
        offset: u64,
    },
    Append {
        data: Data,
    },
    SetLen(u64),
    Len,
    ReadAt {
        len: usize,
        offset: u64,
    },
    OpenLen,
    StatLen,
    SyncAll,
    Close,
}

pub(super) fn put_data(out: &mut Vec<u8>, data: &Data) {
    out.extend_from_slice(&(data.len as u64).to_le_bytes());
    out.extend_from_slice(&data.seed.to_le_bytes());
    out.push(u8::from(data.text));
}

pub(super) fn get_data(r: &mut Rd<'_>) -> io::Result<Data> {
    Ok(Data {
        len: usize::try_from(r.u64()?).map_err(|_| bad("length"))?,
        seed: r.u32()?,
        text: r.u8()? != 0,
    })
}

impl Cmd {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u64s = |out: &mut Vec<u8>, xs: &[u64]| {
            for x in xs {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
        match self {
            Cmd::Attach(path) => {
                out.push(0);
                out.extend_from_slice(path.as_os_str().as_encoded_bytes());
            }
            Cmd::WriteAt { data, offset } => {
                out.push(1);
                put_data(&mut out, data);
                u64s(&mut out, &[*offset]);
            }
            Cmd::Append { data } => {
                out.push(2);
                put_data(&mut out, data);
            }
            Cmd::SetLen(size) => {
                out.push(3);
                u64s(&mut out, &[*size]);
            }
            Cmd::Len => out.push(4),
            Cmd::ReadAt { len, offset } => {
                out.push(5);
                u64s(&mut out, &[*len as u64, *offset]);
            }
            Cmd::OpenLen => out.push(6),
            Cmd::StatLen => out.push(7),
            Cmd::SyncAll => out.push(8),
            Cmd::Close => out.push(9),
        }
        out
    }

    pub(super) fn decode(msg: &[u8]) -> io::Result<Cmd> {
        let mut r = Rd(msg);
        Ok(match r.u8()? {
            0 => {
                use std::os::unix::ffi::OsStrExt;
                Cmd::Attach(PathBuf::from(std::ffi::OsStr::from_bytes(r.0)))
            }
            1 => Cmd::WriteAt {
                data: get_data(&mut r)?,
                offset: r.u64()?,
            },
            2 => Cmd::Append {
                data: get_data(&mut r)?,
            },
            3 => Cmd::SetLen(r.u64()?),
            4 => Cmd::Len,
            5 => Cmd::ReadAt {
                len: usize::try_from(r.u64()?).map_err(|_| bad("length"))?,
                offset: r.u64()?,
            },
            6 => Cmd::OpenLen,
            7 => Cmd::StatLen,
            8 => Cmd::SyncAll,
            9 => Cmd::Close,
            _ => return Err(bad("unknown command")),
        })
    }

    /// Whether the outsider holds a handle of the file after it.
    pub(super) fn holds(&self) -> bool {
        !matches!(
            self,
            Cmd::Attach(_) | Cmd::Close | Cmd::OpenLen | Cmd::StatLen
        )
    }

    /// Whether it may change the file's size.
    pub(super) fn changes_size(&self) -> bool {
        matches!(
            self,
            Cmd::WriteAt { .. } | Cmd::Append { .. } | Cmd::SetLen(_)
        )
    }
}

/// The outsider's state: the path and its handles on it.
#[derive(Default)]
pub(super) struct Server {
    pub(super) path: PathBuf,
    pub(super) rw: Option<File>,
    pub(super) app: Option<File>,
}

impl Server {
    pub(super) fn rw(&mut self) -> io::Result<&File> {
        if self.rw.is_none() {
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)?;
            self.rw = Some(f);
        }
        Ok(self.rw.as_ref().expect("just opened"))
    }

    pub(super) fn app(&mut self) -> io::Result<&File> {
        if self.app.is_none() {
            self.app = Some(fs::OpenOptions::new().append(true).open(&self.path)?);
        }
        Ok(self.app.as_ref().expect("just opened"))
    }

    pub(super) fn serve(&mut self, cmd: Cmd) -> Outcome {
        match cmd {
            Cmd::Attach(path) => {
                self.rw = None;
                self.app = None;
                self.path = path;
                Outcome::unit(Ok(()))
            }
            Cmd::WriteAt { data, offset } => Outcome::unit(
                self.rw()
                    .and_then(|f| f.write_all_at(&data.bytes(), offset)),
            ),
            Cmd::Append { data } => {
                Outcome::unit(self.app().and_then(|mut f| f.write_all(&data.bytes())))
            }
            Cmd::SetLen(size) => Outcome::unit(self.rw().and_then(|f| f.set_len(size))),
            Cmd::Len => Outcome::of(self.rw().and_then(|f| Ok(f.metadata()?.len()))),
            Cmd::ReadAt { len, offset } => {
                let mut buf = vec![FILL; len];
                let r = self.rw().and_then(|f| f.read_at(&mut buf, offset));
                Outcome::count(r).with(buf)
            }
            Cmd::OpenLen => {
                Outcome::of(File::open(&self.path).and_then(|f| Ok(f.metadata()?.len())))
            }
            Cmd::StatLen => Outcome::of(fs::metadata(&self.path).map(|m| m.len())),
            Cmd::SyncAll => Outcome::unit(self.rw().and_then(File::sync_all)),
            Cmd::Close => {
                self.rw = None;
                self.app = None;
                Outcome::unit(Ok(()))
            }
        }
    }
}

/// Whether this process is an outsider ([`serve_outsider`] should run).
pub fn is_outsider() -> bool {
    std::env::var_os(OUTSIDER_ENV).is_some()
}

/// The outsider's loop: commands from the socket that is its stdin,
/// answers on the same socket, until the runner closes it.
pub fn serve_outsider() {
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .expect("the outsider's stdin");
    let mut sock = UnixStream::from(fd);
    let mut server = Server::default();
    while let Some(msg) = recv(&mut sock).expect("the outsider reads a command") {
        let cmd = Cmd::decode(&msg).expect("a command");
        let mut answer = Vec::new();
        server.serve(cmd).encode(&mut answer);
        send(&mut sock, &answer).expect("the outsider answers");
    }
}

pub(super) static OUTSIDER_COMMAND: OnceLock<fn() -> Command> = OnceLock::new();

/// How to start an outsider: a command that runs this binary again such
/// that [`serve_outsider`] runs (see `outsider_command` in main.rs); the
/// environment variable that tells it, its stdin and stdout are set here.
pub fn set_outsider_command(command: fn() -> Command) {
    let _ = OUTSIDER_COMMAND.set(command);
}

/// An outsider process, and the runner's end of its socket.
pub(super) struct Outsider {
    pub(super) child: Child,
    pub(super) sock: UnixStream,
}

thread_local! {
    /// Outsiders between cases, to spare a process start per case.
    static IDLE_OUTSIDERS: RefCell<Vec<Outsider>> = const { RefCell::new(Vec::new()) };
}

impl Outsider {
    pub(super) fn spawn() -> io::Result<Outsider> {
        let command = OUTSIDER_COMMAND.get().ok_or_else(|| {
            io::Error::other("no outsider command: call world::set_outsider_command first")
        })?;
        let (ours, theirs) = UnixStream::pair()?;
        let child = command()
            .env(OUTSIDER_ENV, "1")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()?;
        // An outsider's `open` waits while we hold a lease the crate does
        // not release; the kernel breaks it after lease-break-time (45 s).
        ours.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Outsider { child, sock: ours })
    }

    /// An idle one of this thread, attached to `path`, or a new one.
    pub(super) fn get(path: &Path) -> io::Result<Outsider> {
        let mut o = match IDLE_OUTSIDERS.with(|idle| idle.borrow_mut().pop()) {
            Some(o) => o,
            None => Outsider::spawn()?,
        };
        match o.call(&Cmd::Attach(path.to_owned()))?.res {
            Ok(_) => Ok(o),
            Err(e) => Err(io::Error::other(format!("attach: {e:?}"))),
        }
    }

    pub(super) fn call(&mut self, cmd: &Cmd) -> io::Result<Outcome> {
        send(&mut self.sock, &cmd.encode())?;
        let answer = recv(&mut self.sock)?
            .ok_or_else(|| io::Error::new(ErrorKind::UnexpectedEof, "the outsider hung up"))?;
        let mut all = Outcome::decode_all(&answer)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(bad(&format!("{n} outcomes"))),
        }
    }

    /// Closes its handles and keeps it for the next case, if it answers.
    pub(super) fn release(mut self) {
        if self.call(&Cmd::Close).is_ok_and(|o| o.res.is_ok()) {
            IDLE_OUTSIDERS.with(|idle| idle.borrow_mut().push(self));
        }
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        // Ours, by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl<M: Model> Run<M> {
    /// `Op::Outsider`: the same command to both worlds' outsiders, which
    /// must answer alike (a `stat` may see padding, see `may_pad`).
    pub(super) fn outsider(&mut self, at: &str, out: &Out) -> Result<(), String> {
        let (flen, _) = self.disk_lens();
        let cmd = out.resolve(flen);
        if let Some(entry) = self.log.last_mut() {
            entry.push_str(&format!(" = {cmd:?}"));
        }
        if self.outsiders.is_none() {
            let start = |path: &Path, world: &str| {
                Outsider::get(path)
                    .map_err(|e| format!("starting the {world} world's outsider: {e}"))
            };
            let f = start(&self.file.outside, "File");
            let m = start(&self.mmap.outside, "MmapFile");
            match (f, m) {
                (Ok(f), Ok(m)) => self.outsiders = Some([f, m]),
                (Err(e), _) | (_, Err(e)) => return Err(self.fail(format!("{at}: {e}"))),
            }
        }
        let [fo, mo] = self.outsiders.as_mut().expect("started");
        let (f, m) = (fo.call(&cmd), mo.call(&cmd));
        let (f, m) = match (f, m) {
            (Ok(f), Ok(m)) => (f, m),
            (f, m) => {
                self.outsiders = None;
                return Err(self.fail(format!(
                    "{at}: an outsider did not answer: File world's {:?}, MmapFile world's {:?}",
                    f.err(),
                    m.err()
                )));
            }
        };
        let padding = match (&cmd, &f.res, &m.res) {
            (Cmd::StatLen, Ok(fl), Ok(ml)) => {
                self.may_pad() && ml > fl && ml - fl <= slack(*fl, self.cfg.background_growth)
            }
            _ => false,
        };
        if !padding {
            self.compare(&format!("{at} (the outsider)"), &cmd, false, &f, &m)?;
        }
        self.outsider_holds = cmd.holds() || (self.outsider_holds && !matches!(cmd, Cmd::Close));
        if cmd.changes_size() {
            self.stale_len = true;
        }
        if matches!(cmd, Cmd::OpenLen) {
            self.padded = false;
        }
        Ok(())
    }
}
