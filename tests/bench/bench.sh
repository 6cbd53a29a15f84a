#!/usr/bin/env bash
# End-to-end benchmark: N synthetic events (a mix of the four families) produced into the
# embedded broker, then one `leakwatch run --clock event --until-end` against a local
# redis-server. Reports events/s end to end and after the first message, Redis round trips
# per event, and RSS over the run (sampled every 0.5 s) to show it stays flat.
#   tests/bench/bench.sh [N=200000] [BATCH=1000]
# BENCH_PROFILE=1 also prints Redis's time per call by function and event type (every
# command goes to SLOWLOG, which costs Redis a little itself) and the commands the library
# ran per input event (INFO commandstats). BENCH_PERF=DIR records perf profiles of
# redis-server and leakwatch during the run into DIR (perf report -i DIR/redis.perf).
# BENCH_CLUSTER=1 runs against a Redis Cluster of 3 masters (lib.sh: lw_start_cluster) instead
# of one redis-server and reports each shard's CPU besides their sum (not with BENCH_PROFILE
# or BENCH_PERF, which watch one server). BENCH_TENANTS=N spreads the events over N tenants (4).
# BENCH_CALLGRIND=FILE runs leakwatch under valgrind's callgrind (instructions, repeatable on
# this noisy machine; slow, so a small N) and prints its instructions per input event
# (callgrind_annotate --inclusive=yes FILE names where they go).
set -euo pipefail
N=${1:-200000}
BATCH=${2:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
export LEAKWATCH=${LEAKWATCH:-$root/build/leakwatch}
export LW_TEST_ROOT=$root/tests
# shellcheck source=../integration/lib.sh
source "$root/tests/integration/lib.sh"
lw_setup
if [[ -n ${BENCH_CLUSTER:-} ]]; then
    lw_start_cluster 3
    REDIS_URL=$CLUSTER_URL
    redis_ports=$CLUSTER_PORTS
else
    lw_start_redis
    redis_ports=$REDIS_PORT
fi
# CPU seconds of one server (INFO cpu); taken before and after: a cluster node spends some
# on its bus and cron whatever leakwatch does
server_cpu() { redis-cli -p "$1" INFO cpu | awk -F: '/used_cpu_(user|sys):/ { s += $2 } END { printf "%.2f", s }'; }
declare -A cpu_before=()
if [[ -n ${BENCH_PROFILE:-} ]]; then
    lw_redis CONFIG SET slowlog-log-slower-than 0 >/dev/null
    lw_redis CONFIG SET slowlog-max-len $((N * 50)) >/dev/null # the commands inside calls too
fi
# librdkafka's mock cluster keeps about 5 MB per partition and drops older segments:
# enough partitions that a third of the events (the largest family) stays under it
lw_start_broker --partitions $((N / 45000 + 3))

awk -v N="$N" -v TENANTS="${BENCH_TENANTS:-4}" -f "$root/tests/bench/gen_events.awk" | sort -s -k1,1 | cut -f2- \
    > "$LW_TMP/events.ndjson"
t0=$(date +%s.%N)
"$LEAKWATCH" produce "$LW_TMP/events.ndjson" --kafka.brokers "$BROKERS" 2>"$LW_TMP/produce.log"
for port in $redis_ports; do cpu_before[$port]=$(server_cpu "$port"); done
t1=$(date +%s.%N)
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }
echo "produced $N events in $(calc "$t1 - $t0" 2) s"

wrap=()
[[ -n ${BENCH_CALLGRIND:-} ]] &&
    wrap=(valgrind --tool=callgrind --separate-threads=no "--callgrind-out-file=$BENCH_CALLGRIND")
"${wrap[@]}" "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event \
    --until-end --batch.size "$BATCH" --stats.interval 0 --group.id bench ${BENCH_ARGS:-} \
    2>"$LW_TMP/run.log" &
pid=$!
perf_pids=()
if [[ -n ${BENCH_PERF:-} ]]; then
    mkdir -p "$BENCH_PERF"
    for who in redis:$LW_REDIS_PID leakwatch:$pid; do
        perf record -F 2000 -g -o "$BENCH_PERF/${who%%:*}.perf" -p "${who#*:}" 2>/dev/null &
        perf_pids+=($!)
    done
fi
: > "$LW_TMP/rss"
while kill -0 "$pid" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null >> "$LW_TMP/rss" || true
    sleep 0.5
