//! Stack high-water mark by painting: fill the unused stack with a pattern
//! early, and later find the lowest word that no longer holds it.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PAINT: u32 = 0xACE0_BACE;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the symbols' addresses are taken (cortex-m-rt's link.x).
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// Paints the stack from its lowest address up to 256 bytes below the
/// current stack pointer. Call once, early in `main`.
#[inline(never)]
pub fn paint() {
    let (low, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - 256;
    let mut p = (low + 3) & !3;
    while p < sp {
        // SAFETY: unused stack below the live frames.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The most stack used since [`paint`], in bytes.
pub fn peak() -> usize {
    let (low, high) = bounds();
    let mut p = (low + 3) & !3;
    // SAFETY: reads within the stack region.
    while p < high && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    high - p
}

/// The stack region's size in bytes (RAM left after static data).
pub fn size() -> usize {
    let (low, high) = bounds();
    high - low
}
