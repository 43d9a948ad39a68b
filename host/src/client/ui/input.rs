//! The input line: a small line editor with history.
//!
//! Keys: characters insert; Left/Right, Home/End (Ctrl-A/Ctrl-E) move;
//! Backspace/Delete delete; Ctrl-U deletes to the start, Ctrl-K to the end,
//! Ctrl-W the word before the cursor; Up/Down walk the history (the line
//! being typed is kept); Enter submits.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Most lines kept in the history.
const HISTORY_MAX: usize = 500;

/// The line editor.
#[derive(Debug, Clone, Default)]
pub struct LineEditor {
    text: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while walking the history (`None`: editing a new line).
    walk: Option<usize>,
    /// The new line being typed, kept while walking the history.
    draft: Vec<char>,
}

impl LineEditor {
    /// An empty editor.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text.
    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Whether the line is empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn set(&mut self, text: Vec<char>) {
        self.cursor = text.len();
        self.text = text;
    }

    /// Handles a key; returns the submitted line on Enter (a non-empty line
    /// also goes into the history).
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<String> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => {
                let line = self.text();
                if !line.trim().is_empty() && self.history.last() != Some(&line) {
                    self.history.push(line.clone());
                    if self.history.len() > HISTORY_MAX {
                        self.history.remove(0);
                    }
                }
                self.walk = None;
                self.draft.clear();
                self.set(Vec::new());
                return Some(line);
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.text.len(),
            KeyCode::Char('u') if ctrl => {
                self.text.drain(..self.cursor);
                self.cursor = 0;
            }
            KeyCode::Char('k') if ctrl => self.text.truncate(self.cursor),
            KeyCode::Char('w') if ctrl => {
                let mut start = self.cursor;
                while start > 0 && self.text[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !self.text[start - 1].is_whitespace() {
                    start -= 1;
                }
                self.text.drain(start..self.cursor);
                self.cursor = start;
            }
            KeyCode::Char(_) if ctrl => {}
            KeyCode::Char(c) => {
                self.text.insert(self.cursor, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(self.cursor);
            }
            KeyCode::Delete if self.cursor < self.text.len() => {
                self.text.remove(self.cursor);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.text.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.text.len(),
            KeyCode::Up => {
                let next = match self.walk {
                    None if self.history.is_empty() => return None,
                    None => {
                        self.draft = self.text.clone();
                        self.history.len() - 1
                    }
                    Some(0) => 0,
                    Some(i) => i - 1,
                };
                self.walk = Some(next);
                self.set(self.history[next].chars().collect());
            }
            KeyCode::Down => match self.walk {
                None => {}
                Some(i) if i + 1 < self.history.len() => {
                    self.walk = Some(i + 1);
                    self.set(self.history[i + 1].chars().collect());
                }
                Some(_) => {
                    self.walk = None;
                    let draft = std::mem::take(&mut self.draft);
                    self.set(draft);
                }
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(e: &mut LineEditor, s: &str) {
        for c in s.chars() {
            assert_eq!(e.handle_key(key(KeyCode::Char(c))), None);
        }
    }

    #[test]
    fn input_line_inserts_moves_and_deletes_at_the_cursor() {
        let mut e = LineEditor::new();
        typed(&mut e, "helo");
        e.handle_key(key(KeyCode::Left));
        typed(&mut e, "l");
        assert_eq!((e.text().as_str(), e.cursor()), ("hello", 4));
        e.handle_key(key(KeyCode::Home));
        e.handle_key(key(KeyCode::Delete));
        assert_eq!(e.text(), "ello");
        e.handle_key(key(KeyCode::End));
        e.handle_key(key(KeyCode::Backspace));
        assert_eq!(e.text(), "ell");
        typed(&mut e, " wörld");
        e.handle_key(ctrl('w'));
        assert_eq!(e.text(), "ell ");
        e.handle_key(ctrl('a'));
        e.handle_key(key(KeyCode::Right));
        e.handle_key(ctrl('k'));
        assert_eq!(e.text(), "e");
        e.handle_key(ctrl('e'));
        typed(&mut e, "xyz");
        e.handle_key(key(KeyCode::Left));
        e.handle_key(ctrl('u'));
        assert_eq!((e.text().as_str(), e.cursor()), ("z", 0));
    }

    #[test]
    fn enter_submits_and_clears_and_up_down_walk_the_history() {
        let mut e = LineEditor::new();
        typed(&mut e, "one");
        assert_eq!(e.handle_key(key(KeyCode::Enter)).as_deref(), Some("one"));
        assert!(e.is_empty());
        typed(&mut e, "two");
        e.handle_key(key(KeyCode::Enter));
        typed(&mut e, "dra");
        e.handle_key(key(KeyCode::Up));
        assert_eq!(e.text(), "two");
        e.handle_key(key(KeyCode::Up));
        assert_eq!(e.text(), "one");
        e.handle_key(key(KeyCode::Up));
        assert_eq!(e.text(), "one");
        e.handle_key(key(KeyCode::Down));
        assert_eq!(e.text(), "two");
        e.handle_key(key(KeyCode::Down));
        assert_eq!((e.text().as_str(), e.cursor()), ("dra", 3));
        // A recalled line can be edited and sent again.
        e.handle_key(key(KeyCode::Up));
        typed(&mut e, "!");
        assert_eq!(e.handle_key(key(KeyCode::Enter)).as_deref(), Some("two!"));
    }
}
