#!/bin/sh
# Render hiss's training data sets from Debian packages alone.
#
#   tools/data/make-datasets.sh [OUTDIR] [--clips DIR] [--clip-seconds S]
#
# OUTDIR defaults to $HISS_DATA, else /work/data. Installs nothing: when a
# command, the SoundFont or an LV2 plugin is missing it names the apt
# packages to install and stops. Re-running skips everything already made
# from the same spec (see OUTDIR/<set>/manifest.json).
set -eu

case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
here=$(cd "$here" && pwd)

# Only OUTDIR is looked at here; the options go to datasets.py unchanged.
out=""
n=$#
i=0
while [ $i -lt $n ]; do
    a=$1; shift; i=$((i + 1))
    case "$a" in
        --clips|--clip-seconds)
            [ $i -lt $n ] || { echo "make-datasets.sh: $a needs a value" >&2; exit 2; }
            v=$1; shift; i=$((i + 1))
            set -- "$@" "$a" "$v" ;;
        -h|--help)
            sed -n '2,9p' "$0"; exit 0 ;;
        -*)
            echo "make-datasets.sh: unknown option $a" >&2; exit 2 ;;
        *)
            [ -z "$out" ] || { echo "make-datasets.sh: one OUTDIR only" >&2; exit 2; }
            out=$a ;;
    esac
done
[ -n "$out" ] || out=${HISS_DATA:-/work/data}

all_pkgs="python3 fluidsynth fluid-soundfont-gm lilv-utils guitarix-lv2 x42-plugins"

if ! command -v python3 >/dev/null 2>&1; then
    echo "make-datasets.sh: python3 is missing. Install with:" >&2
    echo "  apt-get install $all_pkgs" >&2
    exit 1
fi

# What is needed comes from plan.py, so that the check and the renderer
# cannot disagree about which plugins are used.
plugins=""
if command -v lv2ls >/dev/null 2>&1; then
    plugins=$(lv2ls)
fi
reqs=$(PYTHONDONTWRITEBYTECODE=1 python3 "$here/datasets.py" --requirements)
echo "$reqs" | {
    missing=""
    while read -r what pkg; do
        case "$what" in
            /*) [ -e "$what" ] || { echo "missing file: $what (package $pkg)" >&2; missing="$missing $pkg"; } ;;
            *:*) printf '%s\n' "$plugins" | grep -qxF "$what" ||
                     { echo "missing LV2 plugin: $what (package $pkg)" >&2; missing="$missing $pkg"; } ;;
            *) command -v "$what" >/dev/null 2>&1 ||
                   { echo "missing command: $what (package $pkg)" >&2; missing="$missing $pkg"; } ;;
        esac
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086 # split the list on purpose
        pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
        pkgs=${pkgs% }
        echo "make-datasets.sh: install the missing packages with:" >&2
        echo "  apt-get install $pkgs" >&2
        echo "(the full list is: $all_pkgs)" >&2
        exit 1
    fi
}

# No __pycache__ in the source tree.
PYTHONDONTWRITEBYTECODE=1 exec python3 "$here/datasets.py" "$out" "$@"
