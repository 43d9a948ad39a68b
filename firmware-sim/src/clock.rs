//! A clock from SysTick: the 24-bit down counter runs from the core clock
//! with the largest reload, and its exception counts the wraps, giving a
//! 64-bit tick count.
//!
//! QEMU's lm3s6965evb clocks SysTick at [`TICK_HZ`]. Without `-icount`
//! ticks follow the host's time; under `-icount shift=N` each instruction
//! advances virtual time by 2^N ns, so tick counts are deterministic and
//! convert exactly into instruction counts ([`crate::bench`]). Timeouts are
//! therefore in host milliseconds normally, and in virtual milliseconds
//! under `-icount`.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::Mutex;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

/// SysTick's clock on QEMU's lm3s6965evb: 80 ns a tick, measured with the
/// calibration loop of the footprint bench (2,000,000 instructions = 25,000
/// ticks under `-icount shift=0`).
pub const TICK_HZ: u64 = 12_500_000;
const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: AtomicU32 = AtomicU32::new(0);
static DEADLINE: Mutex<Cell<u64>> = Mutex::new(Cell::new(u64::MAX));

/// Starts the clock.
pub fn start(mut syst: SYST) {
    // Write SYSCTL RCC back unchanged: QEMU computes the system clock (and
    // SysTick's period) when RCC is written; before that SysTick may not
    // tick ("Timer with period zero"). A real board sets its PLL here.
    const RCC: *mut u32 = 0x400F_E060 as *mut u32;
    // SAFETY: SYSCTL RCC, rewritten with its own value.
    unsafe { core::ptr::write_volatile(RCC, core::ptr::read_volatile(RCC)) };
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // The counter reads 0 until its first reload: wait for it, so that
    // `ticks` never runs backwards.
    while SYST::get_current() == 0 {}
}

/// Ticks since [`start`].
pub fn ticks() -> u64 {
    loop {
        let w1 = WRAPS.load(Ordering::SeqCst);
        let cur = SYST::get_current();
        let w2 = WRAPS.load(Ordering::SeqCst);
        if w1 == w2 {
            return (w1 as u64) * (RELOAD as u64 + 1) + (RELOAD - cur) as u64;
        }
    }
}

/// Milliseconds from tick count `since` (an earlier [`ticks`]) to now,
/// saturating at `u32::MAX` (after about 23 minutes). The 64-bit part is a
/// shift and the division 32-bit (one `udiv`): a 64-bit division would link
/// the software one (about 0.7 KiB of flash).
pub fn millis_since(since: u64) -> u32 {
    const SHIFT: u32 = 2;
    const TICKS_PER_MS: u64 = TICK_HZ / 1000;
    // 12,500 ticks a millisecond = 4 x 3,125: exact.
    const _: () = assert!(TICKS_PER_MS.is_multiple_of(1 << SHIFT));
    let quarter_ticks = ticks().saturating_sub(since) >> SHIFT;
    let quarter_ticks = u32::try_from(quarter_ticks).unwrap_or(u32::MAX);
    quarter_ticks / (TICKS_PER_MS >> SHIFT) as u32
}

/// Makes [`deadline_passed`] true `ms` milliseconds from now.
pub fn set_timeout_ms(ms: u32) {
    let at = ticks().saturating_add(u64::from(ms) * (TICK_HZ / 1000));
    cortex_m::interrupt::free(|cs| DEADLINE.borrow(cs).set(at));
}

/// True once the deadline set by [`set_timeout_ms`] has passed.
pub fn deadline_passed() -> bool {
    ticks() >= cortex_m::interrupt::free(|cs| DEADLINE.borrow(cs).get())
}

#[cortex_m_rt::exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::SeqCst);
}
