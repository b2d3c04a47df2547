//! Drawing `torrent-get top`: a pure function of the [`App`] state into a
//! ratatui [`Frame`] (tested on ratatui's `TestBackend`). From the top: a
//! header with totals, the table of torrents, one line with why the selected
//! torrent is not finishing, the detail pane (diagnosis, trackers, peers)
//! when open, the status line and the keys.

use super::keys::HELP;
use super::model::App;
use crate::control::TorrentStatus;
use crate::progress::{human_bytes, human_duration, human_rate};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

pub use super::detail::flags;
use ratatui::Frame;

/// How much the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Colours (not with `NO_COLOR` or `TERM=dumb`).
    pub color: bool,
    /// ASCII borders and arrows only (`TERM=dumb`).
    pub ascii: bool,
}

impl Theme {
    /// From the environment: `TERM` unset or `dumb` gets neither colours
    /// nor line drawing; `NO_COLOR` (any value) no colours.
    pub fn detect() -> Theme {
        let dumb = crate::progress::dumb_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !dumb && !no_color, ascii: dumb }
    }

    pub(super) fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub(super) fn bold(&self) -> Style {
        if self.ascii {
            Style::default()
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }

    pub(super) fn selected(&self) -> Style {
        if self.ascii {
            Style::default()
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub(super) fn error(&self) -> Style {
        self.fg(Color::Red).patch(self.bold())
    }

    pub(super) fn block<'a>(&self, title: impl Into<Line<'a>>) -> Block<'a> {
        let b = Block::default().borders(Borders::ALL).title(title);
        if self.ascii {
            b.border_set(ASCII_BORDER)
        } else {
            b
        }
    }
}

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// `52.3%`, rounded down: a torrent at 99.96% never reads 100.0%.
pub fn percent(progress: f64) -> String {
    let tenths = (progress.clamp(0.0, 1.0) * 1000.0).floor() / 10.0;
    format!("{tenths:.1}%")
}

/// `[#####.....]` of `width` cells inside the brackets.
pub fn bar(progress: f64, width: usize) -> String {
    let full = ((progress.clamp(0.0, 1.0) * width as f64).floor() as usize).min(width);
    format!("[{}{}]", "#".repeat(full), ".".repeat(width - full))
}

pub(super) fn rate(r: u64) -> String {
    if r == 0 {
        "-".into()
    } else {
        human_rate(r as f64)
    }
}

/// `-` when unknown, and for a stalled torrent (its rate is the tail of
/// what came before it got stuck).
fn eta(t: &TorrentStatus) -> String {
    match (t.state.as_str(), t.eta_secs) {
        ("seeding" | "done", _) => "done".into(),
        _ if t.stalled.is_some() => "-".into(),
        (_, Some(s)) => human_duration(s),
        _ => "-".into(),
    }
}

fn state_style(theme: &Theme, t: &TorrentStatus) -> Style {
    match t.state.as_str() {
        "failed" => theme.error(),
        _ if t.stalled.is_some() => theme.fg(Color::Yellow),
        "downloading" => theme.fg(Color::Cyan),
        "seeding" | "done" => theme.fg(Color::Green),
        "paused" => theme.fg(Color::DarkGray),
        _ => Style::default(),
    }
}

/// The state column: a stalled download says so.
pub(super) fn state_text(t: &TorrentStatus) -> String {
    if t.stalled.is_some() && t.state == "downloading" {
        "stalled".into()
    } else {
        t.state.clone()
    }
}

