//! The busybox rootfs the tests run containers in, with the probe in it:
//! built on first use by `rootfs-fetch.sh --busybox`, shared by every test;
//! and private copies for tests that change files in theirs.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{CommandExt, ensure_host, target_dir, temp_dir, workshop_dir};

/// Where the probe is inside the test rootfs (on the container's PATH).
pub const PROBE: &str = "/usr/local/bin/probe";

/// The busybox rootfs the tests run containers in, with the probe at
/// [`PROBE`]. Built on first use; shared by all tests, so tests that change
/// files in their container use [`RootfsCopy`] instead.
pub fn test_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        ensure_host();
        let rootfs = target_dir().join("test-rootfs");
        // Test binaries may run at the same time (cargo nextest): one at a
        // time builds, the others wait on this lock and then find it made.
        fs::create_dir_all(target_dir()).expect("create target dir");
        let lock = File::create(target_dir().join("test-rootfs.lock")).expect("create lock file");
        lock.lock().expect("lock the test rootfs");
        // Made by an older rootfs-fetch.sh, without device nodes? Rebuild.
        let has_dev_null = fs::metadata(rootfs.join("dev/null"))
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()));
        // Or without the /etc files an image has?
        let has_etc = rootfs.join("etc/hosts").exists() && rootfs.join("etc/resolv.conf").exists();
        if !rootfs.join(".workshop-rootfs").exists() || !has_dev_null || !has_etc {
            let status = Command::new(workshop_dir().join("rootfs-fetch.sh"))
                .args(["--busybox", "--force", "--dest"])
                .arg(&rootfs)
                .status_bounded()
                .expect("run rootfs-fetch.sh");
            assert!(
                status.success(),
                "rootfs-fetch.sh --busybox failed: {status}"
            );
        }
        install_probe(&rootfs);
        rootfs
    })
}

/// Builds the probe statically and copies it into the rootfs.
///
/// A busybox rootfs has no libc, so the probe must be static. The build goes
/// into its own target directory (`target/probe`), so it neither waits for
/// nor disturbs the `cargo test` that is running us.
fn install_probe(rootfs: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let probe_target = target_dir().join("probe");
    let status = Command::new(cargo)
        .current_dir(workshop_dir())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "workshop-probe",
            "--target",
            &triple,
        ])
        .arg("--target-dir")
        .arg(&probe_target)
        // crt-static: link glibc into the binary (a static-pie).
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output_within(std::time::Duration::from_secs(600))
        .expect("run cargo to build the probe");
    assert!(
        status.status.success(),
        "building the static probe failed: {}\n{}",
        status.status,
        String::from_utf8_lossy(&status.stderr)
    );
    let built = probe_target.join(&triple).join("release/probe");
    let dest = rootfs.join(PROBE.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // Copy, then rename: a container that runs the old probe right now
    // keeps it ("text file busy" is avoided).
    let tmp = dest.with_extension("new");
    fs::copy(&built, &tmp).expect("copy the probe into the rootfs");
    fs::rename(&tmp, &dest).expect("install the probe");
}

/// A private copy of the test rootfs, for a test that changes files in it.
/// Removed on drop.
#[derive(Debug)]
pub struct RootfsCopy {
    dir: tempfile::TempDir,
}

impl RootfsCopy {
    /// Copies the test rootfs (a few MB: busybox, its links and the probe).
    pub fn new() -> Self {
        let dir = temp_dir("rootfs");
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", test_rootfs().display()))
            .arg(dir.path())
            .status_bounded()
            .expect("run cp");
        assert!(status.success(), "copying the test rootfs failed");
        RootfsCopy { dir }
    }

    /// The copy's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Lets every user in (a temporary directory is private to root), for
    /// tests that run the step as an ordinary user.
    pub fn open_to_all(self) -> Self {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.path(), fs::Permissions::from_mode(0o755)).unwrap();
        self
    }
}

impl Default for RootfsCopy {
    fn default() -> Self {
        Self::new()
    }
}
