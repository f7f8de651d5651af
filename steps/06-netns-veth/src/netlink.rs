//! Netlink: how programs configure the kernel's network (what `ip` does).
//!
//! Links, addresses and routes are set with messages on a netlink socket:
//! RTM_NEWLINK creates a link or changes it, RTM_NEWADDR adds an address,
//! RTM_NEWROUTE a route (rtnetlink(7)). We use the rtnetlink crate, which
//! builds and parses those messages; it is async, so a current-thread tokio
//! runtime drives it (it starts no thread: the engine forks later, and a
//! forked copy of a multi-threaded process is a minefield).
//!
//! A netlink socket talks to the network namespace it was **created** in.
//! To configure the container's namespace from the parent, [`Netlink::in_netns_of`]
//! enters it with setns(2) just long enough to create the socket, then
//! returns: the socket stays bound to the container's namespace.

use std::fs::File;
use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening the socket or the runtime failed.
    #[error("netlink: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel refused a request.
    #[error("netlink: {0}")]
    Request(#[from] rtnetlink::Error),
    /// A link we need is not there.
    #[error("netlink: no link named {0:?}")]
    NoLink(String),
    /// Entering the container's network namespace failed.
    #[error("setns into the network namespace of pid {pid}: {errno}")]
    Setns { pid: i32, errno: nix::errno::Errno },
}

type Result<T> = std::result::Result<T, NetlinkError>;

/// A netlink connection in one network namespace.
pub struct Netlink {
    /// Drives the requests: current-thread, so it starts no thread.
    runtime: tokio::runtime::Runtime,
    /// Sends requests to the connection task, which owns the socket.
    handle: Handle,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

impl Netlink {
    /// A connection in our own network namespace.
    pub fn here() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            // The socket is read through tokio's I/O driver (epoll).
            .enable_io()
            .build()?;
        let handle = runtime.block_on(async {
            // The socket is made here, so it belongs to the namespace this thread is
            // in now. The third part, the kernel's unsolicited messages, is unused.
            let (connection, handle, _) = rtnetlink::new_connection()?;
            // The task that reads and writes the socket; with no thread of its own,
            // it runs whenever a block_on waits.
            tokio::spawn(connection);
            Ok::<_, std::io::Error>(handle)
        })?;
        Ok(Netlink { runtime, handle })
    }

    /// A connection in the network namespace of process `pid`.
    pub fn in_netns_of(pid: Pid) -> Result<Self> {
        // The way back, opened first: a descriptor stays valid whatever happens
        // in between, and setns(2) takes one. /proc/PID/ns/net names a process's
        // network namespace (namespaces(7)).
        let ours = File::open("/proc/self/ns/net")?;
        let theirs = File::open(format!("/proc/{pid}/ns/net"))?;
        let setns_err = |errno| NetlinkError::Setns {
            pid: pid.as_raw(),
            errno,
        };
        // setns(2) moves the calling thread only, and needs CAP_SYS_ADMIN over
        // the namespace: root has it, a rootless parent does not (network.rs).
        setns(&theirs, CloneFlags::CLONE_NEWNET).map_err(setns_err)?;
        // Not `?`: an error must not return before the way back.
        let connection = Self::here();
        // Back home, whatever happened: the rest of the runtime must not
        // configure the container's network by mistake.
        setns(&ours, CloneFlags::CLONE_NEWNET).map_err(|errno| NetlinkError::Setns {
            pid: std::process::id() as i32,
            errno,
        })?;
        connection
    }

