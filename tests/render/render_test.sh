#!/bin/sh
# End-to-end tests of hiss-render, one case per ctest test (tests/render.cmake):
#   render_test.sh CASE HISS_RENDER RENDER_CHECK WORKDIR
# sox makes the test signals; render_check (tests/render/render_check.c) makes models and checks
# the numbers against the engine called directly. Exit 0 pass, 1 fail, 77 skipped (with a reason).
set -u
case_name=$1
R=$2
C=$3
W=$4

fail() { echo "FAIL [$case_name]: $*"; exit 1; }
skip() { echo "SKIP [$case_name]: $*"; exit 77; }
# run CMD...: echo it, run it, fail on a non-zero exit
run() { echo "+ $*"; "$@" || fail "exit $? from: $*"; }

command -v sox >/dev/null 2>&1 || skip "sox is not installed (apt-get install sox); it makes the test signals"
rm -rf "$W" && mkdir -p "$W" && cd "$W" || fail "cannot use $W"
umask 022

have_soxr() { "$R" --version | grep -q soxr; }

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

# Signals. A sweep with short fades (band-limited: below 8 kHz), mono or stereo.
sig_mono() { # FILE RATE BITS(32f|24|16) [SECONDS]
    case $3 in
        32f) enc="-e floating-point -b 32" ;;
        *) enc="-e signed-integer -b $3" ;;
    esac
    run sox -D -n -r "$2" -c 1 $enc "$1" synth "${4:-1}" sine 60-8000 gain -4 fade h 0.02 "${4:-1}" 0.02
}
sig_stereo() { # FILE RATE
    run sox -D -n -r "$2" -c 2 -e floating-point -b 32 "$1" synth 1 sine 100-6000 sine 3000-200 \
        gain -5 fade h 0.02 1 0.02
}
frames_of() { sox --i -s "$1"; }

case $case_name in
help)
    run "$R" --help >help.txt
    grep -q "Usage: " help.txt || fail "--help prints no usage"
    grep -q -- "--rate-mode" help.txt || fail "--help does not describe --rate-mode"
    run "$R" --version >version.txt
    grep -q "hiss" version.txt || fail "--version"
    cat version.txt
    ;;
mono_float)
    run "$C" mkmodel model.safetensors --seed 11
    sig_mono in.wav 48000 32f
    run "$R" -m model.safetensors --backend cpu in.wav out.wav 2>summary.txt
    cat summary.txt
    grep -q "48000 frames" summary.txt || fail "summary line lacks the frame count"
    run "$C" format out.wav wav float 1 48000 48000
    run "$C" engine model.safetensors in.wav out.wav --tol 1e-6
    # --quiet: no summary
    run "$R" -q -m model.safetensors --backend cpu in.wav out2.wav 2>quiet.txt
    [ -s quiet.txt ] && fail "--quiet still printed: $(cat quiet.txt)"
    run "$C" cmp out.wav out2.wav --tol 0
    ;;
progress)
    run "$C" mkmodel model.safetensors --seed 28
    sig_mono in.wav 48000 32f 3
    # stderr not a terminal: the summary only, no bar
    run "$R" -m model.safetensors --backend cpu in.wav out.wav 2>plain.txt
    grep -q "ETA" plain.txt && fail "progress bar drawn although stderr is not a terminal"
    command -v script >/dev/null 2>&1 || skip "no 'script' (util-linux) to give hiss-render a terminal"
    # on a terminal (script's pty): the bar, then the line cleared before the summary
    echo "+ script -qc '$R -m model.safetensors --backend cpu in.wav out2.wav' /dev/null"
    script -qc "'$R' -m model.safetensors --backend cpu in.wav out2.wav" /dev/null >tty.txt 2>&1
    tr '\r' '\n' <tty.txt | grep -a "ETA" | head -3
    grep -aq "%  elapsed .*ETA .*RTF" tty.txt || fail "no progress bar on a terminal"
    grep -aq "$(printf '\033')\[2Khiss-render: in.wav -> out2.wav" tty.txt ||
        fail "the bar's line is not cleared before the summary"
    run "$C" cmp out.wav out2.wav --tol 0
    ;;
