#!/usr/bin/env bash
# The test suite, as CI runs it: system packages, a debug bundle of the plugin (loaded by
# the headless CLAP host test), then every test of the workspace's plugin crate.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# One shared target dir outside the clone, so repeated runs on a machine reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sema-live/target}"
export CARGO_TERM_COLOR=never

# Debug bundle: same profile and features as the test build, so it costs only a link.
cargo xtask bundle sema_live
export SEMA_LIVE_CLAP="$CARGO_TARGET_DIR/bundled/Sema Live.clap"

cargo test -p sema_live --lib --bins --tests
