#!/usr/bin/env bash
# Regenerates docs/editor.png: the editor of a freshly inserted Sema Live (the seed
# session) running as the standalone application under a virtual X server (Xvfb, Mesa
# software OpenGL, no audio device: nice-plug's dummy backend plays the transport).
#
#   bash scripts/screenshot.sh [OUT.png]
#
# The tutorial's JavaScript blocks are evaluated one by one with Ctrl+Enter (xdotool), as
# a user would: the RNN continues the primer and the result reaches the live code.
#
# Needs: xvfb, imagemagick (import, identify), x11-utils (xwininfo), xdotool and the
# packages of scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/editor.png}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sema-live/target}
cargo build -p sema_live --features standalone --bin sema-live-standalone
app="$CARGO_TARGET_DIR/debug/sema-live-standalone"

display=:${SCREENSHOT_DISPLAY:-97}
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app_pid=
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1
# A private home (cache, data, session paths) so the picture never depends on this user.
home=/tmp/musician
rm -rf "$home" && mkdir -p "$home"
DISPLAY=$display LIBGL_ALWAYS_SOFTWARE=1 HOME="$home" XDG_CACHE_HOME="$home/.cache" \
    XDG_DATA_HOME="$home/.local/share" "$app" --backend dummy --sample-rate 48000 --period-size 512 \
    >"$home/app.log" 2>&1 &
app_pid=$!

# Wait for the editor window, then let a few bars play so the status strip is live.
for _ in $(seq 1 60); do
    if DISPLAY=$display xwininfo -root -tree 2>/dev/null | grep -q '"Sema Live"'; then break; fi
    sleep 0.5
done
if ! DISPLAY=$display xwininfo -root -tree | grep -q '"Sema Live"'; then
    echo "the editor window did not appear; log:" >&2
    cat "$home/app.log" >&2
    exit 1
fi
id=$(DISPLAY=$display xwininfo -root -tree | grep '"Sema Live"' | head -1 | awk '{print $1}')
sleep 2
x() { DISPLAY=$display xdotool "$@"; }
# Put the cursor on line 1 of the JS editor (right half, first text row), then evaluate
# each block of the default script and move down to the next one.
x mousemove --window "$id" 760 140 click 1
sleep 0.5
line=1
for start in 1 $(awk '/^[[:space:]]*___+[[:space:]]*$/ {print NR + 1}' assets/default/script.js); do
    [ "$start" -gt "$(wc -l < assets/default/script.js)" ] && break
    [ "$start" -gt "$line" ] && x key --delay 20 --repeat $((start - line)) Down
    line=$start
    x key ctrl+Return
    # Loading the models (first block that uses them) and inference take a moment.
    sleep 2
done
sleep "${SCREENSHOT_WAIT:-4}"
mkdir -p "$(dirname "$out")"
DISPLAY=$display import -window "$id" "$out"
echo "wrote $out ($(identify -format '%wx%h' "$out"))"
