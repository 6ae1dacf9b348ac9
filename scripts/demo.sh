#!/usr/bin/env bash
# The main job on a fresh machine, no network needed: build the release plugin bundles,
# install them for the current user, then render the tutorial's RNN example with the
# bundled models and tell where the files are.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sema-live/target}"

cargo xtask bundle sema_live --release
cargo xtask install

out="${1:-out/rnn-continuation}"
"$CARGO_TARGET_DIR/release/sema-live" render assets/examples/rnn-continuation.sema.toml \
  --offline --bars 8 --out "$out"

echo
echo "Plugins installed: Sema Live.clap in ~/.clap, Sema Live.vst3 in ~/.vst3"
echo "Render of the tutorial's RNN example: $out/audio.wav, $out/notes.mid, $out/summary.txt"
