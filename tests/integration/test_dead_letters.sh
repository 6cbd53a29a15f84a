#!/usr/bin/env bash
# Every kind of bad input goes to crm.dlq unchanged (same key, value and headers) with the
# reason in leakwatch.error and where it came from; the processor goes on and processes
# the good events that follow.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker

ok='"specversion":"1.0","source":"test","time":"2026-11-22T09:00:00Z"'
big=$(head -c 3000 /dev/zero | tr '\0' 'x')
{
    printf 'k1\tthis is not json\n'
    printf 'k2\t{"specversion":"1.0","type":"lead.created","source":"test","time":"2026-11-22T09:00:00Z","data":{"lead_id":"L1"}}\n'
    printf 'k3\t{"specversion":"0.3","id":"e3","type":"lead.created","source":"test","time":"2026-11-22T09:00:00Z","data":{"lead_id":"L1"}}\n'
    printf 'k4\t{"id":"e4",%s,"type":"lead.teleported","data":{"lead_id":"L1"}}\n' "$ok"
    printf 'k5\t{"id":"e5",%s,"type":"lead.created","data":{"name":"no id"}}\n' "$ok"
    printf 'k6\t{"id":"e6",%s,"type":"call.completed","data":{"call_id":"c1","direction":"sideways","status":"answered"}}\n' "$ok"
    printf 'k7\t{"id":"e7",%s,"type":"deal.lost","data":{"deal_id":"D1","amount":"12.345","loss_reason":"spam"}}\n' "$ok"
    printf 'k8\t{"id":"e8",%s,"type":"lead.created","tenant":"a{b}","data":{"lead_id":"L1"}}\n' "$ok"
    printf 'k9\t{"id":"e9",%s,"type":"lead.created","data":{"lead_id":"L1","name":"%s"}}\n' "$ok" "$big"
    printf 'k10\t{"id":"e10","specversion":"1.0","source":"test","time":"yesterday","type":"lead.created","data":{"lead_id":"L1"}}\n'
    printf 'k11\t{"id":"e11",%s,"type":"task.created","data":{"task_id":"T1"}}\n' "$ok"
    printf 'k12\t[1,2,3]\n'
    # tenant ids become keys, hash tags, log fields and labels: only tenants.pattern's, and
    # with tenants.allow only those listed
    printf 'k13\t{"id":"e13b",%s,"type":"lead.created","tenant":"ac me","data":{"lead_id":"L1"}}\n' "$ok"
    printf 'k14\t{"id":"e14b",%s,"type":"lead.created","tenant":"acme\\t%%0a","data":{"lead_id":"L1"}}\n' "$ok"
    printf 'k15\t{"id":"e15b",%s,"type":"lead.created","tenant":"initech","data":{"lead_id":"L1"}}\n' "$ok"
    printf 'good\t{"id":"e12",%s,"type":"lead.created","data":{"lead_id":"L-good"}}\n' "$ok"
    printf 'good\t{"id":"e13","specversion":"1.0","source":"test","time":"2026-11-22T09:01:00Z","type":"call.completed","data":{"call_id":"c2","lead_id":"L-good","direction":"outbound","status":"busy"}}\n'
} > "$LW_TMP/bad.tsv"
# one partition, so the good events come after the bad ones
kcat -P -q -b "$BROKERS" -t crm.leads -p 0 -K '	' -H trace=abc123 -l "$LW_TMP/bad.tsv"
lw_leakwatch_until_end --input.max_bytes 2048 --tenants.allow default,acme

dlq=$(lw_consume_json crm.dlq)
reason() { jq -r --arg k "$1" 'select(.key == $k) | .headers["leakwatch.error"]' <<<"$dlq" | cut -d: -f1; }
lw_assert_eq not_json "$(reason k1)" "not JSON"
lw_assert_eq not_cloudevent "$(reason k2)" "no id"
lw_assert_eq not_cloudevent "$(reason k3)" "specversion 0.3"
lw_assert_eq unknown_type "$(reason k4)" "unknown type"
lw_assert_eq missing_field "$(reason k5)" "lead_id missing"
lw_assert_eq invalid_field "$(reason k6)" "direction sideways"
lw_assert_eq invalid_field "$(reason k7)" "three decimals"
lw_assert_eq not_cloudevent "$(reason k8)" "tenant with braces"
lw_assert_eq too_large "$(reason k9)" "over input.max_bytes"
lw_assert_eq not_cloudevent "$(reason k10)" "time not RFC 3339"
lw_assert_eq missing_field "$(reason k11)" "due_at missing on task.created"
lw_assert_eq not_cloudevent "$(reason k12)" "not an object"
lw_assert_eq invalid_tenant "$(reason k13)" "tenant with a space"
lw_assert_eq invalid_tenant "$(reason k14)" "tenant with a tab and a percent sign"
lw_assert_eq unknown_tenant "$(reason k15)" "tenant not in tenants.allow"
lw_assert_eq 15 "$(jq -s length <<<"$dlq")" "fifteen dead letters, the good events none"

# unchanged: same value as produced, the original header kept, the origin named
lw_assert_eq "this is not json" "$(jq -r 'select(.key == "k1") | .payload' <<<"$dlq")" \
    "value unchanged"
lw_assert_eq "abc123 crm.leads 0" \
    "$(jq -r 'select(.key == "k5") | .headers as $h | "\($h.trace) \($h["leakwatch.topic"]) \($h["leakwatch.partition"])"' <<<"$dlq")" \
    "original header kept, origin named"
lw_assert_contains "$(jq -r 'select(.key == "k5") | .headers["leakwatch.error"]' <<<"$dlq")" \
    "data.lead_id" "the reason names the field"
lw_assert_eq 4 "$(jq -r 'select(.key == "k5") | .headers["leakwatch.offset"]' <<<"$dlq")" \
    "offset header"

# the processor went on
lw_assert_eq "L-good:60" \
    "$(lw_consume crm.leads.response-times | jq -r '"\(.data.lead_id):\(.data.response_seconds)"')" \
    "the good events after the bad ones were processed"
lw_assert_contains "$(cat "$LW_TMP/leakwatch.log")" "dead_letters=15" "dead letters counted"
lw_pass
