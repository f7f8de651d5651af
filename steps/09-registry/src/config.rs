//! How an image's config becomes the process: Docker's rules for
//! Entrypoint, Cmd, Env, WorkingDir and User, and the flags that override
//! them (`docker run` reference, "Overriding image defaults").
//!
//! ```text
//! Entrypoint ["python3"]  Cmd ["-V"]     09-registry run IMAGE            → python3 -V
//!                                        09-registry run IMAGE -c 'x'     → python3 -c x
//!                                        ... --entrypoint sh IMAGE        → sh   (Cmd dropped)
//! ```

use oci_spec::image::ImageConfiguration;

/// The process a container of this image runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// argv: the entrypoint, then the command.
    pub argv: Vec<String>,
    /// The image's environment (`KEY=VALUE`s as `(KEY, VALUE)`), under the
    /// `-e` flags.
    pub env: Vec<(String, String)>,
    /// Where it starts: `-w`, or the image's WorkingDir, or `/`.
    pub workdir: String,
    /// Who it runs as: `-u`, or the image's User, or root (empty).
    pub user: String,
}

/// What the command line says that overrides the image.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// The command after the image, if one was given.
    pub command: Option<Vec<String>>,
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
}

/// Why the image and the flags give no process.
#[derive(Debug, thiserror::Error)]
#[error(
    "image {0}: no command to run: it has no Entrypoint or Cmd, and none was given\n  hint: give one after the flags, e.g. 09-registry --image {0} /bin/sh"
)]
pub struct NoCommand(pub String);

// ANCHOR: process
/// The process for `config` with `overrides`.
pub fn process(
    image: &str,
    config: &ImageConfiguration,
    overrides: &Overrides,
) -> Result<Process, NoCommand> {
    // EXERCISE 09: the image's config and the command line make the process, by Docker's rules
    // HINT: argv is the entrypoint (--entrypoint, "" for none, or the image's), then the command.
    // HINT: the command is the one given, or none if --entrypoint was given, or the image's Cmd.
    // HINT: Env is KEY=VALUE strings; WorkingDir and User fall back to "/" and "" (root).
    // CHECK: --lib config::tests::entrypoint_and_cmd_as_docker_combines_them | Entrypoint and Cmd combine as in Docker
    // CHECK: --lib config::tests::no_command_at_all_is_an_error | no command at all is an error
    // CHECK: --lib config::tests::env_workdir_and_user_come_from_the_image_unless_overridden | Env, WorkingDir and User
    let own = config.config().clone().unwrap_or_default();
    let entrypoint: Vec<String> = match &overrides.entrypoint {
        // `--entrypoint ""` clears it; Docker takes one word, not a command line.
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => own.entrypoint().clone().unwrap_or_default(),
    };
    let command: Vec<String> = match (&overrides.command, &overrides.entrypoint) {
        (Some(command), _) => command.clone(),
        // A new entrypoint drops the image's Cmd: its arguments were
        // written for the old one.
        (None, Some(_)) => Vec::new(),
        (None, None) => own.cmd().clone().unwrap_or_default(),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(command).collect();
    if argv.is_empty() {
        return Err(NoCommand(image.into()));
    }
    let env = own
        .env()
        .iter()
        .flatten()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            // `KEY` alone: Docker sets it empty.
            None => (pair.clone(), String::new()),
        })
        .collect();
    let workdir = overrides
        .workdir
        .clone()
        .or_else(|| own.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    let user = overrides
        .user
        .clone()
        .or_else(|| own.user().clone())
        .unwrap_or_default();
    Ok(Process {
        argv,
        env,
        workdir,
        user,
    })
    // END EXERCISE
}
// ANCHOR_END: process

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ImageConfiguration {
        let whole = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{json}}}"#
        );
        ImageConfiguration::from_reader(whole.as_bytes()).unwrap()
    }

    fn with(command: Option<&[&str]>, entrypoint: Option<&str>) -> Overrides {
        Overrides {
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            entrypoint: entrypoint.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_as_docker_combines_them() {
        let c = config(r#"{"Entrypoint":["python3"],"Cmd":["-V"]}"#);
        let argv = |o| process("py", &c, &o).unwrap().argv;
        assert_eq!(argv(with(None, None)), ["python3", "-V"]);
        assert_eq!(argv(with(Some(&["-c", "x"]), None)), ["python3", "-c", "x"]);
        assert_eq!(argv(with(None, Some("sh"))), ["sh"]);
        assert_eq!(argv(with(Some(&["-c", "x"]), Some(""))), ["-c", "x"]);
    }

    #[test]
    fn no_command_at_all_is_an_error() {
        let c = config("{}");
        assert!(process("x", &c, &Overrides::default()).is_err());
        assert!(process("x", &c, &with(None, Some(""))).is_err());
    }

    #[test]
    fn env_workdir_and_user_come_from_the_image_unless_overridden() {
        let c = config(
            r#"{"Cmd":["sh"],"Env":["PATH=/x","EMPTY"],"WorkingDir":"/app","User":"nobody"}"#,
        );
        let p = process("x", &c, &Overrides::default()).unwrap();
        assert_eq!(
            p.env,
            [
                ("PATH".into(), "/x".into()),
                ("EMPTY".into(), String::new())
            ]
        );
        assert_eq!((p.workdir.as_str(), p.user.as_str()), ("/app", "nobody"));
        let o = Overrides {
            workdir: Some("/tmp".into()),
            user: Some("0:0".into()),
            ..Default::default()
        };
        let p = process("x", &c, &o).unwrap();
        assert_eq!((p.workdir.as_str(), p.user.as_str()), ("/tmp", "0:0"));
        let p = process("x", &config(r#"{"Cmd":["sh"]}"#), &Overrides::default()).unwrap();
        assert_eq!((p.workdir.as_str(), p.user.as_str()), ("/", ""));
    }
}
