//! The seccomp layer: the filter goes in last, right before the command.
//!
//! Capabilities say which privileged operations root may do. seccomp
//! (seccomp(2)) says which system calls a process may make *at all*, root
//! or not: a call the filter refuses never reaches the kernel code behind
//! it. That code is the attack surface; Docker's default profile leaves
//! out about 50 of some 350 calls (keyctl, whose keyring is not
//! namespaced; kexec_load; the mount family unless CAP_SYS_ADMIN is kept;
//! new namespaces), and each was, or could be, the way out of a container.
//!
//! A filter is inherited by every process the container starts and can
//! never be removed, only made stricter by another. Installing one needs
//! no_new_privs (so a filtered process cannot run a set-uid program that
//! would be confused by failing calls) or CAP_SYS_ADMIN. So the filter
//! goes in after no_new_privs, as the last thing before `execve`; with
//! `no-new-privileges=false` it goes in before the capabilities are
//! dropped, while container root still holds CAP_SYS_ADMIN (runc does the
//! same).
//!
//! The programs are compiled in the parent (filter.rs), before anything is
//! made, so a bad profile is refused at once; and kept in the state
//! directory under the sha256 of what they were compiled from
//! (`<state>/seccomp/<sha256>.bpf`), so the next run with the same profile
//! and capabilities reads them instead.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use colored::Color;
use seccompiler::{BpfProgram, sock_filter};
use sha2::{Digest, Sha256};
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::{ChildCx, ParentCx};
use step01_chroot::sys::{Call, Syscall};

use crate::capset::{Capability, mask};
use crate::cli::Profile;
use crate::filter::{ProfileError, compile};
use crate::profile::{BadProfile, DEFAULT, parse};

/// A profile that cannot be used, or not read.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Its file.
    #[error(
        "--security-opt seccomp={path}: {source}\n  hint: give the path of a JSON profile, or seccomp=unconfined"
    )]
    Read {
        /// The path given.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// Its JSON.
    #[error(transparent)]
    Parse(#[from] BadProfile),
    /// Its meaning.
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// The layer: the compiled programs, in the order they go in.
#[derive(Debug)]
pub struct Seccomp {
    programs: Vec<BpfProgram>,
    /// Where they are kept, and whether they must be written there.
    cache: PathBuf,
    cached: bool,
    /// Where they came from, for the trace.
    source: String,
    /// Calls the profile names that this machine does not have.
    skipped: Vec<String>,
}

// ANCHOR: load
impl Seccomp {
    /// The filter of `profile` (its text; `source` names it) for a
    /// container keeping `keep`: read from the state directory if it was
    /// compiled before, else compiled.
    pub fn load(
        source: &str,
        profile: &str,
        keep: &[Capability],
        state_dir: &Path,
    ) -> std::result::Result<Self, SeccompError> {
        // Everything the programs depend on: the profile, the capabilities
        // (includes.caps), the machine, the kernel (minKernel), and this
        // runtime's own version (its compiler).
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = Sha256::new()
            .chain_update(MAGIC)
            .chain_update(env!("CARGO_PKG_VERSION"))
            .chain_update(format!(
                "\n{:x} {} {release}\n",
                mask(keep),
                std::env::consts::ARCH
            ))
            .chain_update(profile)
            .finalize();
        let cache = state_dir.join("seccomp").join(format!("{key:x}.bpf"));
        if let Some(programs) = read_cache(&cache) {
            // (What was skipped was said when they were compiled.)
            return Ok(Seccomp {
                programs,
                cache,
                cached: true,
                source: source.into(),
                skipped: Vec::new(),
            });
        }
        let parsed = parse(Path::new(source), profile)?;
        let compiled = compile(&parsed, keep)?;
        Ok(Seccomp {
            programs: compiled.programs,
            cache,
            cached: false,
            source: source.into(),
            skipped: compiled.skipped,
        })
    }

    /// The filter `profile` asks for (`None`: unconfined), compiled now:
    /// a profile that cannot work is refused before anything is made.
    pub fn chosen(
        profile: Profile<'_>,
        keep: &[Capability],
        state_dir: &Path,
    ) -> std::result::Result<Option<Self>, SeccompError> {
        match profile {
            Profile::Default => Seccomp::load("(default)", DEFAULT, keep, state_dir).map(Some),
            Profile::File(path) => Seccomp::from_file(path, keep, state_dir).map(Some),
            Profile::Unconfined => Ok(None),
        }
    }

    /// The profile in the file at `path`.
    pub fn from_file(
        path: &Path,
        keep: &[Capability],
        state_dir: &Path,
    ) -> std::result::Result<Self, SeccompError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeccompError::Read {
            path: shown.clone(),
            source,
        })?;
        Seccomp::load(&shown, &text, keep, state_dir)
    }
}
// ANCHOR_END: load

