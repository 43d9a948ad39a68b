//! Footprint bench: SysTick tick counts for the client's DH key generation,
//! the shared-secret computation, and sealing and opening one 1 KiB record,
//! per group, plus a calibration loop of known instruction count and the
//! stack high-water mark. Run under `-icount shift=N` (see `footprint.sh`),
//! ticks convert exactly into instruction counts.
//!
//! It uses a fixed seed and a fixed server identity so the counts are
//! reproducible: this binary is a measurement, never a client.
//!
//! Output lines, all starting with `footprint: `:
//! `calib <insns> <ticks>`, `group <name> keygen <t> shared <t> seal1k <t> open1k <t>`,
//! `stack <peak bytes> <stack bytes>`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use dhchat_core::dh::{PrivateKey, SharedValue, MAX_PLEN};
use dhchat_core::group::Group;
use dhchat_core::handshake::{
    AdmitAll, ClientConfig, ClientHandshake, HelloOutcome, ServerHandshake,
};
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::{ChatMessage, Message};
use dhchat_core::record::MAX_RECORD;
use fw::exit::{fail, Code};
use fw::{clock, diag, stack};
use rand_core::SeedableRng;

const CALIB_LOOPS: u32 = 1_000_000;

fn calibrate() -> (u64, u64) {
    let t = clock::ticks();
    // SAFETY: a register-only countdown loop: 2 instructions per iteration.
    unsafe {
        core::arch::asm!("2:", "subs {0}, #1", "bne 2b", inout(reg) CALIB_LOOPS => _, options(nomem, nostack));
    }
    (2 * CALIB_LOOPS as u64, clock::ticks() - t)
}

fn bench(
    group: Group,
    rng: &mut chacha20::ChaCha20Rng,
    a: &mut [u8; MAX_RECORD],
    b: &mut [u8; MAX_RECORD],
    text: &str,
) -> Result<[u64; 4], dhchat_core::Error> {
    // Key generation: draw x, compute y = g^x mod p.
    let t = clock::ticks();
    let x = PrivateKey::generate(group, rng);
    let mut y = [0u8; MAX_PLEN];
    let plen = x.public_value(&mut y)?;
    let keygen = clock::ticks() - t;
    let peer = PrivateKey::generate(group, rng);
    let mut peer_y = [0u8; MAX_PLEN];
    peer.public_value(&mut peer_y)?;
    drop(peer);
    // Shared secret: z = y_peer^x mod p.
    let t = clock::ticks();
    let mut z = SharedValue::default();
    x.shared_value(&peer_y[..plen], &mut z)?;
    let shared = clock::ticks() - t;
    drop(x);

    // A session, through an in-memory handshake with a server.
    let identity =
        IdentityKey::from_seed(&[7; 32]).map_err(|_| dhchat_core::Error::BadServerSignature)?;
    let (server, _) = ServerHandshake::start(group, rng, &mut a[..])?;
    let client =
        ClientHandshake::new(2048).read_magic(&[a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]])?;
    let (client, n) = client.read_dh(&a[8..2072], rng, &mut b[..])?;
    let server = server.read_magic(&[b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])?;
    let (server, n2) = server.read_client_key(&b[8..n], &identity, rng, &mut a[..])?;
    let mut pin = identity.public_key();
    let (client, n) = client.read_server_auth(
        &mut a[..n2],
        &mut pin,
        &ClientConfig::new("bench"),
        rng,
        &mut b[..],
    )?;
    let admitted = match server.read_client_hello(&mut b[..n], &mut AdmitAll)? {
        HelloOutcome::Accepted(s, _) => s,
        HelloOutcome::Refused(..) => return Err(dhchat_core::Error::PeerClosed),
    };
    let (mut server, n) = admitted.welcome("bench", "", "", rng, &mut a[..])?;
    let (mut client, _) = client.read_welcome(&mut a[..n])?;

    // One 1 KiB record each way, client side.
    let t = clock::ticks();
    let n = client.seal(
        &Message::Say {
            room: "#lobby",
            text,
        },
        rng,
        &mut b[..],
    )?;
    let seal = clock::ticks() - t;
    server.open(&mut b[..n])?.message?;
    let msg = ChatMessage {
        time_ms: 0,
        history: false,
        legacy: false,
        account: false,
        from: "server",
        room: "#lobby",
        text,
    };
    let n = server.seal(&Message::Message(msg), rng, &mut a[..])?;
    let t = clock::ticks();
    client.open(&mut a[..n])?.message?;
    let open = clock::ticks() - t;
    Ok([keygen, shared, seal, open])
}

#[entry]
fn main() -> ! {
    stack::paint();
    let cp = cortex_m::Peripherals::take()
        .unwrap_or_else(|| fail(Code::Panic, format_args!("peripherals")));
    clock::start(cp.SYST);
    let (insns, ticks) = calibrate();
    diag!("footprint: calib {insns} {ticks}");
    let a = cortex_m::singleton!(: [u8; MAX_RECORD] = [0; MAX_RECORD])
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));
    let b = cortex_m::singleton!(: [u8; MAX_RECORD] = [0; MAX_RECORD])
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));
    let text_buf = cortex_m::singleton!(: [u8; 1024] = [b'x'; 1024])
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));
    let text = core::str::from_utf8(&text_buf[..]).unwrap_or("x");
    // Fixed seed: reproducible counts; this binary never talks to anyone.
    let mut rng = chacha20::ChaCha20Rng::from_seed([42; 32]);
    for group in Group::ALL {
        match bench(group, &mut rng, a, b, text) {
            Ok([k, s, se, op]) => diag!(
                "footprint: group {} keygen {k} shared {s} seal1k {se} open1k {op}",
                group.name()
            ),
            Err(e) => fail(Code::Protocol, format_args!("{}: {e}", group.name())),
        }
    }
    diag!("footprint: stack {} {}", stack::peak(), stack::size());
    fw::semi::exit(0)
}
