//! # Step 05: a root that cannot be escaped
//!
//! | concept | file |
//! |---|---|
//! | **pivot_root**: bind the rootfs, pivot, unmount the old root (this step's idea) | [`pivot.rs`](pivot) |
//! | `/dev` (tmpfs, device nodes, pts, shm) and a read-only `/sys` | [`devices.rs`](devices) |
//! | generated `/etc/hostname`, `hosts`, `resolv.conf` | [`etc_files.rs`](etc_files) |
//! | `-v` volumes, resolved safely inside the rootfs | [`volumes.rs`](volumes) |
//! | ...and what a `-v` argument may say | [`volume_arg.rs`](volume_arg) |
//! | mount points made inside the rootfs, never outside (openat2) | [`inroot.rs`](inroot) |
//! | ...and taken away when no container mounts on them | [`mount_points.rs`](mount_points) |
//! | masked and read-only paths, `--read-only` | [`masks.rs`](masks) |
//! | narrated mount helpers, locked flags | [`mounts.rs`](mounts) |
//! | the command line: step 04's plus `-v`, `--read-only` | [`cli.rs`](cli) |
//!
//! This step *replaces* step 01's chroot layer; everything else is reused.

pub mod cli;
pub mod devices;
pub mod etc_files;
pub mod inroot;
pub mod masks;
pub mod mount_points;
pub mod mounts;
pub mod pivot;
pub mod volume_arg;
pub mod volumes;

use step01_chroot::chroot::Chroot;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Result};
use step02_pid_ns::pid::PidNamespace;

use crate::cli::{PivotArgs, PivotFlags};

// ANCHOR: layers
/// Step 05's layers: step 04's, with chroot replaced by the pivot_root
/// sequence and the mounts a container expects, and hardening after /proc.
pub fn layers(args: &impl PivotFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step04_cgroups::layers(args, spec)?;
    let own: &PivotArgs = args.group();
    let mut root = Layers::new();
    if !own.pivot_without_bind {
        root.push(pivot::BindRoot); // the rootfs becomes a mount point
    }
    root.push(devices::Dev) // these mount under the bound rootfs...
        .push(devices::Sys)
        .push(etc_files::EtcFiles::new(step02_pid_ns::hostname(
            args, spec,
        )))
        .push(volumes::Volumes::new(own.volumes.clone()))
        // /proc too, while the host's is still visible (see PidNamespace).
        .push(PidNamespace::mounting_under_rootfs())
        .push(pivot::PivotRoot); // ...and travel with it into the new root
    let masks = masks::Masks {
        read_only_root: own.read_only,
    };
    // Step 02's /proc layer comes out before `root` goes in: `root` has its
    // own, and a stack with two layers of one type refuses to pick one.
    layers
        .remove::<PidNamespace>()?
        .replace::<Chroot>(root)?
        .insert_after::<pivot::PivotRoot>(masks)?; // masks /proc and /sys paths
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 05's container.
pub fn container(args: &impl PivotFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use step01_chroot::cli::RunArgs;
    use step01_chroot::layer::ChildCx;
    use step01_chroot::trace::Trace;
    use step02_pid_ns::cli::PidNsArgs;
    use step03_user_ns::cli::UserNsArgs;
    use step04_cgroups::cli::CgroupArgs;

    use super::*;

    step01_chroot::step_command_line! {
        /// Step 05's command line, as its binary has it.
        struct Cli {
            run: RunArgs,
            pid_ns: PidNsArgs,
            user_ns: UserNsArgs,
            cgroups: CgroupArgs,
            pivot: PivotArgs,
        }
    }

    /// The child's side of step 05, every layer's `enter` in order, as the
    /// kernel is asked (recorded: no root, no namespace). Checked: the
    /// calls that make this step, in the order that makes them work.
    #[test]
    fn the_child_pivots_after_every_mount_is_in_place() {
        let args = [
            "05",
            "--rootfs",
            "/r",
            "--hostname",
            "box",
            "-v",
            "/tmp:/data",
            "true",
        ];
        let cli = Cli::parse_from(args);
        let spec = cli.run.spec().unwrap();
        let (trace, kernel) = Trace::recording();
        for layer in layers(&cli, &spec).unwrap().iter() {
            layer
                .enter(&ChildCx::standalone(&spec, trace.clone()))
                .unwrap();
        }
        let shown = kernel.shown();
        let in_order = [
            r#"mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)"#,
            r#"sethostname("box")"#,
            r#"mount("/r", "/r", NULL, MS_BIND | MS_REC, NULL)"#,
            r#"mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")"#,
            r#"mount("sysfs", "/r/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#,
            r#"mount("{state}/containers/{id}/hosts", "/r/etc/hosts", NULL, MS_BIND, NULL)"#,
            r#"mount("/tmp", "/r/data", NULL, MS_BIND | MS_REC, NULL)"#,
            r#"mount("proc", "/r/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#,
            r#"chdir("/r")"#,
            r#"pivot_root(".", ".")"#,
            r#"umount2(".", MNT_DETACH)"#,
            r#"chdir("/")"#,
            r#"mount("tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, "size=0")"#,
        ];
        let state = spec.state_dir.display().to_string();
        let mut at = 0;
        for call in in_order {
            let call = call.replace("{state}", &state).replace("{id}", &spec.id);
            let found = shown[at..].iter().position(|c| *c == call);
            at += found.unwrap_or_else(|| panic!("{call}, in order, in {shown:#?}")) + 1;
        }
        assert!(
            !shown.iter().any(|c| c.starts_with("chroot(")),
            "pivot_root, not chroot"
        );
    }
}
