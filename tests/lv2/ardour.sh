#!/bin/sh
# Ardour 7 as a real host, headless: ardour7-lua runs ardour.lua (the plugin with a shipped
# preset on a track, export to float WAV), then hiss-wav-check compares the export with the
# engine.   ardour.sh LV2_DIR CHECKER TMP_DIR
set -u
lv2dir=$1 check=$2 tmp=$3
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
command -v ardour7-lua >/dev/null 2>&1 || skip "ardour7-lua not found (Debian: apt-get install ardour)"
label=$(sed -n 's|^<https://hiss-audio.org/presets/fx/\([^>]*\)>.*|\1|p' "$lv2dir/hiss.lv2/presets.ttl" | head -n1)
[ -n "$label" ] || skip "the bundle has no presets (no models in the model folder)"

rm -rf "$tmp" && mkdir -p "$tmp/config/ardour7/export" "$tmp/out"
uuid=6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e5
# An export preset for 32-bit float WAV (Ardour's own "BWAV 32float Export" format).
cat >"$tmp/config/ardour7/export/hiss-float.preset" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<ExportPreset id="$uuid" name="hiss float WAV">
  <ExportFormat id="20b4ab09-6452-4cb3-bd66-b921cdbd2942"/>
  <ExportFilename>
    <Folder relative="0" path="$tmp/out"/>
    <Field name="timespan" enabled="1"/>
  </ExportFilename>
</ExportPreset>
XML
[ -f /usr/share/ardour7/export/"BWAV 32float Export.format" ] ||
    echo "note: Ardour's 'BWAV 32float Export' format file was not found where Debian puts it"

export XDG_CONFIG_HOME="$tmp/config" HOME="$tmp" LV2_PATH="$lv2dir"
export HISS_SESSION="$tmp/session" HISS_URI=https://hiss-audio.org/plugins/fx HISS_PRESET="$label"
export HISS_EXPORT_PRESET="$uuid" HISS_EXPORT_DIR="$tmp/out" HISS_SECONDS=6
run_ardour() { # log-name
    timeout 120 ardour7-lua "$here/ardour.lua" >"$tmp/$1.log" 2>&1
    rc=$?
    grep -E 'inserted|routing|reloaded|exported|FAIL' "$tmp/$1.log" | head -n 20
    wav="$HISS_EXPORT_DIR/hiss-export.wav"
    if [ $rc -ne 0 ] || [ ! -s "$wav" ]; then
        tail -n 40 "$tmp/$1.log"
        echo "FAIL: ardour7-lua (exit $rc) did not export $wav"
        exit 1
    fi
    "$check" "$wav" "$lv2dir/hiss.lv2/models/$label.safetensors" 3 || exit 1
}
run_ardour ardour

# The saved session, moved: Ardour restores the plugin's state (the model path through
# map-path) when it loads the session.
mv "$tmp/session" "$tmp/session-moved"
mkdir -p "$tmp/out2"
sed -i "s|path=\"$tmp/out\"|path=\"$tmp/out2\"|" "$tmp/config/ardour7/export/hiss-float.preset"
export HISS_SESSION="$tmp/session-moved" HISS_EXPORT_DIR="$tmp/out2" HISS_RELOAD=1
echo "--- the session moved to $HISS_SESSION, reloaded:"
run_ardour ardour-reload
