//! The detail pane of `torrent-get top` (the selected torrent): summary
//! and diagnosis, trackers, web seeds, then its files and its peers, each a
//! table scrolled with PgUp/PgDn (`f` chooses which) when it does not fit.

use super::model::App;
use super::view::{percent, rate, state_text, Theme};
use crate::control::{FileStatus, PeerStatus, TorrentDetail, TrackerStatus, WebSeedStatus};
use crate::progress::human_bytes;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

/// The first row to show of a list of `len` rows in `rows` lines, asked to
/// start at `want`: never past the end (the last page stays full).
pub fn first_row(want: usize, len: usize, rows: usize) -> usize {
    want.min(len.saturating_sub(rows))
}

/// " (3-10 of 40)" when not all rows fit, else "".
fn shown(first: usize, len: usize, rows: usize) -> String {
    if len <= rows {
        String::new()
    } else {
        format!(", {}-{} of {len}", first + 1, (first + rows).min(len))
    }
}

pub fn render_detail(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    let [top, lists] = Layout::vertical([Constraint::Length(top_height), Constraint::Min(6)]).areas(inner);
    let mut lines = summary;
    lines.extend(trackers);
    f.render_widget(Paragraph::new(lines), top);
    // Files take what they need up to a third of the lists' room (at least
    // 3 lines: title, header, one file); peers the rest.
    let files_h = (d.files.len() as u16 + 2).min((lists.height / 3).max(3));
    let [files, peers] = Layout::vertical([Constraint::Length(files_h), Constraint::Min(3)]).areas(lists);
    render_files(f, files, &d.files, app, theme);
    render_peers(f, peers, &d.peers_detail, app, theme);
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

/// The list's title: bold, and marked when PgUp/PgDn scroll it.
fn list_title(text: String, focused: bool, theme: &Theme) -> Line<'static> {
    let mark = if focused { "* " } else { "" };
    Line::from(Span::styled(format!("{mark}{text}"), theme.bold()))
}

fn render_files(f: &mut Frame, area: Rect, files: &[FileStatus], app: &App, theme: &Theme) {
    let rows_h = area.height.saturating_sub(2) as usize;
    let first = first_row(app.file_scroll, files.len(), rows_h);
    let selected = files.iter().filter(|x| x.selected).count();
    let title = format!("Files ({}, {selected} selected{})", files.len(), shown(first, files.len(), rows_h));
    let [t, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    f.render_widget(Paragraph::new(list_title(title, app.scroll_files, theme)), t);
    if files.is_empty() {
        f.render_widget(Paragraph::new("  not known yet (no metadata)"), rest);
        return;
    }
    let header = Row::new(["   #", "Name", "Size", "Done", "Selected"]).style(theme.bold());
    let rows = files.iter().skip(first).take(rows_h).map(|x| {
        let style = if x.selected { Style::default() } else { theme.fg(Color::DarkGray) };
        Row::new(vec![
            Cell::from(format!("{:>4}", x.index)),
            Cell::from(x.path.clone()),
            Cell::from(human_bytes(x.length)),
            Cell::from(percent(x.progress)),
            Cell::from(if x.selected { "yes" } else { "no" }),
        ])
        .style(style)
    });
    let widths = [Constraint::Length(5), Constraint::Min(20), Constraint::Length(10), Constraint::Length(6), Constraint::Length(8)];
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), rest);
}

fn render_peers(f: &mut Frame, area: Rect, peers: &[PeerStatus], app: &App, theme: &Theme) {
    let rows_h = area.height.saturating_sub(2) as usize;
    let first = first_row(app.peer_scroll, peers.len(), rows_h);
    let title = format!("Peers ({}{}); flags: I we want, C it chokes us, i it wants, c we choke it", peers.len(), shown(first, peers.len(), rows_h));
    let title = list_title(title, !app.scroll_files, theme);
    if peers.is_empty() {
        let text = vec![title, Line::from("  no connected peers")];
        f.render_widget(Paragraph::new(text), area);
        return;
    }
    let header = Row::new(["Address", "Client", "Transport", "Encrypted", "Down", "Up", "Flags", "Has"]).style(theme.bold());
    // The busiest first (those that fit the pane matter most).
    let mut sorted: Vec<&PeerStatus> = peers.iter().collect();
    sorted.sort_by(|a, b| (b.download_rate, b.upload_rate).cmp(&(a.download_rate, a.upload_rate)).then_with(|| a.addr.cmp(&b.addr)));
    let rows = sorted.into_iter().skip(first).take(rows_h).map(|p| {
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
    f.render_widget(Paragraph::new(title), t);
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), rest);
}


#[cfg(test)]
mod tests {
    use super::super::keys::Action;
    use super::super::model::tests::{detail, status};
    use super::super::view::tests::{line_with, screen, PLAIN};
    use super::*;

