//! What Windows' system-call backend adds to `File`: no handle is mapped
//! (`MAPPED_IO` is `false`), so the mapping controls refuse with
//! `Unsupported`; `view` reads the bytes into memory, and puts the cursor
//! back; `region` reads and writes at offsets relative to its start, with
//! `seek_read`/`seek_write` (which move the cursor, as `File`'s do);
//! `anonymous()` is a temporary file that is gone once its last handle
//! closes; `write_to` copies from the cursor, into a file or a socket; `page_size` is the system's.
//! Only `anonymous_files_work_and_are_gone_after_drop` makes anonymous
//! files, which it counts.
#![cfg(windows)]

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::windows::fs::FileExt;
use std::path::PathBuf;

use mmapfile::{Advice, MmapFile, Protection};

mod common;
use common::pattern::pattern;
use common::twin::{Scratch, Twins};

/// Asserts that `f` is not mapped and refuses every mapping control with
/// `Unsupported`.
fn refuses_the_controls(what: &str, f: &MmapFile) {
    assert!(!f.is_mapped(), "{what} is mapped");
    assert!(format!("{f:?}").contains("mapped: false"), "{what}: {f:?}");
    let r = f.region(0, 100).unwrap();
    let results: [(&str, io::Result<()>); 13] = [
        ("advise", f.advise(Advice::WillNeed)),
        ("advise_range", f.advise_range(Advice::Random, 0, 10)),
        ("advise(DontNeed)", f.advise(Advice::DontNeed)),
        ("sync_range", f.sync_range(0, 10)),
        ("sync_range_async", f.sync_range_async(0, 10)),
        ("lock_memory", f.lock_memory()),
        ("lock_memory_range", f.lock_memory_range(0, 10)),
        ("unlock_memory", f.unlock_memory()),
        ("protect(ReadOnly)", f.protect(Protection::ReadOnly)),
        ("protect(ReadWrite)", f.protect(Protection::ReadWrite)),
        ("Region::advise", r.advise(Advice::Normal)),
        ("Region::sync", r.sync()),
        ("Region::lock_memory", r.lock_memory()),
    ];
    for (name, result) in results {
        match result {
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {name}: {e}"),
            Ok(()) => panic!("{what}: {name} succeeded on an unmapped handle"),
        }
    }
}

#[test]
fn nothing_is_mapped_and_the_controls_refuse() {
    // Checked when the test is built.
    const { assert!(!mmapfile::MAPPED_IO, "MAPPED_IO on Windows") };
    // 4 KiB on every Windows on x86_64.
    assert_eq!(mmapfile::page_size(), 4096);
    let dir = Scratch::new("controls").unwrap();
    let path = dir.path().join("f");
    fs::write(&path, pattern(0, 10_000)).unwrap();
    let handles = [
        ("read-only", MmapFile::open(&path).unwrap()),
        (
            "read-write",
            MmapFile::options()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
        ),
        (
            "write-only",
            MmapFile::options().write(true).open(&path).unwrap(),
        ),
        (
            "from a File",
            MmapFile::try_from(File::open(&path).unwrap()).unwrap(),
        ),
        (
            "opened with every mapping option",
            MmapFile::options()
                .read(true)
                .write(true)
                .reserve(1 << 20)
                .exact_len(true)
                .preallocate(false)
                .populate(true)
                .huge_pages(true)
                .advice(Advice::Sequential)
                .private(true)
                .open(&path)
                .unwrap(),
        ),
    ];
    for (what, f) in &handles {
        refuses_the_controls(what, f);
    }
    // A private handle is a plain File too: its writes reach the file.
    let (_, private) = &handles[4];
    (&*private).write_all(b"PRIVATE").unwrap();
    assert_eq!(&fs::read(&path).unwrap()[..7], b"PRIVATE");
}

