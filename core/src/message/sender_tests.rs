//! Tests of [`sender_of`].

use super::*;

#[test]
fn senders_follow_the_direction_column() {
    use msg_type::*;
    for t in [SERVER_AUTH, WELCOME, MESSAGE, ROSTER, NOTICE] {
        assert_eq!(sender_of(t), Some(Sender::Server));
    }
    for t in [CLIENT_HELLO, SAY, JOIN, PART, NICK, WHO] {
        assert_eq!(sender_of(t), Some(Sender::Client));
    }
    for t in [ERROR, PING, PONG, CLOSE] {
        assert_eq!(sender_of(t), Some(Sender::Both));
    }
    let known = (0..=255u8).filter(|&t| sender_of(t).is_some()).count();
    assert_eq!(known, 15);
}
