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
  1  verify: data is damaged, not downloaded or missing
  2  usage error or bad input (unreadable or malformed torrent, bad magnet link),
     or output that cannot be written
Errors are printed on stderr as `error: ...`; a closed standard output
(`| head`) ends the program quietly with 0.

Inputs: a .torrent file (`-` reads stdin), an http(s):// URL of a .torrent, a
magnet link, or a bare info-hash (40 hex or 32 base32 characters).
`torrent-info FILE` is `torrent-info show FILE`.

Shell completions: `torrent-info completions bash|zsh|fish`; man pages:
`torrent-info man` (`torrent-info man --dir DIR` writes one per command).";

const SHOW_AFTER_HELP: &str = "\
Exit codes: 0 success, 2 usage error or bad input.

Files are listed with their number, the one `--select` (here and in
torrent-get) takes; BEP 47 padding files are never numbered (`--padding` lists
them with `-`). Paths are relative to the download directory: NAME for a
single-file torrent, NAME/dir/file for a multi-file one. SPEC is a comma list
of numbers (`2`, `1-3`), paths or file names (`dir/b.bin`, `b.bin`) and globs
(`*.iso`; `*` does not cross `/`). Piece indices start at 0.";

const MAGNET_AFTER_HELP: &str = "Exit codes: 0 success, 2 usage error or bad input.";

const VERIFY_AFTER_HELP: &str = "\
Exit codes:
  0  every piece is good and every file is present
  1  some data is damaged, not downloaded, or missing
  2  usage error or bad input

The data is looked for in DIR/NAME (stderr says where). Pieces that read as
all zeros (a preallocated or sparse file) are `not downloaded`; pieces with
other wrong bytes are `damaged`; each line lists the files concerned.

Environment: TORRENT_INFO_THREADS (--threads).";

const CREATE_AFTER_HELP: &str = "\
Exit codes: 0 success (the info-hash is printed), 2 usage error or bad input.

Symbolic links are left out (stderr lists them) unless --follow-symlinks.
File names are stored as the file system has them, also when they are not
UTF-8. Hashing uses every core (--threads); a progress bar is drawn on a
terminal. `-o -` writes the .torrent to stdout (then the info-hash goes to
stderr).";

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
    /// Summary of a torrent, magnet link or info-hash, with the numbered
    /// file list (the default command)
    #[command(after_help = SHOW_AFTER_HELP)]
    Show(ShowArgs),
    /// Print the magnet link of a torrent
    #[command(after_help = MAGNET_AFTER_HELP)]
    Magnet {
        /// .torrent file, magnet link or info-hash
        source: String,
    },
    /// Check the data on disk against the piece hashes
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
    /// Make a .torrent from a file or directory; prints its info-hash
    #[command(after_help = CREATE_AFTER_HELP)]
    Create(CreateArgs),
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// .torrent file (`-` for stdin), http(s) URL, magnet link or info-hash
    source: Option<String>,
    /// One JSON object instead of text
    #[arg(long)]
    json: bool,
    /// List BEP 47 padding files too (marked [padding], no number)
    #[arg(long)]
    padding: bool,
    /// List only these files: numbers, ranges, names or globs (`1,3-4,*.iso`)
    #[arg(long, value_name = "SPEC")]
    select: Option<String>,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The .torrent file (or http(s) URL)
    torrent: String,
    /// Download directory: the data is DIR/NAME (single file) or DIR/NAME/...
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// One JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Hashing threads (default: number of CPUs)
    #[arg(long, value_name = "N", env = "TORRENT_INFO_THREADS", value_parser = clap::value_parser!(u16).range(1..=16))]
    threads: Option<u16>,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// File or directory to make a torrent of
    path: PathBuf,
    /// Where to write the .torrent (`-`: stdout; default: NAME.torrent in
    /// the current directory)
    #[arg(short, long, value_name = "OUT.torrent")]
    output: Option<PathBuf>,
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
    /// Follow symbolic links (default: leave them out and say so)
    #[arg(long)]
    follow_symlinks: bool,
    /// `info.source`: private trackers tell their torrents apart by it
    /// (it changes the info-hash)
    #[arg(short = 's', long, value_name = "TEXT")]
    source: Option<String>,
    /// Hashing threads (default: number of CPUs)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
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
    let loaded = load(arg).map_err(Fail::usage)?;
    if let Loaded::Torrent(m) = &loaded {
        // Names made safe (issue 12): say what the torrent really says.
        for w in m.info.path_change_warnings() {
            eprintln!("torrent-info: warning: {arg}: {w}");
        }
    }
    Ok(loaded)
}

