//! Workshop-wide tests: the pieces around the steps (rootfs-fetch.sh, the
//! cargo runner, the shared command line, the book's includes, CI).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use workshop_tests::{CommandExt, as_nobody, collect, is_root, workshop_dir};

/// The step directories, `steps/NN-name`, in order.
fn steps() -> Vec<PathBuf> {
    let mut steps: Vec<_> = fs::read_dir(workshop_dir().join("steps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    steps.sort();
    steps
}

/// Where cargo put this build's binaries (target/debug, or target/release).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf() // deps/ -> debug/
}

#[test]
fn rootfs_fetch_builds_a_busybox_rootfs_once() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rootfs");
    let fetch = workshop_dir().join("rootfs-fetch.sh");
    let run = collect(
        Command::new(&fetch)
            .args(["--busybox", "--dest"])
            .arg(&dest)
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let sh = fs::read_link(dest.join("bin/sh")).unwrap();
    assert_eq!(
        sh,
        Path::new("/bin/busybox"),
        "applets link to busybox inside the rootfs"
    );
    assert!(dest.join("bin/busybox").is_file());
    assert!(
        fs::read_to_string(dest.join("etc/os-release"))
            .unwrap()
            .contains("BusyBox")
    );
    // (The tests run as root, through the cargo runner: mknod(2) works.)
    assert!(
        is_root(),
        "the workshop's tests run as root (.cargo/config.toml's runner)"
    );
    let null = fs::metadata(dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device(), "a device node");
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3), "1:3 is null");
    let marker = fs::read_to_string(dest.join(".workshop-rootfs")).unwrap();
    assert!(marker.starts_with("busybox "), "{marker}");

    // Idempotent: a second run leaves it alone and says so.
    let inode = |p: &Path| fs::metadata(p).unwrap().ino();
    let before = inode(&dest);
    let run = collect(
        Command::new(&fetch)
            .args(["--busybox", "--dest"])
            .arg(&dest)
            .output_bounded(),
    );
    run.assert_error(0, "already there");
    assert_eq!(inode(&dest), before, "not rebuilt");

    // --force rebuilds it.
    let run = collect(
        Command::new(&fetch)
            .args(["--busybox", "--force", "--dest"])
            .arg(&dest)
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_ne!(inode(&dest), before, "rebuilt");
    // No temporary directories are left next to it.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["rootfs"]);
}

