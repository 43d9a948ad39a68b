//! Every message decoder (`Message::decode` over all types), and the round
//! trip: a message that decodes encodes back to the same bytes.
#![no_main]

use dhchat_core::message::{sender_of, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    assert!(sender_of(msg.msg_type()).is_some());
    let mut out = vec![0u8; data.len() + 64];
    let n = msg
        .encode(&mut out)
        .unwrap_or_else(|e| panic!("{msg:?} decoded but does not encode: {e:?}"));
    assert_eq!(n, msg.encoded_len());
    assert_eq!(&out[..n], data, "{msg:?} does not encode to its own bytes");
});
