#!/usr/bin/env bash
# The same events fed twice give the same outputs: the sample day produced again (same
# event ids) adds no derived event, and a replay from the beginning by a new consumer
# group over both copies adds none either.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
day="$LW_TEST_ROOT/../deploy/sample/day.ndjson"
outputs=(crm.leads.response-times crm.alerts.lead-callback crm.alerts.lead-idle)
snapshot() {
    for t in "${outputs[@]}"; do lw_consume "$t" | jq -r '"\(.type) \(.id)"'; done | sort
}

"$LEAKWATCH" produce "$day" --kafka.brokers "$BROKERS"
lw_leakwatch_until_end
first=$(snapshot)
lw_assert_eq 10 "$(wc -l <<<"$first")" "the day's derived events"

"$LEAKWATCH" produce "$day" --kafka.brokers "$BROKERS"
lw_leakwatch_until_end
lw_assert_eq "$first" "$(snapshot)" "the day fed twice: nothing new"
lw_assert_contains "$(cat "$LW_TMP/leakwatch.log")" "duplicates=17" \
    "each valid event of the second copy recognised as applied before"

lw_leakwatch_until_end --group.id replay-from-start
lw_assert_eq "$first" "$(snapshot)" "a replay of both copies by a new group: nothing new"
lw_pass
