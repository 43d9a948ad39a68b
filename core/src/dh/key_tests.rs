extern crate std;

use super::*;
use crate::dh::test_support::{field, json, key_from, vector, ReplayRng};
use crate::dh::{
    pack, parse_dh_message, unpack, write_dh_message, DH_MSG_LEN, LEN_GEN, LEN_PK, LEN_PRIME,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::{format, vec};

fn check_handshake_vector(text: &str, group: Group) {
    let v = json(text);
    assert_eq!(v["group"].as_str().unwrap(), group.name());
    let server_hello = field(&v, "server_hello");
    let client_key = field(&v, "client_key");
    let shared = field(&v, "shared_Z");
    assert_eq!(server_hello.len(), 8 + DH_MSG_LEN);
    assert_eq!(client_key.len(), 8 + LEN_PK);

    let server = key_from(group, &field(&v, "server_x"));
    let client = key_from(group, &field(&v, "client_x"));
    assert_eq!(server.group(), group);

    // The server's public value and DH message.
    let mut y_s = [0u8; MAX_PLEN];
    let n = server.public_value(&mut y_s).unwrap();
    assert_eq!(n, group.plen());
    let y_s = &y_s[..n];
    let (parsed_group, parsed_y) = parse_dh_message(&server_hello[8..]).unwrap();
    assert_eq!(parsed_group, group);
    assert_eq!(parsed_y, y_s);
    let mut msg = [0u8; DH_MSG_LEN];
    assert_eq!(write_dh_message(group, y_s, &mut msg), Ok(DH_MSG_LEN));
    assert_eq!(&msg[..], &server_hello[8..]);

    // The client's public value.
    let mut y_c = [0u8; MAX_PLEN];
    let n = client.public_value(&mut y_c).unwrap();
    let y_c = &y_c[..n];
    let mut packed = [0u8; LEN_PK];
    pack(y_c, &mut packed).unwrap();
    assert_eq!(&packed[..], &client_key[8..]);
    assert_eq!(unpack(&client_key[8..], group.plen()).unwrap(), y_c);

    // Both shared values.
    let mut z_client = SharedValue::default();
    client.shared_value(parsed_y, &mut z_client).unwrap();
    assert_eq!(z_client.as_bytes(), &shared[..]);
    let mut z_server = SharedValue::default();
    server
        .shared_value(&client_key[8..], &mut z_server)
        .unwrap();
    assert_eq!(z_server.as_bytes(), &shared[..]);
    assert_eq!(z_server.as_bytes().len(), group.plen());
}

#[test]
fn handshake_vector_ffdhe2048() {
    check_handshake_vector(vector!("handshake-ffdhe2048.json"), Group::Ffdhe2048);
}

#[test]
fn handshake_vector_ffdhe3072() {
    check_handshake_vector(vector!("handshake-ffdhe3072.json"), Group::Ffdhe3072);
}

#[test]
fn edge_cases() {
    let v = json(vector!("dh-edge-cases.json"));
    let group = Group::from_name(v["group"].as_str().unwrap()).unwrap();
    let rejected = v["rejected_public_values"].as_array().unwrap();
    let accepted = v["accepted_public_values"].as_array().unwrap();
    assert!(!rejected.is_empty() && !accepted.is_empty());
    let key = PrivateKey::generate(group, &mut ChaCha20Rng::seed_from_u64(7));
    for case in rejected {
        let y = field(case, "y");
        let why = case["why"].as_str().unwrap();
        assert_eq!(
            check_public(group, &y),
            Err(DhError::PublicValueOutOfRange),
            "{why}"
        );
        let mut z = SharedValue::default();
        assert_eq!(
            key.shared_value(&y, &mut z),
            Err(DhError::PublicValueOutOfRange),
            "{why}"
        );
        assert!(z.as_bytes().is_empty());
        // As it would arrive in a DH message: too wide, or out of range.
        let mut msg = [0u8; DH_MSG_LEN];
        let mut wide = [0u8; LEN_PK];
        if pack(&y, &mut wide).is_ok() {
            msg[..LEN_PRIME + LEN_GEN].copy_from_slice(
                &{
                    let mut m = [0u8; DH_MSG_LEN];
                    write_dh_message(group, &[2], &mut m).unwrap();
                    m
                }[..LEN_PRIME + LEN_GEN],
            );
            msg[LEN_PRIME + LEN_GEN..].copy_from_slice(&wide);
            match parse_dh_message(&msg) {
                Ok((_, y)) => assert_eq!(
                    check_public(group, y),
                    Err(DhError::PublicValueOutOfRange),
                    "{why}"
                ),
                Err(e) => assert_eq!(e, DhError::ValueTooWide, "{why}"),
            }
        }
    }
    for case in accepted {
        let y = field(case, "y");
        let why = case["why"].as_str().unwrap();
        assert_eq!(check_public(group, &y), Ok(()), "{why}");
        // With leading zeros, as in a packed field.
        let mut packed = [0u8; LEN_PK];
        pack(&y, &mut packed).unwrap();
        assert_eq!(check_public(group, &packed), Ok(()), "{why}");
        let mut z = SharedValue::default();
        key.shared_value(&y, &mut z).unwrap();
        assert_eq!(z.as_bytes().len(), group.plen());
    }

    // pack_too_wide: a 17-byte value does not fit LEN_GEN (16).
    let wide = &v["pack_too_wide"];
    let n = usize::try_from(wide["value_bytes"].as_u64().unwrap()).unwrap();
    assert!(wide["field"].as_str().unwrap().starts_with("LEN_GEN"));
    let mut gen_field = [0xaau8; LEN_GEN];
    for value in [vec![0xffu8; n], {
        let mut one_then_zeros = vec![0u8; n];
        one_then_zeros[0] = 1;
        one_then_zeros
    }] {
        assert_eq!(pack(&value, &mut gen_field), Err(DhError::ValueTooWide));
        assert_eq!(gen_field, [0xaa; LEN_GEN], "field untouched on error");
    }
    // Leading zeros do not count.
    let mut value = vec![0u8; n];
    value[n - 1] = 2;
    pack(&value, &mut gen_field).unwrap();
    assert_eq!(gen_field[..15], [0; 15]);
    assert_eq!(gen_field[15], 2);
}

#[test]
fn check_public_bounds_all_groups() {
    for group in Group::ALL {
        let p = group.prime();
        let mut p_minus_2 = p.to_vec();
        *p_minus_2.last_mut().unwrap() -= 2;
        let mut p_minus_1 = p.to_vec();
        *p_minus_1.last_mut().unwrap() -= 1;
        assert_eq!(check_public(group, &p_minus_2), Ok(()));
        assert_eq!(check_public(group, &[0, 0, 2]), Ok(()));
        for bad in [&[][..], &[0], &[0, 1], &p_minus_1, p, &[0xff; 513]] {
            assert_eq!(
                check_public(group, bad),
                Err(DhError::PublicValueOutOfRange)
            );
        }
    }
    // A value just above the 2048-bit range is fine for 4096.
    let mut y = vec![1u8];
    y.extend_from_slice(&[0u8; 256]);
    assert!(check_public(Group::Ffdhe2048, &y).is_err());
    assert!(check_public(Group::Ffdhe4096, &y).is_ok());
}

#[test]
fn random_round_trip_each_group() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    for group in Group::ALL {
        let a = PrivateKey::generate(group, &mut rng);
        let b = PrivateKey::generate(group, &mut rng);
        let mut ya = [0u8; MAX_PLEN];
        let mut yb = [0u8; MAX_PLEN];
        let na = a.public_value(&mut ya).unwrap();
        let nb = b.public_value(&mut yb).unwrap();
        assert_eq!((na, nb), (group.plen(), group.plen()));
        check_public(group, &ya[..na]).unwrap();
        check_public(group, &yb[..nb]).unwrap();
        assert_ne!(ya[..na], yb[..nb]);
        // Through the wire format.
        let mut msg = [0u8; DH_MSG_LEN];
        write_dh_message(group, &ya[..na], &mut msg).unwrap();
        let (g, ya_received) = parse_dh_message(&msg).unwrap();
        assert_eq!(g, group);
        let mut za = SharedValue::default();
        let mut zb = SharedValue::default();
        a.shared_value(&yb[..nb], &mut za).unwrap();
        b.shared_value(ya_received, &mut zb).unwrap();
        assert_eq!(za.as_bytes(), zb.as_bytes());
        assert_eq!(za.as_bytes().len(), group.plen());
        assert!(za.as_bytes().iter().any(|&x| x > 1));
    }
}

