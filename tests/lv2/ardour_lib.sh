# Sourced by ardour.sh and ardour_synth.sh: Ardour 7 headless (ardour7-lua) with its own config,
# one run of a test script whose export a checker compares with the engine, and the session
# moved and reloaded. Uses $tmp (the test's folder) and $here (this folder).
command -v ardour7-lua >/dev/null 2>&1 || skip "ardour7-lua not found (Debian: apt-get install ardour)"

# Ardour 7.3 (Debian 12) picks AVX-512 mixing routines on a CPU that has them, and those write up
# to 7 floats past the end of a buffer when asked for fewer frames than the step that aligns
# them (fixed in Ardour 8.5, "Fix potential memory corruption in AVX512f DSP"). The export's
# delay-line mix asks for such short runs, so Ardour corrupted its own heap and aborted in about
# a third of the runs, with or without any plugin. ARDOUR_FPU_FLAGS replaces Ardour's CPU probe:
# 15 = flush-to-zero, denormals-are-zero, SSE, SSE2, which every x86-64 has (hiss sets the same
# two modes itself, engine/src/fpenv.c), so Ardour mixes with its SSE routines there.
case $(uname -m) in
x86_64 | amd64) export ARDOUR_FPU_FLAGS=15 ;;
esac

# ardour_fx_preset: sets $label to the first FX preset of the bundle in $lv2dir (skips without).
ardour_fx_preset() {
    label=$(sed -n 's|^<https://hiss-audio.org/presets/fx/\([^>]*\)>.*|\1|p' "$lv2dir/hiss.lv2/presets.ttl" | head -n1)
    [ -n "$label" ] || skip "the bundle has no presets (no models in the model folder)"
}

# ardour_config UUID: a config folder under $tmp whose export preset UUID writes 32-bit float WAV
# (Ardour's own "BWAV 32float Export" format) into $tmp/out; the settings both scripts share.
ardour_config() {
    mkdir -p "$tmp/config/ardour7/export" "$tmp/out"
    cat >"$tmp/config/ardour7/export/hiss-float.preset" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<ExportPreset id="$1" name="hiss float WAV">
  <ExportFormat id="20b4ab09-6452-4cb3-bd66-b921cdbd2942"/>
  <ExportFilename>
    <Folder relative="0" path="$tmp/out"/>
    <Field name="timespan" enabled="1"/>
  </ExportFilename>
</ExportPreset>
XML
    [ -f /usr/share/ardour7/export/"BWAV 32float Export.format" ] ||
        echo "note: Ardour's 'BWAV 32float Export' format file was not found where Debian puts it"
    export XDG_CONFIG_HOME="$tmp/config" HOME="$tmp" HISS_LUA_LIB="$here/ardour_lib.lua"
    export HISS_SESSION="$tmp/session" HISS_EXPORT_PRESET="$1" HISS_EXPORT_DIR="$tmp/out"
}

# ardour_run SCRIPT LOG-NAME PATTERN CHECKER [ARGS...]: run SCRIPT, show its log lines matching
# PATTERN, then CHECKER EXPORT.wav ARGS...; the test fails when any of it does.
ardour_run() {
    script=$1 log=$2 pattern=$3
    shift 3
    timeout 120 ardour7-lua "$script" >"$tmp/$log.log" 2>&1
    rc=$?
    grep -E "$pattern" "$tmp/$log.log" | head -n 20
    wav="$HISS_EXPORT_DIR/hiss-export.wav"
    if [ $rc -ne 0 ] || [ ! -s "$wav" ]; then
        tail -n 40 "$tmp/$log.log"
        echo "FAIL: ardour7-lua (exit $rc) did not export $wav"
        exit 1
    fi
    checker=$1
    shift
    "$checker" "$wav" "$@" || exit 1
}

# The saved session, moved: Ardour restores the plugin's state (the model path through map-path)
# when it loads the session; the next ardour_run reloads it and exports into $tmp/out2.
ardour_move_session() {
    mv "$tmp/session" "$tmp/session-moved"
    mkdir -p "$tmp/out2"
    sed -i "s|path=\"$tmp/out\"|path=\"$tmp/out2\"|" "$tmp/config/ardour7/export/hiss-float.preset"
    export HISS_SESSION="$tmp/session-moved" HISS_EXPORT_DIR="$tmp/out2" HISS_RELOAD=1
    echo "--- the session moved to $HISS_SESSION, reloaded:"
}
