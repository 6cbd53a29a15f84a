#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — builds the libFuzzer targets (clang, in build-fuzz/)
# and runs each for SECONDS from its seed corpus (tests/fuzz/corpus/<target>/, never written
# to: what a run finds goes to build-fuzz/corpus/<target>/). Prints per target the executions
# and the coverage reached (cov: edges, ft: features). A crash, leak or sanitizer report fails
# the run; the reproducer stays in build-fuzz/crashes/ (replay it with
# build-fuzz/tests/fuzz/fuzz_<target> FILE; add it to the seed corpus with the fix).
# FUZZ_JOBS=N runs each target in N processes (-jobs); default 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}"
shift
build="$root/build-fuzz"
"$root/deploy/install-deps.sh" >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for src in "$root"/tests/fuzz/fuzz_*.c; do
        name="$(basename "$src" .c)"
        targets+=("${name#fuzz_}")
    done
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DLEAKWATCH_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1 || {
    cat "$build/build.log"
    exit 1
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
jobs="${FUZZ_JOBS:-1}"
parallel=()
# -jobs puts each job's output in fuzz-<n>.log of the current directory: one per target
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
failed=0
for t in "${targets[@]}"; do
    run="$build/run/$t" work="$build/corpus/$t" crashes="$build/crashes" log="$build/fuzz_$t.log"
    rm -rf "$run"
    mkdir -p "$run" "$work" "$crashes"
    status=0
    # the work corpus first: libFuzzer adds what it finds to the first directory only
    (cd "$run" && "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$crashes/$t-" "${parallel[@]}" "$work" "$root/tests/fuzz/corpus/$t" \
        >"$log" 2>&1) || status=$?
    cat "$run"/fuzz-*.log >>"$log" 2>/dev/null || true
    # executions summed over the jobs; coverage of the last status line (one job's)
    execs="$(awk '/stat::number_of_executed_units:/ {n += $2} END {print n + 0}' "$log")"
    last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)"
    cov="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")"
    ft="$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")"
    corpus="$(find "$work" -type f | wc -l)"
    if [ "$status" -ne 0 ] || grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
        echo "fuzz_$t: FAILED after $execs executions (log $log)"
        grep -E 'ERROR:|runtime error:|Test unit written to' "$log" | head -5 | sed 's/^/  /'
        failed=1
    else
        echo "fuzz_$t: ${seconds}s, $execs executions, cov: ${cov:-?} ft: ${ft:-?}, corpus $corpus"
    fi
done
exit "$failed"