mono_24)
    run "$C" mkmodel model.safetensors --seed 12
    sig_mono in.wav 48000 24
    run "$R" -m model.safetensors --backend cpu in.wav out.wav
    run "$C" format out.wav wav 24 1 48000 48000
    # Integer output: libsndfile 1.2 with SFC_SET_CLIPPING converts float to PCM by floor(x*2^(b-1))
    # (measured: 0.225707978 -> 7395 at 16 bits, x*32768 = 7395.999), so the error is up to one
    # step, 2^-23 at 24 bits, 2^-15 at 16, plus float rounding. The model's peaks above 1.0 are
    # clipped (without SFC_SET_CLIPPING they would wrap around to the other sign).
    run "$C" engine model.safetensors in.wav out.wav --clip 24 --tol 2.5e-7
    ;;
mono_16)
    run "$C" mkmodel model.safetensors --seed 13
    sig_mono in.wav 48000 32f
    run "$R" -m model.safetensors --backend cpu --format 16 in.wav out.wav
    run "$C" format out.wav wav 16 1 48000 48000
    run "$C" engine model.safetensors in.wav out.wav --clip 16 --tol 3.1e-5
    # and a 16-bit input gives 16-bit output by default
    sig_mono in16.wav 48000 16
    run "$R" -m model.safetensors --backend cpu in16.wav out16.wav
    run "$C" format out16.wav wav 16 1 48000 48000
    run "$C" engine model.safetensors in16.wav out16.wav --clip 16 --tol 3.1e-5
    ;;
stereo)
    run "$C" mkmodel model.safetensors --seed 14
    sig_stereo in.wav 48000
    run "$R" -m model.safetensors --backend cpu --block 300 in.wav out.wav
    run "$C" format out.wav wav float 2 48000 48000
    # each channel equals that channel alone through a one-stream engine
    run "$C" engine model.safetensors in.wav out.wav --tol 1e-6
    ;;
mono_mixdown)
    run "$C" mkmodel model.safetensors --seed 15
    sig_stereo in.wav 48000
    run "$R" -m model.safetensors --backend cpu --mono in.wav out.wav
    run "$C" format out.wav wav float 1 48000 48000
    run "$C" engine model.safetensors in.wav out.wav --mono --tol 1e-6
    ;;
gain_mix)
    run "$C" mkmodel model.safetensors --seed 16
    run "$C" mkmodel identity.safetensors --identity
    sig_mono in.wav 48000 32f
    # --mix 0: the input itself, exactly
    run "$R" -m model.safetensors --backend cpu --mix 0 in.wav dry.wav
    run "$C" cmp in.wav dry.wav --tol 0
    # +6.0206 dB is a factor 2 (10^(6.0206/20) = 2.0000000087), out or in (through the skip)
    run "$R" -m identity.safetensors --backend cpu --gain-out 6.0206 in.wav out2x.wav
    run "$C" cmp in.wav out2x.wav --scale 2 --tol 1e-6
    run "$R" -m identity.safetensors --backend cpu --gain-in 6.0206 in.wav in2x.wav
    run "$C" cmp in.wav in2x.wav --scale 2 --tol 1e-6
    # all three on a real model, against the engine
    run "$R" -m model.safetensors --backend cpu --gain-in -6 --gain-out 3.5 --mix 0.3 in.wav mixed.wav
    run "$C" engine model.safetensors in.wav mixed.wav --gain-in -6 --gain-out 3.5 --mix 0.3 --tol 1e-6
    ;;
