//! `07-overlay import`, given what it must refuse: each refusal exits 125
//! with one `error:` line that names the tarball, the entry or the flag
//! and says why, a `hint:` line with what to do, and nothing stored.

use std::fs;
use std::path::Path;

use tempfile::NamedTempFile;
use workshop_tests::Run;
use workshop_tests::tarballs::{entry, gzip_bomb, tarball};

mod common;

use common::store_in;

/// `07-overlay import ARGS... --state-dir STATE`.
fn import(state: &Path, args: &[&str]) -> Run {
    let args: Vec<&str> = std::iter::once("import")
        .chain(args.iter().copied())
        .collect();
    store_in(state, &args)
}

/// One tarball a learner might try, the flags after it, and what the
/// refusal must say.
struct Bad {
    tarball: NamedTempFile,
    flags: &'static [&'static str],
    says: String,
}

fn bad(tarball: NamedTempFile, flags: &'static [&'static str], says: impl Into<String>) -> Bad {
    Bad {
        tarball,
        flags,
        says: says.into(),
    }
}

fn file(kind: tar::EntryType, name: &str, body: &[u8], link: &str) -> NamedTempFile {
    tarball(|b| entry(b, kind, name, body, link))
}

#[test]
fn bad_imports_are_refused_clearly_and_store_nothing() {
    use tar::EntryType::{Link, Regular, Symlink};
    let state = workshop_tests::temp_dir("state");
    let outside = workshop_tests::temp_dir("outside");
    let target = outside.path().join("pwned");
    let target = target.to_str().unwrap();
    let not_a_tarball = NamedTempFile::new().unwrap();
    fs::write(not_a_tarball.path(), "hello, I am text").unwrap();
    let three_files = || {
        tarball(|b| {
            for name in ["a", "b", "c"] {
                entry(b, Regular, name, &[7; 4096], "");
            }
        })
    };
    let cases = [
        bad(
            file(Regular, &format!("../../../../../..{target}"), b"x", ""),
            &[],
            "'..' would leave the layer",
        ),
        bad(
            file(Regular, target, b"x", ""),
            &[],
            format!("refused entry {target:?}: an absolute path"),
        ),
        bad(
            tarball(|b| {
                entry(b, Symlink, "escape", b"", outside.path().to_str().unwrap());
                entry(b, Regular, "escape/pwned", b"x", "");
            }),
            &[],
            "refused entry \"escape/pwned\": it would be written through the symlink \"escape\"",
        ),
        bad(
            file(Link, "pwned", b"", "/etc/passwd"),
            &[],
            "a hard link to \"/etc/passwd\"",
        ),
        bad(
            three_files(),
            &["--max-entries", "2"],
            "refused entry \"c\": more than 2 entries",
        ),
        bad(
            three_files(),
            &["--max-size", "8k"],
            "raise it with --max-size",
        ),
        bad(gzip_bomb(), &[], "a gzip bomb?"),
        bad(not_a_tarball, &[], "is it a tar or tar.gz file?"),
        bad(three_files(), &["--max-size", "12XB"], "unknown unit"),
        bad(three_files(), &["--max-entries", "lots"], "--max-entries"),
    ];
    for (i, case) in cases.iter().enumerate() {
        let name = format!("bad{i}");
        let path = case.tarball.path().to_str().unwrap();
        let mut args = vec![path, "--name", &name];
        args.extend(case.flags);
        let run = import(state.path(), &args);
        assert_clear_refusal(&run, &case.says, &format!("case {i} {:?}", case.flags));
    }
    // A name that could not be a directory name, and a missing tarball.
    let some = file(Regular, "a", b"x", "");
    let some = some.path().to_str().unwrap();
    let run = import(state.path(), &[some, "--name", "../x"]);
    assert_clear_refusal(&run, "image name \"../x\"", "a bad name");
    let long = "a".repeat(129);
    let run = import(state.path(), &[some, "--name", &long]);
    assert_clear_refusal(&run, "128 at most", "a name too long for a directory");
    let run = import(state.path(), &["/no/such.tgz", "--name", "x"]);
    assert_clear_refusal(&run, "/no/such.tgz: No such file", "a missing tarball");

    assert!(!Path::new(target).exists(), "nothing written outside");
    for kind in ["images", "layers"] {
        let stored: Vec<_> = fs::read_dir(state.path().join(kind))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(stored.is_empty(), "{kind}: {stored:?}: nothing stored");
    }
}

/// Exit code 125, an error line, then a hint; `says` in one of them.
#[track_caller]
fn assert_clear_refusal(run: &Run, says: &str, what: &str) {
    assert_eq!(run.code, Some(125), "{what}: {run:?}");
    let mut lines = run.stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{what}: {run:?}");
    assert!(run.stderr.contains(says), "{what}: {says:?} in {run:?}");
    assert!(
        lines
            .next()
            .is_some_and(|l| l.trim_start().starts_with("hint: ")),
        "{what}: a hint follows: {run:?}"
    );
}

/// The flag the refusal names lets the bomb in.
#[test]
fn a_gzip_bomb_is_let_in_when_the_limit_is_raised() {
    let state = workshop_tests::temp_dir("state");
    let bomb = gzip_bomb();
    let path = bomb.path().to_str().unwrap();
    let refused = import(state.path(), &[path, "--name", "bomb"]);
    assert_clear_refusal(&refused, "--max-ratio", "the bomb");
    assert!(!state.path().join("images/bomb").exists());
    let let_in = import(
        state.path(),
        &[path, "--name", "bomb", "--max-ratio", "100000"],
    );
    assert_eq!(let_in.code, Some(0), "{let_in:?}");
    assert!(state.path().join("images/bomb").exists());
}

/// An `rmi` killed while removing a layer leaves it renamed, never half
/// there under its own name; the next import removes it.
#[test]
fn a_layer_an_rmi_left_half_removed_is_swept_not_reused() {
    let state = workshop_tests::temp_dir("state");
    let layers = state.path().join("layers");
    // As a killed rmi (run 0123456789ab, whose lock is gone) leaves it.
    let left = layers.join(".removing-0123456789ab-c0ffee");
    fs::create_dir_all(left.join("usr/bin")).unwrap();
    fs::write(left.join("usr/bin/half"), "x").unwrap();
    let some = file(tar::EntryType::Regular, "a", b"x", "");
    let run = import(
        state.path(),
        &[some.path().to_str().unwrap(), "--name", "x"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!left.exists(), "swept");
}

/// A layer no image names (an `rmi` or an import killed half-way) goes
/// with the next `rmi`; the layers of other images stay.
#[test]
fn rmi_sweeps_layers_no_image_names() {
    let state = workshop_tests::temp_dir("state");
    let [one, two] = [b"1", b"2"].map(|body| file(tar::EntryType::Regular, "a", body, ""));
    for (tarball, name) in [(&one, "one"), (&two, "two")] {
        let run = import(
            state.path(),
            &[tarball.path().to_str().unwrap(), "--name", name],
        );
        assert_eq!(run.code, Some(0), "{run:?}");
    }
    let orphan = state.path().join("layers").join("0".repeat(64));
    fs::create_dir_all(orphan.join("etc")).unwrap();
    let layers = || fs::read_dir(state.path().join("layers")).unwrap().count();
    assert_eq!(layers(), 3);
    let rmi = store_in(state.path(), &["rmi", "one"]);
    assert_eq!(rmi.code, Some(0), "{rmi:?}");
    assert!(!orphan.exists(), "swept");
    assert_eq!(layers(), 1, "image two's layer stays");
}
