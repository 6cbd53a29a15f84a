#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs every unit and
# integration test with ctest. --sanitize builds with -fsanitize=address,undefined into
# build-asan/ and runs the same suite there.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
flags=(-DLEAKWATCH_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
    build=build-asan
    flags+=(-DLEAKWATCH_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
    # librdkafka's and hiredis' own allocations are not ours to report
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi

./deploy/install-deps.sh
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
# Four at once: the integration tests mostly wait (group joins, deadlines, the broker), each
# on its own ports and its own redis-server; one after another they keep the CPU 20 % busy.
ctest --test-dir "$build" --output-on-failure -j4
