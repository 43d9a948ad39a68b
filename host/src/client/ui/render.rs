//! Drawing the screen: the message pane, a two-line status bar (server,
//! room, nick, rooms; server key and session fingerprint) and the input
//! line. All peer text goes through [`Escaped`] (control, bidirectional and
//! invisible characters shown as escapes, a peer's backslash doubled).

use dhchat_core::names::Escaped;
use ratatui::layout::{Constraint, Layout, Position};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use time::{OffsetDateTime, UtcOffset};

use super::app::{App, Entry};
use crate::client::session::Sender;

/// `HH:MM` of `time_ms` at `offset`.
pub fn hhmm(time_ms: u64, offset: UtcOffset) -> String {
    let nanos = i128::from(time_ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let t = t.to_offset(offset);
            format!("{:02}:{:02}", t.hour(), t.minute())
        }
        Err(_) => "--:--".to_string(),
    }
}

/// Shown before the nick of a sender whose nick is an account it proved
/// (MESSAGE flags bit 2).
pub const ACCOUNT_MARK: &str = "\u{2713}";

fn esc(s: &str) -> String {
    Escaped(s).to_string()
}

/// The spans of one entry, on one logical line.
pub fn entry_spans(e: &Entry, offset: UtcOffset) -> Vec<Span<'static>> {
    let dim = Style::new().add_modifier(Modifier::DIM);
    match e {
        Entry::Chat(m) => {
            let base = if m.history { dim } else { Style::new() };
            let mut spans = vec![Span::styled(
                format!("[{}] ", hhmm(m.time_ms, offset)),
                base.add_modifier(Modifier::DIM),
            )];
            if m.offline() {
                spans.push(Span::styled("[offline] ", Style::new().fg(Color::Magenta)));
            } else if m.history {
                spans.push(Span::styled("h ", dim));
            }
            if m.sender() == Sender::Legacy {
                spans.push(Span::styled(
                    "[unauthenticated] ",
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
            let room_color = if m.room.starts_with('@') {
                Color::Magenta
            } else {
                Color::Cyan
            };
            spans.push(Span::styled(
                format!("{} ", esc(&m.room)),
                base.fg(room_color),
            ));
            // An account's nick is marked; an anonymous one is plain.
            if m.sender() == Sender::Account {
                spans.push(Span::styled(
                    ACCOUNT_MARK,
                    Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
                ));
            }
            spans.push(Span::styled(
                format!("<{}> ", esc(&m.from)),
                base.add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(esc(&m.text), base));
            spans
        }
        Entry::Notice(t) => vec![Span::styled(
            format!("-!- {}", esc(t)),
            Style::new().fg(Color::Yellow),
        )],
        Entry::Error { code: 0, text } => {
            vec![Span::styled(
                format!("-!- {}", esc(text)),
                Style::new().fg(Color::Red),
            )]
        }
        Entry::Error { code, text } => vec![Span::styled(
            format!("-!- error {code}: {}", esc(text)),
            Style::new().fg(Color::Red),
        )],
        Entry::Info(t) => vec![Span::styled(
            format!("-- {}", esc(t)),
            Style::new().fg(Color::Green),
        )],
    }
}

fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Wraps spans into lines of at most `width` columns.
pub fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in spans {
        let style = span.style;
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), style));
                }
                lines.push(Line::from(std::mem::take(&mut current)));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, style));
        }
    }
    lines.push(Line::from(current));
    lines
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    // Status bar: server, room, nick, rooms; then the session fingerprint
    // and the server key, on one line if it fits, else on two.
    let area = f.area();
    let current = app.chat.current.as_deref().unwrap_or("(no room)");
    let mut status_lines = vec![format!(
        " {} | {} | {} | rooms: {}{}",
        app.server,
        current,
        app.chat.nick,
        app.chat.rooms.join(" "),
        if app.scroll > 0 {
            " | scrolled back (PgDn)"
        } else {
            ""
        }
    )];
    let fp = format!(" fingerprint {}", app.chat.fingerprint);
    let key = format!(" key {}", app.chat.server_key);
    if fp.len() + key.len() + 2 <= usize::from(area.width) {
        status_lines.push(format!("{fp} |{key}"));
    } else {
        status_lines.push(fp);
        status_lines.push(key);
    }
    let status_height = u16::try_from(status_lines.len()).unwrap_or(3);
    let [pane, status, input] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(status_height),
        Constraint::Length(1),
    ])
    .areas(area);

    // Message pane: the wrapped lines that end `scroll` lines above the bottom.
    let height = usize::from(pane.height);
    let want = height + app.scroll;
    let mut rows: Vec<Line<'static>> = Vec::new();
    for e in app.entries.iter().rev() {
        let mut wrapped = wrap(entry_spans(e, app.offset), usize::from(pane.width));
        wrapped.extend(rows);
        rows = wrapped;
        if rows.len() >= want {
            break;
        }
    }
    let end = rows.len().saturating_sub(
        app.scroll
            .min(rows.len().saturating_sub(height.min(rows.len()))),
    );
    let start = end.saturating_sub(height);
    let visible: Vec<Line<'static>> = rows.drain(start..end).collect();
    f.render_widget(Paragraph::new(visible), pane);

    let bar = Style::new().fg(Color::Black).bg(Color::Cyan);
    let status_text: Vec<Line<'static>> = status_lines.into_iter().map(Line::from).collect();
    f.render_widget(Paragraph::new(status_text).style(bar), status);

    // Input line, scrolled sideways so that the cursor stays visible.
    let prompt = format!("{}> ", current);
    let prompt_w = Span::raw(prompt.as_str()).width();
    let avail = usize::from(input.width).saturating_sub(prompt_w).max(1);
    let chars: Vec<char> = app.input.text().chars().collect();
    let cursor = app.input.cursor();
    let mut start = 0;
    let width_of = |s: &[char]| s.iter().map(|c| char_width(*c)).sum::<usize>();
    while width_of(&chars[start..cursor]) >= avail {
        start += 1;
    }
    let shown: String = chars[start..].iter().collect();
    let cursor_x = prompt_w + width_of(&chars[start..cursor]);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(prompt, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(shown),
        ])),
        input,
    );
    let x = input
        .x
        .saturating_add(u16::try_from(cursor_x).unwrap_or(u16::MAX))
        .min(input.right().saturating_sub(1));
    f.set_cursor_position(Position { x, y: input.y });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::session::{ChatLine, Event, WelcomeInfo};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn welcome() -> WelcomeInfo {
        WelcomeInfo {
            nick: "alice".into(),
            server_name: "test".into(),
            motd: String::new(),
            server_key: "ed25519:k6o3AIarmGyL+aPgKukvvmFj7ziEMeeoG+BLqSwChZ0".into(),
            fingerprint: "0011-2233-4455-6677-8899-aabb-ccdd-eeff".into(),
        }
    }

    fn msg(text: &str, history: bool, legacy: bool) -> Event {
        chat_line(text, history, legacy, false)
    }

    fn chat_line(text: &str, history: bool, legacy: bool, account: bool) -> Event {
        Event::Message(ChatLine {
            // 1970-01-01 12:34 UTC
            time_ms: (12 * 3600 + 34 * 60) * 1000,
            from: "bob".into(),
            room: "#lobby".into(),
            text: text.into(),
            history,
            legacy,
            account,
        })
    }

    fn screen(app: &App, w: u16, h: u16) -> (Vec<String>, Terminal<TestBackend>) {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        t.draw(|f| draw(f, app)).expect("draw");
        let buf = t.backend().buffer().clone();
        let rows = (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect();
        (rows, t)
    }

    #[test]
    fn status_bar_shows_server_room_nick_key_and_fingerprint() {
        let app = App::new("127.0.0.1:39481", &welcome(), UtcOffset::UTC);
        let (rows, _) = screen(&app, 120, 8);
        let status = format!("{}\n{}", rows[5], rows[6]);
        assert!(
            rows[6].contains("fingerprint 0011-") && rows[6].contains("| key ed25519:"),
            "{status}"
        );
        assert!(status.contains("127.0.0.1:39481"), "{status}");
        assert!(status.contains("#lobby"), "{status}");
        assert!(status.contains("alice"), "{status}");
        assert!(
            status.contains("ed25519:k6o3AIarmGyL+aPgKukvvmFj7ziEMeeoG+BLqSwChZ0"),
            "{status}"
        );
        assert!(
            status.contains("0011-2233-4455-6677-8899-aabb-ccdd-eeff"),
            "{status}"
        );
        assert!(rows[7].starts_with("#lobby> "), "{:?}", rows[7]);
        // On a narrow terminal the fingerprint and key get a line each.
        let (rows, _) = screen(&app, 80, 8);
        assert!(
            rows[4].contains("#lobby") && rows[4].contains("alice"),
            "{rows:?}"
        );
        assert!(
            rows[5].contains("fingerprint 0011-2233-4455-6677-8899-aabb-ccdd-eeff"),
            "{rows:?}"
        );
        assert!(
            rows[6].contains("key ed25519:k6o3AIarmGyL+aPgKukvvmFj7ziEMeeoG+BLqSwChZ0"),
            "{rows:?}"
        );
    }

    #[test]
    fn messages_render_with_time_room_nick_and_history_and_legacy_marks() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.apply(msg("old news", true, false));
        app.apply(msg("hello", false, false));
        app.apply(msg("from the past", false, true));
        let (rows, t) = screen(&app, 120, 8);
        let text = rows.join("\n");
        assert!(
            rows[1].starts_with("[12:34] h #lobby <bob> old news"),
            "{text}"
        );
        assert!(rows[2].starts_with("[12:34] #lobby <bob> hello"), "{text}");
        assert!(
            rows[3].starts_with("[12:34] [unauthenticated] #lobby <bob> from the past"),
            "{text}"
        );
        // History is dimmed.
        let cell = &t.backend().buffer()[(25, 1)];
        assert!(cell.modifier.contains(Modifier::DIM), "{cell:?}");
    }

    #[test]
    fn account_senders_are_marked_anonymous_ones_are_plain_and_offline_messages_say_so() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.apply(chat_line("owned", false, false, true));
        app.apply(chat_line("anyone", false, false, false));
        app.apply(Event::Message(ChatLine {
            time_ms: (12 * 3600 + 34 * 60) * 1000,
            from: "bob".into(),
            room: "@alice".into(),
            text: "while you were away".into(),
            history: true,
            legacy: false,
            account: true,
        }));
        let (rows, _) = screen(&app, 120, 8);
        let text = rows.join("\n");
        assert!(
            rows[1].starts_with(&format!("[12:34] #lobby {ACCOUNT_MARK}<bob> owned")),
            "{text}"
        );
        assert!(rows[2].starts_with("[12:34] #lobby <bob> anyone"), "{text}");
        assert!(
            rows[3].starts_with(&format!(
                "[12:34] [offline] @alice {ACCOUNT_MARK}<bob> while you were away"
            )),
            "{text}"
        );
    }

    #[test]
    fn control_characters_in_peer_text_are_shown_escaped() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.apply(Event::Notice("evil\u{1b}[2J\u{7}bell\u{9b}c".into()));
        app.apply(Event::Error {
            code: 6,
            text: "no\nsuch".into(),
        });
        let (rows, t) = screen(&app, 80, 8);
        let text = rows.join("\n");
        assert!(
            text.contains("-!- evil\\u{1b}[2J\\u{7}bell\\u{9b}c"),
            "{text}"
        );
        assert!(text.contains("-!- error 6: no\\u{a}such"), "{text}");
        let buf = t.backend().buffer();
        assert!(buf
            .content()
            .iter()
            .all(|c| !c.symbol().chars().any(char::is_control)));
    }

    #[test]
    fn bidirectional_and_invisible_characters_in_peer_text_are_shown_escaped() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.apply(msg("invoice\u{202e}fdp.exe", false, false));
        app.apply(msg("a\u{200b}b\u{feff}c\u{2067}d\u{2069}", false, false));
        app.apply(Event::Notice("x\u{2028}y\u{e0041}".into()));
        let (rows, t) = screen(&app, 80, 8);
        let text = rows.join("\n");
        assert!(text.contains("<bob> invoice\\u{202e}fdp.exe"), "{text}");
        assert!(
            text.contains("<bob> a\\u{200b}b\\u{feff}c\\u{2067}d\\u{2069}"),
            "{text}"
        );
        assert!(text.contains("-!- x\\u{2028}y\\u{e0041}"), "{text}");
        let buf = t.backend().buffer();
        assert!(buf
            .content()
            .iter()
            .all(|c| !c.symbol().chars().any(dhchat_core::names::is_escaped_char)));
    }

    #[test]
    fn a_backslash_sequence_typed_by_a_peer_is_shown_with_its_backslash_doubled() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        app.apply(msg("fake \\u{202e} and \\x1b", false, false));
        app.apply(msg("real \u{202e}", false, false));
        let (rows, _) = screen(&app, 80, 8);
        let text = rows.join("\n");
        assert!(
            text.contains("<bob> fake \\\\u{202e} and \\\\x1b"),
            "{text}"
        );
        assert!(text.contains("<bob> real \\u{202e}"), "{text}");
    }

    #[test]
    fn long_messages_wrap_and_the_pane_shows_the_newest_lines() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        for i in 0..20 {
            app.apply(msg(&format!("line {i}"), false, false));
        }
        app.apply(msg(&"x".repeat(50), false, false));
        let (rows, _) = screen(&app, 40, 8);
        // 4 pane rows (the status bar takes 3 on a narrow screen): the last one holds the tail of the wrapped message.
        assert!(rows[3].starts_with("xxxxxxxxxx"), "{rows:?}");
        assert!(rows[2].starts_with("[12:34] #lobby <bob> xxx"), "{rows:?}");
        assert!(
            rows[1].starts_with("[12:34] #lobby <bob> line 19"),
            "{rows:?}"
        );
        let mut app2 = app.clone();
        app2.scroll = 2;
        let (rows, _) = screen(&app2, 40, 8);
        assert!(
            rows[3].starts_with("[12:34] #lobby <bob> line 19"),
            "{rows:?}"
        );
    }

    #[test]
    fn typed_keys_appear_on_the_input_line_with_the_cursor() {
        let mut app = App::new("h:1", &welcome(), UtcOffset::UTC);
        for c in "hey".chars() {
            app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        app.on_key(KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
        let (rows, mut t) = screen(&app, 40, 6);
        assert!(rows[5].starts_with("#lobby> hey"), "{rows:?}");
        assert_eq!(
            t.get_cursor_position().expect("cursor"),
            Position { x: 10, y: 5 }
        );
    }
}
