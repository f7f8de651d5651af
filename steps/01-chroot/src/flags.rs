//! How a step's flags reach its layers.
//!
//! Each step owns one group of flags, a `clap::Args` struct with only its
//! own: step 01 [`RunArgs`](crate::cli::RunArgs) (`--rootfs`, `-e`, the
//! command), step 04 `CgroupArgs` (`--memory`, `--cpus`), and so on. A
//! step's command line is the groups of every step so far, side by side,
//! made by [`step_command_line!`](crate::step_command_line):
//!
//! ```text
//! 05-pivot-root's Cli { run: RunArgs, pid_ns: PidNsArgs, user_ns: UserNsArgs,
//!                       cgroups: CgroupArgs, pivot: PivotArgs }
//! ```
//!
//! A step's `layers()` asks for the groups it reads by their *type*, with
//! [`Has`]: `args.group::<CgroupArgs>().memory`. It never walks through the
//! other steps' structs, and a later step hands its own command line to
//! the earlier steps' `layers()`: it has every group they ask for. Each
//! step names what it needs as a trait, its predecessor's plus its own
//! group (step 04: `pub trait CgroupFlags: UserNsFlags + Has<CgroupArgs>`).

/// A command line that has the flag group `G`.
pub trait Has<G> {
    /// The group.
    fn flag_group(&self) -> &G;
}

/// `args.group::<G>()`: the flag group `G` of any command line that has it.
pub trait FlagGroups {
    /// The flag group `G`.
    fn group<G>(&self) -> &G
    where
        Self: Has<G>,
    {
        <Self as Has<G>>::flag_group(self)
    }
}

impl<T: ?Sized> FlagGroups for T {}

/// What step 01's layers read: its own group, [`RunArgs`](crate::cli::RunArgs).
pub trait RunFlags: Has<crate::cli::RunArgs> {}

impl<T: Has<crate::cli::RunArgs>> RunFlags for T {}

// ANCHOR: step_command_line
/// A step binary's command line: a `clap::Parser` struct with one
/// flattened field per flag group (and [`Has`] for each), then any other
/// fields as written (step 07's subcommand). A visibility before
/// `struct` is the struct's (`pub(super) struct Flags`: for a module's
/// siblings; step 10's OCI face reads config.json as one step's flags in
/// two places).
///
/// ```ignore
/// step01_chroot::step_command_line! {
///     /// Run a command in its own root filesystem and namespaces.
///     #[command(name = "02-pid-ns", version)]
///     struct Cli { run: RunArgs, pid_ns: PidNsArgs }
/// }
/// ```
#[macro_export]
macro_rules! step_command_line {
    (
        $(#[$meta:meta])*
        $vis:vis struct $cli:ident {
            $($field:ident: $group:ty),+ $(,)?
            $(; $($(#[$extra_meta:meta])* $extra:ident: $extra_ty:ty),+ $(,)?)?
        }
    ) => {
        #[derive(Debug, clap::Parser)]
        $(#[$meta])*
        $vis struct $cli {
            $(#[command(flatten)] $field: $group,)+
            $($($(#[$extra_meta])* $extra: $extra_ty,)+)?
        }
        $(impl $crate::flags::Has<$group> for $cli {
            fn flag_group(&self) -> &$group {
                &self.$field
            }
        })+
    };
}
// ANCHOR_END: step_command_line

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Args)]
    struct One {
        #[arg(long)]
        one: bool,
    }

    #[derive(Debug, clap::Args)]
    struct Two {
        #[arg(long)]
        two: Option<u32>,
    }

    step_command_line! {
        /// A test command line.
        struct Cli { one: One, two: Two; #[arg(long)] other: bool }
    }

    /// What a step's layers would see, asking by type.
    fn read(args: &(impl Has<One> + Has<Two>)) -> (bool, Option<u32>) {
        (args.group::<One>().one, args.group::<Two>().two)
    }

    #[test]
    fn groups_are_reached_by_type() {
        use clap::Parser;
        let cli = Cli::parse_from(["test", "--two", "7", "--one", "--other"]);
        assert_eq!(read(&cli), (true, Some(7)));
        assert!(cli.other);
    }
}
