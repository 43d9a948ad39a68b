//! Support for the dhchat firmware on QEMU's lm3s6965evb: the UART driver,
//! the SysTick clock, the seed source, the run-time configuration, stack
//! painting, exit codes and the semihosting calls behind them.
//!
//! To port to a real board, replace [`uart`] (your UART behind
//! `embedded-io`), [`seed`] (your TRNG), [`config`] (flash or
//! provisioning instead of a host file), and [`semi`]'s printing and exit.
#![no_std]

pub mod clock;
pub mod config;
pub mod exit;
pub mod seed;
pub mod semi;
pub mod stack;
pub mod uart;

// The device crate provides the interrupt vectors cortex-m-rt's `device`
// feature asks for.
use lm3s6965 as _;
