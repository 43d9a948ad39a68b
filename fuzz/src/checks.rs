//! What every target asserts about what it opened, besides "no panic".

use dhchat_core::record::MAX_RECORD;
use dhchat_core::reply::{is_answerable, Received};
use dhchat_core::session::Session;

use crate::stream::{next_read, next_record};
use crate::vectors::ReplayRng;

/// Checks one opened record against PROTOCOL.md section 6: a delivered
/// message encodes again; ERROR, PONG and CLOSE are never answered; a
/// non-fatal error of an answerable type is answered with its code. (The
/// caller seals the reply: it must fit one record.)
pub fn check_received(received: &Received<'_>) {
    match &received.message {
        Ok(msg) => {
            assert_eq!(msg.msg_type(), received.msg_type);
            let mut out = vec![0u8; MAX_RECORD];
            let n = msg.encode(&mut out).expect("a delivered message encodes");
            assert_eq!(n, msg.encoded_len());
        }
        Err(e) => {
            let reaction = e.reaction();
            if is_answerable(received.msg_type) {
                if let dhchat_core::Reaction::ErrorAndStay(code) = reaction {
                    assert!(
                        matches!(received.reply, Some(dhchat_core::Reply::Error { code: c, .. }) if c == code),
                        "{e:?} is not answered with ERROR {code}"
                    );
                }
            }
        }
    }
    if !is_answerable(received.msg_type) {
        assert!(received.reply.is_none(), "ERROR, PONG or CLOSE answered");
    }
}

/// Opens the records of `stream` one after the other, as a session reads
/// them, and checks each ([`check_received`]). After the first fatal error
/// nothing more may be delivered.
pub fn open_all(session: &mut Session, mut stream: &[u8]) {
    let mut failed = false;
    let mut rng = ReplayRng::new(&[]);
    while !stream.is_empty() {
        let (mut record, rest) = next_record(stream);
        stream = rest;
        match session.open(&mut record) {
            Ok(received) => {
                assert!(!failed, "a record was delivered after a failure");
                check_received(&received);
                if let Some(reply) = received.reply {
                    let mut out = vec![0u8; MAX_RECORD];
                    session
                        .seal_reply(&reply, &mut rng, &mut out)
                        .expect("a reply fits one record");
                }
            }
            Err(e) => {
                // Every error maps to a wire reaction.
                let _ = e.reaction();
                failed = true;
            }
        }
    }
}

/// Opens every read of `stream` ([`next_read`]) with `key`, as a legacy
/// peer does with each read. A text that opens has no trailing white space
/// and fits the read; a text that can be sealed opens again to itself;
/// every error is a reason to drop the peer.
pub fn legacy_open_all(key: &dhchat_core::legacy::LegacyKey, mut stream: &[u8]) {
    use dhchat_core::legacy::{self, LegacyError, IV_LEN, MAX_TEXT};
    while let Some((mut read, rest)) = next_read(stream) {
        stream = rest;
        let len = read.len();
        let iv: [u8; IV_LEN] = read
            .get(..IV_LEN)
            .and_then(|iv| iv.try_into().ok())
            .unwrap_or_default();
        match legacy::open(key, &mut read) {
            Ok(text) => {
                assert!(text.len() + IV_LEN <= len);
                assert_eq!(text, text.trim_end());
                if text.len() <= MAX_TEXT {
                    let text = text.to_string();
                    let mut sealed = vec![0u8; legacy::MAX_READ];
                    let n =
                        legacy::seal(key, &iv, &text, &mut sealed).expect("a read's text seals");
                    let again = legacy::open(key, &mut sealed[..n]).expect("a sealed text opens");
                    assert_eq!(again, text);
                }
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        LegacyError::ReadTooLong
                            | LegacyError::ReadMisaligned
                            | LegacyError::ReadTooShort
                            | LegacyError::NotUtf8
                    ),
                    "{e:?} from opening a read"
                );
                assert_eq!(e.reaction(), dhchat_core::Reaction::CloseSilently);
            }
        }
    }
}
