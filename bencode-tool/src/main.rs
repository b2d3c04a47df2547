//! bencode-tool: convert bencode to JSON and back, show it, validate it.

mod json;
mod pretty;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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

Input is FILE, or standard input when FILE is `-` or missing (at most 64 MiB).

Exit codes:
  0  success (validate: the input is valid)
  1  validate: the input is not valid strict bencode (or not a valid torrent
     with --torrent)
  2  usage error, unreadable input, or input that decode/encode/pretty cannot
     convert (invalid bencode or JSON)

A closed standard output (e.g. `| head`) ends the program quietly with 0.";

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
    /// Strict validation: prints `ok`, or `error at byte N: ...` on stderr
    /// and exits 1.
    Validate {
        /// Input file, `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Also check that it is a valid .torrent (metainfo) file.
        #[arg(long)]
        torrent: bool,
    },
}

/// Why the program stops early.
enum Failure {
    /// The input was checked and is not valid (exit 1).
    Invalid(String),
    /// Usage, I/O or conversion error (exit 2).
    Input(String),
    /// Standard output was closed by the reader: end quietly (exit 0).
    ClosedOutput,
}

impl From<io::Error> for Failure {
    /// Errors writing standard output.
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::ClosedOutput
        } else {
            Failure::Input(format!("writing output: {e}"))
        }
    }
}

fn read_input(file: &str) -> Result<Vec<u8>, Failure> {
    // read_limited's limit is the torrent limit; say so if it changes.
    const _: () = assert!(MAX_TORRENT_SIZE == 64 * 1024 * 1024);
    read_limited(file).map_err(Failure::Input)
}

fn bencode_error(e: &bencode::Error) -> String {
    format!("error at byte {}: {}", e.offset, e.kind)
}

/// An error about the content of the input, naming it.
fn input_error(file: &str, msg: String) -> Failure {
    let name = if file == "-" { "<stdin>" } else { file };
    Failure::Input(format!("{name}: {msg}"))
}

/// Decode for showing: canonical input as is; non-canonical input (keys
/// unsorted or repeated, bytes after the value) read the lenient way, with
/// a note on stderr saying so and where the strict reading stopped.
fn decode_to_show<'a>(file: &str, buf: &'a [u8]) -> Result<bencode::Value<'a>, Failure> {
    match bencode::decode(buf) {
        Ok(v) => Ok(v),
        Err(e) if e.kind.is_non_canonical() => {
            let (v, _) = bencode::decode_lenient_prefix(buf)
                .map_err(|e| input_error(file, bencode_error(&e)))?;
            let name = if file == "-" { "<stdin>" } else { file };
            eprintln!(
                "bencode-tool: note: {name}: not canonical bencode ({}); shown as read \
                 leniently: keys sorted, the first of a repeated key kept, bytes after \
                 the value ignored",
                bencode_error(&e)
            );
            Ok(v)
        }
        Err(e) => Err(input_error(file, bencode_error(&e))),
    }
}

fn run(cmd: Command) -> Result<(), Failure> {
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
            bencode::decode(&buf).map_err(|e| Failure::Invalid(bencode_error(&e)))?;
            if torrent {
                Metainfo::from_bytes(&buf).map_err(|e| Failure::Invalid(format!("error: {e}")))?;
            }
            out.write_all(b"ok\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) | Err(Failure::ClosedOutput) => ExitCode::SUCCESS,
        Err(Failure::Invalid(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Err(Failure::Input(msg)) => {
            eprintln!("bencode-tool: {msg}");
            ExitCode::from(2)
        }
    }
}