cond)
    run "$C" mkmodel model.safetensors --seed 17 --cond drive,tone
    sig_mono in.wav 48000 32f
    run "$R" -m model.safetensors --backend cpu --cond tone=-0.25 --cond drive=0.7 in.wav out.wav
    run "$C" engine model.safetensors in.wav out.wav --cond 0=0.7 --cond 1=-0.25 --tol 1e-6
    run "$R" -m model.safetensors --backend cpu in.wav plain.wav
    run "$C" engine model.safetensors in.wav plain.wav --tol 1e-6
    # the conditioning reached the model: the outputs differ
    run "$C" cmp out.wav plain.wav --min-diff 1e-3
    ;;
flac)
    run "$C" mkmodel model.safetensors --seed 18
    sig_mono in.wav 48000 32f
    # FLAC cannot hold float: the default falls back to 24-bit
    run "$R" -m model.safetensors --backend cpu in.wav out.flac
    run "$C" format out.flac flac 24 1 48000 48000
    run "$C" engine model.safetensors in.wav out.flac --clip 24 --tol 2.5e-7
    run "$R" -m model.safetensors --backend cpu --format 16 in.wav out16.flac
    run "$C" format out16.flac flac 16 1 48000 48000
    run "$C" engine model.safetensors in.wav out16.flac --clip 16 --tol 3.1e-5
    run "$R" -m model.safetensors --backend cpu in.wav out.aiff
    run "$C" format out.aiff aiff float 1 48000 48000
    expect_fail 2 "cannot hold" bad.flac "$R" -m model.safetensors --format float in.wav bad.flac
    ;;
nonfinite)
    run "$C" mkmodel model.safetensors --seed 19
    run "$C" nanfile nan.wav
    run "$R" -m model.safetensors --backend cpu nan.wav out.wav 2>summary.txt
    cat summary.txt
    grep -q "3 non-finite input samples" summary.txt || fail "summary does not count the NaN/Inf"
    run "$C" finite out.wav
    ;;
rate_strict)
    run "$C" mkmodel model.safetensors --seed 20
    sig_mono in44.wav 44100 32f
    expect_fail 1 "rate-mode" out.wav "$R" -m model.safetensors in44.wav out.wav
    grep -q "44100 Hz" stderr.txt || fail "message does not name the rates"
    ;;
rate_delta)
    run "$C" mkmodel model.safetensors --seed 21
    sig_mono in44.wav 44100 32f
    run "$R" -m model.safetensors --backend cpu --rate-mode delta in44.wav out.wav
    run "$C" format out.wav wav float 1 44100 44100
    run "$C" engine model.safetensors in44.wav out.wav --delta --tol 1e-6
    ;;
resample)
    have_soxr || skip "hiss-render was built without libsoxr"
    run "$C" mkmodel identity.safetensors --identity
    # identity model at 48 kHz; 44.1 kHz input: out must be in, aligned, within the converters'
    # error (measured -113..-125 dB for these signals below 8 kHz; limit -90)
    sig_mono in44.wav 44100 32f 2
    n=$(frames_of in44.wav)
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample in44.wav out.wav
    run "$C" format out.wav wav float 1 "$n" 44100
    run "$C" aligned in44.wav out.wav --max-err-db -90
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample --quality vhq --block 1000 \
        in44.wav outv.wav
    run "$C" aligned in44.wav outv.wav --max-err-db -90
    # dry/wet stay aligned: half dry, half wet is still the input
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample --mix 0.5 in44.wav half.wav
    run "$C" aligned in44.wav half.wav --max-err-db -90
    # a click comes out at the same sample (error: the click's energy above the pass band)
    run "$C" click click.wav 44100 20000 12345
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample click.wav clickout.wav
    run "$C" aligned click.wav clickout.wav --max-err-db -3 --peak
    # stereo, and a 96 kHz input (down to 48 kHz and back)
    run sox -D -n -r 44100 -c 2 -e floating-point -b 32 st44.wav synth 1 sine 100-6000 sine 3000-200 \
        gain -5 fade h 0.02 1 0.02
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample st44.wav stout.wav
    run "$C" aligned st44.wav stout.wav --max-err-db -90
    sig_mono in96.wav 96000 32f
    run "$R" -m identity.safetensors --backend cpu --rate-mode resample in96.wav out96.wav
    run "$C" format out96.wav wav float 1 96000 96000
    run "$C" aligned in96.wav out96.wav --max-err-db -90
    ;;
