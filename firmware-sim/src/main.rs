//! dhchat firmware for QEMU's lm3s6965evb: one chat session over UART0.
//!
//! It reads its configuration over semihosting ([`fw::config`]), seeds its
//! CSPRNG from the host ([`fw::seed`]), runs the client handshake of
//! `dhchat-core` over the PL011 UART (verifying the pinned server key, and
//! proving its own identity key if the configuration has an identity seed,
//! which makes its nick an account),
//! JOINs the room (unless `#lobby`), sends its lines as SAY, waits for the
//! expected texts, sends CLOSE, and exits through semihosting.
//!
//! Exit codes (also in `fw::exit` and README.md):
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0  | success |
//! | 1  | QEMU itself failed (never the firmware) |
//! | 2  | configuration missing or invalid |
//! | 3  | pin mismatch: the server's key is not the pinned one |
//! | 4  | record authentication failure (tampering, replay, man in the middle) |
//! | 5  | timeout (handshake or expected messages) |
//! | 6  | server refusal (ERROR instead of WELCOME, or in answer to JOIN/SAY) |
//! | 7  | server closed the session before the expected messages came |
//! | 8  | other protocol failure |
//! | 9  | no entropy for the seed |
//! | 10 | UART error |
//! | 11 | panic or hard fault |
//!
//! Before exiting it prints one line, `dhchat-fw: <name> (exit <code>): ...`;
//! on success that line also reports the stack's high-water mark.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use dhchat_core::dh::DhError;
use dhchat_core::driver::{blocking, Buffers, DriverError};
use dhchat_core::error::{Error, RecordError};
use dhchat_core::handshake::ClientConfig;
use dhchat_core::identity::KeyText;
use dhchat_core::message::Message;
// A peer's text in the diagnosis line: control and invisible characters
// escaped, as the host client shows them (and already linked for the core's
// error messages).
use dhchat_core::names::Escaped;
use fw::exit::{fail, Code};
use fw::uart::{Uart0, UartError};
use fw::{clock, config, seed, stack};

/// The exit code for a driver error.
fn classify(e: &DriverError<UartError>) -> Code {
    match e {
        DriverError::Io(UartError::Timeout) => Code::Timeout,
        DriverError::Io(_) => Code::Uart,
        DriverError::Protocol(p) => match p {
            Error::Trust(_) => Code::PinMismatch,
            Error::Record(RecordError::BadTag) => Code::RecordAuth,
            Error::RefusedByServer { .. } => Code::Refused,
            Error::PeerClosed | Error::ConnectionLost => Code::Closed,
            _ => Code::Protocol,
        },
    }
}

fn fail_with(what: &str, e: &DriverError<UartError>) -> ! {
    // The server's group is not one this image was built with (its cargo
    // features; ffdhe2048 alone by default, dhchat-server's default is
    // ffdhe3072): say how to fix it.
    let hint = match e.protocol() {
        Some(Error::Dh(DhError::UnknownGroup)) => {
            "; build the firmware with the server's group (--features ffdhe3072 or ffdhe4096) \
             or run the server with --group ffdhe2048"
        }
        _ => "",
    };
    fail(classify(e), format_args!("{what}: {e}{hint}"))
}

