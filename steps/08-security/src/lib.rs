//! # Step 08: least privilege
//!
//! Steps 01 to 07 limit what a container *sees*. This step limits what its
//! root may *do*: fewer capabilities, no way to gain more, and fewer system
//! calls.
//!
//! | concept | file |
//! |---|---|
//! | **capabilities**: which root powers a container keeps (this step's idea) | [`capabilities.rs`](capabilities) |
//! | Docker's default set, `--cap-add` and `--cap-drop` | [`capset.rs`](capset) |
//! | **no_new_privs**: no set-uid program can raise them again | [`no_new_privs.rs`](no_new_privs) |
//! | **seccomp**: which system calls may be made at all | [`seccomp.rs`](seccomp) |
//! | a profile in Docker's JSON format, and ours | [`profile.rs`](profile), `default.json` |
//! | from a profile to BPF programs (seccompiler) | [`filter.rs`](filter) |
//! | ...its actions and comparisons, in seccompiler's terms | [`terms.rs`](terms) |
//! | ...and a search tree in front, for a fast install | [`tree.rs`](tree) |
//! | a filter as text, for the curious | [`bpf_text.rs`](bpf_text) |
//! | AppArmor and SELinux: the host's label, where it has one | [`lsm.rs`](lsm) |
//! | `--privileged`: all of it off, loudly | [`privileged.rs`](privileged) |
//! | `--security-opt` | [`security_opt.rs`](security_opt) |
//! | the command line: step 07's plus the flags above | [`cli.rs`](cli) |

pub mod bpf_text;
pub mod capabilities;
pub mod capset;
pub mod cli;
pub mod filter;
pub mod lsm;
pub mod no_new_privs;
pub mod privileged;
pub mod profile;
pub mod seccomp;
pub mod security_opt;
pub mod terms;
pub mod tree;

use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Layer, Result};
use step02_pid_ns::init::Init;
use step03_user_ns::cli::UserNsArgs;
use step05_pivot_root::cli::PivotArgs;
use step05_pivot_root::masks::Masks;

use crate::capabilities::Capabilities;
use crate::capset::CapName;
use crate::cli::{Profile, SecurityArgs, SecurityFlags};
use crate::lsm::Lsm;
use crate::no_new_privs::NoNewPrivs;
use crate::privileged::Privileged;
use crate::seccomp::Seccomp;
use crate::security_opt::SecurityOpt;

// ANCHOR: layers
/// Step 08's layers: step 07's, then the capability drop, no_new_privs
/// and the seccomp filter, last in the child: after every mount (which
/// needs CAP_SYS_ADMIN), right before the command. With `--init`, before
/// its fork, so that the init process is held to them too.
pub fn layers(args: &impl SecurityFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step07_overlay::layers(args, spec)?;
    let own: &SecurityArgs = args.group();
    if own.privileged {
        // Refused before anything is made: container root as host root,
        // with nothing held back (privileged.rs).
        let mapping = args.group::<UserNsArgs>().mapping().map_err(Error::layer)?;
        let euid = nix::unistd::geteuid().as_raw();
        if mapping.root_outside().map_or(euid, |(uid, _)| uid) == 0 {
            return Err(Error::layer(privileged::HostRoot));
        }
        let masks_kept = args.group::<PivotArgs>().read_only;
        if !masks_kept {
            layers.remove::<Masks>()?;
        }
        let ignored =
            !own.cap_add.is_empty() || !own.cap_drop.is_empty() || !own.security_opt.is_empty();
        last(
            &mut layers,
            Privileged {
                masks_kept,
                ignored,
            },
        )?;
        return Ok(layers);
    }
    let known = capset::kernel_caps().map_err(|source| Error::Io {
        what: "reading",
        path: "/proc/sys/kernel/cap_last_cap".into(),
        source,
    })?;
    let keep = capset::kept(&own.cap_add, &own.cap_drop, &known);
    let added = own
        .cap_add
        .iter()
        .filter_map(|c| match c {
            CapName::One(cap) => Some(*cap),
            CapName::All => None,
        })
        .collect();
    // Compiled now: a profile that cannot work is refused before anything
    // is made.
    let seccomp = match own.seccomp() {
        Profile::Default => Some(Seccomp::load(
            "(default)",
            profile::DEFAULT,
            &keep,
            &spec.state_dir,
        )),
        Profile::File(path) => Some(Seccomp::from_file(path, &keep, &spec.state_dir)),
        Profile::Unconfined => None,
    }
    .transpose()
    .map_err(Error::layer)?;
    let no_new_privs = own.no_new_privileges();
    // Without no_new_privs, only CAP_SYS_ADMIN lets a process install a
    // filter: then it goes in before the capabilities go (seccomp.rs).
    let (early, late) = match no_new_privs {
        false => (seccomp, None),
        true => (None, seccomp),
    };
    // The host's label first, as runc applies it (the kernel applies it at
    // execve, with no_new_privs by then: see lsm.rs).
    for opt in &own.security_opt {
        let label = match opt {
            SecurityOpt::AppArmor(profile) => Some(lsm::apparmor(profile)),
            SecurityOpt::Label(label) => lsm::selinux(label, &spec.id).transpose(),
            _ => None,
        };
        if let Some(label) = label {
            last(&mut layers, Lsm(label.map_err(Error::layer)?))?;
        }
    }
    if let Some(filter) = early {
        last(&mut layers, filter)?;
    }
    last(&mut layers, Capabilities::new(keep, added, known))?;
    if no_new_privs {
        last(&mut layers, NoNewPrivs)?;
    }
    if let Some(filter) = late {
        last(&mut layers, filter)?;
    }
    Ok(layers)
}
// ANCHOR_END: layers

/// Puts `layer` last in the child, but before `--init`'s fork.
fn last(layers: &mut Layers, layer: impl Layer) -> Result<()> {
    if layers.contains::<Init>() {
        layers.insert_before::<Init>(layer)?;
    } else {
        layers.push(layer);
    }
    Ok(())
}

/// Step 08's container.
pub fn container(args: &impl SecurityFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}
