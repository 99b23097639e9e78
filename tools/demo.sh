#!/bin/sh
# The main job: install what is missing, build, render the bundled demo clip through the bundled
# effect model, play the bundled MIDI song through the bundled synth model, and install the LV2
# plugin. Usage: tools/demo.sh [MODEL] [IN]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/deps.sh"
hiss_ensure_packages $HISS_PKGS_BUILD $HISS_PKGS_RUN
build="$root/build"
echo "hiss: building in $build (log: $build/build.log)"
mkdir -p "$build"
{ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHISS_TESTS=OFF &&
  cmake --build "$build" -j"$(nproc)"; } >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
model=${1:-"$root/presets/models/ts9-overdrive.safetensors"}
in=${2:-"$root/presets/demo/guitar-dry.wav"}
out="$build/demo-out.wav"
"$build/tools/model/hiss-model" info "$model" | sed -n '1,3p;/^parameters/,$p'
"$build/tools/render/hiss-render" -m "$model" --rate-mode delta "$in" "$out"
echo "hiss: rendered $in"
echo "hiss:   through $model"
echo "hiss:   to $out"
# The synth: a MIDI chorale through the shipped organ (tools/data/demo_midi.py wrote the song;
# -8 dB: four voices at once peak near full scale at -6)
synth="$root/presets/models/reed-organ.safetensors"
song="$root/presets/demo/organ-chorale.mid"
synth_out="$build/demo-organ.wav"
"$build/tools/render/hiss-render" --midi "$song" -m "$synth" --gain-out -8 "$synth_out"
echo "hiss: played $song"
echo "hiss:   through $synth"
echo "hiss:   to $synth_out"
if [ -d "$build/lv2/hiss.lv2" ]; then
    if [ "$(id -u)" -eq 0 ]; then lv2dir=/usr/local/lib/lv2; else lv2dir="$HOME/.lv2"; fi
    mkdir -p "$lv2dir"
    rm -rf "$lv2dir/hiss.lv2"
    cp -R "$build/lv2/hiss.lv2" "$lv2dir/"
    echo "hiss: LV2 plugin installed to $lv2dir/hiss.lv2 (hosts: search for \"hiss FX\" or \"hiss Synth\")"
fi
