#!/bin/sh
# Ardour 7 as a real host exporting through hiss-server: the same session as ardour.sh, with the
# FX plugin's model on a CPU server that looks at its clients only every 3 ms when idle. An
# export runs far faster than real time, so without the plugin's freewheel wait most blocks would
# be late and silent in the file; the checker compares the export with the engine, as ardour.sh.
#   ardour_server.sh LV2_DIR CHECKER HISS_SERVER_BINARY TMP_DIR
set -u
lv2dir=$1 check=$2 server=$3 tmp=$4
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
. "$here/ardour_lib.sh"
ardour_fx_preset

rm -rf "$tmp"
ardour_config 7a2d3e4f-5b6c-4d7e-9f80-a1b2c3d4e5f6
sock="$tmp/server.sock"
"$server" --socket "$sock" --backend cpu --poll-us 3000 2>"$tmp/server.log" &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$sock" ] || { cat "$tmp/server.log"; echo "FAIL: hiss-server did not start"; exit 1; }
export HISS_SERVER="$sock"
export LV2_PATH="$lv2dir" HISS_URI=https://hiss-audio.org/plugins/fx HISS_PRESET="$label" HISS_SECONDS=6
model="$lv2dir/hiss.lv2/models/$label.safetensors"
# The plugin's latency (one block) is not compensated between two live-input tracks, so the
# checker is told it: the latency the server gave the plugin's stream, from the server's log.
latency() { sed -n "s|.*stream(s) of .*$label.safetensors at .*, \([0-9]*\) frames of latency|\1|p" "$tmp/server.log" | head -n1; }
check_delayed() { "$check" "$@" "$(latency)"; }
ardour_run "$here/ardour.lua" ardour-server 'inserted|routing|exported|FAIL' check_delayed "$model" 3
# The export must have gone through the server, not the plugin's in-process fallback.
[ -n "$(latency)" ] || { cat "$tmp/server.log"; echo "FAIL: the plugin never became a client of hiss-server"; exit 1; }
grep "stream(s) of\|launches" "$tmp/server.log" | head -n 4
echo "ardour export through hiss-server: passed"
