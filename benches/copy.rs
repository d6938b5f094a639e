//! Copying a whole page-cached file into a socket whose other end a thread
//! drains: a `UnixStream::pair` (on Unix; `copy_unix` with the default send
//! buffer, `copy_unix_sndbuf` with 2 MiB) and a loopback TCP connection.
//!
//! Contenders: `io::copy(&mut MmapFile, ..)`, `MmapFile::write_to`
//! (`sendfile`), `io::copy(&mut File, ..)`, the `memmap2` ceiling
//! (`write_all` of the whole map) and `io::copy` from `fmmap`'s reader. Each
//! iteration rewinds, sends the file, and waits until the reader has it all.
//! File size: `MMAPFILE_BENCH_MB` MiB (default 128).

mod common;

use std::io::{self, Seek, SeekFrom};
use std::time::Duration;

use common::{Readers, Scratch, Sink, Stream, size_label};
use criterion::{Criterion, Throughput};
use fmmap::MmapFileExt;
use mmapfile::MmapFile;

fn main() {
    let len = common::bench_file_len();
    let scratch = Scratch::new().expect("create a temporary directory");
    let data = scratch
        .binary("data.bin", len)
        .expect("generate the data file");
    let readers = Readers::open(&data).expect("open the data file");
    eprintln!("copy benches: {} file", size_label(len));

    let mut c = common::criterion();
    #[cfg(unix)]
    {
        let unix = common::unix_sink(None).expect("UnixStream::pair");
        copy_into(&mut c, "copy_unix", &readers, unix);
        // The send buffer bounds the row (see src/description/send.rs):
        // the same contenders through a socket whose owner enlarged it.
        let mut unix = common::unix_sink(Some(1 << 20)).expect("UnixStream::pair");
        let size = rustix::net::sockopt::socket_send_buffer_size(unix.stream());
        eprintln!("copy_unix_sndbuf: a send buffer of {size:?} bytes");
        copy_into(&mut c, "copy_unix_sndbuf", &readers, unix);
    }
    let tcp = common::tcp_sink().expect("loopback TCP connection");
    copy_into(&mut c, "copy_tcp", &readers, tcp);
    c.final_summary();
}

fn copy_into<S: Stream>(c: &mut Criterion, group: &str, k: &Readers, mut sink: Sink<S>) {
    let mut g = c.benchmark_group(group);
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Bytes(k.len));

    // One pass: `send` writes the file into the socket and returns the bytes
    // it sent; then wait until they have all arrived.
    let pass = |sink: &mut Sink<S>, send: &mut dyn FnMut(&mut S) -> io::Result<u64>| {
        let sent = send(sink.stream()).expect("copy into the socket");
        assert_eq!(sent, k.len);
        sink.wait_for(sent).expect("the reader received everything");
    };
    let rewind = |mut f: &MmapFile| f.seek(SeekFrom::Start(0)).map(drop);

    g.bench_function("mmapfile/io_copy", |b| {
        b.iter(|| {
            pass(&mut sink, &mut |out| {
                rewind(&k.mmapfile)?;
                io::copy(&mut &k.mmapfile, out)
            })
        })
    });
    let mut f = k.mmapfile.try_clone().expect("MmapFile::try_clone");
    g.bench_function("mmapfile/write_to", |b| {
        b.iter(|| {
            pass(&mut sink, &mut |out| {
                rewind(&f)?;
                f.write_to(out)
            })
        })
    });
    g.bench_function("file/io_copy", |b| {
        b.iter(|| {
            pass(&mut sink, &mut |out| {
                (&k.file).seek(SeekFrom::Start(0))?;
                io::copy(&mut &k.file, out)
            })
        })
    });
    g.bench_function("memmap2/write_all", |b| {
        b.iter(|| {
            pass(&mut sink, &mut |out| {
                out.write_all(&k.memmap2)?;
                Ok(k.memmap2.len() as u64)
            })
        })
    });
    g.bench_function("fmmap/io_copy", |b| {
        b.iter(|| {
            pass(&mut sink, &mut |out| {
                let mut r = k.fmmap.reader(0)?;
                io::copy(&mut r, out)
            })
        })
    });
    g.finish();
    sink.close().expect("close the socket");
}