#[test]
fn generate_redraws_below_two() {
    for group in Group::ALL {
        let n = xlen(group);
        let zero = vec![0u8; n];
        let mut one = vec![0u8; n];
        one[n - 1] = 1;
        let mut good = vec![0u8; n];
        good[n - 1] = 2;
        let mut rng = ReplayRng::new(&[&zero, &one, &good, &[0x77; 64]]);
        let key = PrivateKey::generate(group, &mut rng);
        assert_eq!(rng.requests, vec![n, n, n], "{group}");
        assert_eq!(key.exponent(), &good[..]);
        // x = 2: y = 4.
        let mut y = [0u8; MAX_PLEN];
        let len = key.public_value(&mut y).unwrap();
        assert!(y[..len - 1].iter().all(|&b| b == 0));
        assert_eq!(y[len - 1], 4);
        // A top-bit-only exponent (all xbits processed) gives g^(2^(xbits-1)).
        let mut top = vec![0u8; n];
        top[0] = 0x80;
        let k = key_from(group, &top);
        assert_eq!(k.exponent(), &top[..]);
    }
}

#[test]
fn output_buffers_and_debug() {
    let key = PrivateKey::generate(Group::Ffdhe3072, &mut ChaCha20Rng::seed_from_u64(1));
    let mut short = [0u8; 383];
    assert_eq!(key.public_value(&mut short), Err(DhError::BufferTooSmall));
    let mut long = [0xffu8; 600];
    assert_eq!(key.public_value(&mut long), Ok(384));
    assert!(long[384..].iter().all(|&b| b == 0xff));

    let text = format!("{key:?}");
    assert!(
        text.contains("redacted") && text.contains("Ffdhe3072"),
        "{text}"
    );
    assert!(!text.contains(&format!("{:?}", &key.x[..4])));
    let mut z = SharedValue::default();
    key.shared_value(&long[..384], &mut z).unwrap();
    let text = format!("{z:?}");
    assert!(text.contains("redacted") && text.contains("384"), "{text}");
    assert!(!format!("{}", DhError::UnknownGroup).is_empty());
}

#[test]
fn shared_value_one_is_refused() {
    // Not reachable with a valid y in these safe-prime groups (it needs q | x), so
    // check the refusal through an exponent of 0, which `generate` never yields.
    let mut key = key_from(Group::Ffdhe2048, &[0x11; 32]);
    key.exponent_mut().fill(0);
    let mut z = SharedValue::default();
    assert_eq!(
        key.shared_value(&[5], &mut z),
        Err(DhError::SharedValueIsOne)
    );
    assert!(z.as_bytes().is_empty());
    assert!(z.buf.iter().all(|&b| b == 0));
}