    #[test]
    fn first_row_keeps_the_last_page_full() {
        assert_eq!(first_row(0, 40, 10), 0);
        assert_eq!(first_row(25, 40, 10), 25);
        assert_eq!(first_row(35, 40, 10), 30);
        assert_eq!(first_row(5, 3, 10), 0);
        assert_eq!(shown(30, 40, 10), ", 31-40 of 40");
        assert_eq!(shown(0, 3, 10), "");
    }

    fn many() -> App {
        let mut a = App::new();
        a.merge_list(vec![status('a', "big", 0.5)]);
        a.apply(Action::ToggleDetail);
        let mut d = detail(a.selected_torrent().unwrap().clone());
        d.files = (1..=30)
            .map(|i| serde_json::from_value(serde_json::json!({"index": i, "path": format!("dir/file-{i:02}.bin"), "length": 1u64 << 20, "selected": i != 7, "progress": if i == 1 { 1.0 } else { 0.25 }})).unwrap())
            .collect();
        d.peers_detail = (1..=25)
            .map(|i| serde_json::from_value(serde_json::json!({
                "addr": format!("127.0.0.1:{}", 7000 + i), "client": "x", "transport": "tcp", "encrypted": false,
                "download_rate": 1000 * (100 - i), "upload_rate": 0, "am_choking": true, "am_interested": true,
                "peer_choking": false, "peer_interested": false, "progress": 0.5,
            })).unwrap())
            .collect();
        let hash = d.status.info_hash.clone();
        a.merge_detail(&hash, Ok(d));
        a
    }

    #[test]
    fn the_files_list_numbers_sizes_and_marks_the_selection_and_both_lists_scroll() {
        let mut a = many();
        let s = screen(&a, PLAIN, 120, 50);
        assert!(s.contains("Files (30, 29 selected, 1-"), "{s}");
        let f1 = line_with(&s, "dir/file-01.bin");
        assert!(f1.starts_with("|   1  dir/file-01.bin"), "{f1}");
        for want in ["1.00 MiB", "100.0%", "yes"] {
            assert!(f1.contains(want), "{want} in {f1}");
        }
        assert!(line_with(&s, "dir/file-07.bin").trim_end_matches('|').trim_end().ends_with("no"), "{s}");
        assert!(s.contains("* Peers (25, 1-"), "PgUp/PgDn scroll the peers first:\n{s}");
        assert!(s.contains("127.0.0.1:7001") && !s.contains("127.0.0.1:7025"), "{s}");
        // PgDn twice: the last page of peers (the slowest last).
        a.apply(Action::PageDown);
        a.apply(Action::PageDown);
        a.apply(Action::PageDown);
        let s = screen(&a, PLAIN, 120, 50);
        assert!(s.contains("127.0.0.1:7025") && !s.contains("127.0.0.1:7001 "), "{s}");
        assert!(s.contains("of 25)"), "{s}");
        assert!(s.contains("dir/file-01.bin"), "the files did not move:\n{s}");
        // f: now the files scroll.
        a.apply(Action::SwitchList);
        a.apply(Action::PageDown);
        a.apply(Action::PageDown);
        a.apply(Action::PageDown);
        let s = screen(&a, PLAIN, 120, 50);
        assert!(s.contains("* Files (30, 29 selected,") && s.contains("-30 of 30)"), "{s}");
        assert!(s.contains("dir/file-30.bin") && !s.contains("dir/file-01.bin"), "{s}");
        a.apply(Action::PageUp);
        a.apply(Action::PageUp);
        a.apply(Action::PageUp);
        let s = screen(&a, PLAIN, 120, 50);
        assert!(s.contains("dir/file-01.bin"), "{s}");
    }

    #[test]
    fn a_long_torrent_list_follows_the_selection_and_says_which_rows_show() {
        let mut a = App::new();
        a.merge_list((0..40u8).map(|i| status((b'a' + i % 26) as char, &format!("t{i:02}"), 0.5)).collect());
        // Info-hashes repeat past 26: give each its own.
        for (i, t) in a.torrents.iter_mut().enumerate() {
            t.info_hash = format!("{i:040}");
        }
        a.selected = Some(a.torrents[0].info_hash.clone());
        let s = screen(&a, PLAIN, 120, 20);
        assert!(s.contains("1-13 of 40)"), "{s}");
        assert!(s.contains("t00") && !s.contains("t20"), "{s}");
        a.apply(Action::PageDown);
        a.apply(Action::PageDown);
        a.apply(Action::Down);
        let s = screen(&a, PLAIN, 120, 20);
        assert!(line_with(&s, "t21").starts_with("|> t21"), "{s}");
        assert!(s.contains("10-22 of 40)") && !s.contains("t00"), "{s}");
        assert!(s.contains("PgUp/PgDn"), "the keys are in the help line:\n{s}");
    }
}
