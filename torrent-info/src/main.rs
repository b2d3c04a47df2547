//! torrent-info: show, verify and create .torrent files, print magnet links.

use clap::{Args, Parser, Subcommand};
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use torrent_core::create::CreateOptions;
use cli_support::{Fail, EXIT_FAILURE, EXIT_OK};
use torrent_core::load::load;
use torrent_core::source::Source as Loaded;
use torrent_info::{create, show, verify};

const AFTER_HELP: &str = "\
Exit codes:
  0  success (verify: every piece is good and every file is present)
  1  verify: data is damaged or missing
  2  usage error or bad input (unreadable or malformed torrent, bad magnet link)

Inputs: a .torrent file (`-` reads stdin), a magnet link, or a bare info-hash
(40 hex or 32 base32 characters). `torrent-info FILE` is `torrent-info show FILE`.
File paths are shown relative to the download directory: NAME for a single-file
torrent, NAME/dir/file for a multi-file one. Piece indices start at 0.";

#[derive(Parser, Debug)]
#[command(
    name = "torrent-info",
    version,
    about = "Show, verify and create .torrent files; print magnet links",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    show: ShowArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Summary of a torrent, magnet link or info-hash (the default command)
    #[command(after_help = AFTER_HELP)]
    Show(ShowArgs),
    /// Print the magnet link of a torrent
    #[command(after_help = AFTER_HELP)]
    Magnet {
        /// .torrent file, magnet link or info-hash
        source: String,
    },
    /// Check the data on disk against the piece hashes
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
    /// Make a .torrent from a file or directory; prints its info-hash
    #[command(after_help = AFTER_HELP)]
    Create(CreateArgs),
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// .torrent file (`-` for stdin), magnet link or info-hash
    source: Option<String>,
    /// One JSON object instead of text
    #[arg(long)]
    json: bool,
    /// List BEP 47 padding files too (marked [padding])
    #[arg(long)]
    padding: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The .torrent file
    torrent: String,
    /// Download directory: the data is DIR/NAME (single file) or DIR/NAME/...
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// One JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Hashing threads (default: number of CPUs)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
    threads: Option<u16>,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// File or directory to make a torrent of
    path: PathBuf,
    /// Where to write the .torrent
    #[arg(short, long, value_name = "OUT.torrent")]
    output: PathBuf,
    /// Piece length: bytes or 256K / 1M / 4M style (a power of two, 16K..256M);
    /// default: about 1000-2000 pieces
    #[arg(short = 'l', long, value_name = "N", value_parser = create::parse_piece_length)]
    piece_length: Option<u64>,
    /// Tracker URL; each --tracker is a new tier, `--tracker a,b` is one tier of two
    #[arg(short, long, value_name = "URL")]
    tracker: Vec<String>,
    /// Web seed URL (BEP 19)
    #[arg(short, long, value_name = "URL")]
    web_seed: Vec<String>,
    /// Mark the torrent private (BEP 27)
    #[arg(short, long)]
    private: bool,
    /// Comment
    #[arg(short, long)]
    comment: Option<String>,
    /// Leave out the creation date (same input, same bytes)
    #[arg(long)]
    no_date: bool,
    /// Torrent name (default: the file or directory name)
    #[arg(short, long)]
    name: Option<String>,
    /// Overwrite OUT.torrent if it exists
    #[arg(short, long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli: Cli = cli_support::parse();
    cli_support::finish(match cli.cmd {
        Some(Cmd::Show(a)) => run_show(a),
        Some(Cmd::Magnet { source }) => run_magnet(&source),
        Some(Cmd::Verify(a)) => run_verify(a),
        Some(Cmd::Create(a)) => run_create(a),
        None => run_show(cli.show),
    })
}

fn emit(text: &str) -> Result<(), Fail> {
    cli_support::out(text)
}

fn load_arg(arg: &str) -> Result<Loaded, Fail> {
    load(arg).map_err(Fail::usage)
}

fn run_show(a: ShowArgs) -> Result<u8, Fail> {
    let Some(source) = a.source else {
        return Err(Fail::usage(
            "no torrent, magnet link or info-hash given (see --help)",
        ));
    };
    let loaded = load_arg(&source)?;
    if a.json {
        emit(&show::json(&loaded))?;
    } else {
        emit(&show::human(&loaded, a.padding))?;
    }
    Ok(0)
}

fn run_magnet(source: &str) -> Result<u8, Fail> {
    let link = match load_arg(source)? {
        Loaded::Torrent(m) => show::magnet_link(&m),
        Loaded::Magnet(m) => m.to_uri(),
    };
    emit(&format!("{link}\n"))?;
    Ok(0)
}

fn run_verify(a: VerifyArgs) -> Result<u8, Fail> {
    let meta = match load_arg(&a.torrent)? {
        Loaded::Torrent(m) => m,
        Loaded::Magnet(_) => {
            return Err(Fail::usage(format!(
                "{}: a magnet link or info-hash has no piece hashes; verify needs the .torrent",
                a.torrent
            )))
        }
    };
    if !a.dir.is_dir() {
        return Err(Fail::usage(format!("{}: not a directory", a.dir.display())));
    }
    let threads = a.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new(meta.info.total_length);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        pb
    });
    let report = verify::verify(&meta, &a.dir, threads, bar.as_ref())
        .map_err(|e| Fail::usage(format!("{}: {e}", a.torrent)))?;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    for e in &report.read_errors {
        cli_support::warning(format_args!("read error: {e}"));
    }
    let mb_s = report.bytes_checked as f64 / 1e6 / report.seconds.max(1e-9);
    cli_support::note(format_args!(
        "checked {} bytes in {:.2} s ({mb_s:.0} MB/s)",
        report.bytes_checked, report.seconds
    ));
    if a.json {
        emit(&report.json())?;
    } else {
        emit(&report.human())?;
    }
    Ok(if report.complete { EXIT_OK } else { EXIT_FAILURE })
}

fn run_create(a: CreateArgs) -> Result<u8, Fail> {
    if a.output.exists() && !a.force {
        return Err(Fail::usage(format!(
            "{}: already exists (use --force to overwrite)",
            a.output.display()
        )));
    }
    let date = (!a.no_date).then(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let opts = CreateOptions {
        piece_length: a.piece_length,
        trackers: create::tracker_tiers(&a.tracker),
        web_seeds: a.web_seed,
        private: a.private,
        comment: a.comment,
        created_by: Some(format!("torrent-info {}", env!("CARGO_PKG_VERSION"))),
        creation_date: date,
        name: a.name,
    };
    let (bytes, meta) =
        create::build(&a.path, &opts).map_err(|e| Fail::usage(format!("{}: {e}", a.path.display())))?;
    // create_new: never replace a file that appeared while we were hashing.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!a.force)
        .open(&a.output)
        .and_then(|mut f| io::Write::write_all(&mut f, &bytes));
    written.map_err(|e| Fail::usage(format!("{}: {e}", a.output.display())))?;
    emit(&format!("{}\n", meta.info_hash))?;
    Ok(0)
}
