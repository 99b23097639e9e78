# Sourced by jalv.sh and jalv_synth.sh: a jackd of the test's own (dummy driver), and the
# processes started beside it (their ids added to $pids) stopped when the script exits, with
# the command-line pipe on descriptor 3 closed. Uses $tmp.
pids=""
jack_cleanup() {
    exec 3>&- 2>/dev/null
    for p in $pids; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
}
trap jack_cleanup EXIT INT TERM

# jack_start NAME RATE PERIOD: the server NAME, the default for the clients started after it.
jack_start() {
    # A fixed name per test: JACK frees a dead server's registry slot only when a server of the
    # same name starts again, and it has 8 slots.
    export JACK_DEFAULT_SERVER="$1" JACK_NO_AUDIO_RESERVATION=1 JACK_NO_START_SERVER=1
    # -S: the server waits for every client each period, so a slow period is late, never dropped.
    jackd --no-realtime -n "$1" -S -t 10000 -d dummy -r "$2" -p "$3" >"$tmp/jackd.log" 2>&1 &
    pids="$! $pids"
    jack_wait -w -t 20 >/dev/null 2>&1 || { cat "$tmp/jackd.log"; echo "FAIL: jackd did not start"; exit 1; }
}
