//! Drawing `torrent-get top`: a pure function of the [`App`] state into a
//! ratatui [`Frame`] (tested on ratatui's `TestBackend`). From the top: a
//! header with totals, the table of torrents, one line with why the selected
//! torrent is not finishing, the detail pane (diagnosis, trackers, peers)
//! when open, the status line and the keys.

use super::keys::HELP;
use super::model::App;
use crate::control::{PeerStatus, TorrentDetail, TorrentStatus, TrackerStatus, WebSeedStatus};
use crate::progress::{human_bytes, human_duration, human_rate};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
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

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn bold(&self) -> Style {
        if self.ascii {
            Style::default()
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }

    fn selected(&self) -> Style {
        if self.ascii {
            Style::default()
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    fn error(&self) -> Style {
        self.fg(Color::Red).patch(self.bold())
    }

    fn block<'a>(&self, title: impl Into<Line<'a>>) -> Block<'a> {
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

fn rate(r: u64) -> String {
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
fn state_text(t: &TorrentStatus) -> String {
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
        render_detail(f, detail, app, theme);
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
    let title = if app.torrents.is_empty() { " Torrents " } else { " Torrents (up/down to select) " };
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
    let mut state = TableState::default().with_selected(app.selected_index());
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

fn render_detail(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(t) = app.selected_torrent() else {
        f.render_widget(Paragraph::new("No torrent selected.").block(theme.block(" Detail ")), area);
        return;
    };
    let title = format!(" {} ({}) ", t.name, t.info_hash);
    let block = theme.block(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(d) = app.detail.as_ref() else {
        let text = match &app.detail_error {
            Some(e) => Line::from(Span::styled(format!("cannot get the detail: {e}"), theme.error())),
            None => Line::from("loading..."),
        };
        f.render_widget(Paragraph::new(text), inner);
        return;
    };
    let summary = summary_lines(d, app.detail_error.as_deref(), theme);
    let mut trackers = tracker_lines(&d.trackers, theme);
    trackers.extend(webseed_lines(&d.webseeds, theme));
    let top_height = (summary.len() + trackers.len()) as u16;
    let [top, peers] = Layout::vertical([Constraint::Length(top_height), Constraint::Min(3)]).areas(inner);
    let mut lines = summary;
    lines.extend(trackers);
    f.render_widget(Paragraph::new(lines), top);
    render_peers(f, peers, &d.peers_detail, theme);
}

fn summary_lines<'a>(d: &'a TorrentDetail, error: Option<&str>, theme: &Theme) -> Vec<Line<'a>> {
    let s = &d.status;
    let selected = d.files.iter().filter(|f| f.selected).count();
    let mut lines = vec![
        Line::from(format!(
            "{} {} of {}, {} downloaded, {} uploaded; peers: {} connected, {} connecting, {} known",
            state_text(s),
            percent(s.progress),
            human_bytes(s.total_bytes),
            human_bytes(s.downloaded),
            human_bytes(s.uploaded),
            s.peers,
            s.connecting,
            s.known,
        )),
        Line::from(format!(
            "{} file{} ({} selected) in {}",
            d.files.len(),
            if d.files.len() == 1 { "" } else { "s" },
            selected,
            s.save_dir
        )),
    ];
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(format!("(detail not refreshed: {e})"), theme.error())));
    }
    let mut reasons: Vec<&str> = d.diagnosis.iter().map(String::as_str).collect();
    if let Some(e) = &s.error {
        reasons.insert(0, e);
    }
    if reasons.is_empty() {
        if let Some(st) = &s.stalled {
            reasons.push(st);
        }
    }
    if reasons.is_empty() {
        let ok = match s.state.as_str() {
            "seeding" | "done" => "Complete.",
            "paused" => "Paused: press r to resume.",
            _ => "Diagnosis: nothing is holding it back.",
        };
        lines.push(Line::from(Span::styled(ok, theme.fg(Color::Green))));
    } else {
        lines.push(Line::from(Span::styled(format!("Why it is not finishing at {}:", percent(s.progress)), theme.fg(Color::Yellow).patch(theme.bold()))));
        for r in reasons {
            lines.push(Line::from(format!("  ! {r}")));
        }
    }
    lines
}

