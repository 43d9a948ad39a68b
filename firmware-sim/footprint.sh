#!/bin/sh
# Footprint report: builds the release firmware (nested cargo build), then
# measures flash and static RAM from the ELF, the stack peak of full sessions
# (stack painting) for each group, and instruction counts under QEMU's
# -icount (footprint bench), and rewrites firmware-sim/FOOTPRINT.md.
# Needs qemu-system-arm and the thumbv7m-none-eabi rustup target.
set -eu
cd "$(dirname "$0")/.."
cargo test -p dhchat-host --test footprint
cat firmware-sim/FOOTPRINT.md
