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

/// Milliseconds since [`start`].
pub fn millis() -> u64 {
    ticks() / (TICK_HZ / 1000)
}

/// Makes [`deadline_passed`] true `ms` milliseconds from now.
pub fn set_timeout_ms(ms: u64) {
    let at = ticks().saturating_add(ms.saturating_mul(TICK_HZ / 1000));
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
