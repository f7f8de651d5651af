//! Tests of the mount point lists: who made what, who uses it, and when
//! it goes. They need no root: the lists live in a temporary directory.

use super::*;

fn spec(rootfs: &Path, id: &str) -> Spec {
    let mut spec = Spec::new("test", rootfs.into(), vec![], "/nowhere".into());
    spec.id = id.into();
    spec
}

/// Makes `target` for `run` as [`make`] does, with the lists in `lists`.
fn make_in(lists: &Path, run: &Spec, target: &Path, dir: bool) {
    let _locked = record(&Trace::quiet(), lists, run, target).unwrap();
    inroot::make_mount_point(&Trace::quiet(), &run.rootfs, target, dir).unwrap();
}

#[test]
fn paths_survive_the_records() {
    let odd = Path::new("/a b/c\nd/é");
    assert_eq!(unhex(&hex(odd.as_os_str().as_bytes())).unwrap(), odd);
    assert_eq!(unhex("zz"), None);
}

#[test]
fn what_a_run_made_goes_when_the_last_user_ends() {
    let (rootfs, lists) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let target = rootfs.path().join("data/sub");
    // Two live runs (their locks held, as the engine holds them).
    let ids = [0, 1].map(|n| format!("test-mp-{n}-{}", std::process::id()));
    let locks = ids
        .each_ref()
        .map(|id| step01_chroot::owner::RunLock::take(id).unwrap());
    let [one, two] = ids.each_ref().map(|id| spec(rootfs.path(), id));
    make_in(lists.path(), &one, &target, true);
    make_in(lists.path(), &two, &target, true);
    assert!(target.is_dir());
    let root = Some(rootfs.path().canonicalize().unwrap());
    release_in(&Trace::quiet(), lists.path(), &one.id, root.as_deref());
    assert!(target.is_dir(), "the second run still mounts on it");
    drop(locks);
    // The second run was killed (its lock is gone); any run's release
    // removes what it left.
    release_in(
        &Trace::quiet(),
        lists.path(),
        "test-mp-third",
        root.as_deref(),
    );
    assert!(
        !rootfs.path().join("data").exists(),
        "made and unused: removed"
    );
    assert_eq!(read_dir(&lists.path().join("made")).count(), 0);
    assert_eq!(read_dir(&lists.path().join("uses")).count(), 0);
}

#[test]
fn two_spellings_of_one_rootfs_are_one() {
    let (top, lists) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let real = top.path().join("rootfs");
    std::fs::create_dir(&real).unwrap();
    let link = top.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let ids = [0, 1].map(|n| format!("test-mp-spell-{n}-{}", std::process::id()));
    let locks = ids
        .each_ref()
        .map(|id| step01_chroot::owner::RunLock::take(id).unwrap());
    let one = spec(&link, &ids[0]);
    let two = spec(&real, &ids[1]);
    make_in(lists.path(), &one, &link.join("data"), true);
    make_in(lists.path(), &two, &real.join("data"), true);
    let root = Some(real.canonicalize().unwrap());
    release_in(&Trace::quiet(), lists.path(), &one.id, root.as_deref());
    assert!(
        real.join("data").is_dir(),
        "the other spelling's run mounts on it"
    );
    drop(locks);
    release_in(&Trace::quiet(), lists.path(), &two.id, root.as_deref());
    assert!(!real.join("data").exists());
}

#[test]
fn what_the_image_had_or_a_container_wrote_stays() {
    let (rootfs, lists) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir(rootfs.path().join("etc")).unwrap();
    let id = format!("test-mp-stays-{}", std::process::id());
    let lock = step01_chroot::owner::RunLock::take(&id).unwrap();
    let run = spec(rootfs.path(), &id);
    make_in(lists.path(), &run, &rootfs.path().join("etc/hosts"), false);
    make_in(lists.path(), &run, &rootfs.path().join("data"), true);
    std::fs::write(rootfs.path().join("data/kept"), "a container's file").unwrap();
    drop(lock);
    let root = Some(rootfs.path().canonicalize().unwrap());
    release_in(&Trace::quiet(), lists.path(), &id, root.as_deref());
    assert!(rootfs.path().join("etc").is_dir(), "the image's own");
    assert!(
        !rootfs.path().join("etc/hosts").exists(),
        "made, empty: removed"
    );
    assert!(rootfs.path().join("data/kept").exists(), "never deleted");
}
