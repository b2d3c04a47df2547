//! `torrent-get top [--state DIR]`: a live terminal view of the daemon's
//! torrents (ratatui over crossterm).
//!
//! - [`model`]: the state (list, selection by info-hash, detail, pending
//!   confirmation, status line) and how answers and keys change it;
//! - [`view`]: a pure function drawing the state into a frame;
//! - [`keys`]: key → [`keys::Action`];
//! - here: the command line, the terminal (raw mode and the alternate
//!   screen, restored on every way out: return, error, panic, SIGTERM), the
//!   loop of keys and redraws, and the poller thread that talks to the
//!   daemon with the blocking [`Client`] so a slow daemon never freezes the
//!   keys. The poller lists every `--interval` (1 s), fetches the detail of
//!   the selected torrent while its pane is open, carries out pause, resume
//!   and remove, and re-reads the state directory after every failure (the
//!   daemon may come up, or come back on another port).

pub mod detail;
pub mod keys;
pub mod model;
pub mod view;

use crate::control::client::Client;
use crate::control::{default_state_dir, TorrentDetail, TorrentStatus};
use clap::Parser;
use cli_support::Fail;
use model::{App, Request};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOP_HELP: &str = "\
Keys: up/down or j/k select, Home/End (g/G) first/last, Enter or Tab opens and
closes the detail pane (peers, trackers, why it is not finishing), p pause,
r resume, d remove (asks y/n; the data stays), D remove and delete the data
(asks y/n), q, Esc or Ctrl-C quit.

The daemon is found through DIR/api and DIR/token (written by `torrent-get
daemon --state DIR`); while it is not running the view says so and retries.
NO_COLOR=1 draws without colours; TERM=dumb also without line drawing.

Exit codes:
  0  quit
  2  usage error, or standard output is not a terminal (for scripts:
     `torrent-get remote list --json`)";

#[derive(Parser, Debug)]
#[command(name = "torrent-get top", bin_name = "torrent-get top", version, about = "A live terminal view of the daemon's torrents", after_help = TOP_HELP)]
struct TopCli {
    /// The daemon's state directory (default: $XDG_STATE_HOME/torrent-get,
    /// else ~/.local/state/torrent-get)
    #[arg(long, value_name = "DIR", env = "TORRENT_GET_STATE")]
    state: Option<PathBuf>,
    /// Seconds between refreshes
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: seconds from 0.1 to 3600")),
    }
}

/// The command line of `top` (for torrent-get's man pages and completions).
pub fn command() -> clap::Command {
    <TopCli as clap::CommandFactory>::command()
}

/// `torrent-get top ...`: `args` are the process arguments from `top` on.
pub fn main(args: &[OsString]) -> ExitCode {
    let cli: TopCli = cli_support::parse_from(args);
    cli_support::finish(run(cli))
}

fn run(cli: TopCli) -> Result<u8, Fail> {
    if !std::io::stdout().is_terminal() {
        return Err(Fail::usage(
            "torrent-get top draws on a terminal and standard output is not one (for scripts: `torrent-get remote list --json`)",
        ));
    }
    let state = cli.state.unwrap_or_else(default_state_dir);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| Fail::usage(format!("signal handler: {e}")))?;
    }
    let (to_poller, requests) = mpsc::channel();
    let (answers_tx, answers) = mpsc::channel();
    let interval = Duration::from_secs_f64(cli.interval);
    std::thread::Builder::new()
        .name("top-poller".into())
        .spawn(move || poller(state, interval, requests, answers_tx))
        .map_err(|e| Fail::usage(format!("cannot start the poller thread: {e}")))?;

    let guard = TerminalGuard::enter().map_err(|e| Fail::usage(format!("cannot set up the terminal: {e}")))?;
    let res = ui_loop(&stop, &to_poller, &answers);
    drop(guard);
    res.map_err(|e| Fail::usage(format!("terminal: {e}")))?;
    Ok(0)
}

