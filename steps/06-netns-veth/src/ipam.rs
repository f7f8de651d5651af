//! IPAM (IP address management): one address per container, from the
//! bridge's subnet, never the same twice at once.
//!
//! Leases are lines `ADDRESS ID` in `<state dir>/ipam/<bridge>`. The file
//! is locked (flock(2)) while it is read and rewritten, so containers
//! started at the same moment get different addresses. A lease whose run
//! is gone (its lock is free: step 01's owner.rs) was left by a run that
//! crashed, and is reused.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An IPv4 subnet, `10.88.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// The network address.
    pub network: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl FromStr for Subnet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("{s:?}: expected an IPv4 subnet like 10.88.0.0/16");
        let (address, prefix) = s.split_once('/').ok_or_else(usage)?;
        let address: Ipv4Addr = address.parse().map_err(|_| usage())?;
        let prefix: u8 = prefix.parse().map_err(|_| usage())?;
        // A /29 has 8 addresses: network, gateway, broadcast, and 5 for
        // containers; a /30 would leave 1, a /31 none.
        if !(8..=29).contains(&prefix) {
            return Err(format!(
                "{s:?}: use a prefix from /8 to /29 (room for a gateway and containers)"
            ));
        }
        let subnet = Subnet {
            network: address,
            prefix,
        };
        // 10.88.0.1/16 names an address, not a network: refused rather than
        // guessed, as the kernel refuses such a route (`ip route add` says
        // "Invalid prefix for given prefix length").
        if subnet.network_address() != address {
            return Err(format!(
                "{s:?}: host bits are set; the network is {}/{prefix}",
                subnet.network_address()
            ));
        }
        Ok(subnet)
    }
}

/// `10.88.0.0/16`, as `--subnet` takes it, for the trace and errors.
impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    fn mask(&self) -> u32 {
        // A shift by 32 would overflow: prefix 0 never gets here (parsing
        // takes /8 at least; bridge.rs skips the default route).
        u32::MAX << (32 - self.prefix)
    }

    fn network_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) & self.mask())
    }

    /// The bridge's own address: the first in the subnet (`10.88.0.1`).
    pub fn gateway(&self) -> Ipv4Addr {
        // No overflow: a parsed subnet's host bits are zero, and at least 3.
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Whether `address` is in the subnet.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        // Two prefixes share an address only if one holds the other: then
        // they agree on every bit of the shorter one.
        let mask = self.mask().min(other.mask()); // the shorter prefix
        u32::from(self.network) & mask == u32::from(other.network) & mask
    }

    /// The addresses containers may get: after the gateway, before broadcast.
    fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        // +2: the network's own address, then the gateway. The last one, all
        // host bits set, is broadcast; the range stops before it.
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | !self.mask();
        (first..broadcast).map(Ipv4Addr::from)
    }
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// The container's id: the run that holds it, alive as long as its
    /// lock is held (step 01's owner.rs).
    pub id: String,
}

/// The first address of `subnet` that no live lease holds.
pub fn first_free(subnet: &Subnet, leases: &[Lease]) -> Option<Ipv4Addr> {
    // The lowest free one: the first container gets .2, and an address
    // given back is the next to go out.
    subnet
        .hosts()
        .find(|a| !leases.iter().any(|l| l.address == *a))
}