impl Layer for Seccomp {
    fn name(&self) -> &'static str {
        "seccomp"
    }

    fn color(&self) -> Color {
        Color::BrightRed
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let sizes: Vec<String> = self.programs.iter().map(|p| p.len().to_string()).collect();
        cx.trace.note(format!(
            "seccomp profile {}: {} program(s) of {} BPF instructions{}",
            self.source,
            self.programs.len(),
            sizes.join(" + "),
            if self.cached {
                ", compiled before (state directory)"
            } else {
                ""
            }
        ));
        if !self.skipped.is_empty() {
            cx.trace.note(format!(
                "calls the profile names that this machine does not have (skipped): {}",
                self.skipped.join(" ")
            ));
        }
        if !self.cached && !cx.trace.dry_run() {
            // Written whole, then renamed: a run that reads it finds all of
            // it or nothing (and compiles again).
            // Best effort: without it, the next run compiles again.
            if let Err(err) = self.write_cache(&cx.spec.state_dir, &cx.spec.id) {
                let path = self.cache.display();
                cx.trace.note(format!("not kept in {path}: {err}"));
            }
        }
        Ok(())
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        for program in &self.programs {
            let call = Install(program.clone());
            cx.trace.sys(Syscall::Other(Arc::new(call)))?;
        }
        Ok(())
    }
}

impl Seccomp {
    /// Writes the programs to the cache, whole, then renamed into place: a
    /// run that reads it finds all of it or nothing.
    fn write_cache(&self, state_dir: &Path, id: &str) -> std::io::Result<()> {
        let dir = step01_chroot::state::private_dir(state_dir, "seccomp")?;
        sweep(&dir);
        let temp = dir.join(format!(".{id}"));
        let body = encode(&self.programs);
        let mut file = Vec::from(MAGIC);
        file.extend(Sha256::digest(&body));
        file.extend(body);
        std::fs::write(&temp, file)?;
        std::fs::rename(&temp, &self.cache)
    }
}

/// The first bytes of a cache file (its format's version).
const MAGIC: &[u8] = b"workshop seccomp 2\n";

/// The programs kept at `path`, if the file is ours, not writable by
/// others, not a symlink, and whole (its sha256 holds); else `None`, and
/// they are compiled again.
fn read_cache(path: &Path) -> Option<Vec<BpfProgram>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return None;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let (sum, body) = rest.split_first_chunk::<32>()?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    decode(body)
}

/// Removes what runs killed between writing and renaming left: `.ID`
/// files whose run is gone (step 01's owner.rs).
fn sweep(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix('.')
            && !step01_chroot::owner::alive(id)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER), brought to step 01's seam.
#[derive(Debug)]
struct Install(BpfProgram);

impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seccomp(SECCOMP_SET_MODE_FILTER, 0, {{ len = {}, filter = ... }})",
            self.0.len()
        )
    }
}

// ANCHOR: install
impl Call for Install {
    fn perform_real(&self) -> nix::Result<()> {
        // Not seccompiler's apply_filter: it sets no_new_privs itself, and
        // `no-new-privileges=false` must mean what it says.
        let program = libc::sock_fprog {
            len: u16::try_from(self.0.len()).map_err(|_| nix::errno::Errno::E2BIG)?,
            // (seccompiler's sock_filter has the kernel's layout: filter.h)
            filter: self.0.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the program outlives the call, which copies it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &program as *const libc::sock_fprog,
            )
        };
        nix::errno::Errno::result(rc).map(drop)
    }
}
// ANCHOR_END: install

/// The programs as stored: each a little-endian u32 count, then its
/// instructions (u16 code, u8 jt, u8 jf, u32 k).
fn encode(programs: &[BpfProgram]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for program in programs {
        bytes.extend((program.len() as u32).to_le_bytes());
        for i in program {
            bytes.extend(i.code.to_le_bytes());
            bytes.extend([i.jt, i.jf]);
            bytes.extend(i.k.to_le_bytes());
        }
    }
    bytes
}

/// The programs back; `None` if the bytes are not what [`encode`] wrote.
fn decode(mut bytes: &[u8]) -> Option<Vec<BpfProgram>> {
    let mut programs = Vec::new();
    while !bytes.is_empty() {
        let (count, rest) = bytes.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count) as usize;
        let body = rest.get(..count.checked_mul(8)?)?;
        let program = body
            .chunks_exact(8)
            .map(|i| sock_filter {
                code: u16::from_le_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_le_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect();
        programs.push(program);
        bytes = &rest[count * 8..];
    }
    (!programs.is_empty()).then_some(programs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capset::DOCKER_DEFAULT;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    #[test]
    fn programs_survive_the_state_directory() {
        let state = tempfile::tempdir().unwrap();
        let first = Seccomp::load("default", DEFAULT, &DOCKER_DEFAULT, state.path()).unwrap();
        assert!(!first.cached);
        assert_eq!(
            decode(&encode(&first.programs)),
            Some(first.programs.clone())
        );
        assert_eq!(decode(&[1, 0, 0, 0, 1]), None, "cut short");
    }

    /// The parent notes the profile; the child installs each program.
    #[test]
    fn the_child_installs_every_program() {
        let state = tempfile::tempdir().unwrap();
        let mut layer = Seccomp::load("default", DEFAULT, &DOCKER_DEFAULT, state.path()).unwrap();
        let mut spec = Spec::new("t", "/r".into(), vec![], state.path().into());
        let (trace, kernel) = Trace::recording();
        let mut cx = ParentCx {
            spec: &mut spec,
            trace,
        };
        layer.prepare(&mut cx).unwrap();
        assert!(!layer.cache.exists(), "a recording writes nothing");
        layer
            .enter(&ChildCx::standalone(cx.spec, cx.trace.clone()))
            .unwrap();
        let shown = kernel.shown();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("seccomp(SECCOMP_SET_MODE_FILTER, 0, { len = "));
    }
}
