//! The two worlds: a file and up to five handles to it ([`World`]), of a
//! type that is [`Model`] (`File`, the spec, or `MmapFile`), and an
//! operation applied to a world ([`World::apply`]) or to one handle
//! ([`apply_to`]).

use std::fs::{self, File};
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use mmapfile::MmapFile;

use super::ops::{Cfg, Data, H, KEEP_READING, Op};
use crate::twin::{FILL, Handle, Open, Outcome, round_trip};

/// What the model needs of a handle type beyond [`Handle`], implemented by
/// `File` (the spec) and `MmapFile`.
pub(super) trait Model: Handle + AsRawFd + Sized {
    /// Whether every handle must be mapped (checked after every op).
    const MAPPED: bool;
    /// `Main` of an anonymous world: a memfd, empty.
    fn anonymous() -> io::Result<Self>;
    /// Everything from the cursor to the end into `out`: `io::copy` for
    /// `File`, `MmapFile::write_to`.
    fn copy_to(&mut self, out: &mut UnixStream) -> io::Result<u64>;
}

impl Model for File {
    const MAPPED: bool = false;
    fn anonymous() -> io::Result<Self> {
        // SAFETY: `memfd_create` reads the NUL-terminated name and returns a
        // new descriptor or -1; nothing else holds the descriptor.
        let fd = unsafe { libc::memfd_create(c"mmapfile-model".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is open and owned by no one else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
    fn copy_to(&mut self, out: &mut UnixStream) -> io::Result<u64> {
        io::copy(self, out)
    }
}

impl Model for MmapFile {
    const MAPPED: bool = mmapfile::MAPPED_IO;
    fn anonymous() -> io::Result<Self> {
        MmapFile::anonymous()
    }
    fn copy_to(&mut self, out: &mut UnixStream) -> io::Result<u64> {
        self.write_to(out)
    }
}

/// Opens `h` as both worlds do (`truncate`: for `Op::Reopen`); the
/// `MmapFile` world's with the case's `exact_len` and `reserve`.
fn open_as<T: Model>(path: &Path, h: H, cfg: &Cfg, truncate: bool) -> io::Result<T> {
    let mode = match h {
        H::Main | H::Clone if cfg.main_append => Open::READ_APPEND,
        H::Main | H::Clone => Open::RW,
        H::App => Open::READ_APPEND,
        H::Ro => Open::RO,
        H::Wo => Open::WO,
    };
    T::h_open(
        path,
        &Open {
            truncate,
            exact_len: cfg.exact_len,
            reserve: cfg.reserve,
            background_growth: cfg.background_growth,
            map_after: cfg.map_after,
            ..mode
        },
    )
}

pub(super) struct World<T> {
    pub(super) path: PathBuf,
    /// `path` as the outsider opens it: `/proc/<our pid>/fd/N` for
    /// `/proc/self/fd/N`.
    pub(super) outside: PathBuf,
    pub(super) cfg: Cfg,
    pub(super) slots: [Option<T>; 5],
    /// For an anonymous file: a descriptor of the memfd that keeps it (and
    /// `path`, `/proc/self/fd/N` of this descriptor) alive while `Main` is
    /// dropped and reopened.
    pub(super) _memfd: Option<File>,
}

impl<T: Model> World<T> {
    pub(super) fn new(path: PathBuf, cfg: Cfg) -> Self {
        World {
            outside: path.clone(),
            path,
            cfg,
            slots: [None, None, None, None, None],
            _memfd: None,
        }
    }

    /// `Main` is a memfd (`MmapFile::anonymous()`), which writes `init` and
    /// rewinds; the memfd is reopened read-only through `/proc/self/fd/N`
    /// to keep it, and the world's path is `/proc/self/fd/N` of that
    /// descriptor.
    pub(super) fn anonymous(cfg: Cfg, init: &[u8]) -> io::Result<Self> {
        let mut main = T::anonymous()?;
        let memfd = File::open(format!("/proc/self/fd/{}", main.as_raw_fd()))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", memfd.as_raw_fd()));
        let target = fs::read_link(&path)?;
        if !target.to_string_lossy().starts_with("/memfd:") {
            return Err(io::Error::other(format!(
                "the anonymous file is not a memfd: {}",
                target.display()
            )));
        }
        main.write_all(init)?;
        main.flush()?;
        main.rewind()?;
        let mut world = World::new(path, cfg);
        world.outside = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            memfd.as_raw_fd()
        ));
        world.slots[H::Main.idx()] = Some(main);
        world._memfd = Some(memfd);
        Ok(world)
    }

    /// Opens `h` if it is not open (a clone is made from `Main`).
    pub(super) fn ensure(&mut self, h: H) -> Option<Outcome> {
        if self.slots[h.idx()].is_some() {
            return None;
        }
        let opened = match h {
            H::Clone => match &self.slots[H::Main.idx()] {
                Some(main) => main.h_try_clone(),
                None => open_as::<T>(&self.path, H::Main, &self.cfg, false)
                    .and_then(|main| main.h_try_clone()),
            },
            _ => open_as::<T>(&self.path, h, &self.cfg, false),
        };
        Some(Outcome::unit(opened.map(|f| {
            self.slots[h.idx()] = Some(f);
        })))
    }

    pub(super) fn drop_handle(&mut self, h: H) {
        self.slots[h.idx()] = None;
    }

    pub(super) fn apply(&mut self, op: &Op) -> Outcome {
        match *op {
            Op::IntoFile { h } => {
                let f = self.slots[h.idx()].take().expect("handle opened");
                let (pos, f) = round_trip(f);
                self.slots[h.idx()] = f;
                Outcome::of(pos)
            }
            Op::Drop { h } => {
                self.drop_handle(h);
                Outcome::unit(Ok(()))
            }
            Op::External { ref change } => {
                if let Some(main) = self.slots[H::Main.idx()].as_mut()
                    && let Err(e) = main.flush()
                {
                    return Outcome::unit(Err(e));
                }
                // No handle is told: every call after this must see the
                // change by itself and answer as `File` does.
                Outcome::unit(change.apply(&self.path))
            }
            Op::Reopen { truncate } => {
                self.drop_handle(H::Main);
                Outcome::unit(
                    open_as::<T>(&self.path, H::Main, &self.cfg, truncate).map(|f| {
                        self.slots[H::Main.idx()] = Some(f);
                    }),
                )
            }
            Op::Outsider { .. } | Op::Fork { .. } | Op::Child { .. } => {
                unreachable!("played by the runner")
            }
            _ => {
                let h = op.handle().expect("an operation on a handle");
                let f = self.slots[h.idx()].as_mut().expect("handle opened");
                apply_to(f, op)
            }
        }
    }
}

pub(super) fn apply_to<T: Model>(f: &mut T, op: &Op) -> Outcome {
    match op {
        Op::Read { len, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::count(f.read(&mut buf)).with(buf)
        }
        Op::ReadExact { len, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::unit(f.read_exact(&mut buf)).with(buf)
        }
        Op::ReadToEnd { prefix, .. } => {
            let mut buf = vec![FILL; *prefix];
            Outcome::count(f.read_to_end(&mut buf)).with(buf)
        }
        Op::ReadToString { prefix, .. } => {
            let mut s = if *prefix {
                "pré".to_string()
            } else {
                String::new()
            };
            Outcome::count(f.read_to_string(&mut s)).with(s.into_bytes())
        }
        Op::ReadVectored { lens, .. } => {
            let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![FILL; n]).collect();
            let mut slices: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let r = f.read_vectored(&mut slices);
            Outcome::count(r).with(bufs.concat())
        }
        Op::Write { data, .. } => Outcome::count(f.write(&data.bytes())),
        Op::WriteAll { data, .. } => Outcome::unit(f.write_all(&data.bytes())),
        Op::WriteVectored { bufs, .. } => {
            let bytes: Vec<Vec<u8>> = bufs.iter().map(Data::bytes).collect();
            let slices: Vec<IoSlice<'_>> = bytes.iter().map(|b| IoSlice::new(b)).collect();
            Outcome::count(f.write_vectored(&slices))
        }
        Op::Seek { pos, .. } => Outcome::of(f.seek(*pos)),
        Op::StreamPosition { .. } => Outcome::of(f.stream_position()),
        Op::ReadAt { len, offset, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::count(f.read_at(&mut buf, *offset)).with(buf)
        }
        Op::ReadExactAt { len, offset, .. } => {
            let mut buf = vec![FILL; *len];
            Outcome::unit(f.read_exact_at(&mut buf, *offset)).with(buf)
        }
        Op::KeepReading { len, offset, .. } => {
            let mut first = vec![FILL; *len];
            let res = f.read_at(&mut first, *offset);
            let n = res.as_ref().ok().copied();
            let mut again = vec![FILL; *len];
            let same = (1..KEEP_READING)
                .filter(|_| {
                    again.fill(FILL);
                    f.read_at(&mut again, *offset).ok() == n && again == first
                })
                .count();
            Outcome::count(res.map(|_| same)).with(first)
        }
        Op::WriteAt { data, offset, .. } => Outcome::count(f.write_at(&data.bytes(), *offset)),
        Op::WriteAllAt { data, offset, .. } => {
            Outcome::unit(f.write_all_at(&data.bytes(), *offset))
        }
        Op::SetLen { size, .. } => Outcome::unit(f.h_set_len(*size)),
        Op::Flush { .. } => Outcome::unit(f.flush()),
        Op::SyncData { .. } => Outcome::unit(f.h_sync_data()),
        Op::SyncAll { .. } => Outcome::unit(f.h_sync_all()),
        Op::Metadata { .. } => Outcome::of(f.h_metadata().map(|m| m.len())),
        Op::Len { .. } => Outcome::of(f.h_len()),
        Op::WriteTo { .. } => {
            let (mut tx, mut rx) = UnixStream::pair().expect("a socket pair");
            let drain = std::thread::spawn(move || {
                let mut got = Vec::new();
                rx.read_to_end(&mut got).map(|_| got)
            });
            let sent = f.copy_to(&mut tx);
            drop(tx);
            let got = drain.join().expect("the socket's reader");
            Outcome::of(sent).with(got.expect("read the socket"))
        }
        Op::Drop { .. }
        | Op::Reopen { .. }
        | Op::IntoFile { .. }
        | Op::External { .. }
        | Op::Outsider { .. }
        | Op::Fork { .. }
        | Op::Child { .. } => {
            unreachable!("not an operation on a handle")
        }
    }
}
