//! Things a test makes on the host for a while: a user, a network
//! namespace. Each is named `wsk-TAG-PID` and removed on drop; one left by a
//! killed test run is removed by the next (see [`crate::host`]).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Output};

use crate::bounded::CommandExt;
use crate::host::{claim, require};
use crate::{as_user, wrapped_in};

/// An ordinary user made for a test with useradd(8), which also gives it
/// ranges in /etc/subuid and /etc/subgid; userdel(8) removes it all when
/// the guard is dropped.
#[derive(Debug)]
pub struct TestUser {
    /// The user's name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl TestUser {
    /// Creates a user named `wsk-<tag>-<pid>` with no home directory.
    pub fn create(tag: &str) -> Self {
        claim();
        require("useradd");
        let name = format!("wsk-{tag}-{}", std::process::id());
        // Tests run at once, and useradd gives up when another holds the
        // lock on /etc/passwd: try again, a bounded number of times.
        let mut tries = 0;
        loop {
            let output = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/usr/sbin/nologin"])
                .args(["--comment", crate::host::TEST_USER_COMMENT, &name])
                .output_bounded()
                .expect("run useradd");
            if output.status.success() {
                break;
            }
            tries += 1;
            assert!(
                tries < 50,
                "useradd {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let user = nix::unistd::User::from_name(&name)
            .unwrap()
            .expect("the new user");
        TestUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }

    /// Its first delegated range in `file` (/etc/subuid or /etc/subgid).
    pub fn subids(&self, file: &str) -> (u32, u32) {
        let text = fs::read_to_string(file).unwrap_or_default();
        text.lines()
            .find_map(|l| {
                let rest = l.strip_prefix(&format!("{}:", self.name))?;
                let (start, count) = rest.split_once(':')?;
                Some((start.parse().ok()?, count.parse().ok()?))
            })
            .unwrap_or_else(|| panic!("useradd gave {} no range in {file}", self.name))
    }

    /// `cmd`, run as this user with its groups.
    pub fn command(&self, cmd: &Command) -> Command {
        as_user(cmd, self.uid, self.gid)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status_bounded();
    }
}

/// A network namespace made for a test, standing in for "the host" (or for
/// "the internet") so that bridges, routes and iptables rules never touch
/// the real network. `ip netns del` removes it, and all in it, on drop.
#[derive(Debug)]
pub struct TestNetns {
    /// Its name under /run/netns.
    pub name: String,
}

impl TestNetns {
    /// `ip netns add wsk-<tag>-<pid>`, with `lo` up.
    pub fn new(tag: &str) -> Self {
        claim();
        for tool in ["ip", "nsenter", "iptables"] {
            require(tool);
        }
        let name = format!("wsk-{tag}-{}", std::process::id());
        // One left by a test run that was killed: remove it first.
        if Path::new("/run/netns").join(&name).exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .status_bounded();
        }
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status_bounded();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "ip netns add {name} (package iproute2)"
        );
        let ns = TestNetns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS...` and returns its output; panics on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output_bounded()
            .unwrap();
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command in the namespace (nsenter: only the network
    /// changes; `ip netns exec` would also remount /sys, hiding cgroups).
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg("--")
            .arg(program)
            .args(args)
            .output_bounded()
            .unwrap()
    }

    /// `cmd`, run in this namespace.
    pub fn command(&self, cmd: &Command) -> Command {
        let net = format!("--net=/run/netns/{}", self.name);
        wrapped_in("nsenter", &[&net, "--"], cmd)
    }

    /// Runs `f` on a new thread inside this namespace (setns(2) moves only
    /// the calling thread): a server the containers can reach.
    pub fn thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("open the test netns");
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("setns into the test netns");
            f()
        })
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status_bounded();
    }
}
