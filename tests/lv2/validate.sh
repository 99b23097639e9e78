#!/bin/sh
# lv2_validate (lv2-dev; it runs sord_validate from the sordi package) on the built bundle,
# against the LV2 specification's own data. Passes on the text "Found 0 errors", which is what
# the validator prints; its exit status does not tell errors apart.
bundle=$1
if ! command -v lv2_validate >/dev/null 2>&1; then
    echo "SKIPPED: lv2_validate not found (Debian: apt-get install lv2-dev)"
    exit 77
fi
if ! command -v sord_validate >/dev/null 2>&1; then
    echo "SKIPPED: sord_validate not found, lv2_validate needs it (Debian: apt-get install sordi)"
    exit 77
fi
out=$(lv2_validate "$bundle"/manifest.ttl "$bundle"/hiss.ttl "$bundle"/presets.ttl 2>&1)
echo "$out" | grep -v '^Skipping file'
n_presets=$(grep -c 'a pset:Preset' "$bundle"/presets.ttl)
echo "validated manifest.ttl, hiss.ttl, presets.ttl ($n_presets presets)"
echo "$out" | grep -q 'Found 0 errors' || { echo "FAIL: lv2_validate reports errors"; exit 1; }
