#!/usr/bin/env bash
# Leads by phone and e-mail (issue 3), read deliberately out of time order: everything goes
# through one partition in the order below, so a later lead is read before an earlier one
# and a call before its lead (clock.lateness 2h covers the disorder). Duplicates (the
# earliest lead is the original whatever the read order), spam dropping out of the index,
# a call attributed by phone only, untracked contacts, duplicates never idle, per-tenant
# thresholds, response.stats; and the same stream fed twice changes nothing.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
cd "$LW_TMP"
echo '{"phone.region": "KZ", "tenants": {"fast": {"lead.idle_after": "10m"}}}' > config.json

n=0
ev() { # type time data [tenant]
    n=$((n + 1))
    printf '{"specversion":"1.0","id":"c%d","type":"%s","source":"t","time":"2026-11-22T%sZ","tenant":"%s","data":%s}\n' \
        "$n" "$1" "$2" "${4:-default}" "$3"
}
{
    # the same phone in two formats: L2 duplicates L1
    ev lead.created 09:00:00 '{"lead_id":"L1","phone":"8 (701) 123-45-67","manager_id":"m-anna","channel":"form"}'
    ev lead.created 09:20:00 '{"lead_id":"L2","phones":["+7 701 1234567"],"channel":"whatsapp"}'
    # the same gmail address: L4 duplicates L3
    ev lead.created 09:30:00 '{"lead_id":"L3","email":"Ivan.Petrov+crm@gmail.com","manager_id":"m-anna"}'
    ev call.completed 09:35:00 '{"call_id":"K3","lead_id":"L3","direction":"outbound","status":"answered"}'
    ev lead.created 09:40:00 '{"lead_id":"L4","emails":["ivanpetrov@googlemail.com"]}'
    # read later-first: L5 (10:10) before L6 (10:00); L6 is the original
    ev lead.created 10:10:00 '{"lead_id":"L5","phone":"+77020000005"}'
    ev lead.created 10:00:00 '{"lead_id":"L6","phone":"87020000005","manager_id":"m-boris"}'
    ev call.completed 10:05:00 '{"call_id":"K6","lead_id":"L6","direction":"outbound","status":"busy"}'
    # spam drops out of the index: L8 is not its duplicate
    ev lead.created 11:00:00 '{"lead_id":"L7","phone":"+77030000007"}'
    ev lead.closed 11:01:00 '{"lead_id":"L7","closed_reason":"spam"}'
    ev lead.created 11:30:00 '{"lead_id":"L8","phone":"+7 703 000 00 07","manager_id":"m-boris"}'
    ev call.completed 11:31:00 '{"call_id":"K8","lead_id":"L8","direction":"outbound","status":"answered"}'
    # a call with only a phone, read before its lead: it answers the lead (10 min)
    ev call.completed 12:10:00 '{"call_id":"K9","phone":"8 707 000 00 09","direction":"outbound","status":"no_answer"}'
    ev lead.created 12:00:00 '{"lead_id":"L9","phone":"+77070000009","manager_id":"m-anna","channel":"call"}'
    # untracked: a missed inbound call no lead ever has
    ev call.completed 13:00:00 '{"call_id":"K10","phone":"+77050000010","direction":"inbound","status":"missed"}'
    # tracked: the lead appears 5 minutes after the call
    ev call.completed 13:05:00 '{"call_id":"K11","phone":"+77050000011","direction":"inbound","status":"answered"}'
    ev lead.created 13:10:00 '{"lead_id":"L11","phone":"+77050000011"}'
    ev lead.closed 13:11:00 '{"lead_id":"L11","closed_reason":"converted"}'
    # untracked first, its lead came 40 minutes late: the alert stands, the call is linked
    ev call.completed 14:00:00 '{"call_id":"K12","phone":"+77050000012","direction":"inbound","status":"answered"}'
    ev lead.created 14:40:00 '{"lead_id":"L12","phone":"+77050000012"}'
    ev lead.status_changed 14:45:00 '{"lead_id":"L12","status":"in_work"}'
    # garbage phone: matched on e-mail only, never refused
    ev lead.created 15:00:00 '{"lead_id":"L13","phone":"abc","email":"x@y.kz"}'
    ev lead.status_changed 15:01:00 '{"lead_id":"L13","status":"in_work"}'
    ev lead.created 15:05:00 '{"lead_id":"L14","phone":"12","email":" X@Y.KZ "}'
    # a tenant idle after 10 minutes
    ev lead.created 16:00:00 '{"lead_id":"F1","channel":"form"}' fast
    ev lead.status_changed 16:20:00 '{"lead_id":"F1","status":"in_work"}' fast
    # the end of the day moves the clock past every deadline (lateness 2h)
    ev deal.updated 23:59:00 '{"deal_id":"END"}'
} > stream.ndjson
kcat -P -q -b "$BROKERS" -t crm.leads -p 0 -l stream.ndjson
run() { lw_leakwatch_until_end --config config.json --clock.lateness 2h; }
run

