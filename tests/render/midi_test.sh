#!/bin/sh
# End-to-end tests of hiss-render --midi (synth models) and of the effect path's whole-file render
# (whole; whole_segments: one long file a segment at a time against the file read whole),
# one case per ctest test (tests/render.cmake):
#   midi_test.sh CASE HISS_RENDER SYNTH_CHECK RENDER_CHECK WORKDIR
# synth_check (tests/render/synth_check.c) writes the models and MIDI files and renders the same
# song itself through the hiss_synth API; render_check (render_check.c) checks effect renders
# against the engine. Exit 0 pass, 1 fail, 77 skipped (with a reason).
set -u
case_name=$1
R=$2
S=$3
C=$4
W=$5

fail() { echo "FAIL [$case_name]: $*"; exit 1; }
skip() { echo "SKIP [$case_name]: $*"; exit 77; }
run() { echo "+ $*"; "$@" || fail "exit $? from: $*"; }

rm -rf "$W" && mkdir -p "$W" && cd "$W" || fail "cannot use $W"
umask 022

# interrupt_when_tmp PID PATTERN: once PID has its temporary output file, SIGINT it; it must exit
# 130, say PATTERN, and leave neither out.wav nor the temporary file. SETTLE (seconds) is slept
# between the file appearing and the signal.
interrupt_when_tmp() {
    pid=$1 pattern=$2
    tries=0
    while [ -z "$(ls -a | grep hiss-tmp || true)" ]; do
        tries=$((tries + 1))
        [ $tries -gt 3000 ] && { kill -KILL $pid; fail "no temporary file appeared"; }
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    [ -n "${SETTLE:-}" ] && sleep "$SETTLE"
    kill -INT $pid
    wait $pid
    rc=$?
    cat stderr.txt
    [ $rc -eq 130 ] || fail "SIGINT: exit $rc, expected 130"
    grep -q "$pattern" stderr.txt || fail "SIGINT: no message"
    [ -e out.wav ] && fail "SIGINT: out.wav exists"
    [ -z "$(ls -a | grep hiss-tmp || true)" ] || fail "SIGINT: temporary file left behind"
    return 0
}

# expect_fail CODE PATTERN OUT CMD...: CMD exits with CODE, says PATTERN on stderr, and leaves
# neither OUT nor a temporary file beside it.
expect_fail() {
    code=$1 pattern=$2 out=$3
    shift 3
    echo "+ $* (expect exit $code, '$pattern')"
    "$@" >stdout.txt 2>stderr.txt
    rc=$?
    cat stderr.txt
    [ "$rc" -eq "$code" ] || fail "exit $rc, expected $code: $*"
    grep -q -- "$pattern" stderr.txt || fail "message lacks '$pattern': $*"
    [ -e "$out" ] && fail "$out exists after a failed run: $*"
    leftover=$(ls -a | grep 'hiss-tmp' || true)
    [ -z "$leftover" ] || fail "temporary file left behind: $leftover"
    return 0
}

# The song at 16 kHz, short tails: releases end 0.5 s after the note-off (--release-max), since
# a random model plays noise that is never silent; the last note-off is 0.4 s before the file's
# end, so the render ends 0.1 s after it, within --tail.
SYN="--voices 4 --tail 0.5 --release-max 0.5"

case $case_name in
midi_render)
    run "$S" mksynth synth.safetensors 16000 7
    run "$S" mkmidi song1.mid type1
    run "$S" mkmidi song0.mid type0
    run "$R" --midi song1.mid -m synth.safetensors $SYN --seed 3 out1.wav 2>summary.txt
    cat summary.txt
    grep -q "MIDI format 1, 3 tracks" summary.txt || fail "summary lacks the file's format and tracks"
    grep -q "3 tempo changes" summary.txt || fail "summary lacks the tempo changes"
    grep -q "tail 0.100 s" summary.txt || fail "the render did not end 0.1 s after the file (last voice freed)"
    run "$S" format out1.wav float 16000
    # the file equals the same song rendered here through the hiss_synth API (difference 0)
    run "$S" render synth.safetensors out1.wav 3 4 1 1 0.5 0.5
    # deterministic: the same seed twice gives the same bytes; another seed differs
    sleep 1 # a second later, so that a time stamp in the file would show
    run "$R" -q --midi song1.mid -m synth.safetensors $SYN --seed 3 out1b.wav
    run cmp out1.wav out1b.wav
    run "$R" -q --midi song1.mid -m synth.safetensors $SYN --seed 4 out1s4.wav
    run "$S" cmp out1.wav out1s4.wav differ
    run "$S" render synth.safetensors out1s4.wav 4 4 1 1 0.5 0.5
    # type 0 with the same events and tempo map renders the same
    run "$R" -q --midi song0.mid -m synth.safetensors $SYN --seed 3 out0.wav
    run cmp out1.wav out0.wav
    ;;
