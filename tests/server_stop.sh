#!/bin/sh
# hiss-server stops cleanly on SIGTERM (says "stopped", exits 0, removes its socket) even with a
# thread started before main that takes the signal (server_thread.c, preloaded).
#   server_stop.sh HISS_SERVER PRELOAD_LIB TMP_DIR
set -u
server=$1 lib=$2 tmp=$3
mkdir -p "$tmp"
sock="$tmp/stop.sock"
rm -f "$sock"
fail=0
for i in 1 2 3 4 5; do
    LD_PRELOAD="$lib" "$server" --socket "$sock" --backend cpu 2>"$tmp/stop.log" &
    pid=$!
    n=0
    while [ ! -S "$sock" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
    kill -TERM $pid
    wait $pid
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q "stopped" "$tmp/stop.log" || [ -e "$sock" ]; then
        cat "$tmp/stop.log"
        echo "FAIL: run $i: exit $rc, the log or the socket says it did not stop cleanly"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "hiss-server stopped cleanly on SIGTERM 5 of 5 times, a foreign thread present"
exit $fail
