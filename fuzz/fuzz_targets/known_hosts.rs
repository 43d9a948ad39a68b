//! The known_hosts parser on arbitrary text; the entries it accepts, written
//! back one a line, parse to the same entries.
#![no_main]

use dhchat_core::identity::KeyText;
use dhchat_host::client::known_hosts::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = parse(text) else {
        return;
    };
    let written: String = entries
        .iter()
        .map(|e| format!("{} {}\n", e.host, KeyText::new(&e.key).as_str()))
        .collect();
    let again = parse(&written).expect("written entries parse");
    assert_eq!(again.len(), entries.len());
    for (a, b) in again.iter().zip(&entries) {
        assert_eq!((&a.host, a.key), (&b.host, b.key));
    }
});
