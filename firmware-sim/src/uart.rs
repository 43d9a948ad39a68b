//! A polling driver for the PL011 UART0 of the LM3S6965 (registers at
//! `0x4000_C000`), implementing the `embedded-io` `Read + Write` traits that
//! the core's blocking driver takes.
//!
//! Reads wait for data until the deadline of [`crate::clock`] passes, then
//! fail with [`UartError::Timeout`]. QEMU's UART never drops bytes (it stops
//! reading its socket while the receive FIFO is full), so polling suffices
//! there; a real board at a high baud rate wants an interrupt-driven ring
//! buffer behind the same traits.

use core::fmt;
use core::ptr::{read_volatile, write_volatile};

use crate::clock;

const BASE: usize = 0x4000_C000;
const DR: usize = 0x000;
const RSR_ECR: usize = 0x004;
const FR: usize = 0x018;
const IBRD: usize = 0x024;
const FBRD: usize = 0x028;
const LCRH: usize = 0x02C;
const CR: usize = 0x030;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
const DR_ERRORS: u32 = 0xF00;

/// A UART receive failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// Overrun: a byte was lost.
    Overrun,
    /// Framing, parity or break error.
    Line(u8),
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UartError::Timeout => f.write_str("timed out waiting for the server"),
            UartError::Overrun => f.write_str("UART receive overrun (bytes lost)"),
            UartError::Line(bits) => write!(f, "UART line error (DR error bits {bits:#x})"),
        }
    }
}

impl core::error::Error for UartError {}

impl embedded_io::Error for UartError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            UartError::Timeout => embedded_io::ErrorKind::TimedOut,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// UART0, owned.
pub struct Uart0 {
    _private: (),
}

fn reg(off: usize) -> *mut u32 {
    (BASE + off) as *mut u32
}

impl Uart0 {
    /// Takes and configures UART0: 115200 baud at 12 MHz, 8N1, FIFOs on.
    /// (QEMU ignores the baud rate; on a real LM3S6965 the UART0 and GPIOA
    /// clocks must be gated on first in SYSCTL RCGC1/RCGC2.)
    ///
    /// # Safety
    /// Only one `Uart0` may exist.
    pub unsafe fn take() -> Uart0 {
        // SAFETY: UART0's registers, which nobody else touches.
        unsafe {
            write_volatile(reg(CR), 0);
            write_volatile(reg(IBRD), 6);
            write_volatile(reg(FBRD), 33);
            write_volatile(reg(LCRH), (0b11 << 5) | (1 << 4));
            write_volatile(reg(RSR_ECR), 0);
            write_volatile(reg(CR), (1 << 9) | (1 << 8) | 1);
        }
        Uart0 { _private: () }
    }

    fn flags(&self) -> u32 {
        // SAFETY: reading FR has no side effect.
        unsafe { read_volatile(reg(FR)) }
    }

    fn read_byte(&mut self) -> Result<u8, UartError> {
        // SAFETY: reading DR pops one byte of the receive FIFO.
        let d = unsafe { read_volatile(reg(DR)) };
        if d & DR_ERRORS != 0 {
            // SAFETY: writing ECR clears the error flags.
            unsafe { write_volatile(reg(RSR_ECR), 0) };
            return Err(if d & (1 << 11) != 0 {
                UartError::Overrun
            } else {
                UartError::Line(((d & DR_ERRORS) >> 8) as u8)
            });
        }
        Ok(d as u8)
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = UartError;
}

impl embedded_io::Read for Uart0 {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.flags() & FR_RXFE != 0 {
            if clock::deadline_passed() {
                return Err(UartError::Timeout);
            }
        }
        let mut n = 0;
        while n < buf.len() && self.flags() & FR_RXFE == 0 {
            buf[n] = self.read_byte()?;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        for &b in buf {
            while self.flags() & FR_TXFF != 0 {}
            // SAFETY: writing DR queues one byte for transmission.
            unsafe { write_volatile(reg(DR), b as u32) };
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), UartError> {
        while self.flags() & FR_BUSY != 0 {}
        Ok(())
    }
}
