//! What the SIGBUS tests (sigbus_blocked.rs, sigbus_chained.rs,
//! sigbus_in_read.rs: issue 11, rows 10 to 12) share. Failure there is
//! death by SIGBUS, so every scenario runs in a child process of the test
//! binary, once with `File` and once with `MmapFile` (the `File` child
//! never creates an `MmapFile`, so the crate's handler is not installed
//! there). The child prints one `RESULT` line ([`report`]) per thing it saw
//! before each risky step; the parent ([`compare_worlds`]) compares how each
//! child ended (exit code or signal, [`Ending`]) and its lines.

use std::os::unix::process::ExitStatusExt;
use std::process::Output;

use mmapfile::MmapFile;

use super::child::{child, child_mode, describe, results};
use super::outsider::{Diffs, Twin};

/// The length of the test files.
pub const FILE_LEN: usize = 1 << 20;

/// Prints one line for the parent, flushed at once (the next step may kill
/// the process).
pub fn report(line: impl AsRef<str>) {
    println!("RESULT {}", line.as_ref());
}

/// How a child ended and what it reported.
#[derive(Debug, PartialEq)]
pub struct Ending {
    pub fate: String,
    pub results: Vec<String>,
}

pub fn ending(out: &Output) -> Ending {
    let fate = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(libc::SIGBUS)) => "killed by SIGBUS".to_string(),
        (None, Some(libc::SIGSEGV)) => "killed by SIGSEGV".to_string(),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{:?}", out.status),
    };
    Ending {
        fate,
        results: results(out),
    }
}

/// Runs `test` as a child once per world (`file:` and `mmap:` before
/// `case`), and records where MmapFile's ending differs from File's.
pub fn compare_worlds(diffs: &mut Diffs, test: &str, case: &str) -> Option<Ending> {
    let file_out = child(test, &format!("file:{case}")).output().unwrap();
    let file = ending(&file_out);
    if let Some(skip) = file.results.iter().find(|r| r.starts_with("SKIP")) {
        println!("SKIPPED {case}: {skip}");
        return None;
    }
    let mmap_out = child(test, &format!("mmap:{case}")).output().unwrap();
    let mmap = ending(&mmap_out);
    if file != mmap {
        // A panic in the child is worth its whole output.
        let panicked = String::from_utf8_lossy(&mmap_out.stderr).contains("panicked");
        diffs.fail(format!(
            "{case}:\n    File:     {}, saw {:?}\n    MmapFile: {}, saw {:?}{}",
            file.fate,
            file.results,
            mmap.fate,
            mmap.results,
            if panicked {
                format!("\n    MmapFile child: {}", describe(&mmap_out))
            } else {
                String::new()
            }
        ));
    }
    Some(file)
}

/// Plays the child's part or the parent's: in a child of `test`, runs the
/// body of its world (`file:` or `mmap:` before its case) on the case and
/// returns `None`; in the parent, `Some` of a [`Diffs`] for
/// [`compare_worlds`].
pub fn child_or_parent(test: &str, body_file: fn(&str), body_mmap: fn(&str)) -> Option<Diffs> {
    let Some(mode) = child_mode(test) else {
        return Some(Diffs::default());
    };
    let (world, case) = mode.split_once(':').unwrap();
    match world {
        "file" => body_file(case),
        "mmap" => body_mmap(case),
        _ => panic!("unknown world {world}"),
    }
    None
}

/// In the `MmapFile` world, the handle must be mapped, or the scenario
/// tests nothing; the two worlds' reports must not differ by it.
pub fn assert_mapped<T: Twin + 'static>(h: &T) {
    if let Some(m) = (h as &dyn std::any::Any).downcast_ref::<MmapFile>() {
        assert!(m.is_mapped(), "the MmapFile is not mapped");
    }
}