resample_blocks)
    have_soxr || skip "hiss-render was built without libsoxr"
    # --bias: see render_check.c (rounding differences between block alignments must not be
    # amplified by a model working at its most sensitive point)
    run "$C" mkmodel model.safetensors --seed 22 --bias
    sig_mono in44.wav 44100 32f
    run "$R" -m model.safetensors --backend cpu --rate-mode resample --block 1 in44.wav b1.wav
    run "$R" -m model.safetensors --backend cpu --rate-mode resample --block 4096 in44.wav b4096.wav
    run "$R" -m model.safetensors --backend cpu --rate-mode resample in44.wav b512.wav
    run "$C" format b1.wav wav float 1 44100 44100
    run "$C" cmp b512.wav b1.wav --tol 1e-5
    run "$C" cmp b512.wav b4096.wav --tol 1e-5
    # and it is not the input: the model did something
    run "$C" cmp in44.wav b512.wav --min-diff 1e-2
    ;;
errors)
    run "$C" mkmodel model.safetensors --seed 23
    run "$C" mkmodel cmodel.safetensors --seed 23 --cond drive,tone
    sig_mono in.wav 48000 32f
    echo "this is not audio" >notaudio.wav
    echo "this is not a model" >bad.safetensors
    expect_fail 1 "missing.wav" out.wav "$R" -m model.safetensors missing.wav out.wav
    expect_fail 1 "notaudio.wav" out.wav "$R" -m model.safetensors notaudio.wav out.wav
    expect_fail 1 "bad.safetensors" out.wav "$R" -m bad.safetensors in.wav out.wav
    expect_fail 1 "nomodel.safetensors" out.wav "$R" -m nomodel.safetensors in.wav out.wav
    expect_fail 2 "unknown option" out.wav "$R" -m model.safetensors --frobnicate in.wav out.wav
    expect_fail 2 "drive, tone" out.wav "$R" -m cmodel.safetensors --cond nosuch=1 in.wav out.wav
    expect_fail 2 "no conditioning inputs" out.wav "$R" -m model.safetensors --cond drive=1 in.wav out.wav
    expect_fail 2 "not a number" out.wav "$R" -m cmodel.safetensors --cond drive=abc in.wav out.wav
    expect_fail 2 "NAME=VALUE" out.wav "$R" -m cmodel.safetensors --cond drive in.wav out.wav
    expect_fail 2 "block" out.wav "$R" -m model.safetensors --block 0 in.wav out.wav
    expect_fail 2 "block" out.wav "$R" -m model.safetensors --block 12x in.wav out.wav
    expect_fail 2 "mix" out.wav "$R" -m model.safetensors --mix 1.5 in.wav out.wav
    expect_fail 2 "mix" out.wav "$R" -m model.safetensors --mix -0.1 in.wav out.wav
    expect_fail 2 "gain-in" out.wav "$R" -m model.safetensors --gain-in loud in.wav out.wav
    expect_fail 2 "needs a value" out.wav "$R" -m model.safetensors in.wav out.wav --gain-out
    expect_fail 2 "rate-mode" out.wav "$R" -m model.safetensors --rate-mode fast in.wav out.wav
    expect_fail 2 "format" out.wav "$R" -m model.safetensors --format 8 in.wav out.wav
    expect_fail 2 "backend" out.wav "$R" -m model.safetensors --backend tpu in.wav out.wav
    expect_fail 2 "missing OUT" out.wav "$R" -m model.safetensors in.wav
    expect_fail 2 "missing IN and OUT" out.wav "$R" -m model.safetensors
    expect_fail 2 "no model" out.wav "$R" in.wav out.wav
    expect_fail 2 "unexpected argument" out.wav "$R" -m model.safetensors in.wav out.wav extra.wav
    expect_fail 2 "unknown output file type" out.xyz "$R" -m model.safetensors in.wav out.xyz
    expect_fail 1 "nodir" nodir/out.wav "$R" -m model.safetensors in.wav nodir/out.wav
    ;;
