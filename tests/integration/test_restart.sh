#!/usr/bin/env bash
# kill -9 in the middle of a stream loses nothing: the derived events of an interrupted
# and restarted run are exactly those of an uninterrupted run (repeats are allowed: they
# carry the same ids).
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
awk -v N=4000 -v TENANTS=2 -f "$LW_TEST_ROOT/bench/gen_events.awk" | sort -s -k1,1 | cut -f2- \
    > "$LW_TMP/events.ndjson"
"$LEAKWATCH" produce "$LW_TMP/events.ndjson" --kafka.brokers "$BROKERS"

ids() { for t in "$@"; do lw_consume "$t" | jq -r '"\(.type) \(.id)"'; done | sort -u; }

# the reference: uninterrupted, in Redis db 1, to topics of its own
lw_leakwatch_until_end --group.id reference --redis.url "$REDIS_URL/1" \
    --topics.lead_response_times ref.responded --topics.lead_callback ref.callback \
    --topics.lead_idle ref.idle
reference=$(ids ref.responded ref.callback ref.idle)
lw_assert_contains "$(wc -l <<<"$reference")" "" "reference computed"
[ "$(wc -l <<<"$reference")" -gt 500 ] || lw_fail "the reference run derived too little: $(wc -l <<<"$reference")"

# interrupted: killed -9 once derived events are flowing, then restarted
"$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event \
    --batch.size 25 --outbox.claim_idle 1s $LW_KAFKA_TEST_ARGS 2>"$LW_TMP/killed.log" &
pid=$!
lw_wait_for "[ \$(lw_consume crm.leads.response-times | wc -l) -ge 50 ]" 60
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
lw_leakwatch_until_end --outbox.claim_idle 1s
restarted=$(ids crm.leads.response-times crm.alerts.lead-callback crm.alerts.lead-idle)
lw_assert_eq "$reference" "$restarted" "same derived events after kill -9 and restart"
lw_pass
