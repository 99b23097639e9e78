#!/bin/sh
# Render the training data of a hiss synth model: single notes of one GM
# instrument (Reed Organ, GM program 21) through fluidsynth, from Debian packages alone.
#
#   tools/data/make-synth-data.sh [OUTDIR] [--clip DIR] [--pcm16]
#
# --pcm16 writes the audio as 16-bit PCM (what the shipped organ model was trained on).
# OUTDIR defaults to $HISS_DATA/synth-organ, else /work/data/synth-organ.
# Installs nothing: when a command or the SoundFont is missing it names the
# apt packages to install and stops. See tools/data/README.md.
set -eu

case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
here=$(cd "$here" && pwd)

out=""
clip=""
pcm16=""
while [ $# -gt 0 ]; do
    case "$1" in
        --clip)
            [ $# -ge 2 ] || { echo "make-synth-data.sh: --clip needs a directory" >&2; exit 2; }
            clip=$2; shift 2 ;;
        --pcm16)
            pcm16=--pcm16; shift ;;
        -h|--help)
            sed -n '2,10p' "$0"; exit 0 ;;
        -*)
            echo "make-synth-data.sh: unknown option $1" >&2; exit 2 ;;
        *)
            [ -z "$out" ] || { echo "make-synth-data.sh: one OUTDIR only" >&2; exit 2; }
            out=$1; shift ;;
    esac
done
[ -n "$out" ] || out=${HISS_DATA:-/work/data}/synth-organ

all_pkgs="python3 fluidsynth fluid-soundfont-gm${pcm16:+ sox}"
if ! command -v python3 >/dev/null 2>&1; then
    echo "make-synth-data.sh: python3 is missing. Install with:" >&2
    echo "  apt-get install $all_pkgs" >&2
    exit 1
fi
reqs=$(PYTHONDONTWRITEBYTECODE=1 python3 "$here/synth_data.py" --requirements $pcm16)
echo "$reqs" | {
    missing=""
    while read -r what pkg; do
        case "$what" in
            /*) [ -e "$what" ] || { echo "missing file: $what (package $pkg)" >&2; missing="$missing $pkg"; } ;;
            *) command -v "$what" >/dev/null 2>&1 ||
                   { echo "missing command: $what (package $pkg)" >&2; missing="$missing $pkg"; } ;;
        esac
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086 # split the list on purpose
        pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
        echo "make-synth-data.sh: install the missing packages with:" >&2
        echo "  apt-get install ${pkgs% }" >&2
        exit 1
    fi
}

if [ -n "$clip" ]; then
    PYTHONDONTWRITEBYTECODE=1 exec python3 "$here/synth_data.py" "$out" --clip "$clip" $pcm16
fi
PYTHONDONTWRITEBYTECODE=1 exec python3 "$here/synth_data.py" "$out" $pcm16