existing_out)
    run "$C" mkmodel model.safetensors --seed 24
    sig_mono in.wav 48000 32f
    run sox -D -n -r 22050 -c 1 old.wav synth 0.3 sine 500
    cp old.wav out.wav
    before=$(cksum <out.wav)
    echo "this is not a model" >bad.safetensors
    echo "+ failing renders onto an existing out.wav"
    for args in "-m bad.safetensors in.wav out.wav" "-m model.safetensors missing.wav out.wav" \
        "-m model.safetensors --block 0 in.wav out.wav"; do
        # shellcheck disable=SC2086
        "$R" $args 2>/dev/null && fail "render succeeded: $args"
        [ "$(cksum <out.wav)" = "$before" ] || fail "out.wav changed by a failed run: $args"
    done
    [ -z "$(ls -a | grep hiss-tmp || true)" ] || fail "temporary file left behind"
    # a successful run replaces it, with ordinary permissions (umask 022: rw-r--r--)
    run "$R" -m model.safetensors --backend cpu in.wav out.wav
    run "$C" engine model.safetensors in.wav out.wav --tol 1e-6
    perms=$(ls -l out.wav | cut -c1-10)
    [ "$perms" = "-rw-r--r--" ] || fail "out.wav has permissions $perms"
    ;;
same_file)
    run "$C" mkmodel model.safetensors --seed 25
    sig_mono in.wav 48000 32f
    before=$(cksum <in.wav)
    echo "+ IN as OUT"
    "$R" -m model.safetensors in.wav in.wav 2>stderr.txt
    rc=$?
    cat stderr.txt
    [ $rc -eq 2 ] || fail "IN == OUT: exit $rc, expected 2"
    grep -q "same file" stderr.txt || fail "IN == OUT: no message"
    ln -s in.wav link.wav
    ln in.wav hard.wav
    for other in link.wav hard.wav ./in.wav "$W/in.wav"; do
        "$R" -m model.safetensors in.wav "$other" 2>/dev/null
        rc=$?
        [ $rc -eq 2 ] || fail "IN and OUT $other are one file: exit $rc, expected 2"
    done
    [ "$(cksum <in.wav)" = "$before" ] || fail "the input was modified"
    [ -L link.wav ] || fail "the symlink was replaced"
    ;;
signal)
    run "$C" mkmodel model.safetensors --seed 26
    # long enough (and --block 1, slow enough) to be caught in the middle
    sig_mono long.wav 48000 16 300
    for sig in INT TERM; do
        echo "+ $R ... long.wav out.wav & (then SIG$sig while it writes)"
        "$R" -m model.safetensors --backend cpu --block 1 long.wav out.wav 2>stderr.txt &
        pid=$!
        tries=0
        while [ -z "$(ls -a | grep hiss-tmp || true)" ]; do
            tries=$((tries + 1))
            [ $tries -gt 3000 ] && { kill -KILL $pid; fail "no temporary file appeared"; }
            kill -0 $pid 2>/dev/null || break
            sleep 0.01
        done
        kill -$sig $pid
        wait $pid
        rc=$?
        cat stderr.txt
        case $sig in INT) want=130 ;; TERM) want=143 ;; esac
        [ $rc -eq $want ] || fail "SIG$sig: exit $rc, expected $want"
        grep -q "interrupted" stderr.txt || fail "SIG$sig: no message"
        [ -e out.wav ] && fail "SIG$sig: out.wav exists"
        [ -z "$(ls -a | grep hiss-tmp || true)" ] || fail "SIG$sig: temporary file left behind"
    done
    ;;
