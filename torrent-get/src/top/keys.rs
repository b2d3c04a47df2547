//! Keys of `torrent-get top` and what they mean; the one place they are
//! listed, for the help line too.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    /// Open or close the detail pane.
    ToggleDetail,
    /// Which list of the detail pane PgUp/PgDn scroll: files or peers.
    SwitchList,
    Pause,
    Resume,
    Remove,
    RemoveWithData,
    /// `y` (to a confirmation).
    Yes,
    /// `n` (to a confirmation).
    No,
    /// Esc: cancel a confirmation, close the detail pane, else quit.
    Back,
    /// q, Ctrl-C.
    Quit,
}

/// The help line: key and what it does.
pub const HELP: &[(&str, &str)] = &[
    ("up/down", "select"),
    ("PgUp/PgDn", "scroll"),
    ("Enter", "detail"),
    ("f", "files/peers"),
    ("p", "pause"),
    ("r", "resume"),
    ("d", "remove"),
    ("D", "remove+data"),
    ("q", "quit"),
];

/// What a key press means; None for keys that mean nothing (and for key
/// releases and repeats of terminals that report them, but a held arrow
/// repeats).
pub fn action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') | KeyCode::Char('C') if ctrl => Action::Quit,
        _ if ctrl => return None,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::First,
        KeyCode::End | KeyCode::Char('G') => Action::Last,
        KeyCode::Enter | KeyCode::Tab => Action::ToggleDetail,
        KeyCode::Char('f') => Action::SwitchList,
        KeyCode::Char('p') => Action::Pause,
        KeyCode::Char('r') => Action::Resume,
        KeyCode::Char('d') => Action::Remove,
        KeyCode::Char('D') => Action::RemoveWithData,
        KeyCode::Char('y') | KeyCode::Char('Y') => Action::Yes,
        KeyCode::Char('n') | KeyCode::Char('N') => Action::No,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('q') | KeyCode::Char('Q') => Action::Quit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        let cases = [
            (key(KeyCode::Up), Some(Action::Up)),
            (key(KeyCode::Char('k')), Some(Action::Up)),
            (key(KeyCode::Down), Some(Action::Down)),
            (key(KeyCode::Char('j')), Some(Action::Down)),
            (key(KeyCode::Enter), Some(Action::ToggleDetail)),
            (key(KeyCode::Tab), Some(Action::ToggleDetail)),
            (key(KeyCode::Char('f')), Some(Action::SwitchList)),
            (key(KeyCode::PageUp), Some(Action::PageUp)),
            (key(KeyCode::PageDown), Some(Action::PageDown)),
            (key(KeyCode::Char('p')), Some(Action::Pause)),
            (key(KeyCode::Char('r')), Some(Action::Resume)),
            (key(KeyCode::Char('d')), Some(Action::Remove)),
            (KeyEvent::new(KeyCode::Char('D'), KeyModifiers::SHIFT), Some(Action::RemoveWithData)),
            (key(KeyCode::Char('y')), Some(Action::Yes)),
            (key(KeyCode::Char('n')), Some(Action::No)),
            (key(KeyCode::Char('q')), Some(Action::Quit)),
            (key(KeyCode::Esc), Some(Action::Back)),
            (KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Action::Quit)),
            (KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL), None),
            (key(KeyCode::Char('x')), None),
            (key(KeyCode::F(1)), None),
        ];
        for (k, want) in cases {
            assert_eq!(action(k), want, "{k:?}");
        }
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Char('p'));
        k.kind = KeyEventKind::Release;
        assert_eq!(action(k), None);
    }
}
