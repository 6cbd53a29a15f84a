#!/usr/bin/env bash
# Both content modes of the CloudEvents Kafka binding in, structured mode out, and the W3C
# trace context passed on: a binary-mode event (attributes in ce_* headers, the value its
# data) is applied as its structured form would be, a bad one goes to crm.dlq with its
# reason; every derived message has content-type application/cloudevents+json, and those
# emitted while applying an input event carry its traceparent/tracestate (header and
# extension attributes), those fired by deadlines and the aggregates none.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker

CT='application/cloudevents+json; charset=UTF-8'
T_BIN=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01     # the binary lead's
T_CALL=00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01    # the binary call's
T_HDR=00-11111111111111111111111111111111-2222222222222222-01     # a Kafka header's
T_EXT=00-33333333333333333333333333333333-4444444444444444-01     # a structured extension's
STATE='rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'

# Produces one message to crm.leads (one partition: the DLQ offsets are known) with the
# given headers: produce KEY VALUE [-H name=value]...
produce() {
    local key=$1 value=$2
    shift 2
    printf '%s\t%s\n' "$key" "$value" |
        kcat -P -q -b "$BROKERS" -t crm.leads -p 0 -K $'\t' -X message.timeout.ms=10000 "$@" ||
        lw_fail "kcat could not produce $key"
}
ce() { # the ce_* headers of a binary-mode event: ce ID TYPE TIME
    echo -H ce_specversion=1.0 -H "ce_id=$1" -H "ce_type=$2" -H ce_source=test/binary -H "ce_time=$3"
}
structured() { # a structured-mode event: structured ID TYPE TIME DATA [EXTRA ATTRIBUTES]
    printf '{"specversion":"1.0","id":"%s","type":"%s","source":"test","time":"%s","tenant":"acme"%s,"data":%s}' \
        "$1" "$2" "$3" "${5:+,$5}" "$4"
}

# binary mode: a lead with its trace context in ce_traceparent/ce_tracestate, a duplicate of
# an earlier one (structured, no trace), then the call that answers it (its own trace)
produce L-orig "$(structured s0 lead.created 2026-11-22T08:55:00Z \
    '{"lead_id":"L-orig","phone":"+7 701 123 45 67","email":"client@example.com"}')"
# shellcheck disable=SC2046 # ce prints flags
produce L-bin '{"lead_id":"L-bin","phone":"+77011234567","channel":"form","manager_id":"m-1"}' \
    $(ce b1 lead.created 2026-11-22T09:00:00Z) -H ce_tenant=acme -H ce_subject=L-bin \
    -H content-type=application/json -H "ce_traceparent=$T_BIN" -H "ce_tracestate=$STATE"
# shellcheck disable=SC2046
produce K-bin '{"call_id":"K-bin","lead_id":"L-bin","direction":"outbound","status":"busy"}' \
    $(ce b2 call.completed 2026-11-22T09:05:00Z) -H ce_tenant=acme -H "ce_traceparent=$T_CALL"
# bad binary-mode events: no ce_id; a lead without lead_id; data that is not JSON
produce bad-noid '{"lead_id":"L-x"}' -H ce_specversion=1.0 -H ce_type=lead.created \
    -H ce_source=test -H ce_time=2026-11-22T09:06:00Z -H "traceparent=$T_HDR"
# shellcheck disable=SC2046
produce bad-data '{"name":"no id"}' $(ce b4 lead.created 2026-11-22T09:06:00Z)
# shellcheck disable=SC2046
produce bad-json 'lead_id=L-x' $(ce b5 lead.created 2026-11-22T09:06:00Z)
# structured mode, its trace context in a Kafka header: a lead and the call that answers it
produce L-hdr "$(structured s1 lead.created 2026-11-22T09:10:00Z '{"lead_id":"L-hdr"}')" \
    -H content-type="$CT" -H "traceparent=$T_HDR" -H "tracestate=$STATE"
produce K-hdr "$(structured s2 call.completed 2026-11-22T09:12:00Z \
    '{"call_id":"K-hdr","lead_id":"L-hdr","direction":"inbound","status":"answered"}')" \
    -H "traceparent=$T_HDR" -H "tracestate=$STATE"
# structured mode, the distributed tracing extension attributes: a lead nobody answers (its
# deadlines fire later, without a trace) and a duplicate of the first lead by e-mail
produce L-ext "$(structured s3 lead.created 2026-11-22T09:20:00Z '{"lead_id":"L-ext"}' \
    "\"traceparent\":\"$T_EXT\"")"
produce L-ext2 "$(structured s5 lead.created 2026-11-22T09:21:00Z \
    '{"lead_id":"L-ext2","email":"Client@Example.com"}' \
    "\"traceparent\":\"$T_EXT\",\"tracestate\":\"ext=1\"")"
# an event an hour later: the event clock passes L-ext's deadlines
produce T-late "$(structured s4 task.completed 2026-11-22T10:30:00Z '{"task_id":"T-late"}')"
lw_leakwatch_until_end