cuda)
    run "$C" mkmodel model.safetensors --seed 27
    sig_mono in.wav 48000 32f
    if "$R" --version | grep -q "CUDA backend not available"; then
        expect_fail 1 "CUDA" out.wav "$R" -m model.safetensors --backend cuda in.wav out.wav
    else
        # a GPU is here: the CUDA backend must agree with the engine's CPU reference
        run "$R" -m model.safetensors --backend cuda in.wav out.wav
        run "$C" engine model.safetensors in.wav out.wav --tol 1e-4
    fi
    ;;
files)
    # --out-dir: several files, each as alone. --whole takes the batched path on the CPU, where
    # it is bit for bit the stream (test_engine_render_batch), so the outputs must equal the
    # one-file renders byte for byte; batches of 60000 samples put each file in its own.
    run "$C" mkmodel model.safetensors --seed 40 --cond drive,tone
    sig_mono a.wav 48000 32f 1
    sig_stereo b.wav 48000
    sig_mono c.wav 48000 16 2
    sig_mono d44.wav 44100 32f
    mkdir out one
    run "$R" -m model.safetensors --backend cpu --whole --cond tone=0.3 --batch-samples 60000 \
        --out-dir out a.wav b.wav c.wav 2>summary.txt
    cat summary.txt
    grep -q "3 of 3 files written" summary.txt || fail "summary lacks the file count"
    grep -q "3 batches" summary.txt || fail "--batch-samples 60000 did not make three batches"
    grep -q "b.wav -> out/b.wav: 48000 frames (1.000 s) x 2 ch" summary.txt || fail "no line for b.wav"
    for f in a b c; do
        run "$R" -m model.safetensors --backend cpu --cond tone=0.3 $f.wav one/$f.wav
        [ "$(cksum <out/$f.wav)" = "$(cksum <one/$f.wav)" ] || fail "out/$f.wav differs from $f.wav rendered alone"
    done
    run "$C" format out/c.wav wav 16 1 96000 48000
    run "$C" engine model.safetensors b.wav out/b.wav --cond 1=0.3 --tol 1e-6
    # one batch for all, options that act per file, more and fewer threads: the same bytes
    mkdir out1 out3
    for t in 1 3; do
        run "$R" -q -m model.safetensors --backend cpu --whole --cond tone=0.3 --io-threads $t --out-dir out$t \
            --mono --gain-in -6 --gain-out 3.5 --mix 0.3 --format 24 a.wav b.wav c.wav
    done
    for f in a b c; do
        run "$R" -q -m model.safetensors --backend cpu --cond tone=0.3 --mono --gain-in -6 --gain-out 3.5 \
            --mix 0.3 --format 24 $f.wav one/m$f.wav
        [ "$(cksum <out1/$f.wav)" = "$(cksum <one/m$f.wav)" ] || fail "out1/$f.wav differs from $f.wav alone"
        [ "$(cksum <out3/$f.wav)" = "$(cksum <one/m$f.wav)" ] || fail "out3/$f.wav differs from $f.wav alone"
    done
    # without --whole on the CPU every file streams, as alone; another rate with --rate-mode delta too
    mkdir outs
    run "$R" -m model.safetensors --backend cpu --rate-mode delta --out-dir outs/ a.wav d44.wav 2>summary.txt
    cat summary.txt
    grep -q "2 streamed" summary.txt || fail "the CPU files did not stream"
    for f in a d44; do
        run "$R" -m model.safetensors --backend cpu --rate-mode delta $f.wav one/s$f.wav
        [ "$(cksum <outs/$f.wav)" = "$(cksum <one/s$f.wav)" ] || fail "outs/$f.wav differs from $f.wav alone"
    done
    run "$C" format outs/d44.wav wav float 1 44100 44100
    [ -z "$(ls -a out outs out1 out3 | grep hiss-tmp || true)" ] || fail "temporary file left behind"
    ;;
