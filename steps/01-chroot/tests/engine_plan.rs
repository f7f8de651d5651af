//! The engine's timeline, checked through `--dry-run` as an unprivileged
//! library user (these tests need no root): the hooks run in the promised
//! order, layers are cleaned up in reverse, failures clean up what was
//! prepared, and nothing is executed.

use std::sync::{Arc, Mutex};

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use step01_chroot::chroot::Chroot;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, Layer, ParentCx, Plan};
use step01_chroot::spec::Spec;
use step01_chroot::trace::TraceOptions;
use step01_chroot::{Container, ExitStatus};

/// A layer that writes down each hook it is called in.
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    fail_in_prepare: bool,
}

impl Recorder {
    fn push(&self, what: &str) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {what}", self.name));
    }
}

impl Layer for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWUTS
    }
    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        assert!(plan.clone_flags.contains(CloneFlags::CLONE_NEWUTS));
        self.push("check");
        Ok(())
    }
    fn prepare(&mut self, _cx: &mut ParentCx<'_>) -> Result<()> {
        self.push("prepare");
        if self.fail_in_prepare {
            return Err(Error::Usage("prepare failed on purpose".into()));
        }
        Ok(())
    }
    fn configure_child(&mut self, _cx: &mut ParentCx<'_>, child: Pid) -> Result<()> {
        self.push(&format!("configure_child {child}"));
        Ok(())
    }
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        self.push("enter");
        // Side effects go through the trace, which skips them in a dry run.
        cx.trace
            .call("sethostname(\"never\")", || -> nix::Result<()> {
                panic!("a dry run executed a call")
            })?;
        Ok(())
    }
    fn cleanup(&mut self, _cx: &mut ParentCx<'_>, exit: Option<&ExitStatus>) -> Result<()> {
        self.push(&format!("cleanup {exit:?}"));
        Ok(())
    }
}

/// A quiet dry run of `/bin/true` on `rootfs`, with no layers yet.
fn dry_run_on(rootfs: &str) -> Container {
    let spec = Spec::new(
        "test",
        rootfs.into(),
        vec!["/bin/true".into()],
        "/nonexistent".into(),
    );
    let opts = TraceOptions {
        dry_run: true,
        quiet: true,
        ..Default::default()
    };
    Container::new(spec, opts)
}

fn dry_container(log: &Arc<Mutex<Vec<String>>>, fail_second: bool) -> Container {
    let recorder = |name, fail_in_prepare| Recorder {
        name,
        log: log.clone(),
        fail_in_prepare,
    };
    dry_run_on(std::env::temp_dir().to_str().unwrap())
        .with_layer(recorder("a", false))
        .with_layer(recorder("b", fail_second))
        .with_layer(Chroot)
}

#[test]
fn hooks_run_in_timeline_order_and_clean_up_in_reverse() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let exit = dry_container(&log, false)
        .run()
        .expect("a dry run succeeds");
    assert_eq!(exit, ExitStatus::Exited(0));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "a check",
            "b check",
            "a prepare",
            "b prepare",
            "a configure_child 0",
            "b configure_child 0",
            "a enter",
            "b enter",
            "b cleanup None",
            "a cleanup None",
        ]
    );
}

#[test]
fn a_failed_prepare_cleans_up_only_what_was_prepared() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let err = dry_container(&log, true).run().unwrap_err();
    assert_eq!(err.to_string(), "prepare failed on purpose");
    assert_eq!(err.exit_code(), 125);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "a check",
            "b check",
            "a prepare",
            "b prepare",
            "a cleanup None"
        ]
    );
}

#[test]
fn a_missing_rootfs_is_refused_before_anything_happens() {
    let err = dry_run_on("/nonexistent/rootfs")
        .with_layer(Chroot)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::RootfsMissing(_)), "{err}");
    assert!(err.to_string().contains("./rootfs-fetch.sh"), "{err}");
}
