#!/bin/sh
# check_install.sh BUILD_DIR WORK_DIR: cmake --install into a fresh prefix, then build and run a
# program against it through pkg-config alone, as a user of the library would.
set -eu
build=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
for f in include/hiss.h include/hiss_synth.h bin/hiss-model; do
    [ -e "$work/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
pc=$(find "$work/prefix" -name hiss.pc | head -n1)
[ -n "$pc" ] || { echo "FAIL: hiss.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
cat >"$work/use.c" <<'C'
#include <hiss.h>
#include <stdio.h>
int main(void)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 8;
    c.n_layer = 1;
    c.d_state = 4;
    c.d_conv = 2;
    hiss_model *m;
    hiss_error e;
    if (hiss_model_init(&c, 1, &m, &e) != HISS_OK)
        return 1;
    printf("%llu\n", (unsigned long long)hiss_model_param_count(m));
    hiss_model_free(m);
    return 0;
}
C
cc "$work/use.c" $(pkg-config --cflags --libs --static hiss) -o "$work/use"
n=$(LD_LIBRARY_PATH="$(pkg-config --variable=libdir hiss)" "$work/use")
echo "installed to $work/prefix; a program built with pkg-config alone made a model of $n parameters"
[ "$n" = 729 ] || { echo "FAIL: expected 729 parameters"; exit 1; }
