//! `mmapfile::page_size` is the system's page size, as `getconf PAGESIZE`
//! reports it.

// Unix only: `getconf` (tests/windows_*.rs cover Windows).
#![cfg(unix)]

use std::process::Command;

#[test]
fn page_size_is_getconf_pagesize() {
    let Ok(out) = Command::new("getconf").arg("PAGESIZE").output() else {
        println!("skipped: getconf is not available");
        return;
    };
    assert!(out.status.success(), "getconf PAGESIZE failed");
    let want: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(mmapfile::page_size(), want);
    assert!(want.is_power_of_two());
}
