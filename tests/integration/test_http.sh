#!/usr/bin/env bash
# The HTTP server of a running leakwatch fed the sample day: /healthz, /readyz, /metrics in
# the Prometheus text format (each scrape parsed by prom_check, the reader test_metrics
# uses: every line valid, the conventions kept), the JSON API over loss totals, the risk
# summary (by amount or by count) and response stats; bad parameters get a 400 with a JSON
# error, unknown paths a 404. The day fed again counts as duplicates.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
lw_start_sample_day_with_http --currency KZT
base=$HTTP_BASE
pid=$LEAKWATCH_PID
prom_check=${PROM_CHECK:-$(dirname "$LEAKWATCH")/tests/prom_check}
[[ -x "$prom_check" ]] || lw_fail "no prom_check at $prom_check (set PROM_CHECK)"

get() { curl -s -o "$LW_TMP/body" -w '%{http_code}' "$base$1"; }
lw_wait_for "curl -sf $base/healthz >/dev/null" 20
lw_assert_eq 200 "$(get /healthz)" "/healthz"
lw_wait_for "curl -sf $base/readyz >/dev/null" 30
lw_assert_eq true "$(curl -s "$base/readyz" | jq .ready)" "/readyz once partitions are assigned"

# the day's events are applied and published
lw_wait_for "[ \$(lw_consume crm.alerts.lead-idle | wc -l) -ge 2 ]" 60
lw_wait_for "curl -sf '$base/api/risk?tenant=default' >/dev/null" 30

# /metrics, parsed: the samples as prom_check prints them ("name{labels} value", numbers
# as %.17g) in $LW_TMP/samples; fails the test on any invalid line
scrape() {
    curl -s -D "$LW_TMP/metrics.headers" -o "$LW_TMP/metrics" "$base/metrics" || return 1
    "$prom_check" <"$LW_TMP/metrics" >"$LW_TMP/samples" 2>"$LW_TMP/prom_check.log" ||
        lw_fail "/metrics is not valid text format: $(cat "$LW_TMP/prom_check.log")"
}
sample() { awk -v s="$1" 'index($0, s) == 1 { print $NF; exit }' "$LW_TMP/samples"; } # of a series
scrape
lw_assert_contains "$(cat "$LW_TMP/metrics.headers")" 'Content-Type: text/plain; version=0.0.4' \
    "the text format's content type"
metrics=$(cat "$LW_TMP/samples")
lw_assert_contains "$metrics" '# TYPE leakwatch_events_in_total counter' "metric families are typed"
lw_assert_contains "$metrics" 'leakwatch_events_in_total{type="lead.created",topic="crm.leads"} 7' \
    "events in by type and topic"
lw_assert_contains "$metrics" 'leakwatch_dead_letters_total{reason="not_json"} 1' "dead letters by reason"
lw_assert_contains "$metrics" 'leakwatch_derived_events_total{type="lead.idle"} 2' "derived events by type"
lw_assert_contains "$metrics" 'leakwatch_redis_round_trip_seconds_bucket{le="+Inf"}' "round-trip histogram"
lw_assert_contains "$metrics" 'leakwatch_batch_size_count' "batch size histogram"
lw_assert_contains "$metrics" "leakwatch_build_info{version=\"$("$LEAKWATCH" --version | cut -d' ' -f2)\",librdkafka=\"" \
    "build info"
lw_assert_contains "$metrics" '# TYPE leakwatch_event_clock_timestamp_seconds gauge' "the clock in seconds"
lw_assert_eq '' "$(grep -E '_ms[ {]|_kb[ {]' "$LW_TMP/samples" || true)" "no metric in ms or kB"
clock=$(sample 'leakwatch_event_clock_timestamp_seconds ')
lw_assert_eq true "$(jq -n "$clock > 1.7e9 and $clock < 1e10")" "the clock in seconds since the epoch: $clock"
started=$(sample 'process_start_time_seconds ')
lw_assert_eq true "$(jq -n "($started - $(date +%s)) | fabs < 600")" "process start time since the epoch: $started"
lw_assert_eq true "$(jq -n "$(sample 'process_resident_memory_bytes ') > 1e6")" "resident memory in bytes"
lw_assert_eq true "$(jq -n "$(sample 'process_open_fds ') > 3")" "open fds"
lw_assert_contains "$metrics" 'process_cpu_seconds_total ' "cpu seconds"
lw_assert_eq true "$(jq -n "$(sample 'leakwatch_rebalances_total{kind="assign"}') >= 1")" "rebalances"
for counter in events_duplicate events_late timers_fired redis_reconnects delivery_failures; do
    lw_assert_contains "$metrics" "leakwatch_${counter}_total " "leakwatch_${counter}_total is shown"
