#!/usr/bin/env bash
# The test suite, as CI runs it: system packages, a debug bundle of the plugin (loaded by
# the headless CLAP host test), then every test of the workspace's plugin crate.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# One shared target dir outside the clone, so repeated runs on a machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sema-live/target}"
export CARGO_TERM_COLOR=never

# The code is formatted as rustfmt.toml says.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo fmt --all --check

# Clippy, with warnings as errors, over everything the crate builds (lints only: a
# `check` build, whose metadata does not disturb the test build below).
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy -p sema_live --lib --bins --tests --benches -- -D warnings

# magenta.js in Node for the parity test (real tfjs on the CPU).
(cd plugin/tests/parity && npm install --no-audit --no-fund --loglevel=error)
export SEMA_LIVE_PARITY=1

# Build everything the tests need once (debug, dependencies optimised).
cargo test -p sema_live --lib --bins --tests --no-run

# The CLAP bundle of that build. On Linux a .clap is the plugin's shared library under
# another name; bundling through `cargo xtask bundle` would build without dev-dependencies,
# whose features change the dependency graph and recompile tract/boa for nothing.
# The test build leaves the cdylib in deps/ (cargo copies it up to debug/ only when the
# library itself is the requested target, so debug/libsema_live.so may be an old build).
mkdir -p "$CARGO_TARGET_DIR/bundled-debug"
cp "$CARGO_TARGET_DIR/debug/deps/libsema_live.so" "$CARGO_TARGET_DIR/bundled-debug/Sema Live.clap"
export SEMA_LIVE_CLAP="$CARGO_TARGET_DIR/bundled-debug/Sema Live.clap"

cargo test -p sema_live --lib --bins --tests
