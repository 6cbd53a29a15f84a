#!/usr/bin/env bash
# A running leakwatch rides out the broker going down and up, and Redis restarting (AOF on):
# it retries with backoff, reports it, does not crash, and in the end every derived event
# of the sample day is written.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis --appendonly yes --appendfsync always
lw_start_broker
day="$LW_TEST_ROOT/../deploy/sample/day.ndjson"
head -8 "$day" > "$LW_TMP/morning.ndjson"
tail -n +9 "$day" > "$LW_TMP/afternoon.ndjson"

"$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event \
    --timers.interval 100ms $LW_KAFKA_TEST_ARGS 2>"$LW_TMP/leakwatch.log" &
pid=$!
lw_track_pid "$pid"

"$LEAKWATCH" produce "$LW_TMP/morning.ndjson" --kafka.brokers "$BROKERS"
lw_wait_for "[ \$(lw_consume crm.leads.response-times | wc -l) -ge 2 ]" 60

lw_broker_down
sleep 3
lw_broker_up
lw_restart_redis
"$LEAKWATCH" produce "$LW_TMP/afternoon.ndjson" --kafka.brokers "$BROKERS"

derived() { for t in crm.leads.response-times crm.alerts.lead-callback crm.alerts.lead-idle; do
    lw_consume "$t"; done | jq -r '"\(.type) \(.data.lead_id)"' | sort -u; }
lw_wait_for "[ \$(derived | wc -l) -ge 10 ]" 90
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
lw_assert_eq 0 "$rc" "clean exit on SIGTERM after the faults"

lw_assert_eq "lead.callback_due L2
lead.callback_due L3
lead.callback_due L6
lead.idle L2
lead.idle L6
lead.responded L1
lead.responded L3
lead.responded L4
lead.responded L6
lead.responded L7" "$(derived)" "every derived event of the day, once each by id"
lw_assert_contains "$(cat "$LW_TMP/leakwatch.log")" "connection lost" "the Redis restart was reported"
lw_pass
