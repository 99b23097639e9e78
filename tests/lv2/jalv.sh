#!/bin/sh
# jalv (console) as a real host: jackd with the dummy driver, jalv running the FX plugin, the
# shipped preset applied through jalv's command line while audio runs, hiss-jack-check playing
# and recording through it and comparing with the engine.
#   jalv.sh LV2_DIR CHECKER TMP_DIR [fx|fx-stereo]
set -u
# A hiss-server running on this machine would add its latency to what these compare.
export HISS_SERVER=off
lv2dir=$1 check=$2 tmp=$3 kind=${4:-fx}
skip() { echo "SKIPPED: $*"; exit 77; }
for p in jackd jalv jack_wait; do
    command -v $p >/dev/null 2>&1 || skip "$p not found (Debian: apt-get install jackd2 jalv)"
done
label=$(sed -n "s|^<https://hiss-audio.org/presets/$kind/\([^>]*\)>.*|\1|p" "$lv2dir/hiss.lv2/presets.ttl" | head -n1)
[ -n "$label" ] || skip "the bundle has no presets (no models in the model folder)"
preset="https://hiss-audio.org/presets/$kind/$label"
model="$lv2dir/hiss.lv2/models/$label.safetensors"
nch=1; [ "$kind" = fx-stereo ] && nch=2

rm -rf "$tmp" && mkdir -p "$tmp"
. "$(dirname "$0")/jack_lib.sh"
jack_start "hiss_jalv_$kind" 48000 1024

mkfifo "$tmp/jalv.in"
LV2_PATH="$lv2dir" jalv -n hissfx -x "https://hiss-audio.org/plugins/$kind" <"$tmp/jalv.in" >"$tmp/jalv.log" 2>&1 &
pids="$! $pids"
exec 3>"$tmp/jalv.in" # keeps jalv's command line open

"$check" hissfx "$nch" "$model" 3 2 "$tmp/ready" >"$tmp/check.log" 2>&1 &
cpid=$!
pids="$cpid $pids"
i=0
while [ ! -e "$tmp/ready" ] && [ $i -lt 300 ] && kill -0 $cpid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
[ -e "$tmp/ready" ] || { cat "$tmp/check.log" "$tmp/jalv.log"; echo "FAIL: no audio through jalv"; exit 1; }
sleep 0.5
# "presets" first: jalv's console loads the preset data (presets.ttl) when it lists them.
printf 'presets\npreset %s\n' "$preset" >&3
wait $cpid
rc=$?
echo "--- jalv, preset <$preset>:"
grep -v '^> *$' "$tmp/jalv.log" | sed 's/^> //' | head -n 40
echo "--- hiss-jack-check:"
cat "$tmp/check.log"
exit $rc