done
lw_assert_eq 0 "$(sample 'leakwatch_delivery_failures_total ')" "no delivery failed"
# the lag per partition, from librdkafka's statistics (every 5 s) once the group has
# committed there: every partition read, none is left behind
caught_up() {
    scrape &&
        grep -qE '^leakwatch_consumer_lag\{topic="crm\.[a-z]+",partition="[0-9]+"\} 0$' "$LW_TMP/samples" &&
        ! grep '^leakwatch_consumer_lag' "$LW_TMP/samples" | grep -qv ' 0$'
}
lw_wait_for caught_up 30 ||
    lw_fail "expected leakwatch_consumer_lag{topic,partition} 0, got: $(grep consumer_lag "$LW_TMP/samples")"

lw_assert_eq 200 "$(get '/api/risk?tenant=default')" "risk summary"
lw_assert_eq '1 5184.00 T1' "$(jq -r '"\(.clients_at_risk) \(.at_stake[0].amount) \(.call_first[0].task_id)"' "$LW_TMP/body")" \
    "D1's overdue task puts one client and 5 184 at risk"
lw_assert_eq 200 "$(get '/api/risk?tenant=default&sort=count')" "risk by count"
lw_assert_eq "count 1" "$(jq -r '"\(.sorted_by) \(.call_first[0].client_overdue_tasks)"' "$LW_TMP/body")" "sorted by count"

lw_wait_for "[ \$(curl -s -o /dev/null -w '%{http_code}' '$base/api/loss-totals?tenant=default&period=2026-11&currency=KZT') = 200 ]" 30
lw_assert_eq 200 "$(get '/api/loss-totals?tenant=default&period=2026-11&currency=KZT')" "loss totals"
lw_assert_eq '12000.00 no_answer_3_times' "$(jq -r '"\(.manageable.amount) \(.reasons[0].reason)"' "$LW_TMP/body")" \
    "the lost deal counts as manageable"
stats_count() { curl -s "$base/api/response-stats?tenant=default" | jq '.scopes.tenant.last_24h.count'; }
lw_wait_for "[ \"\$(stats_count)\" = 4 ]" 30 || true
lw_assert_eq 200 "$(get '/api/response-stats?tenant=default')" "response stats"
lw_assert_eq 4 "$(jq '.scopes.tenant.last_24h.count' "$LW_TMP/body")" \
    "four first responses in tenant default"

# the lead leaks: L2 waits (its call-back and idle deadlines fired, nobody answered), oldest
# first with its phone; the sample day has no untracked contact nor duplicate
lw_assert_eq 200 "$(get '/api/lead-leaks?tenant=default')" "lead leaks"
lw_assert_eq '1 L2 +77025550102 whatsapp m-boris 0 0 2026-11-22T18:00:00Z' \
    "$(jq -r '"\(.waiting_total) \(.waiting[0].lead_id) \(.waiting[0].phone) \(.waiting[0].channel) \(.waiting[0].manager_id) \(.untracked | length) \(.duplicates | length) \(.latest_ms / 1000 | todate)"' "$LW_TMP/body")" \
    "lead leaks: the waiting lead, none untracked or duplicate, the latest event time"
lw_assert_eq '+77050001122' "$(curl -s "$base/api/risk?tenant=default" | jq -r '.call_first[0].phone')" \
    "the call-first line has the client's phone"
lw_assert_eq 200 "$(get '/api/tenants')" "tenants"
lw_assert_eq 'true true' "$(jq -r '"\(. == sort) \(index("default") != null)"' "$LW_TMP/body")" \
    "the tenants seen, sorted"
lw_assert_eq 200 "$(get '/api/settings?tenant=default')" "settings"
lw_assert_eq 'UTC null Не отвечает более 3-х раз 0' \
    "$(jq -r '"\(.timezone) \(.crm_url_template) \(.loss_reasons.no_answer_3_times) \(.managers | length)"' "$LW_TMP/body")" \
    "settings: the time zone, no CRM link, the loss reasons' names, no managers' names"
lw_assert_eq 400 "$(get '/api/lead-leaks')" "lead leaks: missing tenant"
lw_assert_eq 400 "$(get '/api/loss-totals?tenant=default&period=November&currency=KZT')" "bad period"
lw_assert_contains "$(jq -r .error "$LW_TMP/body")" "period" "the error names the parameter"
lw_assert_eq 400 "$(get '/api/risk?tenant=default&sort=size')" "bad sort"
lw_assert_eq 400 "$(get '/api/risk')" "missing tenant"
lw_assert_eq 404 "$(get '/api/loss-totals?tenant=default&period=1999-01&currency=KZT')" "no such totals"
lw_assert_eq 404 "$(get '/nope')" "unknown path"
lw_assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/healthz")" "only GET"

# the day again: every event that was applied is now a duplicate
applied=$(grep '^leakwatch_events_in_total' "$LW_TMP/samples" | awk '{ n += $2 } END { print n }')
"$LEAKWATCH" produce "$LW_TEST_ROOT/../deploy/sample/day.ndjson" --kafka.brokers "$BROKERS"
lw_wait_for "scrape && [ \"\$(sample 'leakwatch_events_duplicate_total ')\" = $applied ]" 30 ||
    lw_fail "expected $applied duplicates, got $(sample 'leakwatch_events_duplicate_total ')"
scrape

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
lw_assert_eq 0 "$rc" "clean exit"
lw_pass
