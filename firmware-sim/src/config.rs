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
//! ```

use core::str::FromStr;

use dhchat_core::identity::PublicKey;

/// Most `send` or `expect` lines.
pub const MAX_LINES: usize = 8;
/// The default configuration file.
pub const DEFAULT_PATH: &str = "dhchat-fw.conf";

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
    pub timeout_ms: u64,
    /// Deadline for the handshake.
    pub handshake_timeout_ms: u64,
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
    timeout_ms: u64,
    handshake_timeout_ms: u64,
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
        if line.trim().is_empty() || line.starts_with(';') {
            continue;
        }
        let (key, value) = line.split_once(' ').ok_or("a line without a value")?;
        match key {
            "pin" => {
                pin = Some(
                    PublicKey::from_str(value.trim())
                        .map_err(|_| "pin is not a valid ed25519:... key")?,
                )
            }
            "nick" => c.nick = value.trim(),
            "room" => c.room = value.trim(),
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
            "timeout_ms" => c.timeout_ms = value.trim().parse().map_err(|_| "bad timeout_ms")?,
            "handshake_timeout_ms" => {
                c.handshake_timeout_ms = value
                    .trim()
                    .parse()
                    .map_err(|_| "bad handshake_timeout_ms")?
            }
            "min_group_bits" => {
                c.min_group_bits = value.trim().parse().map_err(|_| "bad min_group_bits")?
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

/// Reads the configuration file named on the command line (or the default)
/// into `buf` and returns its text and path.
///
/// # Errors
/// A short description of the problem.
pub fn read<'b>(
    cmdline_buf: &'b mut [u8],
    buf: &'b mut [u8],
) -> Result<(&'b str, &'b str), &'static str> {
    let cmd = crate::semi::cmdline(cmdline_buf).unwrap_or("");
    let path = cmd
        .split(' ')
        .filter(|w| !w.is_empty())
        .nth(1)
        .unwrap_or(DEFAULT_PATH);
    let mut f = crate::semi::HostFile::open(path).ok_or("cannot open the configuration file")?;
    let n = f.read(buf).ok_or("cannot read the configuration file")?;
    if n == buf.len() {
        return Err("configuration file too long");
    }
    let text = core::str::from_utf8(&buf[..n]).map_err(|_| "configuration file is not UTF-8")?;
    Ok((text, path))
}