fn parse(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|line| {
            // A line that does not parse is dropped, its address free again.
            let mut f = line.split_whitespace();
            Some(Lease {
                address: f.next()?.parse().ok()?,
                id: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The lease file of `bridge` under `state_dir`.
pub fn lease_file(state_dir: &Path, bridge: &str) -> PathBuf {
    // One file per bridge: the containers on it share its subnet.
    state_dir.join("ipam").join(bridge)
}

/// Runs `change` on the leases with the file locked, and writes them back.
fn with_leases<T>(file: &Path, change: impl FnOnce(&mut Vec<Lease>) -> T) -> std::io::Result<T> {
    let leases = file.parent().expect("a lease file is in a directory");
    // 0700: which container has which address is the runtime's business.
    step01_chroot::state::private_dir(leases.parent().expect("in the state directory"), "ipam")?;
    let mut f: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        // Not truncated on open: the lock is not held yet, and another run may
        // be reading the leases this very moment.
        .truncate(false)
        .open(file)?;
    // flock(2), exclusive: a second run waits here until the first is done.
    f.lock()?; // released when `f` is closed
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let mut leases = parse(&text);
    // Leases of runs that crashed are free again.
    leases.retain(|l| step01_chroot::owner::alive(&l.id));
    let result = change(&mut leases);
    let text: String = leases
        .iter()
        // The `ADDRESS ID` lines that parse() reads back.
        .map(|l| format!("{} {}\n", l.address, l.id))
        .collect();
    // Rewritten in place, not replaced with rename(2): the lock belongs to
    // this file, and runs waiting on it must read what we write. Truncated
    // first, since the new text may be shorter (a release).
    f.set_len(0)?;
    f.rewind()?;
    f.write_all(text.as_bytes())?;
    Ok(result)
}

/// Takes the first free address for container `id`.
pub fn allocate(file: &Path, subnet: &Subnet, id: &str) -> std::io::Result<Option<Ipv4Addr>> {
    with_leases(file, |leases| {
        // `?` on None: the subnet is full, and no lease is added.
        let address = first_free(subnet, leases)?;
        leases.push(Lease {
            address,
            id: id.to_string(),
        });
        Some(address)
    })
}

/// Gives container `id`'s address back.
pub fn release(file: &Path, id: &str) -> std::io::Result<()> {
    with_leases(file, |leases| leases.retain(|l| l.id != id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_know_their_addresses() {
        let s: Subnet = "10.88.0.0/16".parse().unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert!(s.contains(Ipv4Addr::new(10, 88, 200, 3)));
        assert!(!s.contains(Ipv4Addr::new(10, 89, 0, 1)));
        assert!(s.overlaps(&"10.0.0.0/8".parse().unwrap()));
        assert!(!s.overlaps(&"192.168.0.0/16".parse().unwrap()));
        assert!(
            "10.88.0.1/16"
                .parse::<Subnet>()
                .unwrap_err()
                .contains("host bits")
        );
        assert!("10.88.0.0".parse::<Subnet>().is_err());
        assert!("10.88.0.0/31".parse::<Subnet>().is_err());
    }

    #[test]
    fn addresses_are_handed_out_once_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = lease_file(dir.path(), "br");
        let subnet: Subnet = "10.9.0.0/29".parse().unwrap();
        // Live runs, as the runtime is (a lease lives with its run's lock).
        let run = |name: &str| format!("ipam-{}-{name}", std::process::id());
        let locks: Vec<_> = ["c0", "c1", "c2", "c3", "c4", "full", "again"]
            .iter()
            .map(|name| step01_chroot::owner::RunLock::take(&run(name)).unwrap())
            .collect();
        let got: Vec<_> = (0..5)
            .map(|i| allocate(&file, &subnet, &run(&format!("c{i}"))).unwrap())
            .collect();
        let expected: Vec<_> = (2..=6).map(|h| Some(Ipv4Addr::new(10, 9, 0, h))).collect();
        assert_eq!(got, expected);
        assert_eq!(
            allocate(&file, &subnet, &run("full")).unwrap(),
            None,
            "a /29 has 5 for containers"
        );
        release(&file, &run("c1")).unwrap();
        assert_eq!(
            allocate(&file, &subnet, &run("again")).unwrap(),
            Some(Ipv4Addr::new(10, 9, 0, 3))
        );
        drop(locks);
    }

    #[test]
    fn leases_of_dead_runtimes_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let file = lease_file(dir.path(), "br");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        // No run holds the lock of `dead`.
        std::fs::write(&file, "10.9.0.2 dead\n").unwrap();
        let subnet: Subnet = "10.9.0.0/24".parse().unwrap();
        assert_eq!(
            allocate(&file, &subnet, "ipam-new").unwrap(),
            Some(Ipv4Addr::new(10, 9, 0, 2))
        );
    }
}
