#!/bin/sh
# Ardour 7 as a real host, headless: ardour7-lua runs ardour.lua (the plugin with a shipped
# preset on a track, export to float WAV), then hiss-wav-check compares the export with the
# engine; then again from the saved session, moved.   ardour.sh LV2_DIR CHECKER TMP_DIR
set -u
# A hiss-server running on this machine would add its latency to what these compare.
export HISS_SERVER=off
lv2dir=$1 check=$2 tmp=$3
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
. "$here/ardour_lib.sh"
ardour_fx_preset

rm -rf "$tmp"
ardour_config 6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e5
export LV2_PATH="$lv2dir" HISS_URI=https://hiss-audio.org/plugins/fx HISS_PRESET="$label" HISS_SECONDS=6
model="$lv2dir/hiss.lv2/models/$label.safetensors"
show='inserted|routing|reloaded|exported|FAIL'
ardour_run "$here/ardour.lua" ardour "$show" "$check" "$model" 3
ardour_move_session
ardour_run "$here/ardour.lua" ardour-reload "$show" "$check" "$model" 3