done
wait "$pid"
t2=$(date +%s.%N)
for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
cpu_of() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; } # utime+stime, USER_HZ 100
redis_cpu=0 shards=""
for port in $redis_ports; do
    used=$(calc "$(server_cpu "$port") - ${cpu_before[$port]}" 2)
    redis_cpu=$(calc "$redis_cpu + $used" 2)
    shards+="${shards:+, }$port $used s ($(calc "$used * 1000000 / $N" 1) us/event)"
done

stats=$(grep 'stats (exit)' "$LW_TMP/run.log" | tail -1)
field() { sed -n "s/.* $1=\([^ \"]*\).*/\1/p" <<<"$stats"; }
elapsed=$(calc "$t2 - $t1" 2)
[ "$(field events_in)" = "$N" ] || { echo "bench: read $(field events_in) of $N events" >&2; exit 1; }
echo "events:                 $(field events_in) in ($(field dead_letters) dead letters)"
echo "end to end:             $(calc "$N / $elapsed") events/s ($elapsed s, incl. group join)"
echo "after first message:    $(field rate_after_first)"
echo "redis round trips:      $(field redis_round_trips) ($(field per_event) per event)"
echo "derived events out:     $(field derived_out), timers fired: $(field timers_fired)"
echo "CPU seconds:            leakwatch $(field cpu_s), redis-server $redis_cpu, broker $(cpu_of "$LW_BROKER_PID") (all run on this machine)"
echo "redis CPU per event:    $(calc "$redis_cpu * 1000000 / $N" 1) us (the run only; per server: $shards)"
echo "peak RSS:               $(field peak_rss_kb) kB"
echo "RSS over the run (kB):  $(awk '{ v[NR] = $1 } END { for (i = 1; i <= 10; i++) printf "%s ", v[int((i - 1) * NR / 10) + 1] }' "$LW_TMP/rss")"
echo "RSS samples (kB):       $(sort -n "$LW_TMP/rss" | head -1) min, $(sort -n "$LW_TMP/rss" | tail -1) max, last $(tail -1 "$LW_TMP/rss") over $(wc -l < "$LW_TMP/rss") samples"
if [[ -n ${BENCH_CALLGRIND:-} ]]; then
    ir=$(callgrind_annotate "$BENCH_CALLGRIND" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "leakwatch instructions: $ir, $(calc "$ir / $N") per input event (callgrind; start-up included)"
fi

if [[ -n ${BENCH_PROFILE:-} ]]; then
    echo
    echo "Redis time per call (SLOWLOG; lw_event by event type) and the commands each ran:"
    printf '  %-26s %7s %9s %8s %9s  %s\n' call calls "total ms" "us/call" "cmds/call" "most run"
    # SLOWLOG GET lists the newest first; a call's own commands come just before it in time
    redis-cli -p "$REDIS_PORT" --json SLOWLOG GET -1 |
        jq -r 'reverse | .[] | [(.[3][0] | ascii_downcase), (.[3][1] // ""), (.[3][6] // ""), .[2]] | @tsv' |
        awk -F'\t' '
            $1 != "fcall" { inner[$1]++; ninner++; next }
            { k = $2 == "lw_event" ? $2 "/" $3 : $2
              n[k]++; us[k] += $4; cmds[k] += ninner
              for (c in inner) { per[k, c] += inner[c]; if (!((k, c) in seen)) { seen[k, c] = 1; names[k] = names[k] " " c } }
              delete inner; ninner = 0 }
            END { for (k in n) {
                top = ""; split(names[k], cs, " ")
                for (r = 1; r <= 4; r++) { best = ""; bv = 0
                    for (i in cs) if (cs[i] != "" && !(cs[i] in used) && per[k, cs[i]] > bv) { best = cs[i]; bv = per[k, cs[i]] }
                    if (best != "") { used[best] = 1; top = top sprintf("%s %.1f  ", best, bv / n[k]) } }
                delete used
                printf "  %-26s %7d %9.1f %8.1f %9.1f  %s\n", k, n[k], us[k] / 1000, us[k] / n[k], cmds[k] / n[k], top } }' |
        sort -k3 -rn
    echo "Commands run per input event (INFO commandstats):"
    lw_redis INFO commandstats | tr -d '\r' |
        awk -F'[:=,]' -v n="$N" '/^cmdstat_/ { sub("cmdstat_", "", $1); printf "  %-16s %8.2f per event, %6.1f us each\n", $1, $3 / n, $7 }' |
        sort -k2 -rn | head -20
fi
