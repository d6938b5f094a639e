//! `/proc/self/smaps`, which describes every mapping of this process: its
//! Rss (pages mapped), Locked (pages held by `mlock`), dirty pages,
//! permissions and `VmFlags` (the `madvise` flags). The crate maps each
//! file once per process, so the entries whose path is a test's own file
//! are exactly the crate's mapping of it (a window split in several entries
//! where a control covered only part of it, and several windows after
//! growth).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/name` with std, reads it once (so that it is in
/// the page cache) and returns its canonical path, as smaps shows it.
pub fn make_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    assert_eq!(fs::read(&path).unwrap().len(), bytes.len());
    path.canonicalize().unwrap()
}

/// One entry of `/proc/self/smaps`.
#[derive(Debug, Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    /// Offset in the file of `start`.
    pub offset: u64,
    pub inode: u64,
    pub path: String,
    /// The `Key: N kB` lines.
    pub kb: HashMap<String, u64>,
    pub flags: Vec<String>,
}

impl Vma {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn get(&self, key: &str) -> u64 {
        self.kb.get(key).copied().unwrap_or(0)
    }

    /// The part of the file this entry maps.
    pub fn file_range(&self) -> (u64, u64) {
        (self.offset, self.offset + (self.end - self.start))
    }
}

pub fn smaps() -> Vec<Vma> {
    let text = fs::read_to_string("/proc/self/smaps").unwrap();
    let mut out: Vec<Vma> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some(key) = first.strip_suffix(':') {
            let Some(vma) = out.last_mut() else { continue };
            if key == "VmFlags" {
                vma.flags = words.map(str::to_string).collect();
            } else if let Some(n) = words.next().and_then(|w| w.parse().ok()) {
                vma.kb.insert(key.to_string(), n);
            }
            continue;
        }
        // A header: `start-end perms offset dev inode [path]`.
        let Some((start, end)) = first.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let perms = words.next().unwrap_or_default().to_string();
        let offset = u64::from_str_radix(words.next().unwrap_or("0"), 16).unwrap_or(0);
        let _dev = words.next();
        let inode = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let path = words.collect::<Vec<_>>().join(" ");
        out.push(Vma {
            start,
            end,
            perms,
            offset,
            inode,
            path,
            kb: HashMap::new(),
            flags: Vec::new(),
        });
    }
    out
}

/// The entries mapping the file at `path` (canonical), in address order.
pub fn vmas_of(path: &Path) -> Vec<Vma> {
    let path = path.to_str().unwrap();
    smaps().into_iter().filter(|v| v.path == path).collect()
}

/// The sum of `key` (in kB) over `vmas`.
pub fn total(vmas: &[Vma], key: &str) -> u64 {
    vmas.iter().map(|v| v.get(key)).sum()
}

pub fn rss_kb(path: &Path) -> u64 {
    total(&vmas_of(path), "Rss")
}

pub fn locked_kb(path: &Path) -> u64 {
    total(&vmas_of(path), "Locked")
}

pub fn dirty_kb(path: &Path) -> u64 {
    let v = vmas_of(path);
    total(&v, "Shared_Dirty") + total(&v, "Private_Dirty")
}

/// The windows (whole mappings of the file from offset 0) among `vmas`,
/// each as its entries, in address order: a window starts at offset 0 and
/// continues over the entries that follow it in memory and in the file.
pub fn windows(vmas: &[Vma]) -> Vec<Vec<Vma>> {
    let mut out: Vec<Vec<Vma>> = Vec::new();
    for v in vmas {
        let continues = out.last().and_then(|w| w.last()).is_some_and(|prev| {
            v.offset != 0 && v.start == prev.end && v.offset == prev.file_range().1
        });
        if continues {
            out.last_mut().unwrap().push(v.clone());
        } else {
            out.push(vec![v.clone()]);
        }
    }
    out
}

/// The current window: the largest, since every new window is larger.
pub fn newest_window(path: &Path) -> Vec<Vma> {
    windows(&vmas_of(path))
        .into_iter()
        .max_by_key(|w| w.last().unwrap().end - w[0].start)
        .unwrap_or_else(|| panic!("no mapping of {}", path.display()))
}

/// The entries of `window` that map any of `from..to` of the file.
pub fn covering(window: &[Vma], from: u64, to: u64) -> Vec<Vma> {
    window
        .iter()
        .filter(|v| {
            let (a, b) = v.file_range();
            a < to && from < b
        })
        .cloned()
        .collect()
}

/// The flags of the entry mapping offset 0 of the newest window.
pub fn first_flags(path: &Path) -> Vec<String> {
    newest_window(path)[0].flags.clone()
}
