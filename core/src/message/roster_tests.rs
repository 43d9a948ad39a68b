//! Tests of ROSTER chunking.

extern crate std;

use super::test_support::*;
use super::*;
use proptest::prelude::*;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

#[test]
fn roster_splits_1000_long_nicks() {
    let owned: Vec<String> = (0..1000).map(|i| format!("{i:0>32}")).collect();
    let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert!(nicks.iter().all(|n| n.len() == 32));
    let room = format!("#{}", "r".repeat(31));
    let n = check_chunks(&room, &nicks);
    // (4096 - 36) / 33 = 123 nicks per full chunk.
    assert_eq!(n, 1000usize.div_ceil(123));
    let first = roster_chunks(&room, &nicks).next().expect("a chunk");
    let body = first.encoded_len() - 1;
    assert!(body <= MAX_BODY && body + 33 > MAX_BODY, "chunks are full");
}

#[test]
fn roster_of_no_nicks_is_one_empty_record() {
    let chunks: Vec<_> = roster_chunks("#lobby", &[]).collect();
    assert_eq!(
        chunks,
        [Message::Roster {
            room: "#lobby",
            more: false,
            nicks: Nicks::List(&[]),
        }]
    );
    assert_eq!(check_chunks("#lobby", &[]), 1);
}

#[test]
fn roster_split_at_exact_fit() {
    // Header: room "#a" (3) + flags (1) + count (2) = 6 bytes. 123 nicks of 32
    // bytes (123 x 33 = 4059) and one of 30 (31) fill the body to exactly 4096.
    let mut owned: Vec<String> = (0..123).map(|i| format!("{i:0>32}")).collect();
    owned.push("z".repeat(30));
    let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(check_chunks("#a", &nicks), 1);
    owned.push("q".to_string());
    let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(check_chunks("#a", &nicks), 2);
}

#[test]
fn roster_chunks_end_even_for_unfit_names() {
    let huge = "n".repeat(5000);
    let nicks = [huge.as_str(), "a", huge.as_str()];
    let chunks: Vec<_> = roster_chunks("#a", &nicks).collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(encode_vec(&chunks[0]), Err(MessageError::BodyTooLong));
    let room = "#".repeat(5000);
    assert_eq!(roster_chunks(&room, &["a", "b"]).count(), 2);
}

proptest! {
    #[test]
    fn roster_chunks_cover_any_list(r in room(), owned in proptest::collection::vec(nick(), 0..400)) {
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        check_chunks(&r, &nicks);
    }
}
