#!/bin/sh
# The main job: install what is missing, build, and render the bundled demo clip through the
# bundled model. Usage: tools/demo.sh [MODEL] [IN.wav]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/deps.sh"
hiss_ensure_packages $HISS_PKGS_BUILD $HISS_PKGS_RUN
build="$root/build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHISS_TESTS=OFF >"$root/build.log" 2>&1 ||
    { cat "$root/build.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >>"$root/build.log" 2>&1 || { tail -50 "$root/build.log"; exit 1; }
model=${1:-"$root/presets/models/demo.safetensors"}
in=${2:-"$root/presets/demo/guitar-dry.wav"}
out="$build/demo-out.wav"
"$build/tools/model/hiss-model" info "$model" | sed -n '1,3p;/^metadata/,$p'
"$build/tools/render/hiss-render" -m "$model" --rate-mode delta "$in" "$out"
echo "hiss: rendered $in"
echo "hiss:   through $model"
echo "hiss:   to $out"
