//! `09-registry run [FLAGS] IMAGE [COMMAND]...`: Docker's shape, over the
//! same flags as the top-level command line (`09-registry [FLAGS]
//! --image IMAGE [COMMAND]...`, the shape of steps 01 to 08).
//!
//! clap reads `run`'s words again with the top level's definition, plus
//! one positional argument, IMAGE, before COMMAND: every flag means what
//! it means at the top level, and `--help` lists them all.

use clap::{Arg, ArgMatches, Command};

/// The id of the IMAGE argument in the matches.
pub const IMAGE: &str = "run_image";

/// The definition of `run`: the top level's arguments, without its
/// subcommands (an image named `images` is an image, not a subcommand),
/// and IMAGE first among the positionals.
pub fn definition(top: &Command) -> Command {
    let mut run = Command::new("run")
        .bin_name(format!("{} run", top.get_name()))
        .about("Run a command in a container of IMAGE (pulled if it is not here, as --pull says)")
        .override_usage(format!(
            "{} run [OPTIONS] IMAGE [COMMAND]...",
            top.get_name()
        ));
    for arg in top.get_arguments() {
        let arg = match arg.get_id().as_str() {
            // COMMAND comes after IMAGE.
            "command" => arg.clone().index(2),
            _ => arg.clone(),
        };
        run = run.arg(arg);
    }
    run.arg(
        Arg::new(IMAGE)
            .value_name("IMAGE")
            .help("The image: a reference (alpine, 127.0.0.1:5000/my/app:v1) or an image id")
            .required(true)
            .index(1),
    )
}

/// The words before `run` and those after it, in `argv` (the program's
/// name first), given `words`, what clap kept after `run`: all of them,
/// but a `--` right after `run`, which clap takes as its own. Run's
/// position is where the words clap kept begin, less that `--`.
pub fn split<'a>(argv: &'a [String], words: &[String]) -> (&'a [String], &'a [String]) {
    let mut at = argv.len() - words.len() - 1;
    if argv[at] == "--" && at > 1 && argv[at - 1] == "run" {
        at -= 1;
    }
    debug_assert_eq!(argv[at], "run", "{argv:?}");
    (&argv[1..at], &argv[at + 1..])
}

/// The words before `run` and after it, read as the top-level command
/// line `P`, the image apart; and the matches (which tell what was given).
pub fn reparse<P: clap::FromArgMatches>(
    top: &Command,
    before: &[String],
    after: &[String],
) -> (P, ArgMatches, String) {
    reparse_as(definition(top), top, before, after)
}

/// [`reparse`] with `run`'s definition changed, for another subcommand
/// that takes run's words: step 10's `create`, whose help and usage
/// errors then say `create`.
pub fn reparse_as<P: clap::FromArgMatches>(
    run: Command,
    top: &Command,
    before: &[String],
    after: &[String],
) -> (P, ArgMatches, String) {
    let program = top.get_name().to_string();
    let words: Vec<String> = std::iter::once(program.clone())
        .chain(before.iter().cloned())
        .chain(after.iter().cloned())
        .collect();
    let command = format!("{program} {}", run.get_name());
    let matches = run
        .try_get_matches_from(&words)
        .unwrap_or_else(|err| usage_failure(&command, err));
    let parsed = P::from_arg_matches(&matches).unwrap_or_else(|err| usage_failure(&command, err));
    if matches.value_source("image") == Some(clap::parser::ValueSource::CommandLine) {
        step01_chroot::cli::usage_error(
            "--image and IMAGE both name the image",
            &format!("give it once: {command} [FLAGS] IMAGE [COMMAND]..."),
        );
    }
    let image = matches
        .get_one::<String>(IMAGE)
        .cloned()
        .expect("IMAGE is required");
    (parsed, matches, image)
}

/// A usage error in `run`'s words, as step 01 reports one: one line,
/// a hint, exit code 125 (`--help` prints the help, exit 0).
fn usage_failure(command: &str, err: clap::Error) -> ! {
    if !err.use_stderr() {
        err.exit();
    }
    // clap's first line, and the indented lines that belong to it (the
    // missing arguments), up to the blank line before its usage.
    let text = err.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    step01_chroot::cli::usage_error(
        message.strip_prefix("error: ").unwrap_or(&message),
        &format!("{command} --help lists the flags; a command that starts with '-' goes after --"),
    )
}

#[cfg(test)]
mod tests {
    use super::split;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn the_words_around_run_are_found_whatever_clap_kept() {
        let argv = words("09-registry --state-dir /s run -q alpine echo hi");
        let (before, after) = split(&argv, &argv[4..]);
        assert_eq!((before, after), (&argv[1..3], &argv[4..]));
        // clap drops the `--` right after `run`: it is given back.
        let argv = words("09-registry run -- alpine");
        let (before, after) = split(&argv, &argv[3..]);
        assert_eq!(before.len(), 0);
        assert_eq!(after, ["--", "alpine"]);
        let argv = words("09-registry run alpine -- --x");
        let (_, after) = split(&argv, &argv[2..]);
        assert_eq!(after, ["alpine", "--", "--x"]);
    }
}