midi_options)
    run "$S" mksynth synth.safetensors 16000 8
    run "$S" mkmidi song.mid type1
    # sampling options, fewer voices (stealing), and a tail cut while voices still sound
    run "$R" -q --midi song.mid -m synth.safetensors --voices 2 --temperature 0.7 --top-p 0.9 --seed 11 \
        --tail 0.05 --release-max 1 out.wav
    run "$S" render synth.safetensors out.wav 11 2 0.7 0.9 0.05 1
    # no --temperature: the model's hiss.synth.temperature (the same weights, asking for 0.7)
    run "$S" mksynth synthT.safetensors 16000 8 0.7
    run "$R" -q --midi song.mid -m synthT.safetensors --voices 2 --top-p 0.9 --seed 11 \
        --tail 0.05 --release-max 1 outT.wav
    run "$S" render synthT.safetensors outT.wav 11 2 0.7 0.9 0.05 1
    run "$S" cmp out.wav outT.wav same
    # no tail at all: the file's end exactly
    run "$R" -q --midi song.mid -m synth.safetensors --tail 0 --seed 1 notail.wav
    run "$S" render synth.safetensors notail.wav 1 8 1 1 0 10
    # output gain, and temperature 0 (the most probable class every sample)
    run "$R" -q --midi song.mid -m synth.safetensors $SYN --temperature 0 --gain-out -6 t0.wav
    run "$S" render synth.safetensors t0.wav 0 4 0 1 0.5 0.5 -6
    # integer output: what the fx path does (16-bit PCM, clipped)
    run "$R" -q --midi song.mid -m synth.safetensors $SYN --format 16 out16.wav
    run "$S" format out16.wav 16 16000
    run "$R" -q --midi song.mid -m synth.safetensors $SYN out.flac
    run "$S" format out.flac 24 16000
    run "$R" -q --midi song.mid -m synth.safetensors $SYN --backend cpu cpu.wav
    run "$R" -q --midi song.mid -m synth.safetensors $SYN --backend auto auto.wav
    run cmp cpu.wav auto.wav
    # --backend cuda reaches the synth: the file equals the song played through the hiss_synth API
    # on the GPU (difference 0); without a GPU it is refused (midi_errors)
    if "$R" --version | grep -q "CUDA backend available"; then
        run "$R" --midi song.mid -m synth.safetensors $SYN --seed 5 --backend cuda cuda.wav 2>summary.txt
        cat summary.txt
        grep -q "cuda backend" summary.txt || fail "the summary does not name the cuda backend"
        run "$S" render synth.safetensors cuda.wav 5 4 1 1 0.5 0.5 0 cuda
    else
        echo "no CUDA backend here: the GPU render is checked where there is one"
    fi
    ;;
