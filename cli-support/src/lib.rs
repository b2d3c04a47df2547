//! How the toolkit's command-line tools start and end, in one place:
//!
//! - errors go to stderr as `error: MESSAGE` (the prefix clap uses for usage
//!   errors, so every message a person sees looks the same);
//! - exit codes: [`EXIT_OK`] 0, [`EXIT_FAILURE`] 1 (the tool's documented
//!   negative answer: no tracker answered, data damaged, the peer failed),
//!   [`EXIT_USAGE`] 2 (bad arguments, unreadable or malformed input, output
//!   that cannot be written);
//! - a closed standard output (`| head`, EPIPE) ends the program quietly
//!   with 0, never with a panic: write through [`out`] / [`out_bytes`] and
//!   return [`Fail`] from `run`;
//! - `TOOL completions bash|zsh|fish` prints a completion script
//!   (clap_complete) and `TOOL man [--dir DIR]` a man page (clap_mangen).
//!
//! A tool's `main` is then:
//!
//! ```no_run
//! # #[derive(clap::Parser)] struct Cli {}
//! # fn run(_: Cli) -> Result<u8, cli_support::Fail> { Ok(0) }
//! fn main() -> std::process::ExitCode {
//!     let cli: Cli = cli_support::parse();
//!     cli_support::finish(run(cli))
//! }
//! ```

use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};
use clap_complete::Shell;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Success.
pub const EXIT_OK: u8 = 0;
/// The tool ran and its answer is negative (documented per tool).
pub const EXIT_FAILURE: u8 = 1;
/// Usage error, bad input, or output that cannot be written.
pub const EXIT_USAGE: u8 = 2;

/// The exit-code lines every tool's `--help` starts its footer with; the
/// meaning of 1 is the tool's own.
pub fn exit_codes_help(meaning_of_1: &str) -> String {
    format!(
        "Exit codes:\n  0  success\n  1  {meaning_of_1}\n  2  usage error, bad input, or output that cannot be written\n\
         A closed standard output (`| head`) ends the program quietly with 0.\n\
         Shell completions: `completions bash|zsh|fish`; man page: `man [--dir DIR]`."
    )
}

/// Why a run stops early.
#[derive(Debug)]
pub enum Fail {
    /// The documented negative answer: `error: MSG`, exit 1.
    Failed(String),
    /// Usage, input or output error: `error: MSG`, exit 2.
    Usage(String),
    /// Standard output was closed by its reader: nothing printed, exit 0.
    ClosedStdout,
}

impl Fail {
    pub fn failed(msg: impl fmt::Display) -> Fail {
        Fail::Failed(msg.to_string())
    }

    pub fn usage(msg: impl fmt::Display) -> Fail {
        Fail::Usage(msg.to_string())
    }

    /// The exit code of this failure.
    pub fn code(&self) -> u8 {
        match self {
            Fail::Failed(_) => EXIT_FAILURE,
            Fail::Usage(_) => EXIT_USAGE,
            Fail::ClosedStdout => EXIT_OK,
        }
    }

    /// A failed write to standard output: a closed pipe is a quiet end,
    /// anything else (disk full behind a redirect) an output error.
    pub fn output(e: io::Error) -> Fail {
        if is_closed_pipe(&e) {
            Fail::ClosedStdout
        } else {
            Fail::Usage(format!("writing output: {e}"))
        }
    }
}

impl From<io::Error> for Fail {
    /// For errors writing standard output; see [`Fail::output`].
    fn from(e: io::Error) -> Fail {
        Fail::output(e)
    }
}

/// A write error that means the reader went away.
pub fn is_closed_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// `error: MSG` on stderr. A closed stderr is ignored (never a panic).
pub fn error(msg: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "error: {msg}");
}

/// `warning: MSG` on stderr.
pub fn warning(msg: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "warning: {msg}");
}

/// A line for people on stderr, without prefix (progress, summaries).
pub fn note(msg: impl fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{msg}");
}

/// Write `text` to stdout and flush.
pub fn out(text: &str) -> Result<(), Fail> {
    out_bytes(text.as_bytes())
}