#[test]
fn view_reads_the_bytes_and_leaves_the_cursor() {
    let bytes = pattern(0, 20_000);
    let t = Twins::new(&bytes);
    let mut m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.mmap)
        .unwrap();
    m.seek(SeekFrom::Start(123)).unwrap();
    // SAFETY: nothing else writes or shrinks the file meanwhile.
    let view = unsafe { m.view(5000, 3000) }.unwrap();
    assert!(*view == bytes[5000..8000], "the view's bytes");
    assert_eq!(
        (&m).stream_position().unwrap(),
        123,
        "view moved the cursor"
    );
    // Unmapped, a view is a copy: writes proceed, and it keeps the old
    // bytes.
    m.seek_write(b"new", 5000).unwrap();
    assert_eq!(&view[..3], &bytes[5000..5003]);
    drop(view);
    // SAFETY: as above.
    unsafe {
        assert!(m.view(0, 0).unwrap().is_empty());
        assert_eq!(m.view(19_000, 1000).unwrap().len(), 1000);
        let e = m.view(19_000, 1001).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "a view past the end");
        let e = m.view(u64::MAX - 10, 100).map(drop).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "a view past i64::MAX");
    }
    assert_eq!(
        m.stream_position().unwrap(),
        3 + 5000,
        "after the failed views"
    );
    // Lines, as on Unix.
    let lines = Twins::new(b"a,1\nb,2\nc,3\n");
    let f = MmapFile::open(&lines.mmap).unwrap();
    // SAFETY: as above.
    let v = unsafe { f.view(0, 12) }.unwrap();
    assert_eq!(v.lines().collect::<Vec<_>>(), [&b"a,1"[..], b"b,2", b"c,3"]);
    // A handle that cannot read fails as File's read does.
    let wo = MmapFile::options().write(true).open(&t.mmap).unwrap();
    let want = File::options()
        .write(true)
        .open(&t.file)
        .unwrap()
        .seek_read(&mut [0; 10], 0)
        .unwrap_err();
    // SAFETY: as above.
    let got = unsafe { wo.view(0, 10) }.map(drop).unwrap_err();
    assert_eq!(
        (got.kind(), got.raw_os_error()),
        (want.kind(), want.raw_os_error()),
        "a view through a write-only handle"
    );
}

#[test]
fn regions_read_and_write_relative_offsets() {
    let bytes = pattern(0, 8000);
    let t = Twins::new(&bytes);
    let m = MmapFile::options()
        .read(true)
        .write(true)
        .open(&t.mmap)
        .unwrap();
    let f = File::options()
        .read(true)
        .write(true)
        .open(&t.file)
        .unwrap();
    let r = m.region(1000, 500).unwrap();
    assert_eq!((r.offset(), r.len(), r.is_empty()), (1000, 500, false));
    let mut buf = [0; 100];
    assert_eq!(r.read_at(&mut buf, 10).unwrap(), 100);
    assert!(buf[..] == bytes[1010..1110]);
    // seek_read underneath: the cursor moves as File's seek_read moves it.
    f.seek_read(&mut [0; 100], 1010).unwrap();
    let cursor = |h: &MmapFile| (&*h).stream_position().unwrap();
    assert_eq!(
        cursor(&m),
        (&f).stream_position().unwrap(),
        "cursor after Region::read_at"
    );
    assert_eq!(cursor(&m), 1110);
    // Reads stop at the region's end; writes are cut there.
    assert_eq!(r.read_at(&mut buf, 450).unwrap(), 50);
    assert_eq!(r.read_at(&mut buf, 500).unwrap(), 0);
    assert_eq!(r.read_at(&mut buf, 10_000).unwrap(), 0);
    assert_eq!(r.write_at(&[0xEE; 100], 480).unwrap(), 20);
    assert_eq!(cursor(&m), 1500);
    let e = r.write_at(b"x", 500).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::InvalidInput,
        "a write at the region's end"
    );
    assert_eq!(r.write_at(b"", 500).unwrap(), 0);
    assert_eq!(r.write_at(b"region", 0).unwrap(), 6);
    let mut want = bytes.clone();
    want[1000..1006].copy_from_slice(b"region");
    want[1480..1500].fill(0xEE);
    assert!(
        fs::read(&t.mmap).unwrap() == want,
        "the file after Region::write_at"
    );
    // A region past the end of the file grows it as seek_write does.
    let far = m.region(10_000, 100).unwrap();
    assert_eq!(far.write_at(b"far", 5).unwrap(), 3);
    assert_eq!(m.len().unwrap(), 10_008);
    assert_eq!(fs::read(&t.mmap).unwrap()[8000..10_005], [0; 2005]);
    // Regions that do not fit in i64.
    assert_eq!(
        m.region(u64::MAX - 10, 100).map(drop).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(m.region(i64::MAX as u64, 0).unwrap().is_empty());
}

