//! The authorized_keys parser on arbitrary text; what it accepts has at most
//! one key a line, and every listed key is found again.
#![no_main]

use dhchat_core::identity::PublicKey;
use dhchat_host::server::authorized_keys::KeyList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(list) = KeyList::parse(text) else {
        return;
    };
    assert!(list.len() <= text.lines().count());
    for line in text.lines() {
        if let Some(Ok(key)) = line.split_whitespace().next().map(str::parse::<PublicKey>) {
            if !line.trim_start().starts_with('#') {
                assert!(list.contains(&key), "{line:?} parsed but is not listed");
            }
        }
    }
});
