#!/usr/bin/env bash
# leakwatch replay: the input from the beginning into a consumer group of its own, with the
# event clock, until its end — the sample day's alerts, into a fresh Redis database; with
# replay.from, only what was written after that time (Kafka message timestamps). The
# progress line shows on a terminal (a pseudo-terminal from `script`) and not in a log.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
day="$LW_TEST_ROOT/../deploy/sample/day.ndjson"
"$LEAKWATCH" produce "$day" --kafka.brokers "$BROKERS"

replay() { timeout 120 "$LEAKWATCH" replay --kafka.brokers "$BROKERS" $LW_KAFKA_TEST_ARGS "$@"; }
replay --redis.url "$REDIS_URL/1" 2>"$LW_TMP/replay.log"
lw_assert_eq "L2 L6" "$(lw_consume crm.alerts.lead-idle | jq -r .data.lead_id | sort | paste -sd' ')" \
    "the day's idle alerts"
lw_assert_contains "$(cat "$LW_TMP/replay.log")" "replay as consumer group leakwatch-replay-" \
    "a consumer group of its own"
if grep -q "replay: .* events" "$LW_TMP/replay.log"; then
    lw_fail "a progress line was written to a log that is not a terminal"
fi

# replay.from: only the events written after that moment
sleep 1.2
from=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.2
head -3 "$day" | sed 's/"id": "ev-/"id": "again-ev-/' > "$LW_TMP/later.ndjson"
"$LEAKWATCH" produce "$LW_TMP/later.ndjson" --kafka.brokers "$BROKERS"
replay --redis.url "$REDIS_URL/2" --replay.from "$from" 2>"$LW_TMP/from.log"
lw_assert_contains "$(cat "$LW_TMP/from.log")" "events_in=3 " "only the 3 events written after $from"

# on a terminal: the progress line, with the events done, the rate, what is left and an ETA
script -qec "$(printf '%q ' "$LEAKWATCH" replay --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL/3" $LW_KAFKA_TEST_ARGS)" \
    /dev/null > "$LW_TMP/tty.out" 2>&1 </dev/null || true
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "replay: 23 events" "the progress line on a terminal"
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "0 left, ETA 0s" "lag and ETA at the end"

lw_assert_eq 2 "$("$LEAKWATCH" replay --replay.from yesterday 2>/dev/null; echo $?)" \
    "a bad replay.from is refused"
lw_pass
