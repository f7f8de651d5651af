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

use crate::capabilities::Capabilities;
use crate::capset::CapName;
use crate::cli::{SecurityArgs, SecurityFlags};
use crate::lsm::Lsm;
use crate::no_new_privs::NoNewPrivs;
use crate::seccomp::Seccomp;

// ANCHOR: layers
/// Step 08's layers: step 07's, then this step's, last in the child: after
/// every mount (which needs CAP_SYS_ADMIN), right before the command; with
/// `--init`, before its fork, so that the init process is held to them too.
pub fn layers(args: &impl SecurityFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step07_overlay::layers(args, spec)?;
    let own: &SecurityArgs = args.group();
    if own.privileged {
        privileged::privileged(args, &mut layers)?;
        return Ok(layers);
    }
    // Decided now, so that bad input is refused before anything is made.
    let all = capset::kernel_caps().map_err(|source| Error::Io {
        what: "reading",
        path: "/proc/sys/kernel/cap_last_cap".into(),
        source,
    })?;
    let keep = capset::kept(&own.cap_add, &own.cap_drop, &all);
    let filter = Seccomp::chosen(own.seccomp(), &keep, &spec.state_dir).map_err(Error::layer)?;
    let labels = lsm::labels(&own.security_opt, &spec.id).map_err(Error::layer)?;
    let no_new_privs = own.no_new_privileges();
    // In the child, in this order: the host's label (as runc does); the
    // filter, while CAP_SYS_ADMIN still allows it if no_new_privs will not
    // (seccomp.rs); the capabilities; no_new_privs; the filter, last.
    let (early, late) = match no_new_privs {
        true => (None, filter),
        false => (filter, None),
    };
    for label in labels {
        last(&mut layers, Lsm(label))?;
    }
    if let Some(filter) = early {
        last(&mut layers, filter)?;
    }
    let added = CapName::named(&own.cap_add);
    last(&mut layers, Capabilities::new(keep, added, all))?;
    if no_new_privs {
        last(&mut layers, NoNewPrivs)?;
    }
    if let Some(filter) = late {
        last(&mut layers, filter)?;
    }
    Ok(layers)
}
// ANCHOR_END: layers

/// Puts `layer` last in the child, but before `--init`'s fork (step 09
/// places its own layer so too).
pub fn last(layers: &mut Layers, layer: impl Layer) -> Result<()> {
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