# ------------------------------------------------------------------ the dead letters
dlq=$(lw_consume_json crm.dlq)
lw_assert_eq 3 "$(jq -s length <<<"$dlq")" "the three bad binary-mode events are dead letters"
error() { jq -r --arg k "$1" 'select(.key == $k) | .headers["leakwatch.error"]' <<<"$dlq"; }
lw_assert_eq "not_cloudevent: header ce_id is missing or not a string" "$(error bad-noid)" \
    "binary mode: the missing attribute named by its header"
lw_assert_eq "missing_field: data.lead_id is required by lead.created" "$(error bad-data)" \
    "binary mode: the same data checks as structured mode"
lw_assert_contains "$(error bad-json)" "not_json: the message value (data)" \
    "binary mode: a value that is not JSON"
# unchanged: value and original headers; no content-type of leakwatch's own (it is the input)
one=$(jq -c 'select(.key == "bad-noid")' <<<"$dlq")
lw_assert_eq '{"lead_id":"L-x"}' "$(jq -r .payload <<<"$one")" "the dead letter's value unchanged"
lw_assert_eq "1.0 lead.created $T_HDR null 3" \
    "$(jq -r '.headers | "\(.ce_specversion) \(.ce_type) \(.traceparent) \(.["content-type"]) \(.["leakwatch.offset"])"' <<<"$one")" \
    "the dead letter keeps the original headers, adds no content-type"

# ------------------------------------------------------------------ derived events
responded=$(lw_consume_json crm.leads.response-times)
lw_assert_eq "L-bin L-hdr" "$(jq -r .key <<<"$responded" | sort | paste -sd' ')" \
    "both modes applied: each answered lead responded"
derived() { # the message of key K as "content-type|traceparent header|tracestate header|
    # traceparent attribute|tracestate attribute|response_seconds"
    jq -r --arg k "$2" 'select(.key == $k) | (.payload | fromjson) as $e
        | [.headers["content-type"], .headers.traceparent, .headers.tracestate,
           $e.traceparent, $e.tracestate, $e.data.response_seconds] | map(. // "-") | join("|")' <<<"$1"
}
dup=$(lw_consume_json crm.leads.duplicates)
lw_assert_eq "L-bin>L-orig L-ext2>L-orig" \
    "$(jq -r '.payload | fromjson | "\(.data.lead_id)>\(.data.duplicate_of)"' <<<"$dup" | sort | paste -sd' ')" \
    "the leads' phone (binary mode) and e-mail (structured) matched the earlier lead's"
lw_assert_eq "$CT|$T_BIN|$STATE|$T_BIN|$STATE|-" "$(derived "$dup" L-bin)" \
    "binary mode: ce_traceparent and ce_tracestate go on with what the lead triggered"
lw_assert_eq "$CT|$T_EXT|ext=1|$T_EXT|ext=1|-" "$(derived "$dup" L-ext2)" \
    "structured mode: the traceparent/tracestate extension attributes go on"
lw_assert_eq "$CT|$T_CALL|-|$T_CALL|-|300" "$(derived "$responded" L-bin)" \
    "binary mode: the call's ce_traceparent goes on with the response it triggered"
lw_assert_eq "$CT|$T_HDR|$STATE|$T_HDR|$STATE|120" "$(derived "$responded" L-hdr)" \
    "structured mode: the traceparent/tracestate headers go on, as headers and attributes"
# the id is the fact's, never the trigger's
id=$(jq -r 'select(.key == "L-bin") | .payload | fromjson | .id' <<<"$responded")
lw_assert_eq "$(printf 'lead.responded|acme|L-bin' | sha1sum | cut -d' ' -f1)" "$id" \
    "the trace context is not part of the derived id"

# deadlines fired by the clock: no trigger, no trace; the content type all the same
idle=$(lw_consume_json crm.alerts.lead-idle)
lw_assert_eq "L-ext L-orig" "$(jq -r .key <<<"$idle" | sort | paste -sd' ')" \
    "the unanswered leads went idle"
lw_assert_eq "$CT|-|-|-|-|-" "$(derived "$idle" L-ext)" "a deadline carries no trace context"
callback=$(lw_consume_json crm.alerts.lead-callback)
lw_assert_eq "$CT|-|-|-|-|-" "$(derived "$callback" L-ext)" "nor does the call-back deadline"

# aggregates (published once per batch) carry none either; every derived message has the
# content type of structured mode
stats=$(lw_consume_json crm.agg.response-stats)
[[ -n "$stats" ]] || lw_fail "no response.stats"
lw_assert_eq "$CT" "$(jq -r '.headers["content-type"]' <<<"$stats" | sort -u)" \
    "response.stats: content-type"
lw_assert_eq "null null" \
    "$(jq -sr '[(map(.headers.traceparent) | unique[]), (map(.payload | fromjson | .traceparent) | unique[])] | map(tostring) | join(" ")' <<<"$stats")" \
    "response.stats: no trace context"
lw_pass
