//! `MmapFile::write_to`: the bytes from the cursor to the end, into a
//! socket, pipe or file, by the kernel.
//!
//! Two ways, chosen by what `out` is:
//!
//! - **Into a Unix-domain stream socket, turns (see [`turn`]): a
//!   `write(2)` straight out of the mapping, then a `sendfile`.** The two
//!   put the copy on different cores. The socket takes a `sendfile` as one
//!   reference per page, which the receiver copies out of the page cache
//!   (in perf, 54% of the samples the receiver's copy, the sender idle
//!   between); a `write` copies into the socket's buffers on our core, so
//!   the receiver's copy out is cheap, and ours (43%, against the
//!   receiver's 20%) bounds it. Taking turns shares the work: on the
//!   Intel Xeon (model 167), sending a page-cached 128 MiB file to a
//!   thread that drains the other end into a 256 KiB buffer, best of 15
//!   rounds, 23–28 ms against 36–38 for `write` alone and 81–91 for
//!   `io::copy(File)` (3.2–3.8× it); in C, 23–26 ms against `write`'s 32–34
//!   and `sendfile`'s 30–32; ahead of both with a 64 KiB or 1 MiB
//!   receiving buffer too, and level with them with a 16 KiB one (those
//!   with turns of 128 KiB; 64–192 KiB did no better there). On an AMD
//!   EPYC (Zen 3, family 25 model 1), the criterion `copy_unix` rows in
//!   eight rounds, the two sizes alternating: turns of 32 KiB took
//!   24.6–42.9 ms, 128 KiB 28.1–49.3, and 32 KiB was ahead in every round
//!   (16 KiB and 64 KiB between them, 512 KiB behind both), 2.0–3.6×
//!   `io::copy(File)` against 1.7–2.7×. With 32 KiB turns both cores
//!   work (`perf stat`: 1.37 CPUs busy, against 0.93 with 128 KiB, and
//!   30% fewer context switches): a larger turn fills the socket's buffer
//!   and one side waits for the other. On a later Intel Xeon (model 167)
//!   host, the same rows: 16 KiB 23.5–23.9 ms, 32 KiB 26.6–26.7, 64 to
//!   256 KiB 41–44, `write` alone 24.7–24.9, `io::copy(File)` 41–53.
//!   On an AMD EPYC (Zen 4) `write` alone gave 2.4–3.4× `io::copy`,
//!   `sendfile` alone 1.6–2.1×.
//!
//!   The socket's send buffer bounds it: the default
//!   (`net.core.wmem_default`, 208 KiB) holds a few turns, and each side
//!   keeps waiting for the other. The same rows on the Xeon (model 167),
//!   two rounds, the buffer set by the caller's `setsockopt(SO_SNDBUF)`
//!   (the kernel doubles what it asks for): 24–26 ms with the default
//!   buffer (turns of 16 or 32 KiB; 64 KiB took 37–46); 16.7 ms with
//!   512 KiB (32 KiB turns; 16 KiB took 22–24, 64 KiB 18.4); 15.1–15.7 ms
//!   with 2 MiB (256 or 512 KiB turns; 128 KiB 16.1–16.2, 32 KiB
//!   17.9–18.3); 15.0–15.2 ms with 8 MiB (512 KiB turns; 128 KiB
//!   15.9–16.2). `io::copy(File)` took 46–57 ms with each. So a turn is a
//!   sixteenth of the buffer, from 32 KiB to 1 MiB (see [`turn`]), and a
//!   third `getsockopt` reads the buffer's size. `write_to` never resizes
//!   the caller's buffer: another thread's `getsockopt` would see it, the
//!   socket could hold more of the kernel's memory, and `io::copy(File)`
//!   does neither.
//! - **Anything else, `sendfile`**: into TCP it sends page references the
//!   network stack keeps (2.5–4.3× `io::copy` on the EPYC, against
//!   `write`'s 1.2–2.8×), and into a pipe a `write` was slower still.
//!
//! Below [`MAPPED_FROM`] bytes `sendfile` wins into a Unix socket too
//! (the same loop, sending N bytes and waiting for the receiver each time:
//! at 256 KiB `write` took 1.3× `sendfile`'s time, at 1 MiB 0.76–1.06×,
//! at 4 MiB 0.62–0.72×), and telling what `out` is costs two
//! `getsockopt` calls (three for a Unix socket), some 480 ns each here,
//! which a 4 KiB `sendfile` into TCP (2.4–2.8 µs) would feel: so a shorter
//! send never asks.
//!
//! The mapped way applies where a read would be a plain copy
//! ([`crate::inode::Inode::send_mapped`]): the inode Exclusive, the range
//! within the window. Elsewhere (Shared, where someone may cut the file
//! and only a read's probe would tell; past the window) and after the
//! kernel's copy faulted (an I/O error, which `sendfile` then reports as
//! `File` would), `sendfile` sends the rest.

use std::io;
use std::os::fd::BorrowedFd;

use super::{Description, Store, as_file};
use crate::os;

/// Bytes a call sends at most: Linux sends about 2 GiB a call at most.
const CALL_MAX: u64 = 1 << 30;

