//! What to run: the container's specification, shared by every layer.
//!
//! Layers read it in the child and may change it in the parent before the
//! child exists (step 07's overlay layer, for example, points `rootfs` at the
//! merged overlay directory, and the chroot layer then uses that).

use std::path::PathBuf;

/// The search path inside the container, as Docker and the OCI spec set it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the engine and the layers need to know about one container.
#[derive(Clone, Debug)]
pub struct Spec {
    /// A short random id, like Docker's, for names of host-side things.
    pub id: String,
    /// The directory that becomes `/` for the container.
    pub rootfs: PathBuf,
    /// The command and its arguments; `command[0]` is looked up in the
    /// container's `PATH` when it has no `/`.
    pub command: Vec<String>,
    /// The container's whole environment: the host's is not passed through.
    pub env: Vec<(String, String)>,
    /// Where steps keep state between runs (leases, layers, records).
    pub state_dir: PathBuf,
    /// The name of the running step binary, for hints in error messages.
    pub program: String,
    /// Who container root is on the host (uid, gid): host root until a
    /// layer maps it elsewhere (step 03's user namespace sets it in its
    /// `prepare`). Layers that make files for the container give them to
    /// this owner.
    pub root_on_host: (u32, u32),
    /// `-i` and `-t`: what the container's stdin, stdout and stderr are.
    pub stdio: crate::stdio::StdioMode,
}

impl Spec {
    /// A spec with the default environment: `PATH`, `HOME` and `TERM`.
    ///
    /// The host's environment is *not* inherited: its `PATH` names host
    /// directories and its `HOME` a host home, both meaningless inside.
    /// `TERM` is kept so an interactive shell can draw on your terminal.
    pub fn new(program: &str, rootfs: PathBuf, command: Vec<String>, state_dir: PathBuf) -> Self {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        Spec {
            id: random_id(),
            rootfs,
            command,
            env: vec![
                ("PATH".into(), DEFAULT_PATH.into()),
                ("HOME".into(), "/root".into()),
                ("TERM".into(), term),
            ],
            state_dir,
            program: program.into(),
            root_on_host: (0, 0),
            stdio: Default::default(),
        }
    }

    /// Sets `key` to `value` in the container's environment, replacing it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// The value of `key` in the container's environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Twelve hex digits from the kernel's random pool, like a short Docker id.
pub fn random_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 6];
    // /dev/urandom never blocks once the system has booted; if it is somehow
    // unreadable, the pid and time still give a usable (if guessable) id.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        bytes.copy_from_slice(&seed.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_fresh_and_overridable() {
        let mut spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        assert_eq!(spec.env_var("PATH"), Some(DEFAULT_PATH));
        assert_eq!(spec.env_var("HOME"), Some("/root"));
        spec.set_env("HOME", "/home/ada");
        assert_eq!(spec.env_var("HOME"), Some("/home/ada"));
        assert_eq!(spec.env.iter().filter(|(k, _)| k == "HOME").count(), 1);
        assert_eq!(spec.id.len(), 12);
    }
}
