#!/usr/bin/env bash
# The library's cost in instructions, repeatable on a noisy machine: N benchmark events
# (tests/bench/gen_events.awk) go through one `leakwatch run --clock event` once, with
# every Redis pipeline it sends dumped (LW_REDIS_DUMP); the dump is then replayed into a
# fresh redis-server under callgrind, counting only what FCALL runs (the library and the
# commands it calls). Prints instructions per FCALL and in all.
#   tests/bench/lua_profile.sh [N=5000] [LIBRARY.lua...]
# With LIBRARY files (each a whole library as cmake/lua_library.cmake writes it with
# OUT_LUA: e.g. a copy of processor/lua/ with one rule switched off), each is replayed
# against the same dump too: the difference is what that rule costs. KEEP=1 keeps the
# dump and the callgrind files (callgrind_annotate --inclusive=yes FILE).
set -euo pipefail
N=${1:-5000}
shift || true
root=$(cd "$(dirname "$0")/../.." && pwd)
export LEAKWATCH=${LEAKWATCH:-$root/build/leakwatch}
export LW_TEST_ROOT=$root/tests
export LW_KEEP=${KEEP:-0}
# shellcheck source=../integration/lib.sh
source "$root/tests/integration/lib.sh"
for tool in valgrind callgrind_annotate redis-server redis-cli cmake; do
    command -v "$tool" >/dev/null || { echo "lua_profile.sh needs $tool" >&2; exit 2; }
done
lw_setup
lw_start_redis
lw_start_broker --partitions 3

awk -v N="$N" -v TENANTS=4 -f "$root/tests/bench/gen_events.awk" | sort -s -k1,1 | cut -f2- \
    >"$LW_TMP/events.ndjson"
"$LEAKWATCH" produce "$LW_TMP/events.ndjson" --kafka.brokers "$BROKERS" 2>"$LW_TMP/produce.log"
LW_REDIS_DUMP=$LW_TMP/pipelines.resp "$LEAKWATCH" run --kafka.brokers "$BROKERS" \
    --redis.url "$REDIS_URL" --clock event --until-end --stats.interval 0 --group.id profile \
    2>"$LW_TMP/run.log"
fcalls=$(grep -c '^lw_event$\|^lw_fire$\|^lw_flush$' <(tr -d '\r' <"$LW_TMP/pipelines.resp") || true)

# The library as the build assembles it.
mapfile -t sources < <(printf '%s\n' "$root"/processor/lua/*.lua | LC_ALL=C sort)
cmake -DKEYS="$root/processor/keys.tab" "-DSOURCES=$(IFS=, && echo "${sources[*]}")" \
    -DOUT_LUA="$LW_TMP/library.lua" -P "$root/cmake/lua_library.cmake"

# replay LIBRARY: the instructions FCALL ran while the dump was replayed against it
replay() {
    local port out=$LW_TMP/callgrind.$RANDOM
    port=$(lw_random_port)
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect=fcallCommand redis-server --port "$port" --save '' --appendonly no \
        >"$LW_TMP/valgrind.log" 2>&1 &
    local pid=$!
    lw_wait_for "redis-cli -p $port ping" 60 || lw_fail "redis-server under valgrind did not start"
    redis-cli -p "$port" -x FUNCTION LOAD REPLACE <"$1" >/dev/null
    # (the outbox reads fail: their consumer groups were made outside pipelines; no matter)
    redis-cli -p "$port" --pipe <"$LW_TMP/pipelines.resp" >/dev/null 2>&1
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" || true
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

printf '%-40s %16s %14s\n' library instructions "per FCALL"
for lib in "$LW_TMP/library.lua" "$@"; do
    total=$(replay "$lib")
    name=$lib
    [[ $lib == "$LW_TMP/library.lua" ]] && name="processor/lua ($fcalls FCALLs)"
    printf '%-40s %16s %14s\n' "$name" "$total" "$((total / (fcalls > 0 ? fcalls : 1)))"
done
lw_pass
