#!/bin/bash
# Everything the CUDA backend needs a GPU for, in one call on the GPU machine (device time is
# scarce): tests, compute-sanitizer, benchmarks, kernel timings. Logs go under $OUT.
#   kernels/device-run.sh [tests] [san] [bench] [synthbench] [lat] [lat3] [ncu] [ncu1] [prof] [synthprof] [render]
#                         [servertest] [servermem] [serverbench]
#   (default: tests bench ncu san)
# Binaries come from $BIN (default build-cudabin, built elsewhere and carried) or are built here.
set -u
OUT=${OUT:-/tmp/hiss-out}
BIN=${BIN:-build-cudabin}
mkdir -p "$OUT"
modes=${*:-tests bench ncu san}
SUMMARY=$OUT/summary.log
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

if [ ! -x "$BIN/test_cuda_match" ]; then
    say "building in build-gpu"
    cmake -S . -B build-gpu -DHISS_PLUGIN=OFF -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 &&
        cmake --build build-gpu -j16 --target test_cuda_match test_cuda_state test_cuda_nan \
            test_cuda_many test_cuda_render test_cuda_batch test_cuda_offline test_cuda_sync test_cuda_synth hiss-bench test_server hiss-server >>"$OUT/build.log" 2>&1 || { say "BUILD FAILED"; tail -30 "$OUT/build.log"; exit 1; }
    mkdir -p "$BIN"
    cp build-gpu/tests/test_cuda_* build-gpu/tests/test_server build-gpu/tools/bench/hiss-bench \
        build-gpu/tools/server/hiss-server "$BIN/"
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,temperature.gpu \
    --format=csv,noheader | tee -a "$SUMMARY"

for m in $modes; do
case $m in
servertest)
    # hiss-server's test against the CPU, with the server on the CPU and on the GPU
    T=/tmp/hiss-server-test
    mkdir -p $T
    for b in cpu cuda; do
        timeout 300 "$BIN/test_server" "$BIN/hiss-server" $b $T >"$OUT/test_server_$b.log" 2>&1
        say "test_server $b rc=$?: $(tail -1 "$OUT/test_server_$b.log")"
        grep -E "FAIL|client|most|killed|changed" "$OUT/test_server_$b.log" >>"$SUMMARY"
    done
    ;;
servermem)
    # the server's kernels under memcheck, racecheck and synccheck: the server itself runs under
    # compute-sanitizer, with hiss-bench instances as its clients. 8 one-stream clients use 8 of a
    # group's slots, so every launch skips the rest; memcheck then drops that group and makes one
    # for 3 two-stream clients at another block. The server is stopped with SIGTERM sent to it (not
    # to the sanitizer), so it frees everything and the sanitizer prints its summary.
    S=/tmp/hiss-san.sock
    sanserver() { # TOOL SECONDS BENCH2 SERVER-ARGS...
        local tool=$1 secs=$2 bench2=$3 log=$OUT/san_${1}_server.log
        shift 3
        rm -f $S
        timeout 400 compute-sanitizer --tool $tool --error-exitcode 9 $SAN_EXTRA "$BIN/hiss-server" \
            --socket $S --backend cuda "$@" >"$log" 2>&1 &
        local sp=$!
        for i in $(seq 1 120); do [ -S $S ] && break; sleep 0.5; done
        "$BIN/hiss-bench" --size 16x2 --instances 8 --backend server --server $S --block 64 \
            --seconds $secs >"$OUT/san_${tool}_bench.log" 2>&1
        [ $bench2 = 1 ] && "$BIN/hiss-bench" --size 16x2 --instances 3 --streams 2 --backend server \
            --server $S --block 48 --seconds $secs >>"$OUT/san_${tool}_bench.log" 2>&1
        sleep 2
        # (the sanitizer runs the server under its absolute path: match the process name)
        say "$tool: stopping $(pgrep -a -x hiss-server | head -1)"
        pkill -TERM -x hiss-server
        for i in $(seq 1 240); do kill -0 $sp 2>/dev/null || break; sleep 0.5; done
        kill -0 $sp 2>/dev/null && { say "$tool: hiss-server did not stop in 120 s"; pkill -KILL -x hiss-server; }
        wait $sp
        local rc=$?
        cat "$OUT/san_${tool}_bench.log" >>"$log"
        say "$tool hiss-server rc=$rc : $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|launches|deadline|did not' "$log" | tr '\n' ' ')"
    }
    for tool in ${SERVERMEM_TOOLS:-memcheck racecheck synccheck}; do
        case $tool in
        memcheck) SAN_EXTRA="--leak-check full" sanserver memcheck 1 1 ;;
        racecheck) SAN_EXTRA="--racecheck-report all" sanserver racecheck 3 0 --slots 64 ;;
        synccheck) SAN_EXTRA="" sanserver synccheck 1 1 --slots 64 ;;
        esac
    done
    cat "$OUT"/san_*_server.log >"$OUT/sanitizers_server.log"
    rm -f "$OUT"/san_*_server.log "$OUT"/san_*_bench.log
    ;;