midi_errors)
    run "$S" mksynth synth.safetensors 16000 9
    run "$C" mkmodel fx.safetensors --seed 9
    run "$S" mkmidi song.mid type1
    run "$S" mkmidi truncated.mid truncated
    run "$S" mkmidi badheader.mid badheader
    run "$S" mkmidi notracks.mid notracks
    run "$S" mkmidi format2.mid format2
    : >empty.mid
    # bad MIDI files: the message names the file and what is wrong; no output
    expect_fail 1 "missing.mid: cannot open" out.wav "$R" --midi missing.mid -m synth.safetensors out.wav
    expect_fail 1 "truncated.mid: .*runs past the end of the file" out.wav \
        "$R" --midi truncated.mid -m synth.safetensors out.wav
    expect_fail 1 "badheader.mid: not a Standard MIDI File" out.wav \
        "$R" --midi badheader.mid -m synth.safetensors out.wav
    expect_fail 1 "notracks.mid: header announces 0 tracks" out.wav \
        "$R" --midi notracks.mid -m synth.safetensors out.wav
    expect_fail 1 "format2.mid: format 2 is not supported" out.wav \
        "$R" --midi format2.mid -m synth.safetensors out.wav
    expect_fail 1 "empty.mid: not a Standard MIDI File" out.wav "$R" --midi empty.mid -m synth.safetensors out.wav
    # the wrong kind of model either way
    expect_fail 1 "fx.safetensors is an effect model" out.wav "$R" --midi song.mid -m fx.safetensors out.wav
    expect_fail 1 "synth.safetensors is a synth model" out.wav "$R" -m synth.safetensors song.mid out.wav
    expect_fail 1 "nomodel.safetensors" out.wav "$R" --midi song.mid -m nomodel.safetensors out.wav
    # options of the other path, and arguments
    expect_fail 2 "--cond applies to effect models" out.wav \
        "$R" --midi song.mid -m synth.safetensors --cond a=1 out.wav
    expect_fail 2 "--mono applies to effect models" out.wav "$R" --midi song.mid -m synth.safetensors --mono out.wav
    expect_fail 2 "--seed applies to synth models" out.wav "$R" -m fx.safetensors --seed 3 song.mid out.wav
    expect_fail 2 "give only OUT" out.wav "$R" --midi song.mid -m synth.safetensors song.mid out.wav
    expect_fail 2 "missing OUT" out.wav "$R" --midi song.mid -m synth.safetensors
    expect_fail 2 "voices" out.wav "$R" --midi song.mid -m synth.safetensors --voices 65 out.wav
    expect_fail 2 "top-p" out.wav "$R" --midi song.mid -m synth.safetensors --top-p 0 out.wav
    expect_fail 2 "temperature" out.wav "$R" --midi song.mid -m synth.safetensors --temperature -1 out.wav
    expect_fail 2 "tail" out.wav "$R" --midi song.mid -m synth.safetensors --tail x out.wav
    cp song.mid songmid.wav
    before=$(cksum <songmid.wav)
    echo "+ $R --midi songmid.wav -m synth.safetensors songmid.wav (expect exit 2, 'same file')"
    "$R" --midi songmid.wav -m synth.safetensors songmid.wav 2>stderr.txt
    rc=$?
    cat stderr.txt
    [ $rc -eq 2 ] && grep -q "same file" stderr.txt || fail "MIDI file as OUT: exit $rc"
    [ "$(cksum <songmid.wav)" = "$before" ] || fail "the MIDI file was modified"
    # no GPU (or no CUDA in this build): --backend cuda is refused before anything is written, as
    # for effect models (with a GPU, midi_options renders on it)
    if "$R" --version | grep -q "CUDA backend not available"; then
        expect_fail 1 "CUDA backend is not available" out.wav \
            "$R" --midi song.mid -m synth.safetensors --backend cuda out.wav
    fi
    # a failed render leaves an existing OUT as it was
    run "$R" -q --midi song.mid -m synth.safetensors $SYN keep.wav
    before=$(cksum <keep.wav)
    "$R" --midi truncated.mid -m synth.safetensors keep.wav 2>/dev/null && fail "render of a truncated file succeeded"
    [ "$(cksum <keep.wav)" = "$before" ] || fail "keep.wav changed by a failed run"
    ;;
midi_signal)
    run "$S" mksynth synth.safetensors 16000 10
    run "$S" mkmidi song.mid type1
    # a long tail keeps it busy (release-max 1000 s: voices never freed), then SIGINT
    echo "+ $R --midi song.mid ... --tail 3000 --release-max 1000 out.wav & (then SIGINT)"
    "$R" --midi song.mid -m synth.safetensors --tail 3000 --release-max 1000 out.wav 2>stderr.txt &
    SETTLE=0.2 interrupt_when_tmp $! "interrupted"
    ;;
whole)
    command -v sox >/dev/null 2>&1 || skip "sox is not installed (apt-get install sox); it makes the test signals"
    # The whole-file path (the default of --backend cuda) run on the CPU with --whole: the same
    # numbers as the streaming path, to the bit, and as the engine.
    run "$C" mkmodel model.safetensors --seed 31 --cond drive,tone
    run sox -D -n -r 48000 -c 2 -e floating-point -b 32 in.wav synth 1 sine 100-6000 sine 3000-200 \
        gain -5 fade h 0.02 1 0.02
    run "$R" -m model.safetensors --backend cpu --cond tone=0.3 in.wav stream.wav
    run "$R" -m model.safetensors --backend cpu --whole --cond tone=0.3 in.wav whole.wav 2>summary.txt
    cat summary.txt
    grep -q "whole file" summary.txt || fail "--whole did not take the whole-file path"
    run "$C" cmp stream.wav whole.wav --tol 0
    run "$C" engine model.safetensors in.wav whole.wav --cond 1=0.3 --tol 1e-6
    # mono mixdown, gains and the dry/wet mix, 16-bit output
    run "$R" -m model.safetensors --backend cpu --mono --gain-in -6 --gain-out 3.5 --mix 0.3 in.wav smix.wav
    run "$R" -m model.safetensors --backend cpu --whole --mono --gain-in -6 --gain-out 3.5 --mix 0.3 in.wav wmix.wav
    run "$C" cmp smix.wav wmix.wav --tol 0
    run "$R" -m model.safetensors --backend cpu --whole --format 16 in.wav w16.wav
    run "$C" engine model.safetensors in.wav w16.wav --clip 16 --tol 3.1e-5
    # the whole-file render runs at the model's rate
    run sox -D -n -r 44100 -c 1 -e floating-point -b 32 in44.wav synth 0.5 sine 440
    expect_fail 2 "whole-file render runs at the model's rate" out.wav \
        "$R" -m model.safetensors --whole --rate-mode delta in44.wav out.wav
    # no GPU (or no CUDA in this build): --backend cuda is refused before anything is written
    if "$R" --version | grep -q "CUDA backend not available"; then
        expect_fail 1 "CUDA backend is not available" out.wav "$R" -m model.safetensors --backend cuda in.wav out.wav
    else
        run "$R" -m model.safetensors --backend cuda in.wav cuda.wav 2>summary.txt
        cat summary.txt
        grep -q "whole file (model 48000 Hz), cuda backend" summary.txt || fail "cuda did not render the whole file"
        run "$C" engine model.safetensors in.wav cuda.wav --tol 1e-4
    fi
    ;;
