#!/usr/bin/env bash
# The event clock (PRODUCT.md §5): a day replayed from topics read at very different speeds
# gives the same alerts as the same day fed in time order through one partition. Leads
# (few) are read to their end quickly, while the calls that answer them sit among many
# other calls in a topic read slowly: a clock taken as "the highest event time seen" would
# fire idle alerts for leads whose answering calls were not read yet.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
cd "$LW_TMP"

awk 'BEGIN {
    for (i = 1; i <= 150; i++) {
        t = i * 500; lead = "L" i
        printf("%d\t{\"specversion\":\"1.0\",\"id\":\"l%d\",\"type\":\"lead.created\",\"source\":\"t\",\"time\":\"%s\",\"data\":{\"lead_id\":\"%s\"}}\n", t, i, ts(t), lead) > "leads"
        if (i % 3 != 0)   # two leads in three are called back after 10 minutes
            printf("%d\t{\"specversion\":\"1.0\",\"id\":\"c%d\",\"type\":\"call.completed\",\"source\":\"t\",\"time\":\"%s\",\"data\":{\"call_id\":\"c%d\",\"lead_id\":\"%s\",\"direction\":\"outbound\",\"status\":\"answered\"}}\n", t + 600, i, ts(t + 600), i, lead) > "calls"
    }
    for (j = 1; j <= 3000; j++)   # calls of clients that are not leads: they slow that topic
        printf("%d\t{\"specversion\":\"1.0\",\"id\":\"f%d\",\"type\":\"call.completed\",\"source\":\"t\",\"time\":\"%s\",\"data\":{\"call_id\":\"f%d\",\"direction\":\"inbound\",\"status\":\"missed\"}}\n", j * 25, j, ts(j * 25), j) > "calls"
}
function ts(s) { return sprintf("2026-11-22T%02d:%02d:%02dZ", int(s / 3600), int(s % 3600 / 60), s % 60) }' \
    </dev/null
sort -n leads calls | cut -f2- > in-order.ndjson
cut -f2- leads > leads.ndjson
sort -n calls | cut -f2- > calls.ndjson

# A: one partition, in time order
kcat -P -q -b "$BROKERS" -t replay.ordered -p 0 -l in-order.ndjson
lw_leakwatch_until_end --group.id ordered --redis.url "$REDIS_URL/1" \
    --topics.input replay.ordered --timers.interval 0ms --topics.lead_idle a.idle --topics.lead_callback a.callback \
    --topics.lead_response_times a.responded

# B: leads and calls in two topics of one partition each, fetched a little at a time
kcat -P -q -b "$BROKERS" -t replay.leads -p 0 -l leads.ndjson
kcat -P -q -b "$BROKERS" -t replay.calls -p 0 -l calls.ndjson
lw_leakwatch_until_end --group.id uneven --redis.url "$REDIS_URL/2" \
    --topics.input replay.leads,replay.calls --topics.lead_idle b.idle \
    --topics.lead_callback b.callback --topics.lead_response_times b.responded \
    --batch.size 20 --timers.interval 0ms -X max.partition.fetch.bytes=4096

leads_of() { lw_consume "$1" | jq -r .data.lead_id | sort | paste -sd' '; }
# every third lead is idle, but the clock ends at the last event (20:51:40): L147 (due
# 20:55) and L150 (due 21:00) are not idle yet when the replay ends
expected_idle=$(for i in $(seq 3 3 144); do echo "L$i"; done | sort | paste -sd' ')
lw_assert_eq "$expected_idle" "$(leads_of a.idle)" "in time order: every third lead idle"
lw_assert_eq "$(leads_of a.idle)" "$(leads_of b.idle)" "uneven reading: the same idle alerts"
lw_assert_eq "$(leads_of a.callback)" "$(leads_of b.callback)" "the same call-back requests"
lw_assert_eq "$(leads_of a.responded)" "$(leads_of b.responded)" "the same responses"
lw_assert_eq 100 "$(lw_consume b.responded | wc -l)" "100 leads answered"
lw_pass
