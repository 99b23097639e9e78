#!/bin/sh
# Every test: install what is missing, build (Release), run ctest; then build again with
# AddressSanitizer + UndefinedBehaviorSanitizer and run the tests that make sense under them
# (all but those labelled "nosan").
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/deps.sh"
hiss_ensure_packages $HISS_PKGS_BUILD $HISS_PKGS_RUN $HISS_PKGS_TEST
jobs=$(nproc)
build="$root/build"
# Options explicit: tools/demo.sh shares build/ and configures it without tests.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHISS_TESTS=ON -DHISS_TOOLS=ON -DHISS_PLUGIN=ON
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure --no-tests=error -j"$jobs" --timeout 900)
san="$root/build-sanitize"
cmake -S "$root" -B "$san" -DCMAKE_BUILD_TYPE=Debug -DHISS_SANITIZE=ON -DHISS_CUDA=OFF -DHISS_TESTS=ON
cmake --build "$san" -j"$jobs"
(cd "$san" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS=suppressions="$root/tests/lsan.supp" \
    ctest --output-on-failure --no-tests=error -j"$jobs" -LE nosan --timeout 1800)
