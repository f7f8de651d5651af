//! Firewall rules, with the `iptables` command, as Docker does.
//!
//! Rules can be set through netlink too (nftables), but the iptables
//! command is what every tutorial and `docker` itself use, and its rules
//! read well in the trace. Every rule we add carries the comment
//! `container-workshop`, so `iptables -t nat -S | grep container-workshop`
//! shows ours, and `--cleanup` finds them.

use std::process::Command;

use step01_chroot::trace::Trace;

/// The comment on every rule of ours (a container's own add `:<id>`).
///
/// The `comment` match (iptables-extensions(8)) matches every packet; it
/// only tags the rule, and `-S` prints the tag back.
pub const COMMENT: &str = "container-workshop";

/// An iptables command that failed.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// Not installed.
    #[error(
        "iptables is not installed\n  hint: install it (Debian/Ubuntu: apt install iptables), or use --network none"
    )]
    Missing,
    /// It ran and refused.
    #[error("iptables {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

/// Whether `iptables` can be run.
pub fn available() -> bool {
    // Checked before anything is made (network.rs), so that a missing
    // iptables is a hint, not a half-made network.
    Command::new("iptables")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(args: &[String]) -> std::io::Result<std::process::Output> {
    // No shell: each word is one argument, and nothing in a rule is split,
    // quoted or expanded on the way.
    Command::new("iptables").args(args).output()
}

/// A rule: the table, the chain and what follows `-A CHAIN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `nat`, `filter`, or `raw` (the bridge's one early DROP: bridge.rs).
    pub table: &'static str,
    /// `POSTROUTING`, `PREROUTING`, `OUTPUT`, `FORWARD`.
    pub chain: &'static str,
    /// The match and target.
    pub spec: Vec<String>,
    /// Its comment: [`COMMENT`], and `:<id>` for a container's own rules.
    pub comment: String,
}

impl Rule {
    fn args(&self, action: &str) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-t".into(),
            self.table.into(),
            action.into(),
            self.chain.into(),
        ];
        args.extend(self.spec.iter().cloned());
        // -C and -D compare whole rules, comment included: ours never match
        // another program's rule that happens to read the same.
        args.extend(["-m", "comment", "--comment"].map(String::from));
        args.push(self.comment.clone());
        args
    }

    /// Adds the rule unless it is there already (`-C` checks).
    pub fn ensure(&self, trace: &Trace) -> Result<(), IptablesError> {
        // -C: exit 0 if the rule is there (iptables(8)). A kept rule is
        // not added twice, however many runs ensure it.
        if !trace.dry_run() && run(&self.args("-C")).is_ok_and(|o| o.status.success()) {
            return Ok(());
        }
        self.apply(trace, "-A")
    }

    /// Deletes the rule (if it is there).
    pub fn remove(&self, trace: &Trace) -> Result<(), IptablesError> {
        // -D of a missing rule fails ("Bad rule"); a rule already gone is
        // what we wanted.
        if !trace.dry_run() && !run(&self.args("-C")).is_ok_and(|o| o.status.success()) {
            return Ok(());
        }
        self.apply(trace, "-D")
    }

    fn apply(&self, trace: &Trace, action: &str) -> Result<(), IptablesError> {
        let args = self.args(action);
        let shown = args.join(" ");
        if trace.dry_run() {
            trace.announce(format!("iptables {shown}"));
            return Ok(());
        }
        let output = run(&args).map_err(|_| IptablesError::Missing)?;
        trace.note(format!(
            "iptables {shown} = exit {}",
            output.status.code().unwrap_or(-1)
        ));
        if !output.status.success() {
            return Err(IptablesError::Failed {
                args: shown,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}