fn run_show(a: ShowArgs) -> Result<u8, Fail> {
    let Some(source) = a.source else {
        return Err(Fail::usage(
            "no torrent, magnet link or info-hash given (see --help)",
        ));
    };
    let loaded = load_arg(&source)?;
    let selected = match (&a.select, &loaded) {
        (None, _) => None,
        (Some(_), Loaded::Magnet(_)) => {
            return Err(Fail::usage(format!(
                "{source}: --select needs the file list of a .torrent"
            )))
        }
        (Some(spec), Loaded::Torrent(m)) => {
            let idx = torrent_core::select::select(&m.info, spec)
                .map_err(|e| Fail::usage(format!("--select {e}")))?;
            let numbers = torrent_core::select::numbers(&m.info);
            Some(idx.iter().filter_map(|&i| numbers[i]).collect::<Vec<usize>>())
        }
    };
    if a.json {
        emit(&show::json(&loaded))?;
    } else {
        emit(&show::human(&loaded, a.padding, selected.as_deref()))?;
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
    let data = meta.info.root_in(&a.dir);
    cli_support::note(format_args!("looking for the data in {}", torrent_core::path::show_path(&data)));
    let threads = a.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = (io::stderr().is_terminal() && progress_allowed()).then(|| {
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
    if report.files.iter().all(|f| f.state == verify::FileState::Missing) {
        cli_support::error(verify::nothing_found(&meta, &a.dir));
    }
    Ok(if report.complete { EXIT_OK } else { EXIT_FAILURE })
}

fn run_create(a: CreateArgs) -> Result<u8, Fail> {
    for t in create::tracker_tiers(&a.tracker).concat() {
        create::check_url(&t, &["http", "https", "udp"]).map_err(|e| Fail::usage(format!("--tracker {e}")))?;
    }
    for w in &a.web_seed {
        create::check_url(w, &["http", "https"]).map_err(|e| Fail::usage(format!("--web-seed {e}")))?;
    }
    if let Some(n) = &a.name {
        create::check_name(n).map_err(Fail::usage)?;
    }
    // Where the .torrent goes: `-` is stdout, the default NAME.torrent.
    let to_stdout = a.output.as_deref() == Some(std::path::Path::new("-"));
    let output = match &a.output {
        Some(o) => o.clone(),
        None => {
            let name = match &a.name {
                Some(n) => std::ffi::OsString::from(n),
                None => a
                    .path
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_os_string()))
                    .ok_or_else(|| Fail::usage(format!("{}: no such file or directory", a.path.display())))?,
            };
            let mut n = name;
            n.push(".torrent");
            PathBuf::from(n)
        }
    };
    if to_stdout && io::stdout().is_terminal() {
        return Err(Fail::usage(
            "refusing to write a .torrent to a terminal; redirect stdout or give -o FILE",
        ));
    }
    if !to_stdout && output.exists() && !a.force {
        return Err(Fail::usage(format!(
            "{}: already exists (use --force to overwrite, or -o)",
            output.display()
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
        source: a.source,
        follow_symlinks: a.follow_symlinks,
        threads: a.threads.map(usize::from).unwrap_or(0),
    };
    let bar = (io::stderr().is_terminal() && progress_allowed()).then(|| {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        pb
    });
    let (created, meta) = create::build(&a.path, &opts, bar.as_ref())
        .map_err(|e| Fail::usage(format!("{}: {e}", a.path.display())))?;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    for l in &created.skipped {
        cli_support::warning(format_args!(
            "skipped symbolic link {} (--follow-symlinks includes what it points to)",
            l.display()
        ));
    }
    if to_stdout {
        cli_support::out_bytes(&created.bytes)?;
        cli_support::note(&meta.info_hash);
        return Ok(EXIT_OK);
    }
    // create_new: never replace a file that appeared while we were hashing.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!a.force)
        .open(&output)
        .and_then(|mut f| io::Write::write_all(&mut f, &created.bytes));
    written.map_err(|e| Fail::usage(format!("{}: {e}", output.display())))?;
    cli_support::note(format_args!("wrote {}", output.display()));
    emit(&format!("{}\n", meta.info_hash))?;
    Ok(EXIT_OK)
}

/// Progress bars only where they can be drawn: not with TERM=dumb (or no
/// TERM), where a bar's redraws would be noise.
fn progress_allowed() -> bool {
    !matches!(std::env::var("TERM").as_deref(), Err(_) | Ok("dumb") | Ok(""))
}
