# Sourced by tools/demo.sh and tools/test.sh: the Debian 12 packages hiss needs, and one place
# that installs them (as root) or prints the exact command (otherwise).
HISS_PKGS_BUILD="build-essential cmake pkg-config"
HISS_PKGS_RUN="libsndfile1-dev libsoxr-dev libcairo2-dev lv2-dev"
HISS_PKGS_TEST="sox liblilv-dev lilv-utils sordi jalv jackd2 libjack-jackd2-dev ardour portaudio19-dev librtmidi-dev locales"

hiss_missing_packages() {
    missing=""
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $p"
        fi
    done
    echo "$missing"
}

# hiss_ensure_packages PKG... : install what is missing, or say how and fail.
hiss_ensure_packages() {
    missing=$(hiss_missing_packages "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "hiss: these Debian packages are missing:$missing" >&2
        echo "hiss: install them as root, then run this command again:" >&2
        echo "    apt-get install -y$missing" >&2
        return 1
    fi
    echo "hiss: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q $missing >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q $missing || { echo "hiss: apt-get install failed" >&2; return 1; }
    fi
}
