//! The state of `torrent-get top`: the torrents the daemon listed, which one
//! is selected (by info-hash, so it survives torrents coming and going), the
//! detail of the selected one, a pending confirmation and the status line.
//! No terminal and no network here: [`App::apply`] turns an [`Action`] into
//! the [`Request`] the poller sends to the daemon, and the poller's answers
//! come back through [`App::merge_list`], [`App::merge_detail`] and
//! [`App::action_done`].

use super::keys::Action;
use crate::control::{TorrentDetail, TorrentStatus};

/// What the poller is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Pause(String),
    Resume(String),
    Remove { hash: String, delete_data: bool },
}

/// A remove waiting for y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub hash: String,
    pub name: String,
    pub delete_data: bool,
}

/// The status line: the last message, an error or a plain note.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Default)]
pub struct App {
    /// In the daemon's order.
    pub torrents: Vec<TorrentStatus>,
    /// The selected torrent's info-hash.
    pub selected: Option<String>,
    pub detail_open: bool,
    /// The detail of the selected torrent (dropped when the selection moves).
    pub detail: Option<TorrentDetail>,
    /// Why the detail could not be had.
    pub detail_error: Option<String>,
    pub confirm: Option<Confirm>,
    /// Why the list could not be had (daemon not running, request failed);
    /// the list shown is then the last one received.
    pub connection_error: Option<String>,
    /// Whether a list was ever received.
    pub connected_once: bool,
    pub status: Status,
    pub quit: bool,
    /// The detail pane's lists: which one PgUp/PgDn scroll, and the first
    /// row shown of each (reset when the selection moves).
    pub scroll_files: bool,
    pub peer_scroll: usize,
    pub file_scroll: usize,
}

/// Rows PgUp/PgDn move (the selection, or the detail pane's list).
pub const PAGE: usize = 10;

impl App {
    pub fn new() -> App {
        App::default()
    }

    /// The index of the selected torrent in [`App::torrents`].
    pub fn selected_index(&self) -> Option<usize> {
        let h = self.selected.as_ref()?;
        self.torrents.iter().position(|t| &t.info_hash == h)
    }

    pub fn selected_torrent(&self) -> Option<&TorrentStatus> {
        self.selected_index().map(|i| &self.torrents[i])
    }

    /// The torrent the detail pane should show: the selected one, while the
    /// pane is open.
    pub fn focus(&self) -> Option<String> {
        if self.detail_open {
            self.selected.clone()
        } else {
            None
        }
    }

    /// A new list from the daemon. The selection stays on the same torrent
    /// while it is listed; when it went away, the torrent now at its old
    /// place (or the last one) is selected; with no selection, the first.
    pub fn merge_list(&mut self, list: Vec<TorrentStatus>) {
        let old_index = self.selected_index();
        self.connection_error = None;
        self.connected_once = true;
        self.torrents = list;
        let still_there = self.selected.as_ref().is_some_and(|h| self.torrents.iter().any(|t| &t.info_hash == h));
        if !still_there {
            let i = old_index.unwrap_or(0).min(self.torrents.len().saturating_sub(1));
            self.select(self.torrents.get(i).map(|t| t.info_hash.clone()));
        }
        if let Some(c) = &self.confirm {
            if !self.torrents.iter().any(|t| t.info_hash == c.hash) {
                self.confirm = None;
            }
        }
    }

    /// The list could not be had: keep what is shown, say why.
    pub fn list_failed(&mut self, error: String) {
        self.connection_error = Some(error);
    }

    /// The detail of `hash` arrived (or failed); kept only while it is
    /// still the selected torrent.
    pub fn merge_detail(&mut self, hash: &str, detail: Result<TorrentDetail, String>) {
        if self.selected.as_deref() != Some(hash) {
            return;
        }
        match detail {
            Ok(d) => {
                // The detail is the newer status of this torrent.
                if let Some(t) = self.torrents.iter_mut().find(|t| t.info_hash == hash) {
                    *t = d.status.clone();
                }
                self.detail = Some(d);
                self.detail_error = None;
            }
            Err(e) => self.detail_error = Some(e),
        }
    }

    /// A request the poller carried out: its outcome goes to the status line.
    pub fn action_done(&mut self, outcome: Result<String, String>) {
        self.status = match outcome {
            Ok(text) => Status { text, error: false },
            Err(text) => Status { text, error: true },
        };
    }

    fn select(&mut self, hash: Option<String>) {
        if hash != self.selected {
            self.selected = hash;
            self.detail = None;
            self.detail_error = None;
            self.peer_scroll = 0;
            self.file_scroll = 0;
        }
    }

    /// Scroll the detail pane's list (files or peers) by `delta` rows,
    /// within its length.
    fn scroll(&mut self, delta: isize) {
        let (len, at) = match (&self.detail, self.scroll_files) {
            (Some(d), true) => (d.files.len(), &mut self.file_scroll),
            (Some(d), false) => (d.peers_detail.len(), &mut self.peer_scroll),
            (None, _) => return,
        };
        *at = (*at as isize + delta).clamp(0, len.saturating_sub(1) as isize) as usize;
    }

