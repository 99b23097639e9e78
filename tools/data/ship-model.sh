#!/bin/sh
# ship-model.sh BUILD TRAINED.safetensors NAME SET [DATA]
# Put a trained model into presets/models/NAME.safetensors with what a user needs to trust it:
# what was modelled (plugin URI and every parameter, from the data set's manifest), the SHA-256
# of the training files, the ESR on the held-out test material, and the ESR on the committed
# clip (tests/models checks that one on every build).
set -eu
build=$1 trained=$2 name=$3 set=$4 data=${5:-${HISS_DATA:-/work/data}}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/presets/models/$name.safetensors"
model="$build/tools/model/hiss-model"
eval_bin="$build/tools/eval/hiss-eval"
manifest="$data/$set/manifest.json"
cp "$trained" "$out"

# Everything the manifest knows, as KEY=VALUE lines: the plugin, the train files' checksums and
# the test files with their knob settings.
python3 - "$manifest" >"$out.meta" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
files = m["files"]
plug = m["plugin"]
params = sorted({json.dumps(f["params"], sort_keys=True) for f in files if f["split"] == "train"})
print("hiss.modelled.plugin=%s (%s %s)" % (plug["uri"], plug["package"], plug["package_version"]))
print("hiss.modelled.params=%s" % "; ".join(params))
print("hiss.modelled.host=%s" % m.get("host", ""))
sums = ["%s:%s,%s:%s" % (f["dry"], f["sha256_dry"][:16], f["wet"], f["sha256_wet"][:16])
        for f in files if f["split"] == "train"]
print("hiss.data.train_sha256=%s" % " ".join(sums))
tests = [f for f in files if f["split"] == "test"]
print("TEST=%s|%s|%s" % (tests[0]["dry"], tests[0]["wet"],
                         ",".join("%s=%g" % kv for kv in sorted(tests[0].get("cond", {}).items()))))
PY
test_line=$(sed -n 's/^TEST=//p' "$out.meta")
tdry=$(echo "$test_line" | cut -d'|' -f1)
twet=$(echo "$test_line" | cut -d'|' -f2)
tcond=$(echo "$test_line" | cut -d'|' -f3)
set --
for c in $(echo "$tcond" | tr ',' ' '); do set -- "$@" --cond "$c"; done
test_esr=$("$eval_bin" -m "$out" --dry "$data/$set/$tdry" --wet "$data/$set/$twet" "$@" | sed -n 's/^esr //p')
clip_esr=$("$eval_bin" -m "$out" --dry "$root/presets/models/clips/$set-test-dry.wav" \
           --wet "$root/presets/models/clips/$set-test-wet.wav" "$@" | sed -n 's/^esr //p')
grep -v '^TEST=' "$out.meta" | while IFS= read -r kv; do "$model" meta "$out" "$kv"; done
"$model" meta "$out" "name=$name" "hiss.test.esr=$test_esr" "hiss.test.set=$set/$twet${tcond:+ ($tcond)}" \
    "hiss.test.clip=$set" "hiss.test.clip_cond=$tcond" "hiss.test.clip_esr=$clip_esr"
rm -f "$out.meta"
echo "$name: test ESR $test_esr on $set/$twet${tcond:+ ($tcond)}; clip ESR $clip_esr"
