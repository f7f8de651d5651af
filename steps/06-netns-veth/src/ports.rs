//! `-p HOSTPORT:CONTAINERPORT[/tcp|udp]`: publishing a container's port.
//!
//! Traffic to the host's port is rewritten (DNAT, destination NAT) to the
//! container's address and port: in `PREROUTING` for packets that arrive
//! from outside, and in `OUTPUT` for connections the host itself makes.

use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::iptables::{COMMENT, Rule};

/// One `-p` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// The host's port.
    pub host: u16,
    /// The container's port.
    pub container: u16,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
}

impl FromStr for Publish {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ports, protocol) = match s.split_once('/') {
            // No protocol: tcp, as with Docker's -p.
            None => (s, "tcp"),
            Some((ports, "tcp")) => (ports, "tcp"),
            Some((ports, "udp")) => (ports, "udp"),
            Some((_, other)) => {
                return Err(format!("{s:?}: the protocol is tcp or udp, not {other:?}"));
            }
        };
        let (host, container) = ports
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected HOSTPORT:CONTAINERPORT, e.g. 8080:80"))?;
        let port = |p: &str| match p.parse::<u16>() {
            // u16 refuses anything above 65535; 0 is no port a connection can
            // go to (bind(2) takes it as "pick one for me").
            Ok(0) | Err(_) => Err(format!("{s:?}: {p:?} is not a port (1 to 65535)")),
            Ok(port) => Ok(port),
        };
        Ok(Publish {
            host: port(host)?,
            container: port(container)?,
            protocol,
        })
    }
}

impl Publish {
    /// The DNAT rules that send the host's port to `address`, for
    /// container `id` (named in the rules' comment).
    pub fn rules(&self, address: Ipv4Addr, id: &str) -> Vec<Rule> {
        // `:<id>` says whose they are: they go at the container's cleanup,
        // or, if its run was killed, at the next run's sweep (stale.rs).
        let comment = format!("{COMMENT}:{id}");
        // Only a connection's first packet goes through the nat table
        // (iptables(8)); conntrack rewrites the rest, and the answers back.
        let to = format!("{address}:{}", self.container);
        let spec = |local: bool| {
            let mut spec: Vec<String> = Vec::new();
            if local {
                // Only connections to this host's own addresses.
                // Without it, one that only passes through (a container's to
                // port 8080 of some other machine) would be turned too.
                spec.extend(["-m", "addrtype", "--dst-type", "LOCAL"].map(String::from));
            }
            spec.extend(["-p", self.protocol, "--dport"].map(String::from));
            spec.push(self.host.to_string());
            // DNAT is valid only in PREROUTING and OUTPUT (iptables-extensions(8)):
            // the destination changes before routing decides where it goes.
            spec.extend(["-j", "DNAT", "--to-destination"].map(String::from));
            spec.push(to.clone());
            spec
        };
        vec![
            Rule {
                table: "nat",
                // Packets that come in: from other machines, and from containers
                // on the bridge (hairpin).
                chain: "PREROUTING",
                spec: spec(true),
                comment: comment.clone(),
            },
            Rule {
                table: "nat",
                // The host's own connections (`curl localhost:8080`): they never
                // pass PREROUTING, only OUTPUT.
                chain: "OUTPUT",
                spec: spec(true),
                comment,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse() {
        assert_eq!(
            "8080:80".parse(),
            Ok(Publish {
                host: 8080,
                container: 80,
                protocol: "tcp"
            })
        );
        assert_eq!("53:53/udp".parse::<Publish>().unwrap().protocol, "udp");
        assert!("8080".parse::<Publish>().is_err());
        assert!("0:80".parse::<Publish>().is_err());
        assert!("8080:80/sctp".parse::<Publish>().is_err());
    }

    #[test]
    fn dnat_rules_point_at_the_container() {
        let rules = "8080:80"
            .parse::<Publish>()
            .unwrap()
            .rules(Ipv4Addr::new(10, 88, 0, 2), "abc");
        assert_eq!(rules.len(), 2);
        assert!(
            rules[0]
                .spec
                .join(" ")
                .ends_with("--dport 8080 -j DNAT --to-destination 10.88.0.2:80")
        );
    }
}
