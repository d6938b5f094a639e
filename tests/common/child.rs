//! Running one test again as a child process, for what must happen in
//! another process (a truncation from outside, a resource limit, a kill) or
//! may kill the process that does it: the test binary re-runs itself with
//! only that test, which finds out from `child_mode` that it plays the
//! child's part.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

/// Names the test a child process runs.
const CHILD_ENV: &str = "MMAPFILE_TEST_CHILD";
/// What the child is to do, for tests with several kinds of child.
const MODE_ENV: &str = "MMAPFILE_TEST_MODE";

/// `Some(mode)` when this process is the child running `test`.
pub fn child_mode(test: &str) -> Option<String> {
    (std::env::var(CHILD_ENV).ok()? == test).then(|| std::env::var(MODE_ENV).unwrap_or_default())
}

/// This test binary, set to run only `test`, as a child in `mode`.
pub fn child(test: &str, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(MODE_ENV, mode);
    cmd
}

/// `child(test, mode)` run through `wrapper` (such as `prlimit --as=N`, or
/// `sh -c '...' `), which must end by running the command it is given.
pub fn wrapped_child(wrapper: &[&str], test: &str, mode: &str) -> Command {
    let inner = child(test, mode);
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    cmd
}

/// A child's exit and output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?} (signal {:?})\n--- stdout\n{}--- stderr\n{}",
        out.status,
        out.status.signal(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `prlimit <arg>` works here; says it is skipping if not.
pub fn prlimit_works(arg: &str) -> bool {
    let ok = Command::new("prlimit")
        .args([arg, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: prlimit {arg} is not available");
    }
    ok
}

/// The `RESULT` lines a child printed, without the prefix (the harness
/// may print the test's name on the line of the first one).
pub fn results(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.find("RESULT ").map(|i| l[i + 7..].to_string()))
        .collect()
}
