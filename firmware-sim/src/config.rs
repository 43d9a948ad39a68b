//! The run-time configuration: a text file read over semihosting, so one
//! firmware image serves every run without rebuilding.
//!
//! Which file: the first word of `-append` on QEMU's command line (QEMU
//! hands `<kernel path> <-append words>` to the firmware as the semihosting
//! command line), else `dhchat-fw.conf` in QEMU's working directory.
//!
//! Format: one `key value` per line (the value is the rest of the line,
//! spaces included); empty lines and lines starting with `;` are ignored.
//!
//! ```text
//! pin ed25519:<43 base64 characters>   required: the server key to pin
//! nick device1                         default "device"
//! room #lobby                          default "#lobby" (JOINed if another room; `@nick`: direct messages)
//! send hello from the device           0-8 lines, sent as SAY to the room in order
//! expect hello device                  0-8 texts, each must arrive as a live MESSAGE
//! timeout_ms 30000                     wait for the expected texts (default 30000)
//! handshake_timeout_ms 120000          handshake deadline (default 120000)
//! min_group_bits 2048                  smallest DH group accepted (default 2048)
//! identity ed25519-seed:<64 hex digits> the device's identity key (default: none, anonymous)
//! ```
//!
//! `identity` is the secret seed of the device's Ed25519 identity key, in the
//! same form as the one line of a `dhchat-client keygen` key file. With it
//! the device proves its key in CLIENT_HELLO and owns its nick as an account
//! (PROTOCOL.md section 5.1). [`read`] takes it out of the file's text before
//! anything else sees that text: the line is overwritten in the buffer, the
//! seed is decoded into a buffer wiped on drop, and only the
//! [`IdentityKey`] (zeroized on drop, `Debug` shows only its public half)
//! leaves this module. The seed is never printed.

use core::str::FromStr;

use dhchat_core::identity::{IdentityKey, PublicKey};
use zeroize::Zeroizing;

/// Most `send` or `expect` lines.
pub const MAX_LINES: usize = 8;
/// The default configuration file.
pub const DEFAULT_PATH: &str = "dhchat-fw.conf";
/// The key of the identity line (with its separating space).
const IDENTITY_KEY: &[u8] = b"identity ";
/// The prefix of the identity seed, as in a host key file.
const SEED_PREFIX: &[u8] = b"ed25519-seed:";

/// A parsed configuration borrowing the file's text.
#[derive(Debug)]
pub struct Config<'a> {
    /// The pinned server key.
    pub pin: PublicKey,
    /// The nick asked for.
    pub nick: &'a str,
    /// The room to talk in.
    pub room: &'a str,
    /// Lines to send.
    pub send: [&'a str; MAX_LINES],
    /// How many of `send` are used.
    pub n_send: usize,
    /// Texts to wait for.
    pub expect: [&'a str; MAX_LINES],
    /// How many of `expect` are used.
    pub n_expect: usize,
    /// Deadline for the expected texts, from the end of the handshake.
    pub timeout_ms: u32,
    /// Deadline for the handshake.
    pub handshake_timeout_ms: u32,
    /// Smallest group accepted.
    pub min_group_bits: u32,
}

/// [`Config`] before the pin is known.
struct Parsed<'a> {
    nick: &'a str,
    room: &'a str,
    send: [&'a str; MAX_LINES],
    n_send: usize,
    expect: [&'a str; MAX_LINES],
    n_expect: usize,
    timeout_ms: u32,
    handshake_timeout_ms: u32,
    min_group_bits: u32,
}

/// Parses the configuration text.
///
/// # Errors
/// A short description of the first problem.
pub fn parse(text: &str) -> Result<Config<'_>, &'static str> {
    let mut pin = None;
    let mut c = Parsed {
        nick: "device",
        room: "#lobby",
        send: [""; MAX_LINES],
        n_send: 0,
        expect: [""; MAX_LINES],
        n_expect: 0,
        timeout_ms: 30_000,
        handshake_timeout_ms: 120_000,
        min_group_bits: 2048,
    };
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_ascii().is_empty() || line.starts_with(';') {
            continue;
        }
        let (key, value) = line.split_once(' ').ok_or("a line without a value")?;
        match key {
            "pin" => {
                pin = Some(
                    PublicKey::from_str(value.trim_ascii())
                        .map_err(|_| "pin is not a valid ed25519:... key")?,
                )
            }
            "nick" => c.nick = value.trim_ascii(),
            "room" => c.room = value.trim_ascii(),
            "send" => {
                *c.send.get_mut(c.n_send).ok_or("more than 8 send lines")? = value;
                c.n_send += 1;
            }
            "expect" => {
                *c.expect
                    .get_mut(c.n_expect)
                    .ok_or("more than 8 expect lines")? = value;
                c.n_expect += 1;
            }
            "timeout_ms" => {
                c.timeout_ms = value.trim_ascii().parse().map_err(|_| "bad timeout_ms")?
            }
            "handshake_timeout_ms" => {
                c.handshake_timeout_ms = value
                    .trim_ascii()
                    .parse()
                    .map_err(|_| "bad handshake_timeout_ms")?
            }
            "identity" => return Err("identity line not taken out first (see config::read)"),
            "min_group_bits" => {
                c.min_group_bits = value
                    .trim_ascii()
                    .parse()
                    .map_err(|_| "bad min_group_bits")?
            }
            _ => return Err("unknown key"),
        }
    }
    Ok(Config {
        pin: pin.ok_or("no pin line: the server key to pin is required")?,
        nick: c.nick,
        room: c.room,
        send: c.send,
        n_send: c.n_send,
        expect: c.expect,
        n_expect: c.n_expect,
        timeout_ms: c.timeout_ms,
        handshake_timeout_ms: c.handshake_timeout_ms,
        min_group_bits: c.min_group_bits,
    })
}

/// The configuration file's text and path, and the identity key taken out
/// of it.
pub struct ConfigFile<'b> {
    /// The text, the identity line blanked out (see [`take_identity`]).
    pub text: &'b str,
    /// The file's path.
    pub path: &'b str,
    /// The device's identity key, if the file has an `identity` line.
    pub identity: Option<IdentityKey>,
}