serverbench)
    # plugin-like instances through hiss-server on the GPU, paced at 48 kHz
    S=/tmp/hiss-bench.sock
    # two launch policies side by side: the default (a launch starts once 256 streams wait), and
    # waiting for every client of the cycle (--batch-min larger than any count)
    for policy in "default:" "gather-all:--batch-min 1000000"; do
        name=${policy%%:*}
        "$BIN/hiss-server" --socket $S --backend cuda ${policy#*:} 2>"$OUT/server_bench_$name.log" &
        SP=$!
        sleep 1
        for n in ${SERVER_N:-1 128 512 768 1024}; do
            say "[$name] $("$BIN/hiss-bench" --size 32x4 --instances $n --backend server --server $S --block 64 --seconds ${SERVER_S:-5} 2>&1 | tail -1)"
        done
        if [ $name = default ]; then
            for n in 1 1024; do
                say "[$name] $("$BIN/hiss-bench" -m presets/models/ts9-drive.safetensors --instances $n --backend server --server $S --block 64 --seconds ${SERVER_S:-5} 2>&1 | tail -2 | tr '\n' ' ')"
            done
        fi
        kill $SP
        wait $SP
        grep -v "client of\|pid" "$OUT/server_bench_$name.log" >>"$SUMMARY"
    done
    for n in 1 4; do
        say "cpu: $("$BIN/hiss-bench" --size 32x4 --instances $n --backend cpu --block 64 --seconds ${SERVER_S:-5} 2>&1 | tail -1)"
    done
    ;;
tests)
    for t in ${TESTS:-match state nan many render batch offline sync synth}; do
        start=$(date +%s.%N)
        timeout 120 "$BIN/test_cuda_$t" >"$OUT/test_$t.log" 2>&1
        rc=$?
        say "test_cuda_$t rc=$rc ($(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s): $(tail -1 "$OUT/test_$t.log")"
        grep -E "FAIL|rel L2|bit-identical|DIFFERENT|resets|draws|samples the CPU" "$OUT/test_$t.log" | head -24 >>"$SUMMARY"
    done
    cat "$OUT"/test_*.log >"$OUT/tests.log"
    rm -f "$OUT"/test_*.log
    ;;
san)
    for t in ${MEMCHECK_TESTS-match state nan many render batch offline sync synth}; do
        HISS_TEST_QUICK=1 timeout ${SAN_T:-240} compute-sanitizer --tool memcheck --leak-check full \
            --error-exitcode 9 "$BIN/test_cuda_$t" >"$OUT/san_memcheck_$t.log" 2>&1
        say "memcheck test_cuda_$t rc=$? : $(grep -E 'ERROR SUMMARY' "$OUT/san_memcheck_$t.log" | tail -1)"
    done
    # racecheck is the slowest tool (minutes per synth run): the tests run side by side, the
    # synth test split into its parts (HISS_TEST_ONLY), one process each
    race() { # NAME TEST [PARTS]
        HISS_TEST_ONLY=${3:-} HISS_TEST_QUICK=1 timeout ${SAN_T:-560} compute-sanitizer --tool racecheck \
            --racecheck-report all --error-exitcode 9 "$BIN/test_cuda_$2" >"$OUT/san_racecheck_$1.log" 2>&1
        say "racecheck $1 rc=$? : $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/san_racecheck_$1.log" | tail -1)"
    }
    for t in ${RACECHECK_TESTS-nan state render batch offline sync synth many:partial}; do
        if [ "$t" = synth ]; then
            for p in sampler teacher free exact nan cuts sampling deadline; do race "synth-$p" synth "$p" & done
        elif [ "${t#*:}" != "$t" ]; then # TEST:PART
            race "${t%%:*}-${t#*:}" "${t%%:*}" "${t#*:}" &
        else
            race "$t" "$t" &
        fi
    done
    wait
    for t in ${SYNCCHECK_TESTS-nan synth}; do
        HISS_TEST_QUICK=1 timeout ${SAN_T:-200} compute-sanitizer --tool synccheck --error-exitcode 9 \
            "$BIN/test_cuda_$t" >"$OUT/san_synccheck_$t.log" 2>&1
        say "synccheck test_cuda_$t rc=$? : $(grep -E 'ERROR SUMMARY' "$OUT/san_synccheck_$t.log" | tail -1)"
    done
    cat "$OUT"/san_*.log >"$OUT/sanitizers.log"
    rm -f "$OUT"/san_*.log
    ;;
