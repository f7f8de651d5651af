//! # Step 08: least privilege
//!
//! Steps 01 to 07 limit what a container *sees*. This step limits what its
//! root may *do*: fewer capabilities, and no way to gain more.
//!
//! | concept | file |
//! |---|---|
//! | **capabilities**: which root powers a container keeps (this step's idea) | [`capabilities.rs`](capabilities) |
//! | Docker's default set, `--cap-add` and `--cap-drop` | [`capset.rs`](capset) |
//! | **no_new_privs**: no set-uid program can raise them again | [`no_new_privs.rs`](no_new_privs) |
//! | `--security-opt` | [`security_opt.rs`](security_opt) |
//! | the command line: step 07's plus the flags above | [`cli.rs`](cli) |

pub mod capabilities;
pub mod capset;
pub mod cli;
pub mod no_new_privs;
pub mod security_opt;

use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Layer, Result};
use step02_pid_ns::init::Init;

use crate::capabilities::Capabilities;
use crate::capset::CapName;
use crate::cli::{SecurityArgs, SecurityFlags};
use crate::no_new_privs::NoNewPrivs;

// ANCHOR: layers
/// Step 08's layers: step 07's, then the capability drop and no_new_privs,
/// last in the child: after every mount (which needs CAP_SYS_ADMIN), right
/// before the command. With `--init`, before its fork, so that the init
/// process is held to them too.
pub fn layers(args: &impl SecurityFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step07_overlay::layers(args, spec)?;
    let own: &SecurityArgs = args.group();
    let mut known: Vec<_> = caps::runtime::thread_all_supported().into_iter().collect();
    known.sort_by_key(caps::Capability::index);
    let keep = capset::kept(&own.cap_add, &own.cap_drop, &known);
    let added = own
        .cap_add
        .iter()
        .filter_map(|c| match c {
            CapName::One(cap) => Some(*cap),
            CapName::All => None,
        })
        .collect();
    last(&mut layers, Capabilities::new(keep, added))?;
    if own.no_new_privileges() {
        last(&mut layers, NoNewPrivs)?;
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
