#!/usr/bin/env bash
# The quickstart: installs what is missing, builds, starts the embedded Kafka broker and a
# local redis-server (free loopback ports), feeds the sample day (deploy/sample/day.ndjson),
# runs leakwatch on it with the event clock until the input is read, and prints every
# derived event. Everything it started is stopped when it ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./deploy/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

export LEAKWATCH=$root/build/leakwatch LW_TEST_ROOT=$root/tests
# shellcheck source=../tests/integration/lib.sh
source "$root/tests/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
echo "embedded broker on $BROKERS, redis on $REDIS_URL"

"$LEAKWATCH" produce deploy/sample/day.ndjson --kafka.brokers "$BROKERS"
"$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event --until-end

# The topics as `leakwatch topics` lists them (topic, setting, cleanup policy, derived types):
# the alerts, then the aggregates, which are compacted.
derived() { # compact|delete
    "$LEAKWATCH" topics | awk -F'\t' -v policy="$1" '$4 != "" && $3 == policy { print $1 }'
}
for topic in $(derived delete); do
    echo
    echo "== $topic"
    lw_consume "$topic" | jq -c '{type, time, tenant, data}'
done
# the aggregates: only the latest of each key, as a compacted topic keeps it
for topic in $(derived compact); do
    echo
    echo "== $topic (latest per key)"
    lw_consume_keyed "$topic" | awk -F'\t' '{ last[$1] = $2 } END { for (k in last) print last[k] }' |
        jq -c '{type, tenant, data}'
done
dlq=$("$LEAKWATCH" topics | awk -F'\t' '$2 == "topics.dlq" { print $1 }')
echo
echo "== $dlq (input that could not be processed, with the reason)"
lw_consume_with_headers "$dlq" | sed 's/^/  /'
