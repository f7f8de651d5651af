//! `-u` / the image's `User`: a name or number, and perhaps a group,
//! looked up in the *image's* `/etc/passwd` and `/etc/group` (the host's
//! users mean nothing inside: uid 1000 is whoever the image says).
//!
//! Docker's forms: `name`, `uid`, `name:group`, `uid:gid`. A name not in
//! the image is an error; a number need not be in it (the gid is then 0).

/// What is wrong with a user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    /// A name the image does not have.
    #[error(
        "user {0:?}: not in the image's /etc/passwd\n  hint: give a number (-u 1000), or a user the image has"
    )]
    NoUser(String),
    /// Ids the container's user namespace does not map (setresuid(2)
    /// says EINVAL).
    #[error(
        "user {0}:{1}: no such id in this container: its user namespace maps only some ids \
         (through sudo, step 03 maps container root alone, to you)\n  hint: run it from a root \
         shell (sudo -i), where container ids 0 to 65535 exist, or map a range yourself: \
         --uid-map 0:100000:65536 --gid-map 0:100000:65536"
    )]
    Unmapped(u32, u32),
    /// A group the image does not have.
    #[error(
        "group {0:?}: not in the image's /etc/group\n  hint: give a number (-u USER:1000), or a group the image has"
    )]
    NoGroup(String),
}

/// The ids of `user` (`name[:group]` or numbers), given the text of the
/// image's `/etc/passwd` and `/etc/group` (empty if the image has none).
pub fn resolve(user: &str, passwd: &str, group: &str) -> Result<(u32, u32), UserError> {
    let (name, group_name) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // passwd(5): name:password:UID:GID:gecos:home:shell.
    let entry = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let uid: u32 = f.get(2)?.parse().ok()?;
        let gid: u32 = f.get(3)?.parse().ok()?;
        (f[0] == name || name.parse() == Ok(uid)).then_some((uid, gid))
    });
    let (uid, primary) = match (entry, name.parse::<u32>()) {
        (Some(found), _) => found,
        (None, Ok(uid)) => (uid, 0),
        (None, Err(_)) => return Err(UserError::NoUser(name.into())),
    };
    let gid = match group_name {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            // group(5): name:password:GID:members.
            Err(_) => group
                .lines()
                .find_map(|line| {
                    let f: Vec<&str> = line.split(':').collect();
                    (f[0] == g).then(|| f.get(2)?.parse().ok())?
                })
                .ok_or_else(|| UserError::NoGroup(g.into()))?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1001::/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\n";

    #[test]
    fn names_and_numbers_as_docker_reads_them() {
        assert_eq!(resolve("app", PASSWD, GROUP), Ok((1000, 1001)));
        assert_eq!(resolve("1000", PASSWD, GROUP), Ok((1000, 1001)));
        assert_eq!(resolve("4242", PASSWD, GROUP), Ok((4242, 0)));
        assert_eq!(resolve("app:staff", PASSWD, GROUP), Ok((1000, 50)));
        assert_eq!(resolve("nobody:7", PASSWD, GROUP), Ok((65534, 7)));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("ghost", PASSWD, GROUP),
            Err(UserError::NoUser("ghost".into()))
        );
        assert_eq!(
            resolve("app:ghosts", PASSWD, GROUP),
            Err(UserError::NoGroup("ghosts".into()))
        );
        assert_eq!(
            resolve("ghost", "", ""),
            Err(UserError::NoUser("ghost".into()))
        );
    }
}