/// Reads the configuration file named on the command line (or the default)
/// into `buf` and returns its text, path and identity key.
///
/// # Errors
/// A short description of the problem (never containing the seed).
pub fn read<'b>(
    cmdline_buf: &'b mut [u8],
    buf: &'b mut [u8],
) -> Result<ConfigFile<'b>, &'static str> {
    let cmd = crate::semi::cmdline(cmdline_buf).unwrap_or("");
    let path = cmd
        .split(' ')
        .filter(|w| !w.is_empty())
        .nth(1)
        .unwrap_or(DEFAULT_PATH);
    let mut f = crate::semi::HostFile::open(path).ok_or("cannot open the configuration file")?;
    let n = f.read(buf).ok_or("cannot read the configuration file")?;
    if n == buf.len() {
        wipe(buf);
        return Err("configuration file too long");
    }
    let identity = take_identity(&mut buf[..n])?;
    let text = core::str::from_utf8(&buf[..n]).map_err(|_| "configuration file is not UTF-8")?;
    Ok(ConfigFile {
        text,
        path,
        identity,
    })
}

/// Overwrites `buf` with zeros in a way the optimizer keeps.
fn wipe(buf: &mut [u8]) {
    use zeroize::Zeroize;
    buf.zeroize();
}

/// Takes the `identity` line out of the configuration bytes: decodes its
/// seed into an [`IdentityKey`] and overwrites the whole line (the seed's
/// text included) with `;`, a comment, whether or not it is valid. Other
/// lines are left as they are.
///
/// # Errors
/// A second `identity` line, or a value that is not `ed25519-seed:` and 64
/// hex digits (the message never contains the value).
pub fn take_identity(buf: &mut [u8]) -> Result<Option<IdentityKey>, &'static str> {
    let mut found: Option<Result<IdentityKey, &'static str>> = None;
    let mut twice = false;
    for line in buf.split_mut(|&b| b == b'\n') {
        if !line.starts_with(IDENTITY_KEY) {
            continue;
        }
        let parsed = line
            .get(IDENTITY_KEY.len()..)
            .map_or(Err(BAD_SEED), parse_seed);
        twice |= found.is_some();
        found = Some(parsed);
        line.fill(b';');
    }
    if twice {
        return Err("more than one identity line");
    }
    found.transpose()
}

const BAD_SEED: &str = "identity is not ed25519-seed: and 64 hex digits";

/// Decodes `ed25519-seed:<64 hex digits>` (surrounding white space allowed)
/// without branching on the digits' values.
fn parse_seed(value: &[u8]) -> Result<IdentityKey, &'static str> {
    let value = value.trim_ascii();
    let hex = value.strip_prefix(SEED_PREFIX).ok_or(BAD_SEED)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    if hex.len() != 2 * seed.len() {
        return Err(BAD_SEED);
    }
    let mut bad = 0u8;
    for (out, pair) in seed.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, hi_bad) = nibble(pair[0]);
        let (lo, lo_bad) = nibble(pair[1]);
        *out = (hi << 4) | lo;
        bad |= hi_bad | lo_bad;
    }
    if bad != 0 {
        return Err(BAD_SEED);
    }
    IdentityKey::from_seed(&seed).map_err(|_| BAD_SEED)
}

/// One hex digit's value and 0, or (0, 1) if `c` is not a hex digit; no
/// branch depends on `c`.
fn nibble(c: u8) -> (u8, u8) {
    // Masks are 0xff where `c` is in the range, else 0.
    let in_range = |lo: u8, hi: u8| -> u8 {
        let ge = ((c as i16 - lo as i16) >> 8) as u8 ^ 0xff; // 0xff if c >= lo
        let le = ((hi as i16 - c as i16) >> 8) as u8 ^ 0xff; // 0xff if c <= hi
        ge & le
    };
    let digit = in_range(b'0', b'9');
    let lower = in_range(b'a', b'f');
    let upper = in_range(b'A', b'F');
    let v = (digit & c.wrapping_sub(b'0'))
        | (lower & c.wrapping_sub(b'a' - 10))
        | (upper & c.wrapping_sub(b'A' - 10));
    (v & 0x0f, !(digit | lower | upper) & 1)
}