/// Write `text` and a newline to stdout and flush.
pub fn outln(text: &str) -> Result<(), Fail> {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.write_all(b"\n"))
        .and_then(|_| o.flush())
        .map_err(Fail::output)
}

/// Write bytes to stdout and flush.
pub fn out_bytes(b: &[u8]) -> Result<(), Fail> {
    let mut o = io::stdout().lock();
    o.write_all(b).and_then(|_| o.flush()).map_err(Fail::output)
}

/// Print the failure (if any) and turn the result into the exit code.
pub fn finish(res: Result<u8, Fail>) -> ExitCode {
    match res {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            match &f {
                Fail::Failed(m) | Fail::Usage(m) => error(m),
                Fail::ClosedStdout => {}
            }
            ExitCode::from(f.code())
        }
    }
}

const META: [&str; 2] = ["completions", "man"];

fn completions_cmd() -> Command {
    Command::new("completions")
        .about("Print a shell completion script (bash, zsh or fish)")
        .after_help(
            "Install, for example:\n  bash: TOOL completions bash > ~/.local/share/bash-completion/completions/TOOL\n  \
             zsh:  TOOL completions zsh > ~/.zfunc/_TOOL   (with fpath+=~/.zfunc)\n  \
             fish: TOOL completions fish > ~/.config/fish/completions/TOOL.fish",
        )
        .arg(
            Arg::new("shell")
                .required(true)
                .value_parser(["bash", "zsh", "fish"])
                .help("The shell to complete for"),
        )
}

fn man_cmd() -> Command {
    Command::new("man")
        .about("Print the man page (roff); --dir writes one page per subcommand")
        .after_help("Read it with: TOOL man | man -l -")
        .arg(
            Arg::new("dir")
                .long("dir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Write TOOL.1 and TOOL-SUBCOMMAND.1 into DIR instead of stdout"),
        )
}

/// Whether the meta subcommands can be listed beside the tool's own: only
/// when no positional argument is required before a subcommand (peer-fetch
/// takes SOURCE PEER first; there they are still recognised as the first
/// argument and named in its help footer).
fn attachable(cmd: &Command) -> bool {
    cmd.has_subcommands() && cmd.get_positionals().all(|a| !a.is_required_set())
}

/// The tool's command as the user sees it: with `completions` and `man`.
pub fn command<C: CommandFactory>() -> Command {
    let cmd = C::command();
    if attachable(&cmd) {
        cmd.subcommand(completions_cmd()).subcommand(man_cmd())
    } else {
        cmd
    }
}

/// Parse the process arguments: `completions` and `man` are carried out
/// here (the process exits); anything else is parsed into `C`, with clap's
/// own handling of `--help`, `--version` (exit 0) and usage errors (exit 2).
pub fn parse<C: CommandFactory + FromArgMatches>() -> C {
    parse_from(std::env::args_os())
}

/// [`parse`] over given arguments (the first is the program name).
pub fn parse_from<C, I, T>(args: I) -> C
where
    C: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_from_with_meta(args, command::<C>())
}

/// [`parse_from`], with `completions` and `man` made from `meta_cmd`: the
/// tool's command plus what it dispatches by hand before clap (torrent-get's
/// `daemon`, `remote`, `top`), so their completions and man pages exist too.
pub fn parse_from_with_meta<C, I, T>(args: I, meta_cmd: Command) -> C
where
    C: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cmd = command::<C>();
    let first = args.get(1).and_then(|a| a.to_str());
    if let Some(meta) = first.filter(|a| META.contains(a)) {
        let cmd = meta_cmd;
        let name = cmd.get_name().to_string();
        let m = Command::new(name.clone())
            .subcommand_required(true)
            .subcommand(completions_cmd())
            .subcommand(man_cmd())
            .try_get_matches_from(&args)
            .unwrap_or_else(|e| e.exit());
        let sub = m.subcommand_matches(meta).expect("meta subcommand parsed");
        let code = match run_meta(cmd, meta, sub) {
            Ok(()) => EXIT_OK,
            Err(f) => {
                if let Fail::Failed(m) | Fail::Usage(m) = &f {
                    error(m);
                }
                f.code()
            }
        };
        std::process::exit(code.into());
    }
    let matches = cmd.try_get_matches_from(&args).unwrap_or_else(|e| e.exit());
    C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn run_meta(mut cmd: Command, meta: &str, m: &ArgMatches) -> Result<(), Fail> {
    let name = cmd.get_name().to_string();
    match meta {
        "completions" => {
            let shell: Shell = m
                .get_one::<String>("shell")
                .expect("required")
                .parse()
                .map_err(Fail::usage)?;
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut buf);
            out_bytes(&buf)
        }
        _ => match m.get_one::<PathBuf>("dir") {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .and_then(|_| write_man_pages(cmd, dir))
                    .map_err(|e| Fail::usage(format!("{}: {e}", dir.display())))?;
                Ok(())
            }
            None => out_bytes(&man_page(cmd)),
        },
    }
}