#[test]
fn rootfs_fetch_never_deletes_a_directory_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("precious"), "keep me").unwrap();
    let run = collect(
        Command::new(workshop_dir().join("rootfs-fetch.sh"))
            .args(["--busybox", "--force", "--dest"])
            .arg(&mine)
            .output_bounded(),
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("was not made by this script"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(mine.join("precious")).unwrap(),
        "keep me"
    );

    let run = collect(
        Command::new(workshop_dir().join("rootfs-fetch.sh"))
            .arg("--bogus")
            .output_bounded(),
    );
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("unknown option: --bogus"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_step_keeps_the_shared_command_line() {
    let steps = steps();
    assert!(!steps.is_empty());
    for step in steps {
        let name = step.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = fs::read_to_string(step.join("Cargo.toml")).unwrap();
        let number = &name[..2];
        assert!(
            manifest.contains(&format!("name = \"step{name}\"")),
            "{name}: the package is step{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}: the binary is {name}"
        );
        let binary = bin_dir().join(&name);
        let run = collect(Command::new(&binary).arg("--help").output_bounded());
        assert_eq!(run.code, Some(0), "{}: {run:?}", binary.display());
        for flag in [
            "--rootfs",
            "--state-dir",
            "--quiet",
            "--dry-run",
            "--timings",
            "--step",
            "--env",
        ] {
            assert!(
                run.stdout.contains(flag),
                "step {number} lacks {flag}:\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn the_runner_execs_directly_as_root() {
    assert!(
        is_root(),
        "the workshop's tests run as root (.cargo/config.toml's runner)"
    );
    let runner = workshop_dir().join("scripts/as-root");
    let run = collect(
        Command::new(&runner)
            .args(["/bin/sh", "-c", "id -u; exit 5"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(5), "the exit code passes through: {run:?}");
    assert_eq!(run.stdout, "0\n");
}

/// Not root, and no sudo to become root with: the runner says so, and
/// what to do, with docker's code for a runtime error.
#[test]
fn the_runner_explains_when_it_cannot_become_root() {
    // A PATH with the runner's own tools and no sudo, whatever this host has.
    let tools = tempfile::tempdir().unwrap();
    for tool in ["sh", "id", "basename"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output_bounded()
            .unwrap();
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        std::os::unix::fs::symlink(&path, tools.path().join(tool)).unwrap();
    }
    fs::set_permissions(tools.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(workshop_dir().join("scripts/as-root"));
    cmd.arg("/bin/true").env("PATH", tools.path());
    let run = collect(as_nobody(&cmd).output_bounded());
    run.assert_error(125, "sudo is not installed");
    assert!(run.stderr.contains("hint:"), "{run:?}");
}

/// mdBook only warns when an include is missing; here it is an error. Every
/// `{{#include file:anchor}}` must name a file that exists and holds the
/// anchor, so the book never shows stale or pasted code.
#[test]
fn the_books_includes_resolve() {
    let src = workshop_dir().join("book/src");
    let mut checked = 0;
    for entry in fs::read_dir(&src).unwrap() {
        let page = entry.unwrap().path();
        if page.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&page).unwrap();
        for include in text.split("{{#include ").skip(1) {
            let target = include.split("}}").next().unwrap().trim();
            let mut parts = target.splitn(2, ':');
            let file = src.join(parts.next().unwrap());
            let anchor = parts.next();
            let body = fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: include {target}: {e}", page.display()));
            if let Some(anchor) = anchor.filter(|a| !a.chars().next().unwrap().is_ascii_digit()) {
                assert!(
                    body.contains(&format!("ANCHOR: {anchor}"))
                        && body.contains(&format!("ANCHOR_END: {anchor}")),
                    "{}: {} has no anchor {anchor}",
                    page.display(),
                    file.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "the book includes code and output from the sources"
    );
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let readme = fs::read_to_string(workshop_dir().join("README.md")).unwrap();
    let ci = fs::read_to_string(workshop_dir().join(".ci/run")).unwrap();
    assert!(readme.contains("\n    cargo test\n") || readme.contains("\ncargo test\n"));
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        ".ci/run runs `cargo test`"
    );
    // CI proves the README: it installs host packages only the way a
    // learner's commands do (scripts/host-setup), not from a list of its own.
    for own_list in ["apt-get install", "dnf install", "pacman -S"] {
        assert!(!ci.contains(own_list), ".ci/run must not `{own_list}`");
    }
}

/// scripts/host-setup with a list of our own: what is there is quiet, what
/// is missing and cannot be installed is named with its fix, fast.
#[test]
fn host_setup_names_what_it_cannot_install() {
    let dir = workshop_tests::temp_dir("tmp");
    let list = dir.path().join("requirements");
    fs::write(
        &list,
        "# need | apt | dnf | pacman | groups | why\n\
         cmd:sh | dash | bash | bash | steps | every test runs a shell\n\
         cmd:no-such-tool-x | no-such-package | nsp-dnf | nsp-pacman | tests | a test needs it\n\
         cmd:not-in-the-group | xyz | xyz | xyz | vm | only the VM lane\n",
    )
    .unwrap();
    let setup = |manager: &str, args: &[&str]| {
        let mut cmd = Command::new(workshop_dir().join("scripts/host-setup"));
        cmd.args(args)
            .env("WORKSHOP_HOST_REQUIREMENTS", &list)
            .env("WORKSHOP_PKG_MANAGER", manager);
        collect(cmd.output_within(std::time::Duration::from_secs(30)))
    };
    let run = setup("none", &["steps"]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");

    let started = std::time::Instant::now();
    let run = setup("none", &[]);
    run.assert_error(
        1,
        "missing no-such-tool-x: a test needs it; fix: sudo apt-get install no-such-package",
    );
    assert!(!run.stderr.contains("not-in-the-group"), "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // With dnf, the fix names dnf's package; --check installs nothing.
    let run = setup("dnf", &["--check", "tests"]);
    run.assert_error(1, "fix: sudo dnf install nsp-dnf");
    assert!(!run.stderr.contains("installing"), "{}", run.stderr);
}
