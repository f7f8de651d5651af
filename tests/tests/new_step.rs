//! "Each step only adds", checked: a step 08 written here, from nothing
//! but what steps 01 to 07 export, with one layer of its own put between
//! two of theirs and one flag group of its own. Not a line of steps 01-07
//! changes for it. Chapter 1 shows this file.

use std::sync::{Arc, Mutex};

use clap::Parser;
use step01_chroot::cli::RunArgs;
use step01_chroot::flags::{FlagGroups, Has};
use step01_chroot::layer::{ChildCx, Layers, ParentCx};
use step01_chroot::{Layer, Result};
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cgroup::Cgroup;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::{OverlayArgs, OverlayFlags};

// ANCHOR: step08
/// Step 08's own flags.
#[derive(Clone, Debug, clap::Args)]
struct HelloArgs {
    /// What the new layer says.
    #[arg(long, default_value = "hello")]
    greeting: String,
}

/// Step 08's one new layer: it only says when each hook runs.
#[derive(Debug)]
struct Hello {
    greeting: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Layer for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }
    fn prepare(&mut self, _cx: &mut ParentCx<'_>) -> Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(format!("prepare: {}", self.greeting));
        Ok(())
    }
    fn enter(&self, _cx: &ChildCx<'_>) -> Result<()> {
        self.seen.lock().unwrap().push("enter".into());
        Ok(())
    }
    fn cleanup(
        &mut self,
        _cx: &mut ParentCx<'_>,
        _exit: Option<&step01_chroot::ExitStatus>,
    ) -> Result<()> {
        self.seen.lock().unwrap().push("cleanup".into());
        Ok(())
    }
}

/// Step 08's layers: step 07's, with `Hello` between the cgroup and the
/// network.
fn layers(
    args: &(impl OverlayFlags + Has<HelloArgs>),
    spec: &step01_chroot::spec::Spec,
    seen: Arc<Mutex<Vec<String>>>,
) -> Result<Layers> {
    let mut layers = step07_overlay::layers(args, spec)?;
    let greeting = args.group::<HelloArgs>().greeting.clone();
    layers.insert_after::<Cgroup>(Hello { greeting, seen })?;
    Ok(layers)
}

step01_chroot::step_command_line! {
    /// Step 08's command line: every group so far, and its own.
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
        overlay: OverlayArgs,
        hello: HelloArgs,
    }
}
// ANCHOR_END: step08

#[test]
fn a_new_step_only_adds() {
    let state = workshop_tests::temp_dir("state");
    let rootfs = workshop_tests::test_rootfs();
    let cli = Cli::parse_from([
        "08-hello".as_ref(),
        "--rootfs".as_ref(),
        rootfs.as_os_str(),
        "--state-dir".as_ref(),
        state.path().as_os_str(),
        "--network".as_ref(),
        "none".as_ref(),
        "--greeting".as_ref(),
        "bonjour".as_ref(),
        "--dry-run".as_ref(),
        "-q".as_ref(),
        "/bin/true".as_ref(),
    ]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = cli.group::<RunArgs>().spec().unwrap();
    let names = layers(&cli, &spec, seen.clone()).unwrap().names();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert_eq!(at("hello"), at("cgroup") + 1, "{names:?}");
    assert_eq!(at("net"), at("hello") + 1, "{names:?}");

    // And the engine runs it like any other layer (a dry run: no root).
    let container = cli
        .group::<RunArgs>()
        .container(|spec| layers(&cli, spec, seen.clone()))
        .unwrap();
    container.run().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["prepare: bonjour", "enter", "cleanup"]
    );
}