/// Into a Unix socket, a `write` from the mapping and a `sendfile` take
/// turns of a sixteenth of the socket's send buffer, rounded down to a
/// power of two, from this many bytes (the turn a default 208 KiB buffer
/// takes)...
const TURN_MIN: usize = 32 << 10;

/// ...to this many (see the module docs).
const TURN_MAX: usize = 1 << 20;

/// The turn into a Unix socket whose send buffer holds `send_buffer`
/// bytes: [`TURN_MIN`] where the buffer cannot be told.
fn turn(send_buffer: Option<usize>) -> usize {
    let turn = send_buffer.map_or(TURN_MIN, |b| (b / 16).clamp(TURN_MIN, TURN_MAX));
    1 << turn.ilog2()
}

/// Sends of fewer bytes than this use `sendfile` into every socket (see
/// the module docs).
const MAPPED_FROM: u64 = 1 << 20;

impl<S: Store> Description<S> {
    /// Sends the bytes from the cursor to the end to `out` (see the module
    /// docs), advancing the cursor by what was sent; where the cursor is
    /// the kernel's, as `io::copy` between the two descriptors does.
    /// `Unsupported` if `out` cannot take `sendfile` and nothing was sent,
    /// or the store's bytes are not the file's.
    pub(crate) fn send_to(&self, fd: BorrowedFd<'_>, out: BorrowedFd<'_>) -> io::Result<u64> {
        if !S::SENDS_FILE {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let (mut pos, in_kernel) = self.cursor(fd)?;
        if in_kernel {
            // `File`'s own copy, at the kernel's offset; it read to the end,
            // so the length catches up, as after `read_to_end`.
            let sent = io::copy(&mut &*as_file(fd), &mut &*as_file(out));
            self.store.caught_up(fd);
            return sent;
        }
        self.check_read()?;
        let start = *pos;
        let mut mapped =
            self.store.len().saturating_sub(start) >= MAPPED_FROM && os::is_unix_stream(out);
        let turn_len = if mapped {
            turn(os::send_buffer_size(out).ok())
        } else {
            0
        };
        // Where `mapped`, turns alternate: a `write` from the mapping, then
        // a `sendfile`.
        let mut writes_next = mapped;
        loop {
            let len = self.store.size(fd)?;
            let Some(left) = len.checked_sub(*pos).filter(|&n| n > 0) else {
                break;
            };
            let mut count = usize::try_from(left.min(CALL_MAX)).unwrap_or(usize::MAX);
            if mapped {
                count = count.min(turn_len);
                if writes_next {
                    writes_next = false;
                    match self.store.send_mapped(out, *pos, count) {
                        Some(Ok(0)) => break,
                        Some(Ok(n)) => {
                            *pos += n as u64;
                            continue;
                        }
                        Some(Err(e)) => return Err(e),
                        None => mapped = false,
                    }
                } else {
                    writes_next = true;
                }
            }
            match os::sendfile(out, fd, &mut pos, count) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Unsupported && *pos > start => {
                    return Err(os::invalid());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(*pos - start)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use super::turn;
    use crate::{Backend, MmapFile};

    #[test]
    fn a_turn_is_a_sixteenth_of_the_send_buffer_as_a_power_of_two() {
        for (buffer, expected) in [
            (None, 32 << 10),
            (Some(0), 32 << 10),
            (Some(212_992), 32 << 10), // the default, wmem_default
            (Some(1 << 19), 32 << 10),
            (Some(3 << 20), 128 << 10),
            (Some(8 << 20), 512 << 10),
            (Some(usize::MAX), 1 << 20),
        ] {
            assert_eq!(turn(buffer), expected, "a buffer of {buffer:?}");
        }
    }

    /// The kernel's copy out of the mapping faults where the file no
    /// longer reaches (cut here through the handle's own descriptor, behind
    /// the crate's back, which no lease break reports): `send_mapped`
    /// declines, and `write_to` sends what `sendfile` finds, the file's
    /// bytes up to its end.
    #[test]
    fn a_fault_in_the_kernels_copy_falls_back_to_sendfile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut m = MmapFile::options()
            .read(true)
            .write(true)
            .map_after(0)
            .open(&path)
            .unwrap();
        let Backend::Shared(desc) = &m.backend else {
            panic!("not mapped");
        };
        let (mut tx, mut rx) = UnixStream::pair().unwrap();
        assert_eq!(
            desc.store
                .send_mapped(std::os::fd::AsFd::as_fd(&tx), 0, 10)
                .unwrap()
                .unwrap(),
            10
        );
        rustix::fs::ftruncate(m.fd(), 8192).unwrap();
        assert!(
            desc.store
                .send_mapped(std::os::fd::AsFd::as_fd(&tx), 1 << 19, 10)
                .is_none()
        );
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).map(|_| got)
        });
        assert_eq!(m.write_to(&mut tx).unwrap(), 8192);
        drop(tx);
        let got = reader.join().unwrap().unwrap();
        assert_eq!(got.len(), 10 + 8192);
        assert!(got[..10] == bytes[..10] && got[10..] == bytes[..8192]);
    }
}