#[entry]
fn main() -> ! {
    stack::paint();
    let cp = cortex_m::Peripherals::take()
        .unwrap_or_else(|| fail(Code::Panic, format_args!("peripherals taken")));
    clock::start(cp.SYST);

    let cmdline: &'static mut [u8; 512] = cortex_m::singleton!(: [u8; 512] = [0; 512])
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));
    let file: &'static mut [u8; 2048] = cortex_m::singleton!(: [u8; 2048] = [0; 2048])
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));
    let config::ConfigFile {
        text,
        path,
        identity,
    } = config::read(cmdline, file).unwrap_or_else(|e| fail(Code::Config, format_args!("{e}")));
    let cfg =
        config::parse(text).unwrap_or_else(|e| fail(Code::Config, format_args!("{path}: {e}")));

    let mut rng = seed::rng().unwrap_or_else(|| {
        fail(
            Code::Entropy,
            format_args!("no seed from the host's /dev/urandom"),
        )
    });
    // SAFETY: the only UART0.
    let mut uart = unsafe { Uart0::take() };
    let bufs: &'static mut Buffers = cortex_m::singleton!(: Buffers = Buffers::new())
        .unwrap_or_else(|| fail(Code::Panic, format_args!("singleton")));

    let mut client = ClientConfig::new(cfg.nick);
    client.min_group_bits = cfg.min_group_bits;
    client.identity = identity.as_ref();
    let mut pin = cfg.pin;
    clock::set_timeout_ms(cfg.handshake_timeout_ms);
    let started = clock::ticks();
    let mut conn = blocking::connect(&mut uart, &client, &mut pin, &mut rng, bufs)
        .unwrap_or_else(|e| fail_with("handshake", &e));
    let handshake_ms = clock::millis_since(started);
    let nick_buf = &mut [0u8; 32];
    let nick = {
        let n = conn.welcome().map(|w| w.nick).unwrap_or(cfg.nick);
        let len = n.len().min(32);
        nick_buf[..len].copy_from_slice(&n.as_bytes()[..len]);
        core::str::from_utf8(&nick_buf[..len]).unwrap_or("?")
    };
    let group = conn.info().group.name();

    clock::set_timeout_ms(cfg.timeout_ms);
    // Every client starts in #lobby; `@nick` is a direct message, not a room.
    if !cfg.room.eq_ignore_ascii_case("#lobby") && !cfg.room.starts_with('@') {
        conn.send(&Message::Join { room: cfg.room })
            .unwrap_or_else(|e| fail_with("JOIN", &e));
    }
    for text in &cfg.send[..cfg.n_send] {
        conn.send(&Message::Say {
            room: cfg.room,
            text,
        })
        .unwrap_or_else(|e| fail_with("SAY", &e));
    }
    let mut got = [false; config::MAX_LINES];
    let mut missing = cfg.n_expect;
    while missing > 0 {
        match conn.recv() {
            Ok(Message::Message(m)) if !m.history => {
                for (i, want) in cfg.expect[..cfg.n_expect].iter().enumerate() {
                    if !got[i] && m.text == *want {
                        got[i] = true;
                        missing -= 1;
                        break;
                    }
                }
            }
            Ok(Message::Error { code, text }) => fail(
                Code::Refused,
                format_args!("server sent ERROR {code}: {}", Escaped(text)),
            ),
            Ok(Message::Close { reason }) => fail(
                Code::Closed,
                format_args!(
                    "server sent CLOSE ({}) with {missing} expected message(s) missing",
                    Escaped(reason)
                ),
            ),
            Ok(_) => {}
            Err(e) if !e.is_fatal() => {}
            Err(DriverError::Io(UartError::Timeout)) => fail(
                Code::Timeout,
                format_args!(
                    "{missing} of {} expected message(s) not received in {} ms",
                    cfg.n_expect, cfg.timeout_ms
                ),
            ),
            Err(e) => fail_with("receive", &e),
        }
    }
    conn.close("bye").unwrap_or_else(|e| fail_with("CLOSE", &e));
    // Only the public half is printed; the key is wiped before the exit.
    let account = identity.as_ref().map(|k| KeyText::new(&k.public_key()));
    drop(identity);
    fw::diag!(
        "dhchat-fw: ok (exit 0): {} as {nick} ({}) in {} on {group} with server {}: sent {}, received {} expected; handshake {handshake_ms} ms; stack peak {} of {} bytes",
        path,
        account.as_ref().map_or("anonymous", |k| k.as_str()),
        cfg.room,
        KeyText::new(&cfg.pin).as_str(),
        cfg.n_send,
        cfg.n_expect,
        stack::peak(),
        stack::size(),
    );
    fw::semi::exit(0)
}
