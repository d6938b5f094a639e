//! [`Scratch`]: a directory of a test's own; [`Twins`]: twin files of the
//! same content in one, a `File`'s and an `MmapFile`'s.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mmapfile::MmapFile;

use super::{Diffs, Handle, Open, byte_diff};

/// A directory of its own under `std::env::temp_dir()` (`TMPDIR`), removed
/// with what is in it on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// `mmapfile-{name}-{pid}-{n}`.
    pub fn new(name: &str) -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        loop {
            let dir = std::env::temp_dir().join(format!(
                "mmapfile-{name}-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::create_dir(&dir) {
                // Left behind by an earlier process with the same id.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                r => return r.map(|()| Scratch(dir)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Twin files with the same content in a scratch directory: `file` for
/// `File`, `mmap` for `MmapFile`.
#[derive(Debug)]
pub struct Twins {
    pub file: PathBuf,
    pub mmap: PathBuf,
    _dir: Scratch,
}

impl Twins {
    /// Both files, holding `content`.
    pub fn new(content: &[u8]) -> Self {
        let t = Twins::absent();
        fs::write(&t.file, content).expect("write the File twin");
        fs::write(&t.mmap, content).expect("write the MmapFile twin");
        t
    }

    /// The paths only, for a test that creates the files.
    pub fn absent() -> Self {
        let dir = Scratch::new("twins").expect("a scratch directory");
        Twins {
            file: dir.path().join("file"),
            mmap: dir.path().join("mmap"),
            _dir: dir,
        }
    }

    /// Both opened alike; panics if either fails.
    pub fn open(&self, how: &Open) -> (File, MmapFile) {
        let f = File::h_open(&self.file, how).unwrap_or_else(|e| panic!("File: open {how:?}: {e}"));
        let m = MmapFile::h_open(&self.mmap, how)
            .unwrap_or_else(|e| panic!("MmapFile: open {how:?}: {e}"));
        (f, m)
    }

    /// Records a difference unless the two files hold the same bytes.
    pub fn same_files(&self, d: &mut Diffs, what: &str) {
        let f = fs::read(&self.file).expect("read the File twin");
        let m = fs::read(&self.mmap).expect("read the MmapFile twin");
        if f != m {
            d.push(format!(
                "{what}: the files differ (File's, MmapFile's): {}",
                byte_diff(&f, &m)
            ));
        }
    }
}