bench)
    B=$BIN/hiss-bench
    L=$OUT/bench.log
    : >"$L"
    run() { echo "## $*" >>"$L"; timeout 120 env "$@" >>"$L" 2>&1; tail -1 "$L" | tee -a "$SUMMARY"; }
    say "== latency, one stream, 32x4, block 64, back to back (env: knobs)"
    for cfg in ${LAT_CFGS:-X=1 HISS_CUDA_THREADS=256 HISS_CUDA_TC=16}; do
        say "-- $cfg"
        run $cfg $B --size 32x4 --backend cuda --block 64 --latency 20000 --seconds 2
    done
    for blk in ${LAT_BLOCKS:-1 16 256}; do
        say "-- block $blk"
        run X=1 $B --size 32x4 --backend cuda --block $blk --latency $((blk < 64 ? 20000 : 5000)) --seconds 2
    done
    say "== paced at 48 kHz (an audio callback), 32x4, block 64: wait / deadline 300 us / pipelined"
    run X=1 $B --size 32x4 --backend cuda --block 64 --latency 5000 --seconds 2 --paced
    run X=1 $B --size 32x4 --backend cuda --block 64 --latency 5000 --seconds 2 --paced --sync deadline --deadline-us 300
    run X=1 $B --size 32x4 --backend cuda --block 64 --latency 5000 --seconds 2 --paced --sync pipelined
    say "== throughput, 32x4, block 64"
    for n in ${TP_STREAMS:-132 1024 16384}; do
        secs=$(awk -v n="$n" 'BEGIN{s=400/n; if (s>1) s=1; printf "%.3f", s}')
        for cfg in ${TP_CFGS:-X=1 HISS_CUDA_THREADS=256}; do
            say "-- streams $n $cfg"
            run $cfg $B --size 32x4 --backend cuda --block 64 --streams $n --seconds "$secs" --runs 3
        done
    done
    say "== offline render, 10 minutes of audio"
    run X=1 $B --size 32x4 --backend cuda --offline --seconds 600 --runs 3
    run X=1 $B --size 16x2 --backend cuda --offline --seconds 600 --runs 3
    run X=1 $B --size 64x4 --backend cuda --offline --seconds 600 --runs 3
    run X=1 $B --size 32x4 --backend cpu --offline --seconds 2 --runs 1
    say "== offline render, many files in one batch (hiss_render_offline_batch)"
    run X=1 $B --size 32x4 --backend cuda --offline --seconds 10 --files 64 --runs 3
    run X=1 $B --size 16x2 --backend cuda --offline --seconds 10 --files 64 --runs 3
    if [ -n "${TP_MORE:-}" ]; then
        say "== more sizes"
        run X=1 $B --size 32x4 --backend cuda --block 256 --streams 4096 --seconds 0.2 --runs 3
        run X=1 $B --size 16x2 --backend cuda --block 64 --streams 4096 --seconds 0.2 --runs 3
        run X=1 $B --size 64x4 --backend cuda --block 64 --streams 1024 --seconds 0.3 --runs 3
        run X=1 $B --size 16x2 --backend cuda --block 64 --latency 20000 --seconds 2
        run X=1 $B --size 64x4 --backend cuda --block 64 --latency 20000 --seconds 2
    fi
    ;;
