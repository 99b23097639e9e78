#!/bin/sh
# check_model.sh HISS_EVAL HISS_MODEL MODEL CLIPDIR
# The model's metadata names its clip ("hiss.test.clip"), the knob settings used for it
# ("hiss.test.clip_cond", "name=value,..."), and the ESR measured on it when it was shipped
# ("hiss.test.clip_esr"). Recomputing that ESR must agree within 1%, so a silent change of the
# numbers (engine, loader or model file) fails here.
set -eu
eval_bin=$1 model_bin=$2 model=$3 clips=$4
meta() { "$model_bin" info "$model" | sed -n "s/^  $1: //p"; }
clip=$(meta hiss.test.clip)
want=$(meta hiss.test.clip_esr)
conds=$(meta hiss.test.clip_cond)
if [ -z "$clip" ] || [ -z "$want" ]; then
    echo "FAIL: $model has no hiss.test.clip / hiss.test.clip_esr metadata"
    exit 1
fi
set --
for c in $(echo "$conds" | tr ',' ' '); do set -- "$@" --cond "$c"; done
got=$("$eval_bin" -m "$model" --dry "$clips/$clip-test-dry.wav" --wet "$clips/$clip-test-wet.wav" "$@" |
      sed -n 's/^esr //p')
echo "$model: ESR on clip $clip${conds:+ ($conds)}: $got (recorded $want)"
awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; r = d / w;
    printf "relative difference %.3g (limit 0.01)\n", r; exit (r <= 0.01 ? 0 : 1) }'
