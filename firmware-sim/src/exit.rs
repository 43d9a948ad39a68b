//! Exit codes of the firmware: the QEMU process exits with one of these
//! (through semihosting), after one line of diagnosis on its stdout that
//! starts with `dhchat-fw: `.
//!
//! | code | name            | meaning |
//! |-----:|-----------------|---------|
//! | 0    | `OK`            | handshake, sends and every expected message received; CLOSE sent |
//! | 1    | (QEMU itself)   | QEMU failed (e.g. could not connect `-serial tcp:...`); never sent by the firmware |
//! | 2    | `CONFIG`        | configuration missing or invalid (file not found, bad key, bad line) |
//! | 3    | `PIN_MISMATCH`  | the server's identity key is not the pinned one |
//! | 4    | `RECORD_AUTH`   | a record from the server failed authentication (tag mismatch: tampering, replay, reordering, or a man in the middle) |
//! | 5    | `TIMEOUT`       | the handshake or the expected messages did not complete in time |
//! | 6    | `REFUSED`       | the server refused: ERROR instead of WELCOME, or ERROR in answer to JOIN/SAY |
//! | 7    | `CLOSED`        | the server sent CLOSE (or the stream ended) before every expected message came |
//! | 8    | `PROTOCOL`      | any other protocol failure (bad MAGIC, group too small, bad server signature, other record failure, ...) |
//! | 9    | `ENTROPY`       | no seed could be read from the host |
//! | 10   | `UART`          | UART receive error (overrun, framing, parity, break) |
//! | 11   | `PANIC`         | a panic or a hard fault in the firmware |

use crate::semi;

/// A documented exit code (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// Configuration missing or invalid.
    Config = 2,
    /// Server key differs from the pinned one.
    PinMismatch = 3,
    /// Record authentication failure.
    RecordAuth = 4,
    /// Timeout.
    Timeout = 5,
    /// Server refusal.
    Refused = 6,
    /// Server closed the session early.
    Closed = 7,
    /// Other protocol failure.
    Protocol = 8,
    /// No entropy.
    Entropy = 9,
    /// UART error.
    Uart = 10,
    /// Panic or hard fault.
    Panic = 11,
}

impl Code {
    /// The short name printed in the diagnosis line.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::Config => "config",
            Code::PinMismatch => "pin-mismatch",
            Code::RecordAuth => "record-auth",
            Code::Timeout => "timeout",
            Code::Refused => "refused",
            Code::Closed => "closed",
            Code::Protocol => "protocol",
            Code::Entropy => "entropy",
            Code::Uart => "uart",
            Code::Panic => "panic",
        }
    }
}

/// Prints `dhchat-fw: <name> (exit <code>): <detail>` and exits with `code`.
pub fn fail(code: Code, detail: core::fmt::Arguments<'_>) -> ! {
    semi::print_line(format_args!(
        "dhchat-fw: {} (exit {}): {}",
        code.name(),
        code as u8,
        detail
    ));
    semi::exit(code as u8)
}

/// A panic (never expected: no peer input reaches one) ends the run with code 11.
///
/// The message and source location are printed only with the `panic-info`
/// feature: printing them links every panic site's file path and the
/// formatting behind the messages (about 2 KiB of flash). Without it the
/// arguments are unused and the linker drops them; rebuild with
/// `--features panic-info` to see where a panic comes from.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(feature = "panic-info")]
    fail(Code::Panic, format_args!("{info}"));
    #[cfg(not(feature = "panic-info"))]
    {
        let _ = info;
        fail(
            Code::Panic,
            format_args!("panic (build with --features panic-info for its message)"),
        )
    }
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    fail(Code::Panic, format_args!("hard fault"))
}