ncu)
    # Kernel time alone (the graph's copies excluded), a few launches after warm-up.
    N=$OUT/ncu.log
    : >"$N"
    for args in ${NCU_ARGS:-"--streams 1 --block 64" "--streams 16384 --block 64"}; do
        echo "## $args" >>"$N"
        timeout 180 ncu --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
            --section MemoryWorkloadAnalysis -k regex:hc_stream --launch-skip 20 --launch-count 2 \
            "$BIN/hiss-bench" --size 32x4 --backend cuda $args --seconds 0.1 --runs 1 >>"$N" 2>&1
        say "ncu $args: $(grep -E '^ +Duration' "$N" | tail -2 | tr -s ' ' | tr '\n' ';')"
    done
    ;;
prof)
    # Where the instructions and stalls go, per source line (built with -lineinfo).
    timeout 240 ncu --section SourceCounters --section WarpStateStats --section InstructionStats \
        --section SchedulerStats --section LaunchStats --section Occupancy -k regex:hc_stream \
        --launch-skip 20 --launch-count 1 -o "$OUT/prof" -f \
        "$BIN/hiss-bench" --size 32x4 --backend cuda --streams ${PROF_STREAMS:-1024} --block 64 \
        --seconds 0.1 --runs 1 >"$OUT/prof_run.log" 2>&1
    say "prof rc=$?"
    ncu -i "$OUT/prof.ncu-rep" --page details --print-details all >"$OUT/prof_details.log" 2>&1
    ncu -i "$OUT/prof.ncu-rep" --page source --csv --print-source cuda >"$OUT/prof_src.csv" 2>&1 ||
        ncu -i "$OUT/prof.ncu-rep" --page source --csv >"$OUT/prof_src.csv" 2>&1
    say "prof outputs: $(wc -c <"$OUT/prof_details.log") $(wc -c <"$OUT/prof_src.csv") bytes"
    rm -f "$OUT/prof.ncu-rep" "$OUT/prof_run.log"
    ;;
debug)
    HISS_TEST_QUICK=1 HISS_TEST_VERBOSE=1 timeout 200 compute-sanitizer --tool memcheck \
        "$BIN/test_cuda_sync" >"$OUT/debug_sync.log" 2>&1
    say "memcheck sync verbose rc=$?"
    grep -E "call|FAIL|deadline|pipelined|overflow|Error|=====" "$OUT/debug_sync.log" | head -40 | tee -a "$SUMMARY"
    # where the offline render's time goes: one segment of 2^20 samples, every kernel once
    timeout 200 ncu --section SpeedOfLight -k regex:rd_ --launch-skip 0 --launch-count 17 \
        "$BIN/hiss-bench" --size 32x4 --backend cuda --offline --seconds 21.8 --runs 1 \
        >"$OUT/ncu_render.log" 2>&1
    say "ncu render rc=$?"
    grep -E "rd_[a-z_]+|^ +Duration" "$OUT/ncu_render.log" | sed -E 's/\(rd_params\).*//' | paste - - | \
        awk '{print $2, $(NF-1), $NF}' | tee -a "$SUMMARY"
    ;;
synthbench)
    # The synth: us per sample for 1, 8, 64 and 1024 voices held, CPU and CUDA, calls of 64.
    B=$BIN/hiss-bench
    L=$OUT/synthbench.log
    : >"$L"
    run() { echo "## $*" >>"$L"; timeout 200 env "$@" >>"$L" 2>&1; tail -2 "$L" | tr '\n' ' ' | sed 's/^synth model //' | tee -a "$SUMMARY"; echo | tee -a "$SUMMARY"; }
    say "== synth ${SYNTH_SIZE:-32x4}, 48 kHz, block 64: cuda"
    for v in 1 8 64 1024; do
        run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices $v --backend cuda --block 64 --seconds 0.2 --runs 3
    done
    for nt in ${SYNTH_NTS:-128 512}; do
        for v in 1 64; do
            run HISS_CUDA_SYNTH_THREADS=$nt $B --synth --size ${SYNTH_SIZE:-32x4} --voices $v --backend cuda --block 64 --seconds 0.2 --runs 3
        done
    done
    run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices 8 --backend cuda --block 64 --seconds 0.1 --runs 3 --top-p 0.9
    say "== synth: cpu"
    run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices 1 --backend cpu --block 64 --seconds 0.2 --runs 3
    run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices 8 --backend cpu --block 64 --seconds 0.05 --runs 3
    run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices 64 --backend cpu --block 64 --seconds 0.01 --runs 1
    run X=1 $B --synth --size ${SYNTH_SIZE:-32x4} --voices 1024 --backend cpu --block 64 --seconds 0.0027 --runs 1
    ;;
