//! bencode-tool: convert bencode to JSON and back, show it, validate it.

mod json;
mod pretty;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli_support::{Fail, EXIT_OK};
use torrent_core::bencode;
use torrent_core::metainfo::{Metainfo, MAX_TORRENT_SIZE};
use torrent_core::source::read_limited;

const AFTER_HELP: &str = "\
JSON mapping (decode/encode):
  Byte strings and dictionary keys that are UTF-8 and do not start with \"hex:\"
  are JSON strings as they are; any other byte string is \"hex:\" + lowercase hex
  of its bytes (so a text that itself starts with \"hex:\" is escaped too).
  Integers are JSON numbers (64-bit signed). `decode | encode` gives back the
  exact input bytes for any input that `validate` accepts.

Input is FILE, an http(s):// URL, or standard input when FILE is `-` or
missing (at most 64 MiB).

Exit codes:
  0  success (validate: the input is valid)
  1  validate: the input is not valid strict bencode (or not a valid torrent
     with --torrent)
  2  usage error, unreadable input, input that decode/encode/pretty cannot
     convert (invalid bencode or JSON), or output that cannot be written

Errors are printed on stderr as `error: INPUT: at byte N: WHAT`.
A closed standard output (e.g. `| head`) ends the program quietly with 0.
Shell completions: `bencode-tool completions bash|zsh|fish`; man page:
`bencode-tool man | man -l -` (`man --dir DIR` writes one page per command).";

#[derive(Parser)]
#[command(
    name = "bencode-tool",
    version,
    about = "Convert bencode to JSON and back, pretty-print and strictly validate it",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bencode to JSON on standard output.
    Decode {
        /// Input file, `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Indent the JSON.
        #[arg(long)]
        pretty: bool,
    },
    /// JSON (in the mapping described below) to canonical bencode on
    /// standard output.
    Encode {
        /// Input file, `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Human-readable indented view; long strings and binary are shortened.
    Pretty {
        /// Input file, `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Show every byte (long binary as hex lines, one SHA-1 a line for
        /// `pieces`).
        #[arg(long)]
        full: bool,
    },
    /// Strict validation: prints `ok`, or `error: INPUT: at byte N: ...` on
    /// stderr and exits 1.
    Validate {
        /// Input file, `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Also check that it is a valid .torrent (metainfo) file.
        #[arg(long)]
        torrent: bool,
    },
}

fn read_input(file: &str) -> Result<Vec<u8>, Fail> {
    // read_limited's limit is the torrent limit; say so if it changes.
    const _: () = assert!(MAX_TORRENT_SIZE == 64 * 1024 * 1024);
    let lower = file.get(..8).unwrap_or(file).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        // The shared loader's fetch: same size bound, redirects, timeout.
        return torrent_core::load::fetch_url(file, torrent_core::load::HTTP_TIMEOUT)
            .map_err(|e| Fail::Usage(format!("{file}: {e}")));
    }
    read_limited(file).map_err(Fail::Usage)
}

fn bencode_error(e: &bencode::Error) -> String {
    format!("at byte {}: {}", e.offset, e.kind)
}

fn name(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

/// An error about the content of the input, naming it (exit 2).
fn input_error(file: &str, msg: String) -> Fail {
    Fail::Usage(format!("{}: {msg}", name(file)))
}

/// The input was checked and is not valid (exit 1).
fn invalid(file: &str, msg: String) -> Fail {
    Fail::Failed(format!("{}: {msg}", name(file)))
}

/// Decode for showing: canonical input as is; non-canonical input (keys
/// unsorted or repeated, bytes after the value) read the lenient way, with
/// a note on stderr saying so and where the strict reading stopped.
fn decode_to_show<'a>(file: &str, buf: &'a [u8]) -> Result<bencode::Value<'a>, Fail> {
    match bencode::decode(buf) {
        Ok(v) => Ok(v),
        Err(e) if e.kind.is_non_canonical() => {
            let (v, _) = bencode::decode_lenient_prefix(buf)
                .map_err(|e| input_error(file, bencode_error(&e)))?;
            eprintln!(
                "bencode-tool: note: {}: not canonical bencode ({}); shown as read \
                 leniently: keys sorted, the first of a repeated key kept, bytes after \
                 the value ignored",
                name(file),
                bencode_error(&e)
            );
            Ok(v)
        }
        Err(e) => Err(input_error(file, bencode_error(&e))),
    }
}

fn run(cmd: Command) -> Result<u8, Fail> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    match cmd {
        Command::Decode { file, pretty } => {
            let buf = read_input(&file)?;
            let v = decode_to_show(&file, &buf)?;
            json::write_json(&mut out, &v, pretty)?;
        }
        Command::Encode { file } => {
            let buf = read_input(&file)?;
            let j = json::parse_json(&buf).map_err(|e| input_error(&file, e))?;
            let v = json::json_to_bencode(&j).map_err(|e| input_error(&file, e.to_string()))?;
            out.write_all(&v.encode())?;
        }
        Command::Pretty { file, full } => {
            let buf = read_input(&file)?;
            let v = decode_to_show(&file, &buf)?;
            pretty::write_pretty(&mut out, &v, full)?;
        }
        Command::Validate { file, torrent } => {
            let buf = read_input(&file)?;
            bencode::decode(&buf).map_err(|e| invalid(&file, bencode_error(&e)))?;
            if torrent {
                Metainfo::from_bytes(&buf).map_err(|e| invalid(&file, format!("not a torrent: {e}")))?;
            }
            out.write_all(b"ok\n")?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn main() -> ExitCode {
    let cli: Cli = cli_support::parse();
    cli_support::finish(run(cli.command))
}
