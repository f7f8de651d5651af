//! Step 07 under faults, races and other users: a runtime killed with its
//! container kept, `rmi` against containers, imports at once or killed
//! half-way, fifty runs at once for a minute, and a user without root.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, store_in};
use workshop_tests::tarballs::tar_of_dir;
use workshop_tests::{ChildExt, CommandExt, collect, test_rootfs};

/// A kept container whose runtime was SIGKILLed is not running: `rm NAME`
/// unmounts what the dead run left and removes it, and the run's other
/// leftovers (its /etc files, its idmapped views) go with the next run.
/// Whether a run is alive is its lock (step 01's owner.rs), not its pid.
#[test]
fn rm_works_after_the_runtime_was_killed() {
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let mut runtime = workshop_tests::step_command_in(BIN, test_rootfs(), state)
        .env_remove("WORKSHOP_RM")
        .args(["-q", "--name", "killed", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    workshop_tests::contract::container_process(runtime.id(), "sleep");
    let running = collect(
        Command::new(BIN)
            .args(["rm", "killed", "--state-dir"])
            .arg(state)
            .output_bounded(),
    );
    running.assert_error(125, "is running");
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    let merged = state.join("overlay/killed/merged").display().to_string();
    assert!(
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&merged)
    );

    let removed = collect(
        Command::new(BIN)
            .args(["rm", "killed", "--state-dir"])
            .arg(state)
            .output_bounded(),
    );
    assert_eq!(removed.code, Some(0), "{removed:?}");
    assert!(removed.stdout.contains("removed killed"), "{removed:?}");
    assert!(!state.join("overlay/killed").exists());
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&state.display().to_string()), "{mounts}");

    // The next run sweeps the dead run's /etc files.
    let run = collect(
        workshop_tests::step_command_in(BIN, test_rootfs(), state)
            .args(["-q", "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let left: Vec<_> = fs::read_dir(state.join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `rmi` does not take a layer from under a container, running or kept.
#[test]
fn rmi_refuses_a_layer_a_container_stands_on() {
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let tar = tar_of_dir(test_rootfs());
    let run = store_in(
        state,
        &["import", tar.path().to_str().unwrap(), "--name", "base"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let kept = collect(
        workshop_tests::step_command_in(BIN, test_rootfs(), state)
            .env_remove("WORKSHOP_RM")
            .args(["-q", "--image", "base", "--name", "keep", "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(kept.code, Some(0), "{kept:?}");
    store_in(state, &["rmi", "base"]).assert_error(125, "is under container \"keep\"");
    assert_eq!(store_in(state, &["rm", "keep"]).code, Some(0));
    let run = store_in(state, &["rmi", "base"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(fs::read_dir(state.join("layers")).unwrap().count(), 0);
}

/// Two imports of one tarball at once both succeed, with one copy of the
/// layer; what a killed import left (a temporary layer whose run's lock is
/// free) is removed by the next.
#[test]
fn imports_are_atomic_and_shared() {
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let tar = tar_of_dir(test_rootfs());
    let tar = tar.path().to_str().unwrap();
    // An import killed half-way: its lock file is gone with it.
    let leftover = state.join("layers/.unpacking-0badc0ffee00");
    fs::create_dir_all(leftover.join("bin")).unwrap();
    let imports: Vec<_> = ["one", "two"]
        .iter()
        .map(|name| {
            Command::new(BIN)
                .args(["import", tar, "--name", name, "--state-dir"])
                .arg(state)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for import in imports {
        let out = import.wait_with_output_bounded().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let layers: Vec<_> = fs::read_dir(state.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(layers.len(), 1, "one copy, nothing half-done: {layers:?}");
    let images = store_in(state, &["images"]);
    assert!(
        images.stdout.contains("one ") && images.stdout.contains("two "),
        "{images:?}"
    );
}

/// An import killed at any moment (30 moments spread over a whole import,
/// in a seeded order) leaves nothing half-made: the next import of the
/// same tarball succeeds, and the store holds exactly its layer and image.
#[test]
fn an_import_killed_at_any_moment_leaves_nothing_half_made() {
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let tar = tar_of_dir(test_rootfs());
    let tar = tar.path().to_str().unwrap().to_string();
    let import = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["import", &tar, "--name", "img", "--state-dir"])
            .arg(state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let started = Instant::now();
    assert!(import().status_bounded().unwrap().success());
    let whole = started.elapsed();
    let mut seed: u64 = 0x5eed;
    for n in 0..30 {
        let _ = store_in(state, &["rmi", "img"]);
        // A moment in the import, from a seeded generator (xorshift).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = whole.mul_f64((seed % 1000) as f64 / 1000.0);
        let mut child = import().spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait_bounded();
        let next = store_in(state, &["import", &tar, "--name", "img"]);
        assert_eq!(next.code, Some(0), "kill {n} at {at:?}: {next:?}");
        let entries = |dir: &str| -> Vec<String> {
            fs::read_dir(state.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            entries("layers").len(),
            1,
            "kill {n} at {at:?}: {:?}",
            entries("layers")
        );
        assert_eq!(entries("images"), ["img"], "kill {n} at {at:?}");
    }
}

/// Fifty at once for a minute: containers started and removed on images
/// that are imported and removed meanwhile, and kept containers removed.
/// Every failure must be a documented refusal (an image removed just
/// before, a layer a container stands on), and nothing may be left.
#[test]
fn fifty_at_once_for_a_minute_fail_only_as_documented_and_leave_nothing() {
    use std::sync::Arc;
    let state = Arc::new(workshop_tests::temp_dir("state"));
    let tar = Arc::new(tar_of_dir(test_rootfs()));
    let parent = format!("{}/concurrency", workshop_tests::test_cgroup_parent());
    let until = Instant::now() + Duration::from_secs(60);
    let expected = ["no image named", "is not there", "is under container"];
    let workers: Vec<_> = (0..50)
        .map(|n| {
            let (state, tar, parent) = (Arc::clone(&state), Arc::clone(&tar), parent.clone());
            std::thread::spawn(move || {
                let state = state.path();
                let image = format!("img-{}", n % 4);
                let mut unexpected = Vec::new();
                let mut runs = 0;
                while Instant::now() < until {
                    let run = match n % 25 {
                        0 => store_in(
                            state,
                            &["import", tar.path().to_str().unwrap(), "--name", &image],
                        ),
                        1 => store_in(state, &["rmi", &image]),
                        2 => {
                            let name = format!("kept-{n}");
                            let kept = collect(
                                workshop_tests::step_command_in(BIN, test_rootfs(), state)
                                    .env_remove("WORKSHOP_RM")
                                    .env("WORKSHOP_CGROUP_PARENT", &parent)
                                    .args(["-q", "--name", &name, "/bin/true"])
                                    .output_bounded(),
                            );
                            if kept.code == Some(0) {
                                store_in(state, &["rm", &name])
                            } else {
                                kept
                            }
                        }
                        _ => collect(
                            workshop_tests::step_command_in(BIN, test_rootfs(), state)
                                .env("WORKSHOP_CGROUP_PARENT", &parent)
                                .args(["-q", "--image", &image, "/bin/true"])
                                .output_bounded(),
                        ),
                    };
                    runs += 1;
                    let documented = expected.iter().any(|e| run.stderr.contains(e));
                    if run.code != Some(0) && !documented {
                        unexpected.push(format!("worker {n}: {run:?}"));
                    }
                }
                (runs, unexpected)
            })
        })
        .collect();
    let mut total = 0;
    let mut unexpected = Vec::new();
    for worker in workers {
        let (runs, mut failures) = worker.join().unwrap();
        total += runs;
        unexpected.append(&mut failures);
    }
    eprintln!("{total} commands, {} unexpected failures", unexpected.len());
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    let state = state.path();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&state.display().to_string()), "{mounts}");
    for kind in ["overlay", "idmapped", "containers"] {
        let left: Vec<_> = fs::read_dir(state.join(kind))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{kind}: {left:?}");
    }
    let temporary: Vec<_> = fs::read_dir(state.join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
    let name = parent.rsplit('/').next().unwrap();
    for dir in workshop_tests::host::find_dirs(Path::new("/sys/fs/cgroup"), 7, &|n| n == name) {
        let left = workshop_tests::host::find_dirs(&dir, 0, &|_| true);
        assert!(left.is_empty(), "cgroups left: {left:?}");
    }
}

/// Rootless: a run says it needs root (the overlay is mounted on the
/// host), and an import works, the files being yours.
#[test]
fn rootless_runs_are_refused_clearly_and_imports_work() {
    let open = workshop_tests::temp_dir("tmp");
    let everyone = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    fs::set_permissions(open.path(), everyone).unwrap();
    let rootfs = workshop_tests::RootfsCopy::new().open_to_all();
    let state = open.path().join("state");
    let run = workshop_tests::step_command_in(BIN, rootfs.path(), &state);
    let run = collect(
        workshop_tests::as_nobody(&run)
            .arg("/bin/true")
            .output_bounded(),
    );
    run.assert_error(125, "the parent mounts it in the host's mount namespace");

    let tar = tar_of_dir(rootfs.path());
    fs::set_permissions(
        tar.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut import = Command::new(BIN);
    import
        .args([
            "import",
            tar.path().to_str().unwrap(),
            "--name",
            "mine",
            "--state-dir",
        ])
        .arg(&state);
    let run = collect(workshop_tests::as_nobody(&import).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    let layers = fs::read_dir(state.join("layers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    let owner = fs::metadata(layers.path().join("etc/passwd"))
        .unwrap()
        .uid();
    assert_eq!(owner, 65534, "a rootless import's files are its user's");
}
