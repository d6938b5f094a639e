//! Hostile offsets, lengths and seeks: every positional call and seek with
//! values near 0, the end of the file, `i64::MAX` and `u64::MAX`, run on a
//! `File` and an `MmapFile` of the same bytes. Results (values, error kinds
//! and codes), cursors and contents must agree.
#![no_main]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mmapfile::MmapFile;

/// An offset biased towards the edges where arithmetic overflows.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Offset {
    Small(u16),
    NearI64Max(u8),
    NearU64Max(u8),
    Raw(u64),
}

impl Offset {
    fn get(self) -> u64 {
        match self {
            Offset::Small(n) => u64::from(n),
            Offset::NearI64Max(d) => (i64::MAX as u64).wrapping_sub(u64::from(d)).wrapping_add(4),
            Offset::NearU64Max(d) => u64::MAX - u64::from(d),
            Offset::Raw(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Call {
    ReadAt(Offset, u8),
    WriteAt(Offset, u8),
    SetLen(Offset),
    SeekStart(Offset),
    SeekCurrent(i64),
    SeekEnd(i64),
    Read(u8),
    Write(u8),
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mmapfile-fuzz-{}-{tag}", std::process::id()))
}

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(true);
    o
}

/// `Ok` value or `(kind, errno)`, comparable across the two files.
type Outcome = Result<u64, (std::io::ErrorKind, Option<i32>)>;

fn outcome<T: Into<u64>>(r: std::io::Result<T>) -> Outcome {
    r.map(Into::into).map_err(|e| (e.kind(), e.raw_os_error()))
}

fn apply<F>(f: &mut F, call: &Call, scratch: &mut [u8]) -> Outcome
where
    F: Read + Write + Seek + FileExt,
{
    match *call {
        Call::ReadAt(off, n) => outcome(
            f.read_at(&mut scratch[..usize::from(n)], off.get())
                .map(|n| n as u64),
        ),
        Call::WriteAt(off, n) => outcome(
            f.write_at(&[0xA5; 256][..usize::from(n)], off.get())
                .map(|n| n as u64),
        ),
        Call::SeekStart(off) => outcome(f.seek(SeekFrom::Start(off.get()))),
        Call::SeekCurrent(d) => outcome(f.seek(SeekFrom::Current(d))),
        Call::SeekEnd(d) => outcome(f.seek(SeekFrom::End(d))),
        Call::Read(n) => outcome(f.read(&mut scratch[..usize::from(n)]).map(|n| n as u64)),
        Call::Write(n) => outcome(f.write(&[0x5A; 256][..usize::from(n)]).map(|n| n as u64)),
        Call::SetLen(_) => unreachable!("set_len is not a trait method"),
    }
}

fuzz_target!(|calls: Vec<Call>| {
    let (file_path, mmap_path) = (scratch("file"), scratch("mmap"));
    let mut file: File = options().open(&file_path).expect("open File");
    let mut mmap = MmapFile::try_from(options().open(&mmap_path).expect("open")).expect("map");
    let seed = [7u8; 5000];
    file.write_all(&seed).expect("seed");
    mmap.write_all(&seed).expect("seed");
    let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
    for call in calls.iter().take(64) {
        let (x, y) = match call {
            Call::SetLen(off) => (
                outcome(file.set_len(off.get()).map(|()| 0u64)),
                outcome(mmap.set_len(off.get()).map(|()| 0u64)),
            ),
            _ => (
                apply(&mut file, call, &mut a),
                apply(&mut mmap, call, &mut b),
            ),
        };
        assert_eq!(x, y, "{call:?}");
        assert_eq!(a, b, "bytes read by {call:?}");
        let pos = (
            file.stream_position().expect("pos"),
            mmap.stream_position().expect("pos"),
        );
        assert_eq!(pos.0, pos.1, "cursor after {call:?}");
    }
    drop(mmap);
    let len = |p: &PathBuf| std::fs::metadata(p).expect("stat").len();
    assert_eq!(len(&file_path), len(&mmap_path), "lengths on disk");
    // `set_len` and far writes make huge sparse files: compare the bytes of
    // small ones.
    if len(&file_path) <= 1 << 24 {
        let read = |p: &PathBuf| std::fs::read(p).expect("read back");
        assert!(read(&file_path) == read(&mmap_path), "contents differ");
    }
    let _ = std::fs::remove_file(&file_path);
    let _ = std::fs::remove_file(&mmap_path);
});
