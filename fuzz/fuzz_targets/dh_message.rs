//! DH message parsing and unpacking: `parse_dh_message`, `unpack`, `pack` and
//! `check_public` on arbitrary bytes. A message that parses is written back
//! byte for byte, and an accepted public value goes through the shared-value
//! computation.
#![no_main]

use std::sync::OnceLock;

use dhchat_core::dh::{
    check_public, pack, parse_dh_message, unpack, write_dh_message, DhError, PrivateKey,
    SharedValue, DH_MSG_LEN,
};
use dhchat_core::group::Group;
use dhchat_fuzz::ReplayRng;
use libfuzzer_sys::fuzz_target;

fn key(group: Group) -> &'static PrivateKey {
    static KEYS: OnceLock<[PrivateKey; 3]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Group::ALL.map(|g| PrivateKey::generate(g, &mut ReplayRng::new(&[&[0x5a; 48]])))
    });
    keys.iter()
        .find(|k| k.group() == group)
        .expect("a key for every group")
}

fuzz_target!(|data: &[u8]| {
    if let Ok((group, y)) = parse_dh_message(data) {
        assert_eq!(y.len(), group.plen());
        let mut again = vec![0u8; DH_MSG_LEN];
        write_dh_message(group, y, &mut again).expect("a parsed y fits its group");
        assert_eq!(&again[..], data);
        if check_public(group, y).is_ok() {
            let mut z = SharedValue::default();
            match key(group).shared_value(y, &mut z) {
                Ok(()) => assert_eq!(z.as_bytes().len(), group.plen()),
                Err(e) => assert_eq!(e, DhError::SharedValueIsOne),
            }
        }
    }
    // A field of any width: what unpacks packs back to the same field.
    if let Some((&n, field)) = data.split_first() {
        if let Ok(value) = unpack(field, usize::from(n)) {
            let mut packed = vec![0xa5; field.len()];
            pack(value, &mut packed).expect("an unpacked value fits its field");
            assert_eq!(&packed[..], field);
        }
    }
    for group in Group::ALL {
        if check_public(group, data).is_ok() {
            let significant = data.iter().skip_while(|&&b| b == 0).count();
            assert!(significant <= group.plen());
        }
    }
});