pairs() { lw_consume "$1" | jq -r "$2" | LC_ALL=C sort | paste -sd' '; }
dups='"\(.data.lead_id)>\(.data.duplicate_of):\(.data.matched_on):\(.data.value)"'
lw_assert_eq "L14>L13:email:x@y.kz L2>L1:phone:+77011234567 L4>L3:email:ivanpetrov@gmail.com L5>L6:phone:+77020000005" \
    "$(pairs crm.leads.duplicates "$dups")" "duplicates: formats, gmail, read order, spam dropped out"
lw_assert_eq "F1:600 L12:- L14:- L1:1800 L2:- L4:- L5:-" \
    "$(for l in L1 L2 L4 L5 L12 L14 F1; do
        v=$(lw_consume crm.alerts.lead-idle | jq -r --arg l "$l" 'select(.data.lead_id == $l) | .data.idle_seconds')
        echo "$l:${v:--}"; done | LC_ALL=C sort | paste -sd' ')" \
    "idle: unanswered originals only (L12 answered in 5 min), duplicates never; tenant fast after 10 min"

lw_assert_eq "F1 L1" "$(pairs crm.alerts.lead-callback .data.lead_id)" \
    "call-back requests: L5, read before its original, was known a duplicate before its deadline"
lw_assert_eq "F1:1200:lead.status_changed L12:300:lead.status_changed L13:60:lead.status_changed L3:300:call.outbound L6:300:call.outbound L8:60:call.outbound L9:600:call.outbound" \
    "$(pairs crm.leads.response-times '"\(.data.lead_id):\(.data.response_seconds):\(.data.responded_by)"')" \
    "responses, K9 attributed by phone before its lead was read"
lw_assert_eq "K10:+77050000010:missed K12:+77050000012:answered" \
    "$(pairs crm.alerts.untracked-contacts '"\(.data.call_id):\(.data.phone):\(.data.status)"')" \
    "untracked contacts: K11's lead came within 15 min"
lw_assert_eq "L12" "$(lw_redis HGET 'lw:{default}:call:K12' linked)" "the late lead is still linked"

stats=$(lw_consume crm.agg.response-stats | jq -c 'select(.data.scope == "tenant" and .tenant == "default")' | tail -1)
lw_assert_eq 6 "$(jq .data.last_24h.count <<<"$stats")" "response.stats: 6 first responses today"
lw_assert_eq 270 "$(jq .data.last_24h.mean_seconds <<<"$stats")" "mean of 300 300 60 600 300 60 (exact)"
lw_assert_eq 300 "$(jq .data.last_24h.median_seconds <<<"$stats")" "median, from the histogram"
anna=$(lw_consume crm.agg.response-stats | jq -c 'select(.data.manager_id == "m-anna")' | tail -1)
lw_assert_eq 2 "$(jq .data.last_7d.count <<<"$anna")" "per manager: L3 and L9"

before=$(for t in crm.leads.duplicates crm.alerts.lead-idle crm.alerts.lead-callback crm.alerts.untracked-contacts crm.leads.response-times; do lw_consume "$t" | jq -r .id; done | sort)
kcat -P -q -b "$BROKERS" -t crm.leads -p 0 -l stream.ndjson
run
after=$(for t in crm.leads.duplicates crm.alerts.lead-idle crm.alerts.lead-callback crm.alerts.untracked-contacts crm.leads.response-times; do lw_consume "$t" | jq -r .id; done | sort)
lw_assert_eq "$before" "$after" "the same stream fed twice: nothing new"
lw_pass