    fn move_selection(&mut self, delta: isize) {
        if self.torrents.is_empty() {
            return;
        }
        let last = self.torrents.len() - 1;
        let i = match self.selected_index() {
            None => 0,
            Some(i) => (i as isize + delta).clamp(0, last as isize) as usize,
        };
        self.select(Some(self.torrents[i].info_hash.clone()));
    }

    fn note(&mut self, text: impl Into<String>, error: bool) {
        self.status = Status { text: text.into(), error };
    }

    /// Carry out a key's action on the state; what must be asked of the
    /// daemon is returned.
    pub fn apply(&mut self, action: Action) -> Option<Request> {
        if let Some(c) = self.confirm.clone() {
            match action {
                Action::Yes => {
                    self.confirm = None;
                    let what = if c.delete_data { "removing (and deleting the data of)" } else { "removing" };
                    self.note(format!("{what} {}", c.name), false);
                    return Some(Request::Remove { hash: c.hash, delete_data: c.delete_data });
                }
                Action::No | Action::Back => {
                    self.confirm = None;
                    self.note(format!("kept {}", c.name), false);
                    return None;
                }
                Action::Quit => self.quit = true,
                _ => {}
            }
            return None;
        }
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp if self.detail_open => self.scroll(-(PAGE as isize)),
            Action::PageDown if self.detail_open => self.scroll(PAGE as isize),
            Action::PageUp => self.move_selection(-(PAGE as isize)),
            Action::PageDown => self.move_selection(PAGE as isize),
            Action::SwitchList => self.scroll_files = !self.scroll_files,
            Action::First => self.move_selection(isize::MIN / 2),
            Action::Last => self.move_selection(isize::MAX / 2),
            Action::ToggleDetail => self.detail_open = !self.detail_open,
            Action::Back if self.detail_open => self.detail_open = false,
            Action::Back | Action::Quit => self.quit = true,
            Action::Pause | Action::Resume | Action::Remove | Action::RemoveWithData => {
                let Some(t) = self.selected_torrent() else {
                    self.note("no torrent selected", true);
                    return None;
                };
                let (hash, name) = (t.info_hash.clone(), t.name.clone());
                match action {
                    Action::Pause => {
                        self.note(format!("pausing {name}"), false);
                        return Some(Request::Pause(hash));
                    }
                    Action::Resume => {
                        self.note(format!("resuming {name}"), false);
                        return Some(Request::Resume(hash));
                    }
                    _ => {
                        self.confirm = Some(Confirm { hash, name, delete_data: action == Action::RemoveWithData });
                    }
                }
            }
            Action::Yes | Action::No => {}
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Built from JSON, as the daemon sends it, so fields the contract adds
    /// later (with defaults) need no change here.
    pub fn status(hash_byte: char, name: &str, progress: f64) -> TorrentStatus {
        let total: u64 = 1 << 30;
        let have = (total as f64 * progress) as u64;
        serde_json::from_value(serde_json::json!({
            "info_hash": hash_byte.to_string().repeat(40), "name": name, "state": "downloading",
            "progress": progress, "total_bytes": total, "have_bytes": have, "downloaded": have, "uploaded": 0,
            "download_rate": 0, "upload_rate": 0, "peers": 0, "eta_secs": null, "ratio": 0.0,
            "save_dir": "/tmp", "error": null, "stalled": null,
        }))
        .unwrap()
    }

    fn app(names: &[(char, &str)]) -> App {
        let mut a = App::new();
        a.merge_list(names.iter().map(|(c, n)| status(*c, n, 0.5)).collect());
        a
    }

    fn sel(a: &App) -> String {
        a.selected_torrent().map(|t| t.name.clone()).unwrap_or_default()
    }

    #[test]
    fn first_list_selects_the_first_torrent_and_moves_stay_in_range() {
        let mut a = app(&[('a', "one"), ('b', "two"), ('c', "three")]);
        assert_eq!(sel(&a), "one");
        a.apply(Action::Up);
        assert_eq!(sel(&a), "one");
        a.apply(Action::Down);
        a.apply(Action::Down);
        a.apply(Action::Down);
        assert_eq!(sel(&a), "three");
        a.apply(Action::First);
        assert_eq!(sel(&a), "one");
        a.apply(Action::Last);
        assert_eq!(sel(&a), "three");
    }

    #[test]
    fn merging_keeps_the_selected_torrent_when_others_come_and_go() {
        let mut a = app(&[('a', "one"), ('b', "two"), ('c', "three")]);
        a.apply(Action::Down);
        assert_eq!(sel(&a), "two");
        // One added before it, one removed after it: still "two".
        a.merge_list(vec![status('z', "zero", 0.1), status('a', "one", 0.5), status('b', "two", 0.6)]);
        assert_eq!(sel(&a), "two");
        assert_eq!(a.selected_index(), Some(2));
        assert_eq!(a.torrents[2].progress, 0.6);
    }

    #[test]
    fn merging_moves_to_a_neighbour_when_the_selected_torrent_goes() {
        let mut a = app(&[('a', "one"), ('b', "two"), ('c', "three")]);
        a.apply(Action::Down);
        a.detail_open = true;
        a.merge_detail(&"b".repeat(40), Ok(detail(status('b', "two", 0.5))));
        assert!(a.detail.is_some());
        a.merge_list(vec![status('a', "one", 0.5), status('c', "three", 0.5)]);
        assert_eq!(sel(&a), "three", "the torrent now at its place");
        assert!(a.detail.is_none(), "the detail of a torrent no longer selected is dropped");
        a.merge_list(vec![status('a', "one", 0.5)]);
        assert_eq!(sel(&a), "one", "the last one when the list got shorter");
        a.merge_list(vec![]);
        assert_eq!(a.selected, None);
        a.merge_list(vec![status('d', "four", 0.5)]);
        assert_eq!(sel(&a), "four");
    }

    pub fn detail(status: TorrentStatus) -> TorrentDetail {
        let mut v = serde_json::to_value(status).unwrap();
        for k in ["peers_detail", "trackers", "files", "diagnosis"] {
            v[k] = serde_json::json!([]);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_detail_for_a_torrent_no_longer_selected_is_ignored() {
        let mut a = app(&[('a', "one"), ('b', "two")]);
        a.apply(Action::Down);
        a.merge_detail(&"a".repeat(40), Ok(detail(status('a', "one", 0.9))));
        assert!(a.detail.is_none());
        a.merge_detail(&"b".repeat(40), Ok(detail(status('b', "two", 0.75))));
        assert_eq!(a.detail.as_ref().unwrap().status.name, "two");
        assert_eq!(a.torrents[1].progress, 0.75, "the detail refreshes the row too");
        a.merge_detail(&"b".repeat(40), Err("boom".into()));
        assert_eq!(a.detail_error.as_deref(), Some("boom"));
    }

    #[test]
    fn pause_resume_act_on_the_selected_torrent() {
        let mut a = app(&[('a', "one"), ('b', "two")]);
        a.apply(Action::Down);
        assert_eq!(a.apply(Action::Pause), Some(Request::Pause("b".repeat(40))));
        assert_eq!(a.status.text, "pausing two");
        assert_eq!(a.apply(Action::Resume), Some(Request::Resume("b".repeat(40))));
        let mut empty = App::new();
        assert_eq!(empty.apply(Action::Pause), None);
        assert!(empty.status.error);
    }

    #[test]
    fn remove_waits_for_yes() {
        let mut a = app(&[('a', "one"), ('b', "two")]);
        assert_eq!(a.apply(Action::Remove), None);
        assert_eq!(a.confirm.as_ref().unwrap().name, "one");
        // Other keys do nothing while asking.
        assert_eq!(a.apply(Action::Down), None);
        assert_eq!(sel(&a), "one");
        assert_eq!(a.apply(Action::No), None);
        assert!(a.confirm.is_none());
        assert_eq!(a.apply(Action::RemoveWithData), None);
        assert!(a.confirm.as_ref().unwrap().delete_data);
        assert_eq!(a.apply(Action::Yes), Some(Request::Remove { hash: "a".repeat(40), delete_data: true }));
        assert!(a.confirm.is_none());
        // Esc while asking cancels, it does not quit.
        a.apply(Action::Remove);
        a.apply(Action::Back);
        assert!(a.confirm.is_none() && !a.quit);
    }

    #[test]
    fn a_confirmation_for_a_torrent_that_went_away_is_dropped() {
        let mut a = app(&[('a', "one"), ('b', "two")]);
        a.apply(Action::Remove);
        a.merge_list(vec![status('b', "two", 0.5)]);
        assert!(a.confirm.is_none());
    }

    #[test]
    fn esc_closes_the_detail_first_then_quits() {
        let mut a = app(&[('a', "one")]);
        a.apply(Action::ToggleDetail);
        assert_eq!(a.focus(), Some("a".repeat(40)));
        a.apply(Action::Back);
        assert!(!a.detail_open && !a.quit);
        assert_eq!(a.focus(), None);
        a.apply(Action::Back);
        assert!(a.quit);
    }

    #[test]
    fn a_failed_poll_keeps_the_list_and_a_later_one_clears_the_error() {
        let mut a = app(&[('a', "one")]);
        a.list_failed("cannot reach the daemon".into());
        assert_eq!(a.torrents.len(), 1);
        assert!(a.connection_error.is_some());
        a.merge_list(vec![status('a', "one", 0.7)]);
        assert!(a.connection_error.is_none());
    }
}
