//! A small file system mounted for a test, to fill up (root only): a tmpfs,
//! or ext4 on a loop-mounted image.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small file system mounted on a fresh temporary directory, unmounted
/// when dropped (also when the test panics).
pub struct SmallFs {
    dir: tempfile::TempDir,
    /// The ext4 image's directory, removed after the unmount.
    _image: Option<tempfile::TempDir>,
}

/// Runs a command; `Err` with what it said where it failed or is missing.
fn run(cmd: &mut Command) -> Result<Output, String> {
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(out),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl SmallFs {
    /// A tmpfs of `size` (`mount -o size=`); `None` (after saying so)
    /// where mounting is not allowed.
    pub fn tmpfs(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let mount = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()));
        match mount {
            Ok(_) => Some(SmallFs { dir, _image: None }),
            Err(e) => {
                println!("skipped: cannot mount tmpfs ({e})");
                None
            }
        }
    }

    /// ext4 on an image of `mib` MiB, loop-mounted; `None` (after saying
    /// so) where `mkfs.ext4` or a loop device is missing.
    pub fn ext4(mib: u64) -> Option<SmallFs> {
        let image_dir = tempfile::tempdir().unwrap();
        let image = image_dir.path().join("ext4.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let made = run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image)).and_then(|_| {
            run(Command::new("mount")
                .args(["-t", "ext4", "-o", "loop"])
                .arg(&image)
                .arg(dir.path()))
        });
        match made {
            Ok(_) => Some(SmallFs {
                dir,
                _image: Some(image_dir),
            }),
            Err(e) => {
                println!("skipped: cannot mount an ext4 image ({e})");
                None
            }
        }
    }

    /// The mount point.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Free bytes, as `statfs` reports them.
    pub fn free(&self) -> u64 {
        let out = run(Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.dir.path()))
        .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut it = text.split_whitespace().map(|s| s.parse::<u64>().unwrap());
        it.next().unwrap() * it.next().unwrap()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        if run(Command::new("umount").arg(self.dir.path())).is_err() {
            // Something still holds it open (a failed test's handle): detach.
            let _ = run(Command::new("umount").arg("-l").arg(self.dir.path()));
        }
    }
}
