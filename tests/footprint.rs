//! The firmware footprint report: builds the release firmware, measures
//! flash, static RAM, the peak stack of full sessions and instruction counts
//! under QEMU's `-icount`, and rewrites `firmware-sim/FOOTPRINT.md`.
//!
//! Not part of the default test run (the budgets and the determinism of the
//! counts are tested in `tests/firmware.rs`); run it with
//! `firmware-sim/footprint.sh`.

mod firmware_support;

fn main() {
    firmware_support::write_report();
    println!("wrote firmware-sim/FOOTPRINT.md");
}
