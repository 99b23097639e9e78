#!/bin/sh
# hiss-host against a real audio server: JACK with its dummy driver (no sound card needed), run
# by this test under a name of its own. Checks:
#  1. --list-devices shows JACK's device through PortAudio;
#  2. a synth model playing a MIDI file through the live path (--midi-file) records exactly what
#     the engine renders offline from the same file (bit for bit), and stops by itself;
#  3. an fx model on JACK's (silent) capture records exactly the model run offline on silence;
#  4. live MIDI through RtMidi's JACK API: jack_midiseq plays notes into a virtual port of
#     hiss-host; the recording must sound, and Ctrl-C (SIGINT) must stop the host cleanly with the
#     file finished.
# The ALSA sequencer is not used: containers rarely have /dev/snd/seq.
# Exit 77 (skipped) with the reason when jackd is missing or cannot start.
set -u
host=$1
check=$2
dir=$3
server=${4:-}
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir" || exit 1

for t in jackd jack_lsp jack_connect jack_midiseq; do
    if ! command -v $t >/dev/null 2>&1; then
        echo "SKIP: $t not found (Debian package jackd2)"
        exit 77
    fi
done

# A fresh server per part, so that the parts do not depend on each other. One fixed name: JACK
# keeps a registry of 8 servers in /dev/shm and frees the entry of a server that died without
# unregistering only when a server of the same name starts again.
jack_pid=""
pids=""
start_jack() {
    [ -n "$jack_pid" ] && stop_jack
    export JACK_DEFAULT_SERVER=hiss-synth-test
    jackd -r -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 256 >"jackd-$1.log" 2>&1 &
    jack_pid=$!
    for i in $(seq 1 40); do
        if jack_lsp >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$jack_pid" 2>/dev/null; then break; fi
        sleep 0.25
    done
    echo "SKIP: jackd -d dummy could not start:"
    cat "jackd-$1.log"
    exit 77
}
stop_jack() {
    kill "$jack_pid" 2>/dev/null
    wait "$jack_pid" 2>/dev/null
    jack_pid=""
}
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    [ -n "$jack_pid" ] && kill "$jack_pid" 2>/dev/null
    wait 2>/dev/null
}
trap cleanup EXIT
export JACK_NO_AUDIO_RESERVATION=1
start_jack devices
echo "jackd dummy server $JACK_DEFAULT_SERVER is up"
fail=0

# 1. devices
"$host" --list-devices >devices.txt 2>devices.err
cat devices.txt
if grep -q "JACK Audio Connection Kit / system" devices.txt; then
    echo "ok list-devices: JACK's system device is listed"
else
    echo "FAIL list-devices: no JACK device"; cat devices.err; fail=1
fi

# 2. synth from a MIDI file, compared with the offline render
start_jack synth
"$check" make-synth synth.safetensors 48000 || exit 1
"$check" make-midi score.mid || exit 1
timeout 60 "$host" --model synth.safetensors --midi-file score.mid --record synth.wav --voices 4 --seed 7 \
    --temperature 0.9 --top-p 0.95 --release-max 0.4 --buffer 256 >synth.out 2>&1
rc=$?
grep -v "^ALSA\|^Cannot\|^jack\|^Jack" synth.out | tail -n 4
if [ $rc -ne 0 ] || ! grep -q "MIDI file played" synth.out; then
    echo "FAIL synth: hiss-host exited $rc without playing the file to its end"; cat synth.out; fail=1
elif "$check" compare-synth synth.safetensors score.mid synth.wav 4 7 0.9 0.95 0.4; then
    echo "ok synth: the live render of the MIDI file equals the offline render"
else
    echo "FAIL synth: the recording differs from the offline render"; fail=1
fi

# 3. fx on the (silent) capture of the dummy driver
start_jack fx
"$check" make-fx fx.safetensors 48000 || exit 1
timeout 60 "$host" --model fx.safetensors --record fx.wav --duration 1 --buffer 128 >fx.out 2>&1
rc=$?
grep -v "^ALSA\|^Cannot\|^jack\|^Jack" fx.out | tail -n 3
if [ $rc -ne 0 ]; then
    echo "FAIL fx: hiss-host exited $rc"; cat fx.out; fail=1
elif "$check" compare-fx fx.safetensors fx.wav; then
    echo "ok fx: the live output on silence equals the offline run"
else
    echo "FAIL fx: the recording differs from the offline run"; fail=1
fi

# 3b. the same fx model on hiss-server (its CPU backend): one buffer late, otherwise the same.
# The buffer is JACK's period here: with a smaller one PortAudio runs two callbacks back to back
# per period, and the second wants the first's results at once (a late block every other call).
if [ -n "${server:-}" ]; then
    "$server" --socket "$dir/server.sock" --backend cpu >server.log 2>&1 &
    spid=$!
    for i in 1 2 3 4 5 6 7 8 9 10; do [ -S "$dir/server.sock" ] && break; sleep 0.2; done
    start_jack fxserver
    timeout 60 "$host" --model fx.safetensors --record fxs.wav --duration 1 --buffer 256 --backend server \
        --server "$dir/server.sock" >fxs.out 2>&1
    rc=$?
    kill $spid; wait $spid 2>/dev/null
    grep -v "^ALSA\|^Cannot\|^jack\|^Jack" fxs.out | tail -n 3
    if [ $rc -ne 0 ]; then
        echo "FAIL fx on hiss-server: hiss-host exited $rc"; cat fxs.out; cat server.log; fail=1
    elif "$check" compare-fx fx.safetensors fxs.wav 256; then
        echo "ok fx on hiss-server: the live output equals the offline run, one buffer (256 frames) late"
    else
        echo "FAIL fx on hiss-server: the recording differs from the offline run 256 frames late"; fail=1
    fi
