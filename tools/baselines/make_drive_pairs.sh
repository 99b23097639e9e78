#!/usr/bin/env bash
# Converts the drive-knob data set (train/val/test-dry.wav, SPLIT-wet-driveV.wav) to raw 16-bit
# files for train_lstm.py and writes OUT_DIR/drive-pairs.txt, the knob value of each pair taken
# from its file name. Then: train_lstm.py --data OUT_DIR --pairs OUT_DIR/drive-pairs.txt
# --xz: compress each .s16 to .s16.xz (xz's delta filter for 16-bit samples: about 40% of the size,
# 54 MiB for the whole drive set, under the device machine's 64 MiB carry limit where the plain
# files, 147 MB, are not); unpack there with xz -d or Python's lzma before training.
set -euo pipefail

me=$(basename "$0")
xz=0
if [ "${1:-}" = --xz ]; then
    xz=1
    shift
fi
if [ $# -ne 2 ]; then
    echo "usage: $me [--xz] DATA_DIR OUT_DIR" >&2
    exit 2
fi
data=$1
out=$2
command -v sox >/dev/null || { echo "$me: sox not found" >&2; exit 1; }
if [ "$xz" = 1 ]; then
    command -v xz >/dev/null || { echo "$me: xz not found" >&2; exit 1; }
fi
mkdir -p "$out"

to_s16() {
    local channels
    channels=$(soxi -c "$1")
    if [ "$channels" != 1 ]; then
        echo "$me: $1 has $channels channels, train_lstm.py reads mono" >&2
        exit 1
    fi
    sox -D "$1" -b 16 -e signed -t raw "$2"
    if [ "$xz" = 1 ]; then
        xz -f --delta=dist=2 --lzma2=preset=6 "$2"
    fi
}

pairs=$out/drive-pairs.txt
tmp=$pairs.part
trap 'rm -f "$tmp"' EXIT
{
    echo "# SPLIT DRY.s16 WET.s16 VALUE (drive), paths relative to this folder"
    echo "# made by $me from $data"
} >"$tmp"
for split in train val test; do
    dry=$data/$split-dry.wav
    [ -f "$dry" ] || { echo "$me: $dry not found" >&2; exit 1; }
    to_s16 "$dry" "$out/$split-dry.s16"
    drysamples=$(soxi -s "$dry")
    found=0
    for wet in "$data/$split"-wet-drive*.wav; do
        [ -f "$wet" ] || break
        base=$(basename "$wet" .wav)
        value=${base#"$split"-wet-drive}
        if ! [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
            echo "$me: $wet: no drive value in the name ('$value')" >&2
            exit 1
        fi
        wetsamples=$(soxi -s "$wet")
        if [ "$wetsamples" != "$drysamples" ]; then
            echo "$me: warning: $wet has $wetsamples samples, $dry $drysamples (train_lstm.py uses the shorter)" >&2
        fi
        to_s16 "$wet" "$out/$base.s16"
        echo "$split $split-dry.s16 $base.s16 $value" >>"$tmp"
        found=$((found + 1))
    done
    if [ "$found" -eq 0 ]; then
        echo "$me: no $split-wet-drive*.wav in $data" >&2
        exit 1
    fi
    echo "$split: $found pairs" >&2
done
mv "$tmp" "$pairs"
echo "wrote $pairs" >&2