files_errors)
    run "$C" mkmodel model.safetensors --seed 41
    sig_mono a.wav 48000 32f
    sig_mono c.wav 48000 32f
    sig_mono in44.wav 44100 32f
    sig_mono fl.wav 48000 24
    run sox fl.wav fl.flac
    mkdir sub o
    cp a.wav sub/a.wav
    cp a.wav noext
    echo "this is not audio" >notaudio.wav
    # refused before anything is written (exit 2), nothing in o
    expect_fail 2 "would both be written to o/a.wav" o/a.wav "$R" -m model.safetensors --whole --out-dir o a.wav sub/a.wav
    expect_fail 2 "would both be written" o/a.wav "$R" -m model.safetensors --whole --out-dir o a.wav a.wav
    before=$(cksum <a.wav)
    expect_fail 2 "refusing to overwrite an input" nothing "$R" -m model.safetensors --whole --out-dir . c.wav a.wav
    expect_fail 2 "sub/a.wav (the output of sub/a.wav) is the input sub/a.wav" nothing \
        "$R" -m model.safetensors --whole --out-dir sub c.wav sub/a.wav
    [ "$(cksum <a.wav)" = "$before" ] || fail "an input was modified"
    ln c.wav o/x.wav # the output o/x.wav is the input c.wav under another name
    cp a.wav x.wav
    expect_fail 2 "o/x.wav (the output of x.wav) is the input c.wav" nothing \
        "$R" -m model.safetensors --whole --out-dir o x.wav c.wav
    rm o/x.wav
    expect_fail 2 "unknown output file type" o/noext "$R" -m model.safetensors --whole --out-dir o a.wav noext
    expect_fail 1 "not a directory" nodir/a.wav "$R" -m model.safetensors --out-dir nodir a.wav
    expect_fail 1 "not a directory" nothing "$R" -m model.safetensors --out-dir a.wav c.wav
    expect_fail 2 "no input files" nothing "$R" -m model.safetensors --out-dir o
    expect_fail 2 "unexpected argument 'c.wav' (to render several files, give --out-dir DIR)" nothing \
        "$R" -m model.safetensors a.wav out.wav c.wav
    expect_fail 2 "applies to several files" out.wav "$R" -m model.safetensors --batch-samples 10 a.wav out.wav
    expect_fail 2 "io-threads" nothing "$R" -m model.safetensors --io-threads 0 --out-dir o a.wav
    expect_fail 2 "batch-samples" nothing "$R" -m model.safetensors --batch-samples 1x --out-dir o a.wav
    expect_fail 2 "applies to effect models" nothing "$R" --midi x.mid -m model.safetensors --out-dir o out.wav
    [ -z "$(ls -A o)" ] || fail "o is not empty after refused runs: $(ls -A o)"
    # failing files among good ones: each named, skipped, the others written; an old output of a
    # failing file stays as it was
    run sox -D -n -r 22050 -c 1 old.wav synth 0.3 sine 500
    cp old.wav o/notaudio.wav
    old=$(cksum <old.wav)
    for mode in "--whole" "--backend cpu"; do
        echo "+ $R -m model.safetensors $mode --format float --out-dir o a.wav notaudio.wav missing.wav in44.wav fl.flac c.wav"
        # shellcheck disable=SC2086
        "$R" -m model.safetensors $mode --format float --out-dir o a.wav notaudio.wav missing.wav in44.wav fl.flac \
            c.wav 2>stderr.txt
        rc=$?
        cat stderr.txt
        [ $rc -eq 1 ] || fail "$mode: some files failed: exit $rc, expected 1"
        for bad in notaudio.wav missing.wav in44.wav o/fl.flac; do
            grep -q "$bad" stderr.txt || fail "$mode: the failure of $bad is not named"
        done
        grep -q "in44.wav is at 44100 Hz" stderr.txt || fail "$mode: the rate message is not the one-file one"
        grep -q "cannot hold" stderr.txt || fail "$mode: the format message is not the one-file one"
        grep -q "2 of 6 files written" stderr.txt || fail "$mode: summary"
        for f in missing in44; do
            [ -e o/$f.wav ] && fail "$mode: o/$f.wav written for a failing file"
        done
        [ -e o/fl.flac ] && fail "$mode: o/fl.flac written although FLAC cannot hold float"
        [ "$(cksum <o/notaudio.wav)" = "$old" ] || fail "$mode: the old o/notaudio.wav was changed"
        for f in a c; do
            run "$C" engine model.safetensors $f.wav o/$f.wav --tol 1e-6
            rm o/$f.wav
        done
        [ -z "$(ls -a o | grep hiss-tmp || true)" ] || fail "$mode: temporary file left behind"
    done
    ;;