fi

# 4. live MIDI through JACK, stopped by Ctrl-C. Sets live_result to ok, nomidi or fail.
live_midi() {
    start_jack "live$1"
    "$host" --model synth.safetensors --midi-api jack --midi-virtual hiss-in --record live.wav --voices 2 \
        --release-max 0.2 >live.out 2>&1 &
    hpid=$!
    pids="$hpid"
    port=0
    for i in $(seq 1 40); do
        if jack_lsp 2>/dev/null | grep -q "hiss-host-midi:hiss-in"; then port=1; break; fi
        sleep 0.25
    done
    if [ $port -ne 1 ]; then
        echo "FAIL live MIDI: hiss-host's virtual JACK MIDI port did not appear"; jack_lsp; cat live.out
        live_result=fail
        return
    fi
    # a 0.25 s loop: note 60 held for 0.125 s
    jack_midiseq hissseq 12000 0 60 6000 >seq.log 2>&1 &
    spid=$!
    pids="$hpid $spid"
    seq_up=0
    for i in $(seq 1 40); do
        if jack_lsp 2>/dev/null | grep -q "hissseq:out"; then seq_up=1; break; fi
        sleep 0.25
    done
    [ $seq_up -eq 1 ] || { echo "jack_midiseq's port did not appear:"; cat seq.log; }
    jack_connect hissseq:out hiss-host-midi:hiss-in || echo "jack_connect hissseq:out hiss-host-midi:hiss-in failed"
    sleep 2
    kill -INT "$hpid"
    # hiss-host must be gone within 10 s of Ctrl-C
    for i in $(seq 1 40); do
        kill -0 "$hpid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$hpid" 2>/dev/null; then
        echo "FAIL live MIDI: hiss-host still running 10 s after SIGINT"
        kill -9 "$hpid"
    fi
    wait "$hpid"
    rc=$?
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    pids=""
    grep -v "^ALSA\|^Cannot\|^jack\|^Jack" live.out | tail -n 3
    received=$(sed -n 's/.*, \([0-9][0-9]*\) MIDI messages.*/\1/p' live.out)
    if [ $rc -ne 0 ] || ! grep -q "interrupted" live.out || ! grep -q "wrote live.wav" live.out; then
        echo "FAIL live MIDI: Ctrl-C did not stop hiss-host cleanly (exit $rc)"; cat live.out
        live_result=fail
    elif [ -z "$received" ] || [ "$received" -lt 4 ]; then
        echo "live MIDI: hiss-host received ${received:-no} MIDI messages; JACK said:"
        grep -v "^$" "jackd-live$1.log" | sort | uniq -c | sort -rn | head -n 5
        live_result=nomidi
    elif "$check" level live.wav -20; then
        echo "ok live MIDI: $received messages through JACK MIDI, notes sounded, Ctrl-C finished the file"
        live_result=ok
    else
        echo "FAIL live MIDI: the recording is silent"
        live_result=fail
    fi
}
# With two JACK clients in one process (PortAudio's and RtMidi's), jackd 1.9.21 on a loaded
# machine sometimes never runs the second one: its graph then reports "client hiss-host-midi was
# not finished" every cycle and no MIDI arrives. That is told apart from a fault of hiss-host by
# JACK's own log, and tried again on a fresh server, up to three times.
for try in 1 2 3; do
    live_midi $try
    [ "$live_result" = nomidi ] || break
    if ! grep -q "client = hiss-host-midi was not finished" "jackd-live$try.log"; then
        echo "FAIL live MIDI: no MIDI arrived although JACK ran hiss-host's MIDI client"
        live_result=fail
        break
    fi
    echo "live MIDI: JACK never ran the MIDI client (try $try); again on a fresh server"
done
if [ "$live_result" = nomidi ]; then
    # JACK's fault, shown by its log three times over: say so, and judge the rest.
    echo "SKIPPED live MIDI part: jackd never ran the MIDI client in three tries (machine too loaded);" \
         "the MIDI path was still checked through --midi-file"
elif [ "$live_result" != ok ]; then
    fail=1
fi
stop_jack

# 5. GPU sync options: clear refusals, before any device is opened
"$host" --model synth.safetensors --gpu-sync sometimes >gs.out 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "gpu-sync sometimes: expected deadline, pipelined or wait" gs.out; then
    echo "ok --gpu-sync: an unknown mode is refused by name"
else
    echo "FAIL --gpu-sync: exit $rc"; cat gs.out; fail=1
fi
"$host" --model synth.safetensors --backend cuda --gpu-sync pipelined >gs.out 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "pipelined is for fx models" gs.out; then
    echo "ok --gpu-sync: pipelined is refused for a synth"
else
    echo "FAIL --gpu-sync pipelined with a synth: exit $rc"; cat gs.out; fail=1
fi

if [ $fail -eq 0 ]; then echo "all passed"; else echo "FAILED"; fi
exit $fail
