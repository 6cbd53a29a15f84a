#!/usr/bin/env bash
# The first rules on the sample day (deploy/sample/day.ndjson), with the event clock:
# lead.responded, lead.callback_due and lead.idle exactly as PRODUCT.md §2 defines them,
# read back from their output topics, plus the dead letters of the day.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker

"$LEAKWATCH" produce "$LW_TEST_ROOT/../deploy/sample/day.ndjson" --kafka.brokers "$BROKERS"
lw_leakwatch_until_end

# lead:seconds of each first response
responded=$(lw_consume crm.leads.response-times |
    jq -r '"\(.tenant)/\(.data.lead_id):\(.data.response_seconds):\(.data.responded_by)"' | sort | paste -sd' ')
lw_assert_eq "acme/L7:300:call.outbound default/L1:600:call.outbound default/L3:1200:lead.status_changed default/L4:120:call.inbound_answered default/L6:2400:task.completed" \
    "$responded" "lead.responded: one per answered lead, seconds from lead.created"

callbacks=$(lw_consume crm.alerts.lead-callback | jq -r '"\(.data.lead_id)@\(.time)"' | sort | paste -sd' ')
lw_assert_eq "L2@2026-11-22T09:20:00Z L3@2026-11-22T09:45:00Z L6@2026-11-22T12:15:00Z" \
    "$callbacks" "lead.callback_due: 15 min after leads with no response by then"

idle=$(lw_consume crm.alerts.lead-idle | jq -r '"\(.data.lead_id):\(.data.idle_seconds):\(.data.threshold_seconds):\(.data.manager_id // "-"):\(.data.channel)"' | sort | paste -sd' ')
lw_assert_eq "L2:1800:1800:m-boris:whatsapp L6:1800:1800:m-anna:telegram" "$idle" \
    "lead.idle: 30 min without response; the spam lead closed in time never goes idle"

# derived events are CloudEvents from leakwatch with a deterministic id
one=$(lw_consume crm.alerts.lead-idle | head -1)
lw_assert_eq "1.0 leakwatch default 40" \
    "$(jq -r '"\(.specversion) \(.source) \(.tenant) \(.id | length)"' <<<"$one")" "envelope"
expected_id=$(printf '%s' "lead.idle|default|$(jq -r .data.lead_id <<<"$one")" | sha1sum | cut -d' ' -f1)
lw_assert_eq "$expected_id" "$(jq -r .id <<<"$one")" "id = sha1(type|tenant|trigger)"

lw_assert_eq 3 "$(lw_consume crm.dlq | wc -l)" "three lines of the day cannot be processed"
lw_pass