/// Raw mode and the alternate screen while alive; dropping it (and a panic,
/// through the hook it installs) puts the terminal back.
struct TerminalGuard;

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, Show);
}

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode()?;
        // From here on, Drop restores whatever went wrong.
        let guard = TerminalGuard;
        execute!(std::io::stdout(), EnterAlternateScreen, Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Keys and redraws until quit (q, Esc, Ctrl-C) or a signal.
fn ui_loop(stop: &AtomicBool, to_poller: &Sender<ToPoller>, answers: &Receiver<FromPoller>) -> std::io::Result<()> {
    let theme = view::Theme::detect();
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    let mut app = App::new();
    let mut focus = None;
    let mut dirty = true;
    let mut last_draw = Instant::now();
    loop {
        loop {
            let m = match answers.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(std::io::Error::other("the thread polling the daemon stopped")),
            };
            match m {
                FromPoller::List(Ok(list)) => app.merge_list(list),
                FromPoller::List(Err(e)) => app.list_failed(e),
                FromPoller::Detail(hash, d) => app.merge_detail(&hash, *d),
                FromPoller::Done(outcome) => app.action_done(outcome),
            }
            dirty = true;
        }
        if app.focus() != focus {
            focus = app.focus();
            let _ = to_poller.send(ToPoller::Focus(focus.clone()));
        }
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            terminal.draw(|f| view::render(f, &app, &theme))?;
            dirty = false;
            last_draw = Instant::now();
        }
        if app.quit || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if event::poll(Duration::from_millis(50))? {
            match event::read()? {
                Event::Key(k) => {
                    if let Some(action) = keys::action(k) {
                        if let Some(req) = app.apply(action) {
                            let _ = to_poller.send(ToPoller::Do(req));
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
    }
}

/// From the view to the poller.
enum ToPoller {
    /// The torrent whose detail to fetch (None: none).
    Focus(Option<String>),
    Do(Request),
}

/// From the poller to the view; errors as the client words them.
enum FromPoller {
    List(Result<Vec<TorrentStatus>, String>),
    Detail(String, Box<Result<TorrentDetail, String>>),
    /// What a request did, for the status line.
    Done(Result<String, String>),
}

/// The connection to the daemon, made again from the state directory after
/// any failure.
struct Daemon {
    state: PathBuf,
    client: Option<Client>,
    names: HashMap<String, String>,
}

impl Daemon {
    fn call<T>(&mut self, f: impl FnOnce(&Client) -> anyhow::Result<T>) -> Result<T, String> {
        if self.client.is_none() {
            self.client = Some(Client::from_state_dir(&self.state).map_err(|e| format!("{e:#}"))?);
        }
        let r = f(self.client.as_ref().expect("just made"));
        if r.is_err() {
            self.client = None;
        }
        r.map_err(|e| format!("{e:#}"))
    }

    fn name(&self, hash: &str) -> String {
        self.names.get(hash).cloned().unwrap_or_else(|| hash.to_string())
    }

    fn perform(&mut self, req: Request) -> Result<String, String> {
        match req {
            Request::Pause(h) => self.call(|c| c.pause(&h)).map(|s| format!("paused {} ({})", s.name, s.state)),
            Request::Resume(h) => self.call(|c| c.resume(&h)).map(|s| format!("resumed {} ({})", s.name, s.state)),
            Request::Remove { hash, delete_data } => {
                let name = self.name(&hash);
                self.call(|c| c.remove(&hash, delete_data)).map(|r| {
                    if r.deleted_data {
                        format!("removed {name} and deleted its data")
                    } else {
                        format!("removed {name} (the data stays)")
                    }
                })
            }
        }
    }
}

fn poller(state: PathBuf, interval: Duration, requests: Receiver<ToPoller>, answers: Sender<FromPoller>) {
    let mut daemon = Daemon { state, client: None, names: HashMap::new() };
    let mut focus: Option<String> = None;
    let mut next = Instant::now();
    loop {
        match requests.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(ToPoller::Focus(f)) => {
                focus = f;
                next = Instant::now();
            }
            Ok(ToPoller::Do(req)) => {
                let outcome = daemon.perform(req);
                if answers.send(FromPoller::Done(outcome)).is_err() {
                    return;
                }
                next = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() < next {
            continue;
        }
        let list = daemon.call(|c| c.list());
        if let Ok(l) = &list {
            daemon.names = l.iter().map(|t| (t.info_hash.clone(), t.name.clone())).collect();
        }
        let listed = list.is_ok();
        if answers.send(FromPoller::List(list)).is_err() {
            return;
        }
        if let (true, Some(h)) = (listed, &focus) {
            if daemon.names.contains_key(h) {
                let d = daemon.call(|c| c.detail(h));
                if answers.send(FromPoller::Detail(h.clone(), Box::new(d))).is_err() {
                    return;
                }
            }
        }
        next = Instant::now() + interval;
    }
}