files_signal)
    run "$C" mkmodel model.safetensors --seed 42
    sig_mono l1.wav 48000 16 10
    cp l1.wav l2.wav
    cp l1.wav l3.wav
    mkdir o
    # a batch a file, rendered on the CPU (seconds each): stopped once the first is written
    echo "+ $R ... --out-dir o l1.wav l2.wav l3.wav & (then SIGINT once o/l1.wav exists)"
    "$R" -m model.safetensors --backend cpu --whole --batch-samples 1 --out-dir o l1.wav l2.wav l3.wav 2>stderr.txt &
    pid=$!
    tries=0
    while [ ! -e o/l1.wav ]; do
        tries=$((tries + 1))
        [ $tries -gt 6000 ] && { kill -KILL $pid; fail "o/l1.wav never appeared"; }
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    kill -INT $pid
    wait $pid
    rc=$?
    cat stderr.txt
    [ $rc -eq 130 ] || fail "SIGINT: exit $rc, expected 130"
    grep -q "interrupted by signal 2; 1 of 3 files written" stderr.txt || fail "SIGINT: no message"
    [ -e o/l3.wav ] && fail "SIGINT: o/l3.wav written after the signal"
    [ -z "$(ls -a o | grep hiss-tmp || true)" ] || fail "SIGINT: temporary file left behind"
    run "$C" engine model.safetensors l1.wav o/l1.wav --clip 16 --tol 3.1e-5
    ;;
files_cuda)
    run "$C" mkmodel model.safetensors --seed 43 --cond drive,tone
    sig_mono a.wav 48000 32f 2
    sig_stereo b.wav 48000
    sig_mono c.wav 48000 24
    mkdir o
    if "$R" --version | grep -q "CUDA backend not available"; then
        expect_fail 1 "CUDA backend is not available" o/a.wav "$R" -m model.safetensors --backend cuda --out-dir o a.wav
    else
        # a GPU is here: one batch, and a batch a file; each output as the engine's CPU
        # reference gives it and as the file rendered alone on the GPU
        run "$R" -m model.safetensors --backend cuda --cond drive=0.6 --out-dir o a.wav b.wav c.wav 2>summary.txt
        cat summary.txt
        grep -q "1 batch on the cuda backend" summary.txt || fail "not one batch on the GPU"
        mkdir o2 one
        run "$R" -m model.safetensors --backend cuda --cond drive=0.6 --batch-samples 1 --out-dir o2 a.wav b.wav c.wav
        for f in a b c; do
            run "$R" -m model.safetensors --backend cuda --cond drive=0.6 $f.wav one/$f.wav
            run "$C" cmp one/$f.wav o/$f.wav --tol 1e-5
            run "$C" cmp one/$f.wav o2/$f.wav --tol 1e-5
        done
        run "$C" engine model.safetensors a.wav o/a.wav --cond 0=0.6 --tol 1e-4
        run "$C" engine model.safetensors b.wav o/b.wav --cond 0=0.6 --tol 1e-4
        run "$C" engine model.safetensors c.wav o/c.wav --cond 0=0.6 --clip 24 --tol 1e-4
    fi
    ;;
*)
    fail "unknown case"
    ;;
esac
echo "PASS [$case_name]"
exit 0
