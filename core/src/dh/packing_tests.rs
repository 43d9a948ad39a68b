extern crate std;

use super::*;
use crate::dh::LEN_PK;

#[test]
fn pack_and_unpack() {
    let mut f = [0xeeu8; 8];
    pack(&[1, 2, 3], &mut f).unwrap();
    assert_eq!(f, [0, 0, 0, 0, 0, 1, 2, 3]);
    pack(&[], &mut f).unwrap();
    assert_eq!(f, [0; 8]);
    pack(&[0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2], &mut f).unwrap();
    assert_eq!(f, [9, 8, 7, 6, 5, 4, 3, 2]);
    assert_eq!(
        pack(&[0, 1, 9, 8, 7, 6, 5, 4, 3, 2], &mut f),
        Err(DhError::ValueTooWide)
    );

    assert_eq!(unpack(&[0, 0, 1, 2], 2), Ok(&[1u8, 2][..]));
    assert_eq!(unpack(&[0, 0, 1, 2], 4), Ok(&[0u8, 0, 1, 2][..]));
    assert_eq!(unpack(&[0, 3, 1, 2], 2), Err(DhError::ValueTooWide));
    assert_eq!(unpack(&[0, 0, 1, 2], 5), Err(DhError::BadLength));
    // A too-wide packed public value.
    let mut y_field = [0u8; LEN_PK];
    y_field[LEN_PK - 257] = 1;
    assert_eq!(unpack(&y_field, 256), Err(DhError::ValueTooWide));
    assert_eq!(unpack(&y_field, 257).map(<[u8]>::len), Ok(257));
}

#[test]
fn dh_message_errors() {
    let mut msg = [0u8; DH_MSG_LEN];
    assert_eq!(
        write_dh_message(Group::Ffdhe2048, &[2], &mut msg[..DH_MSG_LEN - 1]),
        Err(DhError::BufferTooSmall)
    );
    assert_eq!(
        write_dh_message(Group::Ffdhe2048, &[1u8; 257], &mut msg),
        Err(DhError::ValueTooWide)
    );
    for group in Group::ALL {
        write_dh_message(group, &[0, 0, 7], &mut msg).unwrap();
        let (g, y) = parse_dh_message(&msg).unwrap();
        assert_eq!(g, group);
        assert_eq!(y.len(), group.plen());
        assert_eq!(y[group.plen() - 1], 7);
        assert_eq!(parse_dh_message(&msg[1..]), Err(DhError::BadLength));
        let mut longer = [0u8; DH_MSG_LEN + 1];
        longer[1..].copy_from_slice(&msg);
        assert_eq!(parse_dh_message(&longer), Err(DhError::BadLength));
        // y wider than plen.
        let mut wide = msg;
        wide[DH_MSG_LEN - group.plen() - 1] = 1;
        assert_eq!(parse_dh_message(&wide), Err(DhError::ValueTooWide));
        // g = 5.
        let mut g5 = msg;
        g5[LEN_PRIME + LEN_GEN - 1] = 5;
        assert_eq!(parse_dh_message(&g5), Err(DhError::UnknownGroup));
        // One bit of p changed.
        let mut bad_p = msg;
        bad_p[LEN_PRIME - 100] ^= 0x10;
        assert_eq!(parse_dh_message(&bad_p), Err(DhError::UnknownGroup));
    }
    assert_eq!(parse_dh_message(&[]), Err(DhError::BadLength));
    assert_eq!(
        parse_dh_message(&[0u8; DH_MSG_LEN]),
        Err(DhError::UnknownGroup)
    );
}