/// The whole screen.
pub fn render(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    // With the detail pane open the table takes its rows (at most half the
    // screen) and the pane the rest; closed, the table takes it all.
    let (table_c, detail_c) = if app.detail_open {
        let rows = app.torrents.len().max(1) as u16 + 3;
        (Constraint::Length(rows.min(area.height.saturating_sub(4) / 2).max(4)), Constraint::Min(0))
    } else {
        (Constraint::Min(4), Constraint::Length(0))
    };
    let status_line = status_line(app, theme);
    // A long error wraps onto up to 3 lines.
    let status_h = (status_line.width() as u16).div_ceil(area.width.max(1)).clamp(1, 3);
    let [header, table, why, detail, status, help] = Layout::vertical([
        Constraint::Length(1),
        table_c,
        Constraint::Length(1),
        detail_c,
        Constraint::Length(status_h),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(f, header, app, theme);
    render_table(f, table, app, theme);
    render_why(f, why, app, theme);
    if app.detail_open {
        super::detail::render_detail(f, detail, app, theme);
    }
    f.render_widget(Paragraph::new(status_line).wrap(Wrap { trim: false }), status);
    render_help(f, help, theme);
}

fn render_header(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let down: u64 = app.torrents.iter().map(|t| t.download_rate).sum();
    let up: u64 = app.torrents.iter().map(|t| t.upload_rate).sum();
    let peers: u32 = app.torrents.iter().map(|t| t.peers).sum();
    let n = app.torrents.len();
    let text = format!(
        " torrent-get top | {n} torrent{} | down {} | up {} | {peers} peer{}",
        if n == 1 { "" } else { "s" },
        human_rate(down as f64),
        human_rate(up as f64),
        if peers == 1 { "" } else { "s" },
    );
    f.render_widget(Paragraph::new(Line::from(Span::styled(text, theme.bold()))), area);
}

fn render_table(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    const BAR: usize = 10;
    let header = Row::new(["Name", "State", "Progress", "Size", "Down", "Up", "Peers", "ETA", "Ratio"]).style(theme.bold());
    let rows = app.torrents.iter().map(|t| {
        Row::new(vec![
            Cell::from(t.name.clone()),
            Cell::from(state_text(t)).style(state_style(theme, t)),
            Cell::from(format!("{} {:>6}", bar(t.progress, BAR), percent(t.progress))),
            Cell::from(human_bytes(t.total_bytes)),
            Cell::from(rate(t.download_rate)),
            Cell::from(rate(t.upload_rate)),
            Cell::from(t.peers.to_string()),
            Cell::from(eta(t)),
            Cell::from(format!("{:.2}", t.ratio)),
        ])
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(11),
        Constraint::Length(BAR as u16 + 9),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(5),
    ];
    // Rows that fit (borders and the header aside); the selection stays in
    // view, the title says which rows are shown when not all fit.
    let fit = area.height.saturating_sub(3) as usize;
    let n = app.torrents.len();
    let first = app.selected_index().map_or(0, |i| i.saturating_sub(fit.saturating_sub(1)));
    let title = match n {
        0 => " Torrents ".to_string(),
        _ if n > fit => format!(" Torrents (up/down to select; {}-{} of {n}) ", first + 1, (first + fit).min(n)),
        _ => " Torrents (up/down to select) ".to_string(),
    };
    let block = theme.block(title);
    if app.torrents.is_empty() {
        let text = if app.connected_once {
            "No torrents. Add one: torrent-get remote add SOURCE"
        } else if app.connection_error.is_some() {
            "Not connected to the daemon (see below); retrying."
        } else {
            "Connecting to the daemon..."
        };
        f.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selected())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(app.selected_index()).with_offset(first);
    f.render_stateful_widget(table, area, &mut state);
}

/// One line under the table: what is wrong with the selected torrent.
fn render_why(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(t) = app.selected_torrent() else { return };
    let line = if let Some(e) = &t.error {
        Line::from(vec![Span::styled(format!(" {}: failed: ", t.name), theme.error()), Span::raw(e.clone())])
    } else if let Some(s) = &t.stalled {
        Line::from(vec![
            Span::styled(format!(" {} at {} is not finishing: ", t.name, percent(t.progress)), theme.fg(Color::Yellow).patch(theme.bold())),
            Span::raw(s.clone()),
        ])
    } else if !app.detail_open {
        Line::from(Span::styled(format!(" {}: Enter for peers, trackers and diagnosis", t.name), theme.fg(Color::DarkGray)))
    } else {
        return;
    };
    f.render_widget(Paragraph::new(line), area);
}

fn status_line<'a>(app: &'a App, theme: &Theme) -> Line<'a> {
    if let Some(c) = &app.confirm {
        let what = if c.delete_data { format!("Remove {} and DELETE its data? (y/n)", c.name) } else { format!("Remove {} (the data stays)? (y/n)", c.name) };
        Line::from(Span::styled(what, theme.fg(Color::Yellow).patch(theme.bold()).patch(theme.selected())))
    } else if let Some(e) = &app.connection_error {
        Line::from(Span::styled(format!("error: {e} (retrying)"), theme.error()))
    } else if app.status.error {
        Line::from(Span::styled(format!("error: {}", app.status.text), theme.error()))
    } else {
        Line::from(app.status.text.as_str())
    }
}

fn render_help(f: &mut Frame, area: Rect, theme: &Theme) {
    let mut spans = Vec::new();
    for (k, what) in HELP {
        spans.push(Span::styled(format!(" {k}"), theme.bold().patch(theme.fg(Color::Cyan))));
        spans.push(Span::raw(format!(" {what} ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::keys::Action;
    use super::super::model::tests::{detail, status};
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    pub fn screen(app: &App, theme: Theme, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| render(f, app, &theme)).unwrap();
        let buf = term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    pub const PLAIN: Theme = Theme { color: false, ascii: true };
    const FANCY: Theme = Theme { color: true, ascii: false };

    pub fn line_with<'a>(s: &'a str, needle: &str) -> &'a str {
        s.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}:\n{s}"))
    }

    fn two_torrents() -> App {
        let mut a = App::new();
        let mut one = status('a', "ubuntu.iso", 0.523);
        one.download_rate = 1536 * 1024;
        one.upload_rate = 20 * 1024;
        one.peers = 7;
        one.eta_secs = Some(3725);
        one.ratio = 0.25;
        let mut two = status('b', "debian-netinst", 0.9996);
        two.stalled = Some("3 pieces no connected peer has".into());
        two.eta_secs = Some(1);
        two.peers = 2;
        a.merge_list(vec![one, two]);
        a
    }

    #[test]
    fn the_table_shows_names_progress_rates_and_eta() {
        let a = two_torrents();
        for theme in [PLAIN, FANCY] {
            let s = screen(&a, theme, 120, 20);
            let row = line_with(&s, "ubuntu.iso");
            assert!(row.starts_with("|> ") || row.contains("> ubuntu.iso"), "the selected row is marked: {row}");
            assert!(row.contains("[#####.....]  52.3%"), "{row}");
            assert!(row.contains("downloading"), "{row}");
            assert!(row.contains("1.00 GiB"), "{row}");
            assert!(row.contains("1.50 MiB/s") && row.contains("20.00 KiB/s"), "{row}");
            assert!(row.contains("1:02:05") && row.contains("0.25"), "{row}");
            let row = line_with(&s, "debian-netinst");
            assert!(row.contains("99.9%") && !row.contains("100.0%"), "rounded down: {row}");
            assert!(row.contains("stalled"), "{row}");
            assert!(!row.contains("0:01"), "no ETA for a stalled torrent: {row}");
            assert!(s.contains("2 torrents | down 1.50 MiB/s | up 20.00 KiB/s | 9 peers"), "{s}");
            assert!(s.contains(" q quit"), "{s}");
        }
        // Plain: ASCII borders only.
        let s = screen(&a, PLAIN, 120, 20);
        assert!(s.is_ascii(), "{s}");
        assert!(s.starts_with(" torrent-get top"), "{s}");
        assert!(s.lines().nth(1).unwrap().starts_with("+ Torrents"), "{s}");
    }

    #[test]
    fn the_selected_stalled_torrent_says_why_under_the_table() {
        let mut a = two_torrents();
        a.apply(Action::Down);
        let s = screen(&a, PLAIN, 120, 20);
        assert!(s.contains("debian-netinst at 99.9% is not finishing: 3 pieces no connected peer has"), "{s}");
        assert!(line_with(&s, "debian-netinst ").starts_with("|> debian-netinst "), "the selection moved:\n{s}");
        assert!(line_with(&s, "ubuntu.iso").starts_with("|  ubuntu.iso "), "{s}");
    }

    fn peer(addr: &str, client: &str, transport: &str, encrypted: bool, choking: bool) -> crate::control::PeerStatus {
        serde_json::from_value(serde_json::json!({
            "addr": addr, "client": client, "transport": transport, "encrypted": encrypted,
            "download_rate": 256 * 1024, "upload_rate": 0, "am_choking": true, "am_interested": true,
            "peer_choking": choking, "peer_interested": false, "progress": 0.5,
        }))
        .unwrap()
    }

    fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_detail_pane_shows_peers_trackers_and_the_diagnosis() {
        let mut a = two_torrents();
        a.apply(Action::Down);
        a.apply(Action::ToggleDetail);
        let mut d = detail(a.selected_torrent().unwrap().clone());
        let mut fast = peer("[::1]:6881", "libtorrent 2.0.9", "tcp", false, false);
        fast.download_rate = 1 << 20;
        d.peers_detail = vec![peer("127.0.0.1:51413", "Transmission 4.0.5", "utp", true, true), fast];
        d.trackers = from_json(serde_json::json!([
            {"url": "http://127.0.0.1:8000/announce", "status": "error", "error": "connection refused", "peers": null,
             "state": "backing off", "next_announce_secs": 40},
            {"url": "udp://127.0.0.1:8001", "status": "ok", "error": null, "peers": 12,
             "state": "ok", "seeders": 3, "leechers": 9, "next_announce_secs": 1790},
            {"url": "udp://127.0.0.1:8002", "status": "pending", "error": null, "peers": null},
        ]));
        d.files = from_json(serde_json::json!([{"index": 1, "path": "a.iso", "length": 1u64 << 30, "selected": true, "progress": 0.99}]));
        d.diagnosis = vec!["3 pieces no connected peer has (of 4096)".into(), "1 of 2 peers chokes us".into()];
        d.webseeds = from_json(serde_json::json!([
            {"url": "http://127.0.0.1:9/dead/", "state": "dropped", "reason": "5 errors in a row, the last: connection refused", "bytes": 0, "requests_in_flight": 0},
            {"url": "https://mirror.example/arch/", "state": "active", "reason": null, "bytes": 3u64 << 20, "requests_in_flight": 2},
        ]));
        let hash = d.status.info_hash.clone();
        a.merge_detail(&hash, Ok(d));
        for theme in [PLAIN, FANCY] {
            let s = screen(&a, theme, 140, 40);
            assert!(s.contains(&format!("debian-netinst ({hash})")), "{s}");
            assert!(s.contains("Why it is not finishing at 99.9%:"), "{s}");
            assert!(s.contains("! 3 pieces no connected peer has (of 4096)"), "{s}");
            assert!(s.contains("! 1 of 2 peers chokes us"), "{s}");
            assert!(s.contains("http://127.0.0.1:8000/announce backing off: connection refused, next in 40 s"), "{s}");
            assert!(s.contains("udp://127.0.0.1:8001 ok, 12 peers, 3 seeders, 9 leechers, next in 1790 s"), "{s}");
            // An older daemon's entry (no `state`): its status.
            assert!(s.contains("udp://127.0.0.1:8002 pending"), "{s}");
            assert!(s.contains("Peers (2)"), "{s}");
            let p = line_with(&s, "127.0.0.1:51413");
            for want in ["Transmission 4.0.5", "utp", "yes", "256.00 KiB/s", "IC-c", "50.0%"] {
                assert!(p.contains(want), "{want} in {p}");
            }
            let p = line_with(&s, "[::1]:6881");
            for want in ["libtorrent 2.0.9", "tcp", "no", "1.00 MiB/s", "I--c"] {
                assert!(p.contains(want), "{want} in {p}");
            }
            let (fast_at, slow_at) = (s.find("[::1]:6881").unwrap(), s.find("127.0.0.1:51413").unwrap());
            assert!(fast_at < slow_at, "the faster peer first:\n{s}");
            assert!(s.contains("1 file (1 selected)"), "{s}");
            assert!(s.contains("Web seeds (1 of 2 not dropped):"), "{s}");
            assert!(s.contains("https://mirror.example/arch/ active, 3.00 MiB"), "{s}");
            assert!(s.contains("http://127.0.0.1:9/dead/ dropped, 0 B: 5 errors in a row"), "{s}");
            assert!(s.find("mirror.example").unwrap() < s.find("9/dead/").unwrap(), "live mirrors first:\n{s}");
        }
    }

    #[test]
    fn a_healthy_torrent_says_nothing_is_wrong() {
        let mut a = two_torrents();
        a.apply(Action::ToggleDetail);
        let d = detail(a.selected_torrent().unwrap().clone());
        a.merge_detail(&d.status.info_hash.clone(), Ok(d));
        let s = screen(&a, PLAIN, 120, 30);
        assert!(s.contains("nothing is holding it back"), "{s}");
        assert!(s.contains("no connected peers"), "{s}");
    }

    #[test]
    fn errors_and_confirmations_go_to_the_status_line() {
        let mut a = App::new();
        a.list_failed("no daemon address in /tmp/x/api (is `torrent-get daemon --state /tmp/x` running?)".into());
        let s = screen(&a, PLAIN, 120, 12);
        assert!(s.contains("error: no daemon address in /tmp/x/api"), "{s}");
        assert!(s.contains("Not connected to the daemon"), "{s}");
        let mut a = two_torrents();
        a.apply(Action::RemoveWithData);
        let s = screen(&a, PLAIN, 120, 12);
        assert!(s.contains("Remove ubuntu.iso and DELETE its data? (y/n)"), "{s}");
        a.apply(Action::No);
        a.apply(Action::Remove);
        assert!(screen(&a, PLAIN, 120, 12).contains("Remove ubuntu.iso (the data stays)? (y/n)"));
        a.apply(Action::Yes);
        a.action_done(Err("/v1/torrents/aaaa/remove: no such torrent (HTTP 404)".into()));
        let s = screen(&a, PLAIN, 120, 12);
        assert!(s.contains("error: /v1/torrents/aaaa/remove: no such torrent (HTTP 404)"), "{s}");
        let mut a = App::new();
        a.merge_list(vec![]);
        assert!(screen(&a, PLAIN, 120, 12).contains("No torrents. Add one"));
    }

    #[test]
    fn a_small_terminal_does_not_panic() {
        let mut a = two_torrents();
        a.apply(Action::ToggleDetail);
        for (w, h) in [(1, 1), (10, 3), (40, 8), (80, 24)] {
            screen(&a, FANCY, w, h);
        }
    }

    #[test]
    fn bars_and_percentages() {
        assert_eq!(bar(0.0, 4), "[....]");
        assert_eq!(bar(0.5, 4), "[##..]");
        assert_eq!(bar(1.0, 4), "[####]");
        assert_eq!(bar(7.0, 4), "[####]");
        assert_eq!(percent(0.999_99), "99.9%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.0), "0.0%");
    }
}