/// The anonymous files of this process in the temporary directory.
fn anonymous_files() -> Vec<PathBuf> {
    let prefix = format!(".mmapfile-{}-", std::process::id());
    let mut v: Vec<PathBuf> = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn anonymous_files_work_and_are_gone_after_drop() {
    let before = anonymous_files();
    let mut a = MmapFile::anonymous().unwrap();
    let made: Vec<PathBuf> = anonymous_files()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(made.len(), 1, "anonymous() made {made:?}");
    refuses_the_controls("anonymous", &a);
    a.write_all(b"scratch space").unwrap();
    a.seek(SeekFrom::Start(8)).unwrap();
    let mut s = String::new();
    a.read_to_string(&mut s).unwrap();
    assert_eq!(s, "space");
    a.seek_write(b"far", 100_000).unwrap();
    assert_eq!(a.len().unwrap(), 100_003);
    a.set_len(5).unwrap();
    assert_eq!(a.metadata().unwrap().len(), 5);
    // Clones share it, and the cursor.
    let mut c = a.try_clone().unwrap();
    c.seek(SeekFrom::Start(1)).unwrap();
    assert_eq!(a.stream_position().unwrap(), 1);
    // Two anonymous files are two files.
    let b = MmapFile::anonymous().unwrap();
    assert_eq!(b.len().unwrap(), 0);
    // A File of it keeps it alive; the last handle deletes it.
    let mut file = a.into_file().unwrap();
    drop(c);
    let mut head = String::new();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_to_string(&mut head).unwrap();
    assert_eq!(head, "scrat");
    assert!(made[0].exists(), "the file went while a File of it lived");
    drop(file);
    assert!(!made[0].exists(), "{} is still there", made[0].display());
    drop(b);
    let left: Vec<PathBuf> = anonymous_files()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn write_to_copies_from_the_cursor() {
    let bytes = pattern(0, 100_000);
    let t = Twins::new(&bytes);
    let mut m = MmapFile::open(&t.mmap).unwrap();
    m.seek(SeekFrom::Start(40_000)).unwrap();
    let out_path = t.file.with_extension("out");
    let mut out = File::create(&out_path).unwrap();
    assert_eq!(m.write_to(&mut out).unwrap(), 60_000);
    assert_eq!(m.stream_position().unwrap(), 100_000);
    assert_eq!(m.write_to(&mut out).unwrap(), 0);
    drop(out);
    assert!(fs::read(&out_path).unwrap() == bytes[40_000..]);
    // Into a socket (which has no handle on Windows).
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut rx, _) = listener.accept().unwrap();
    let drain = std::thread::spawn(move || {
        let mut got = Vec::new();
        rx.read_to_end(&mut got).map(|_| got)
    });
    m.seek(SeekFrom::Start(99_000)).unwrap();
    assert_eq!(m.write_to(&mut tx).unwrap(), 1000);
    drop(tx);
    assert!(drain.join().unwrap().unwrap() == bytes[99_000..]);
    // To a handle that cannot take it: File's write error.
    m.rewind().unwrap();
    let mut ro = File::open(&out_path).unwrap();
    let want = ro.write(b"x").unwrap_err();
    let got = m.write_to(&mut ro).unwrap_err();
    assert_eq!(
        (got.kind(), got.raw_os_error()),
        (want.kind(), want.raw_os_error())
    );
}