whole_segments)
    command -v sox >/dev/null 2>&1 || skip "sox is not installed (apt-get install sox); it makes the test signals"
    # One long file on the whole-file path, read, rendered (hiss_offline, state carried) and
    # written a segment at a time: to the bit what the file read whole and rendered in one call
    # gives (--out-dir takes that path: whole_read, one hiss_render_offline_batch, whole_write),
    # with segments that divide the file and segments that do not, of 1 frame, and the default.
    run "$C" mkmodel model.safetensors --seed 33 --cond drive,tone
    run sox -D -n -r 48000 -c 2 -e floating-point -b 32 long.wav synth 3 sine 100-6000 sine 3000-200 \
        gain -5 fade h 0.02 3 0.02
    mkdir o
    run "$R" -m model.safetensors --backend cpu --whole --cond tone=0.3 --out-dir o long.wav
    for sf in 4096 7777 48000 1048576; do
        run "$R" -m model.safetensors --backend cpu --whole --cond tone=0.3 --segment-frames $sf long.wav seg$sf.wav \
            2>summary.txt
        cat summary.txt
        grep -q "144000 frames (3.000 s) x 2 ch in .* RTF .*whole file (model 48000 Hz), cpu backend" summary.txt ||
            fail "summary line"
        run "$C" cmp o/long.wav seg$sf.wav --tol 0
        run cmp o/long.wav seg$sf.wav # and the files, byte for byte
    done
    run "$C" engine model.safetensors long.wav seg4096.wav --cond 1=0.3 --tol 1e-6
    # the default segment, the --out-dir render and the old whole path's numbers are one thing;
    # segments of 1 frame on a short file
    run sox -D long.wav short.wav trim 0 0.05
    run "$R" -m model.safetensors --backend cpu --whole --cond drive=-0.5 --out-dir o short.wav
    run "$R" -m model.safetensors --backend cpu --whole --cond drive=-0.5 --segment-frames 1 short.wav s1.wav
    run "$C" cmp o/short.wav s1.wav --tol 0
    # mono mixdown, gains, the dry/wet mix and 16-bit output, segment by segment
    mkdir o16
    run "$R" -m model.safetensors --backend cpu --whole --mono --gain-in -6 --gain-out 3.5 --mix 0.3 --format 16 \
        --out-dir o16 long.wav
    run "$R" -m model.safetensors --backend cpu --whole --mono --gain-in -6 --gain-out 3.5 --mix 0.3 --format 16 \
        --segment-frames 5000 long.wav m16.wav
    run "$C" cmp o16/long.wav m16.wav --tol 0
    run cmp o16/long.wav m16.wav
    # options
    expect_fail 2 "segment-frames" out.wav "$R" -m model.safetensors --whole --segment-frames 0 long.wav out.wav
    expect_fail 2 "applies to one file" o/x.wav "$R" -m model.safetensors --whole --segment-frames 9 --out-dir o \
        long.wav
    # SIGINT while segments of 1 frame go round: exit 130, no OUT, no temporary file
    run sox -D -n -r 48000 -c 1 -e floating-point -b 32 slow.wav synth 30 sine 440 gain -6
    echo "+ $R ... --whole --segment-frames 1 slow.wav out.wav & (then SIGINT)"
    "$R" -m model.safetensors --backend cpu --whole --segment-frames 1 slow.wav out.wav 2>stderr.txt &
    interrupt_when_tmp $! "interrupted by signal 2; out.wav not written"
    ;;
*)
    fail "unknown case"
    ;;
esac
echo "PASS [$case_name]"
exit 0
