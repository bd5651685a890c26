#!/usr/bin/env bash
# Bad input, part 1: fuzzes the report decoder (gunzip under the size limits, ReportParser, version
# check, validation: ReportCodec.decodeReport, exactly as POST /v1/reports runs it) with libFuzzer.
#
# Checks, each counted in the closing "N passed, N failed" line:
#   1. every input of the committed corpus (fuzz/corpus/) passes the oracle (Sources/GapwatchFuzz);
#   2. a time-bounded fuzz run from that corpus finds no crash, timeout, leak or out-of-memory.
# Figures printed: executions, exec/s, coverage (edges, features), corpus size, new inputs, peak RSS.
# A crash leaves its input in fuzz/crashes/ (gitignored) and the suite exits 1. Reproduce with
#   .build/debug/gapwatch-fuzz fuzz/crashes/crash-<hash>          (the replay tool, normal build)
#
# Environment: FUZZ_SECONDS (default 90) bounds the fuzz run; FUZZ_MERGE=1 afterwards rewrites
# fuzz/corpus/ as the named seeds plus a minimal set (-merge=1) covering what the run reached, to commit.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-90}"
scratch=.build-fuzz
# The Swift runtime's crash backtracer trips over AddressSanitizer and can hang; libFuzzer reports
# the crash itself.
export SWIFT_BACKTRACE=enable=no
work=fuzz/.work
mkdir -p fuzz/crashes "$work"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() { echo "$passed passed, $failed failed"; exit $((failed > 0)); }

# -sanitize=fuzzer instruments for coverage and links libFuzzer's main; address catches out-of-bounds
# reads in the parser's unsafe buffers that a release build would not trap. -DGAPWATCH_FUZZ drops the
# replay tool's own main (Sources/GapwatchFuzz/FuzzTarget.swift).
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -DGAPWATCH_FUZZ)
echo "building the fuzzer: swift build --scratch-path $scratch -c debug --product gapwatch-fuzz ${flags[*]}"
if ! swift build --scratch-path "$scratch" -c debug --product gapwatch-fuzz "${flags[@]}" >"$work/build.log" 2>&1; then
    tail -30 "$work/build.log"
    fail "the fuzzer builds"
    finish
fi
bin="$(swift build --scratch-path "$scratch" -c debug --show-bin-path)/gapwatch-fuzz"

# Shared by both runs. -max_len covers the largest seed (a 9 MiB gzip bomb is 9 KB); -timeout
# flags one input that takes over 10 s; -rss_limit_mb bounds the 8 MiB inflate limit's buffers.
options=(-max_len=12288 -timeout=10 -rss_limit_mb=2048 -dict=fuzz/report.dict "-artifact_prefix=fuzz/crashes/" -print_final_stats=1)

corpus_inputs=$(find fuzz/corpus -type f | wc -l)
echo "replaying the committed corpus: $corpus_inputs inputs"
if "$bin" "${options[@]}" -runs=0 fuzz/corpus >"$work/replay.log" 2>&1; then
    pass "all $corpus_inputs corpus inputs pass the oracle"
else
    grep -E "fuzz oracle|ERROR|SUMMARY|Test unit written" "$work/replay.log" | head -20 || tail -30 "$work/replay.log"
    fail "a corpus input fails the oracle (see $work/replay.log)"
fi

# New inputs go to a scratch folder (the first one named); the committed corpus is only read.
rm -rf "$work/new" && mkdir -p "$work/new"
echo "fuzzing for ${seconds}s: $bin -max_total_time=$seconds ${options[*]} $work/new fuzz/corpus"
status=0
"$bin" "${options[@]}" -max_total_time="$seconds" "$work/new" fuzz/corpus >"$work/fuzz.log" 2>&1 || status=$?

stat() { sed -n "s/^stat::$1: *//p" "$work/fuzz.log" | tail -1; }
last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
echo "figures: execs=$(stat number_of_executed_units) exec/s=$(stat average_exec_per_sec)" \
    "coverage: edges=${cov:-?} features=${ft:-?} corpus=${corp:-?} (inputs/size)" \
    "new_inputs=$(stat new_units_added) slowest_input_s=$(stat slowest_unit_time_sec) peak_rss_mb=$(stat peak_rss_mb)"

if [ "$status" -eq 0 ]; then
    pass "fuzzed ${seconds}s with no crash"
else
    grep -E "fuzz oracle|ERROR|SUMMARY|Test unit written|Fatal error" "$work/fuzz.log" | head -20 || tail -30 "$work/fuzz.log"
    fail "fuzzing found a failing input (libFuzzer exit $status; input in fuzz/crashes/, log $work/fuzz.log)"
fi

if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$status" -eq 0 ]; then
    # Minimise: the smallest set of inputs (corpus + this run's) that keeps every covered edge
    # (-use_counters=0: hit counts would keep hundreds more). Named inputs (seed-*, found-*) stay as
    # documentation; the hash-named ones are replaced by the minimal set, less copies of named ones.
    before=$(find fuzz/corpus -type f | wc -l)
    rm -rf "$work/min" && mkdir -p "$work/min"
    "$bin" "${options[@]}" -use_counters=0 -merge=1 "$work/min" fuzz/corpus "$work/new" >"$work/merge.log" 2>&1
    find fuzz/corpus -type f ! -name 'seed-*' ! -name 'found-*' -delete
    named=$(sha1sum fuzz/corpus/* | cut -d' ' -f1)
    for file in "$work/min"/*; do
        grep -qx "$(basename "$file")" <<<"$named" || cp "$file" fuzz/corpus/
    done
    echo "merged: fuzz/corpus $before -> $(find fuzz/corpus -type f | wc -l) inputs," \
        "$(cat fuzz/corpus/* | wc -c) bytes ($(tail -1 "$work/merge.log"))"
fi

finish
