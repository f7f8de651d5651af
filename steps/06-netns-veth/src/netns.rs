//! The container's network namespace, kept and reached from the host.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::unistd::Pid;
use step01_chroot::error::{Error, Result};
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

/// Where `ip netns` looks for named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Bind-mounts the container's network namespace at /run/netns/ws-<id>,
/// the way `ip netns add` keeps a namespace, so it can be entered from
/// another terminal (the Gocker article does the same).
pub(crate) fn bind_netns(trace: &Trace, id: &str, child: Pid) -> Result<PathBuf> {
    let file = Path::new(NETNS_DIR).join(format!("ws-{id}"));
    if !trace.dry_run() {
        std::fs::create_dir_all(NETNS_DIR).map_err(|source| Error::Io {
            what: "creating",
            path: NETNS_DIR.into(),
            source,
        })?;
        std::fs::File::create(&file).map_err(|source| Error::Io {
            what: "creating",
            path: file.clone(),
            source,
        })?;
    }
    let source = PathBuf::from(format!("/proc/{child}/ns/net"));
    trace.sys(Syscall::Mount {
        source: Some(source),
        target: file.clone(),
        fstype: None,
        flags: MsFlags::MS_BIND,
        data: None,
    })?;
    Ok(file)
}

/// Sets IFF_UP on `lo`, with the interface ioctls of netdevice(7).
pub(crate) fn lo_up() -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: an ifreq, zeroed, named "lo"; the two ioctls read and write
    // its flags.
    unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *to = *from as libc::c_char;
        }
        let fd = socket.as_raw_fd();
        nix::errno::Errno::result(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request))?;
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        nix::errno::Errno::result(libc::ioctl(fd, libc::SIOCSIFFLAGS, &request))?;
    }
    Ok(())
}
