//! `/proc` and `/sys` files, which stat as empty yet have content: read
//! every way through `MmapFile` as through `File` (`common::twin`), never
//! mapped, and never read as empty.
//!
//! A file missing here is skipped with a message.

// Unix only: /proc, `read_at`/`write_at` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::fs::File;
use std::io::{Read, SeekFrom};
use std::path::Path;

use mmapfile::MmapFile;

mod common;
use common::skip;
use common::twin::{Diffs, Pair, both, meta_, read_at_n, read_n, read_to_end_, read_to_string_};

// ---------------------------------------------------------------------------
// /proc and /sys: size 0 on stat, content on read
// ---------------------------------------------------------------------------

/// Reads `path` every way through both types; `normalise` makes two reads
/// of a changing file comparable. Returns the MmapFile's read_to_string.
fn pseudo_file(path: &str, normalise: impl Fn(&str) -> String) -> Option<String> {
    if !Path::new(path).exists() {
        skip(&format!("{path} is not present"));
        return None;
    }
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            skip(&format!("cannot open {path}: {e}"));
            return None;
        }
    };
    let mut m = MmapFile::open(path).unwrap_or_else(|e| panic!("MmapFile::open({path}): {e}"));
    let mut d = Diffs::default();
    d.check(!m.is_mapped(), format!("{path} must not be mapped"));
    let Pair { file: fs_, mm: ms } = both(&mut d, "read_to_string", &mut f, &mut m, |h| {
        read_to_string_(h).map(|s| normalise(&s))
    });
    let mm_text = match (&fs_.res, &ms.res) {
        (Ok(a), Ok(b)) => {
            d.check(!a.is_empty(), format!("File read nothing from {path}"));
            d.check(!b.is_empty(), format!("MmapFile read nothing from {path}"));
            b.clone()
        }
        _ => String::new(),
    };
    both(&mut d, "metadata", &mut f, &mut m, meta_);
    // Small reads from the start until the end, through read.
    both(&mut d, "seek Start(0)", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))
    });
    both(&mut d, "7-byte reads to the end", &mut f, &mut m, |h| {
        let mut all = Vec::new();
        loop {
            let got = read_n(h, 7)?;
            if got.is_empty() {
                break;
            }
            all.extend_from_slice(&got);
        }
        Ok(normalise(&String::from_utf8_lossy(&all)))
    });
    let Pair { mm: m_at, .. } = both(&mut d, "read_at(64, 0) is not empty", &mut f, &mut m, |h| {
        read_at_n(h, 64, 0).map(|v| !v.is_empty())
    });
    d.check(
        m_at.res == Ok(true),
        format!("read_at of {path} returned nothing"),
    );
    both(&mut d, "read_to_end is not empty", &mut f, &mut m, |h| {
        h.seek(SeekFrom::Start(0))?;
        read_to_end_(h).map(|v| !v.is_empty())
    });
    both(&mut d, "write", &mut f, &mut m, |h| h.write(b"x"));
    d.finish();
    Some(mm_text)
}

#[test]
fn proc_self_status() {
    // Two processes' status differ (and ours changes): compare the shape.
    let Some(text) = pseudo_file("/proc/self/status", |s| {
        s.lines()
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned()
    }) else {
        return;
    };
    assert_eq!(text, "Name", "/proc/self/status must start with \"Name:\"");
    let mut full = String::new();
    MmapFile::open("/proc/self/status")
        .unwrap()
        .read_to_string(&mut full)
        .unwrap();
    assert!(
        full.starts_with("Name:") && full.contains("\nPid:"),
        "{full:?}"
    );
}

#[test]
fn proc_cpuinfo() {
    // The clock speed may change between reads; everything else may not.
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("MHz") && !l.starts_with("bogomips"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(text) = pseudo_file("/proc/cpuinfo", strip) {
        assert!(!text.is_empty());
    }
}

#[test]
fn proc_version() {
    if let Some(text) = pseudo_file("/proc/version", str::to_owned) {
        assert!(text.starts_with("Linux version"), "{text:?}");
    }
}

#[test]
fn sys_transparent_hugepage_enabled() {
    if let Some(text) = pseudo_file("/sys/kernel/mm/transparent_hugepage/enabled", str::to_owned) {
        assert!(text.contains('['), "{text:?}");
    }
}