/// The roff man page of `cmd` (section 1).
pub fn man_page(cmd: Command) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .expect("rendering into memory does not fail");
    buf
}

/// Write NAME.1 and NAME-SUB.1 (for each visible subcommand, recursively).
pub fn write_man_pages(cmd: Command, dir: &std::path::Path) -> io::Result<()> {
    clap_mangen::generate_to(cmd, dir)
}

/// The completion script of `cmd` for `shell`.
pub fn completion_script(mut cmd: Command, shell: Shell) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    buf
}

pub use clap_complete::Shell as CompletionShell;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Parser, Debug)]
    #[command(name = "demo-tool")]
    struct Demo {
        #[command(subcommand)]
        cmd: DemoCmd,
    }

    #[derive(Subcommand, Debug)]
    enum DemoCmd {
        /// Do a thing
        Thing {
            /// How many
            #[arg(long)]
            count: Option<u32>,
        },
    }

    #[derive(Parser, Debug)]
    #[command(name = "pos-tool")]
    struct Positional {
        source: String,
        #[command(subcommand)]
        cmd: DemoCmd,
    }

    #[test]
    fn fail_codes_and_closed_pipe() {
        assert_eq!(Fail::failed("x").code(), 1);
        assert_eq!(Fail::usage("x").code(), 2);
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(matches!(Fail::output(pipe), Fail::ClosedStdout));
        assert_eq!(Fail::ClosedStdout.code(), 0);
        match Fail::output(io::Error::other("disk full")) {
            Fail::Usage(m) => assert_eq!(m, "writing output: disk full"),
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn meta_subcommands_are_listed_only_where_they_can_parse() {
        let c = command::<Demo>();
        let names: Vec<_> = c.get_subcommands().map(|s| s.get_name().to_string()).collect();
        assert_eq!(names, ["thing", "completions", "man"]);
        let c = command::<Positional>();
        assert!(c.get_subcommands().all(|s| s.get_name() != "completions"));
        // The tool's own commands still parse.
        let d: Demo = parse_from(["demo-tool", "thing", "--count", "3"]);
        assert!(matches!(d.cmd, DemoCmd::Thing { count: Some(3) }));
    }

    #[test]
    fn completion_scripts_and_man_pages_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = String::from_utf8(completion_script(command::<Demo>(), shell)).unwrap();
            assert!(s.contains("demo-tool"), "{shell}: {s}");
            assert!(s.contains("thing"), "{shell}: {s}");
            assert!(s.contains("count"), "{shell}: {s}");
        }
        let man = String::from_utf8(man_page(command::<Demo>())).unwrap();
        assert!(man.starts_with(".ie \\n(.g .ds Aq") || man.contains(".TH"), "{man}");
        assert!(man.contains(".TH demo-tool 1"), "{man}");
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(command::<Demo>(), dir.path()).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "demo-tool-completions.1",
                "demo-tool-man.1",
                "demo-tool-thing.1",
                "demo-tool.1"
            ]
        );
        let thing = std::fs::read_to_string(dir.path().join("demo-tool-thing.1")).unwrap();
        assert!(thing.contains("How many"), "{thing}");
    }

    #[test]
    fn exit_code_footer() {
        let h = exit_codes_help("no tracker answered");
        assert!(h.starts_with("Exit codes:\n  0  success\n  1  no tracker answered\n  2  usage"));
    }
}