    /// Link `name`, as the kernel describes it, if it exists.
    fn link(&self, name: &str) -> Result<Option<rtnetlink::packet_route::link::LinkMessage>> {
        self.runtime.block_on(async {
            let mut links = self
                .handle
                .link()
                .get()
                // RTM_GETLINK for one name (IFLA_IFNAME): one answer, or an error.
                .match_name(name.to_string())
                .execute();
            match links.try_next().await {
                Ok(link) => Ok(link),
                // No such device: the kernel answers with an error, not an empty list.
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// The index of link `name`, if it exists.
    pub fn index(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.link(name)?.map(|l| l.header.index))
    }

    /// The names of all links.
    pub fn names(&self) -> Result<Vec<String>> {
        use rtnetlink::packet_route::link::LinkAttribute;
        self.runtime.block_on(async {
            // Without a name, a dump: one message per link in the namespace.
            let mut links = self.handle.link().get().execute();
            let mut names = Vec::new();
            while let Some(link) = links.try_next().await? {
                names.extend(link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(name) => Some(name.clone()),
                    _ => None,
                }));
            }
            Ok(names)
        })
    }

    /// Whether link `name` is a bridge (`None`: there is no such link).
    pub fn is_bridge(&self, name: &str) -> Result<Option<bool>> {
        use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
        // The kind (IFLA_INFO_KIND, inside IFLA_LINKINFO) is what `ip -d link`
        // prints: "bridge", "veth", ...
        Ok(self.link(name)?.map(|link| {
            link.attributes.iter().any(|a| {
                matches!(a, LinkAttribute::LinkInfo(infos)
                    if infos.contains(&LinkInfo::Kind(InfoKind::Bridge)))
            })
        }))
    }

    fn require(&self, name: &str) -> Result<u32> {
        // Requests name a link by its index (ifinfomsg's ifi_index, rtnetlink(7)),
        // which stays the same when the link is renamed.
        self.index(name)?
            .ok_or_else(|| NetlinkError::NoLink(name.into()))
    }

    /// RTM_NEWLINK: a bridge named `name`.
    pub fn add_bridge(&self, name: &str) -> Result<()> {
        // A new link starts down, without an address: the caller adds those.
        let message = LinkBridge::new(name).build();
        self.runtime
            .block_on(self.handle.link().add(message).execute())?;
        Ok(())
    }

    /// RTM_NEWLINK: a veth pair, `name` here and `peer` its other end.
    pub fn add_veth(&self, name: &str, peer: &str) -> Result<()> {
        // Both ends are made here, in one request; veth(4): a pair always comes
        // whole, and what goes in at one end comes out of the other.
        let message = LinkVeth::new(name, peer).build();
        self.runtime
            .block_on(self.handle.link().add(message).execute())?;
        Ok(())
    }

    /// RTM_NEWLINK (set): link `name` up.
    pub fn set_up(&self, name: &str) -> Result<()> {
        let index = self.require(name)?;
        let message = LinkUnspec::new_with_index(index).up().build();
        self.runtime
            .block_on(self.handle.link().set(message).execute())?;
        Ok(())
    }

    /// RTM_NEWLINK (set): link `name` becomes a port of bridge `bridge`.
    pub fn set_master(&self, name: &str, bridge: &str) -> Result<()> {
        let (index, bridge) = (self.require(name)?, self.require(bridge)?);
        // IFLA_MASTER: what `ip link set NAME master BRIDGE` sends.
        let message = LinkUnspec::new_with_index(index).controller(bridge).build();
        self.runtime
            .block_on(self.handle.link().set(message).execute())?;
        Ok(())
    }

    /// RTM_NEWLINK (set): link `name` moves into the network namespace of `pid`.
    pub fn move_to_netns_of(&self, name: &str, pid: Pid) -> Result<()> {
        let index = self.require(name)?;
        let message = LinkUnspec::new_with_index(index)
            // IFLA_NET_NS_PID. The link arrives down and without addresses: it is
            // configured over there, after the move.
            .setns_by_pid(pid.as_raw() as u32)
            .build();
        self.runtime
            .block_on(self.handle.link().set(message).execute())?;
        Ok(())
    }

    /// RTM_NEWLINK (set): link `name` is renamed `new_name`.
    pub fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        let index = self.require(name)?;
        let message = LinkUnspec::new_with_index(index)
            // The kernel renames only a link that is down (EBUSY otherwise); in the
            // container's namespace, `eth0` is free.
            .name(new_name.to_string())
            .build();
        self.runtime
            .block_on(self.handle.link().set(message).execute())?;
        Ok(())
    }

    /// RTM_NEWADDR: `address/prefix` on link `name`.
    pub fn add_address(&self, name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let index = self.require(name)?;
        // With the prefix, the kernel also routes the whole subnet through
        // this link once it is up (`proto kernel` in `ip route`).
        let request = self.handle.address().add(index, address.into(), prefix);
        self.runtime.block_on(request.execute())?;
        Ok(())
    }

    /// RTM_NEWROUTE: the default route, via `gateway`.
    pub fn add_default_route(&self, gateway: Ipv4Addr) -> Result<()> {
        // No destination: 0.0.0.0/0, every address. The kernel takes a gateway
        // only if a route already reaches it: the subnet's, there since the
        // link got its address and went up.
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.runtime
            .block_on(self.handle.route().add(route).execute())?;
        Ok(())
    }

    /// RTM_DELLINK: link `name` (a veth takes its peer along).
    pub fn delete(&self, name: &str) -> Result<()> {
        let index = self.require(name)?;
        self.runtime
            .block_on(self.handle.link().del(index).execute())?;
        Ok(())
    }
}