lat)
    # One stream, 32x4, block 64: zero-copy submissions (the default for small batches) against
    # the copies, back to back, twice each.
    B=$BIN/hiss-bench
    L=$OUT/lat.log
    : >"$L"
    for rep in 1 2; do
        for zc in 1 0; do
            echo "## zc $zc" >>"$L"
            HISS_CUDA_ZEROCOPY=$zc timeout 100 $B --size 32x4 --backend cuda --block 64 --latency ${LAT_N:-20000} --seconds 2 >>"$L" 2>&1
            say "zero-copy $zc: $(tail -1 "$L")"
        done
    done
    ;;
lat3)
    # The three bench sizes over 100,000 blocks (docs/BENCHMARKS.md).
    B=$BIN/hiss-bench
    L=$OUT/lat3.log
    : >"$L"
    for sz in 16x2 32x4 64x6; do
        echo "## $sz" >>"$L"
        timeout 150 $B --size $sz --backend cuda --block 64 --latency ${LAT3_N:-100000} --seconds 2 >>"$L" 2>&1
        say "$sz: $(tail -1 "$L")"
    done
    ;;
ncu1)
    # The kernel alone for one stream of 32x4 (zero-copy and copies) and for the synth at one
    # voice, at the clock the card runs (no clock control), for where the time goes.
    N=$OUT/ncu1.log
    : >"$N"
    for zc in 1 0; do
        echo "## stream zc $zc" >>"$N"
        HISS_CUDA_ZEROCOPY=$zc timeout 120 ncu --clock-control none --section SpeedOfLight -k regex:hc_stream \
            --launch-skip 50 --launch-count 5 "$BIN/hiss-bench" --size 32x4 --backend cuda --block 64 \
            --latency 200 --seconds 0.1 >>"$N" 2>&1
        say "ncu stream zc $zc: $(grep -E '^ +Duration' "$N" | tail -5 | awk '{print $3}' | tr '\n' ' ') $(grep -E '^ +Duration' "$N" | tail -1 | awk '{print $2}')"
    done
    echo "## synth 1 voice" >>"$N"
    timeout 120 ncu --clock-control none --section SpeedOfLight -k regex:hs_synth --launch-skip 10 --launch-count 3 \
        "$BIN/hiss-bench" --synth --size 32x4 --voices 1 --backend cuda --block 64 --seconds 0.05 --runs 1 >>"$N" 2>&1
    say "ncu synth 1 voice, 64 samples: $(grep -E '^ +Duration' "$N" | tail -3 | awk '{print $3}' | tr '\n' ' ') $(grep -E '^ +Duration' "$N" | tail -1 | awk '{print $2}')"
    ;;
synthprof)
    # Where a synth sample's 20 us go (one voice, 32x4): stall reasons, instruction counts and
    # per-line counters (built with -lineinfo); the size of the kernel's code is the first suspect.
    timeout 240 ncu --clock-control none --section SourceCounters --section WarpStateStats \
        --section InstructionStats --section LaunchStats -k regex:hs_synth --launch-skip 10 --launch-count 1 \
        -o "$OUT/sprof" -f "$BIN/hiss-bench" --synth --size 32x4 --voices 1 --backend cuda --block 64 \
        --seconds 0.05 --runs 1 >"$OUT/sprof_run.log" 2>&1
    say "synthprof rc=$?"
    ncu -i "$OUT/sprof.ncu-rep" --page details --print-details all >"$OUT/sprof_details.log" 2>&1
    ncu -i "$OUT/sprof.ncu-rep" --page source --csv --print-source cuda >"$OUT/sprof_src.csv" 2>&1
    grep -E "Stall|stall|Warp Cycles|Executed Instructions|No Instruction" "$OUT/sprof_details.log" | head -30 | tee -a "$SUMMARY"
    rm -f "$OUT/sprof.ncu-rep" "$OUT/sprof_run.log"
    ;;
render)
    if [ -x "$BIN/hiss-render-bench" ]; then
        timeout 300 "$BIN/hiss-render-bench" >"$OUT/render.log" 2>&1
        say "render rc=$?"
        tail -15 "$OUT/render.log" | tee -a "$SUMMARY"
    fi
    ;;
esac
done
say "done"