fn tracker_lines<'a>(trackers: &'a [TrackerStatus], theme: &Theme) -> Vec<Line<'a>> {
    if trackers.is_empty() {
        return vec![Line::from("Trackers: none")];
    }
    let mut lines = vec![Line::from(Span::styled(format!("Trackers ({}):", trackers.len()), theme.bold()))];
    for tr in trackers {
        let bad = tr.status == "error";
        let mut spans = vec![Span::raw(format!("  {} ", tr.url)), Span::styled(tr.state_name().to_string(), if bad { theme.error() } else { Style::default() })];
        if let Some(e) = &tr.error {
            spans.push(Span::styled(format!(": {e}"), theme.fg(Color::Red)));
        }
        spans.push(Span::raw(tr.counts()));
        lines.push(Line::from(spans));
    }
    lines
}

/// Mirrors shown at most in the detail pane (an Arch-style url-list has
/// hundreds): the ones that are not dropped first.
const MAX_MIRROR_LINES: usize = 6;

fn webseed_lines<'a>(mirrors: &'a [WebSeedStatus], theme: &Theme) -> Vec<Line<'a>> {
    if mirrors.is_empty() {
        return Vec::new();
    }
    let live = mirrors.iter().filter(|m| m.state != "dropped").count();
    let mut lines = vec![Line::from(Span::styled(format!("Web seeds ({live} of {} not dropped):", mirrors.len()), theme.bold()))];
    let mut order: Vec<&WebSeedStatus> = mirrors.iter().collect();
    order.sort_by_key(|m| (m.state == "dropped", std::cmp::Reverse(m.bytes)));
    for m in order.iter().take(MAX_MIRROR_LINES) {
        let style = if m.state == "dropped" { theme.error() } else { Style::default() };
        let mut spans = vec![Span::raw(format!("  {} ", m.url)), Span::styled(m.state.clone(), style), Span::raw(format!(", {}", human_bytes(m.bytes)))];
        if let Some(r) = &m.reason {
            spans.push(Span::styled(format!(": {r}"), theme.fg(Color::Red)));
        }
        lines.push(Line::from(spans));
    }
    if mirrors.len() > MAX_MIRROR_LINES {
        lines.push(Line::from(format!("  ... and {} more", mirrors.len() - MAX_MIRROR_LINES)));
    }
    lines
}

/// `I` we are interested, `C` it chokes us, `i` it is interested, `c` we
/// choke it; `-` where not.
pub fn flags(p: &PeerStatus) -> String {
    [(p.am_interested, 'I'), (p.peer_choking, 'C'), (p.peer_interested, 'i'), (p.am_choking, 'c')]
        .iter()
        .map(|&(on, c)| if on { c } else { '-' })
        .collect()
}

fn render_peers(f: &mut Frame, area: Rect, peers: &[PeerStatus], theme: &Theme) {
    let title = format!("Peers ({}); flags: I we want, C it chokes us, i it wants, c we choke it", peers.len());
    if peers.is_empty() {
        let text = vec![Line::from(Span::styled(title, theme.bold())), Line::from("  no connected peers")];
        f.render_widget(Paragraph::new(text), area);
        return;
    }
    let header = Row::new(["Address", "Client", "Transport", "Encrypted", "Down", "Up", "Flags", "Has"]).style(theme.bold());
    // The busiest first (those that fit the pane matter most).
    let mut sorted: Vec<&PeerStatus> = peers.iter().collect();
    sorted.sort_by(|a, b| (b.download_rate, b.upload_rate).cmp(&(a.download_rate, a.upload_rate)).then_with(|| a.addr.cmp(&b.addr)));
    let rows = sorted.into_iter().map(|p| {
        let flag_style = if p.am_interested && p.peer_choking { theme.fg(Color::Yellow) } else { Style::default() };
        Row::new(vec![
            Cell::from(p.addr.clone()),
            Cell::from(p.client.clone()),
            Cell::from(p.transport.clone()),
            Cell::from(if p.encrypted { "yes" } else { "no" }),
            Cell::from(rate(p.download_rate)),
            Cell::from(rate(p.upload_rate)),
            Cell::from(flags(p)).style(flag_style),
            Cell::from(percent(p.progress)),
        ])
    });
    let widths = [
        Constraint::Min(21),
        Constraint::Min(14),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(6),
    ];
    let [t, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(Span::styled(title, theme.bold()))), t);
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), rest);
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
mod tests {
    use super::super::keys::Action;
    use super::super::model::tests::{detail, status};
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(app: &App, theme: Theme, w: u16, h: u16) -> String {
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

    const PLAIN: Theme = Theme { color: false, ascii: true };
    const FANCY: Theme = Theme { color: true, ascii: false };

    fn line_with<'a>(s: &'a str, needle: &str) -> &'a str {
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

    fn peer(addr: &str, client: &str, transport: &str, encrypted: bool, choking: bool) -> PeerStatus {
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
