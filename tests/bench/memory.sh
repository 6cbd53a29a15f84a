#!/usr/bin/env bash
# Redis memory per 1 000 leads with their calls, tasks and deals: N events of the benchmark's
# generator (about 2.7 per lead: every lead, 70 % with a call, 50 % a task, 40 % a deal)
# applied by `leakwatch run --clock event --until-end` to an empty redis-server; then
# used_memory less that of the same server flushed (the library stays loaded), and
# MEMORY USAGE summed per key kind (keys.tab). The seen sets (event ids, kept 8 days) are
# shown apart: what stays for state.retention is the rest.
#   tests/bench/memory.sh [N=27000]
set -euo pipefail
N=${1:-27000}
root=$(cd "$(dirname "$0")/../.." && pwd)
export LEAKWATCH=${LEAKWATCH:-$root/build/leakwatch}
export LW_TEST_ROOT=$root/tests
# shellcheck source=../integration/lib.sh
source "$root/tests/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker --partitions $((N / 45000 + 3))
awk -v N="$N" -v TENANTS=4 -f "$root/tests/bench/gen_events.awk" | sort -s -k1,1 | cut -f2- \
    >"$LW_TMP/events.ndjson"
"$LEAKWATCH" produce "$LW_TMP/events.ndjson" --kafka.brokers "$BROKERS" 2>"$LW_TMP/produce.log"
"$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event --until-end \
    --stats.interval 0 --group.id memory $LW_KAFKA_TEST_ARGS 2>"$LW_TMP/run.log" ||
    lw_fail "leakwatch run failed (see run.log)"

count() { grep -c "\"type\":\"$1\"" "$LW_TMP/events.ndjson" || true; }
leads=$(count lead.created)
echo "events $N: $leads leads, $(count call.completed) calls, $(count task.created) tasks," \
    "$(count deal.created) deals ($(count deal.lost) lost)"

# MEMORY USAGE per key kind: the part of the key after lw:{tenant}: up to its id
by_kind=$(lw_redis eval '
local kinds, order = {}, {}
for _, k in ipairs(redis.call("KEYS", "lw:*")) do
  local kind = k:match("^lw:{[^}]*}:([a-z_]+)") or k:match("^lw:([a-z]+)") or k
  if not kinds[kind] then kinds[kind] = { 0, 0 }; order[#order + 1] = kind end
  kinds[kind][1] = kinds[kind][1] + 1
  kinds[kind][2] = kinds[kind][2] + redis.call("MEMORY", "USAGE", k, "SAMPLES", "0")
end
table.sort(order)
local out = {}
for _, kind in ipairs(order) do out[#out + 1] = kind .. " " .. kinds[kind][1] .. " " .. kinds[kind][2] end
return table.concat(out, "\n")' 0)
used=$(lw_redis info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
lw_redis flushall >/dev/null
empty=$(lw_redis info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')

per1000() { awk -v b="$1" -v l="$leads" 'BEGIN { printf "%.0f", b / l * 1000 }'; }
echo
printf '%-12s %8s %12s %14s\n' kind keys bytes "per 1000 leads"
while read -r kind keys bytes; do
    printf '%-12s %8d %12d %14s\n' "$kind" "$keys" "$bytes" "$(per1000 "$bytes")"
done <<<"$by_kind"
seen=$(awk '$1 == "seen" { print $3 }' <<<"$by_kind")
total=$(awk '{ s += $3 } END { print s }' <<<"$by_kind")
echo
echo "MEMORY USAGE, every key: $(per1000 "$total") bytes per 1000 leads;" \
    "without the seen sets (8 d): $(per1000 "$((total - ${seen:-0}))")"
echo "used_memory less the flushed server's: $((used - empty)) bytes," \
    "$(per1000 "$((used - empty))") per 1000 leads"
