#!/usr/bin/env bash
# The HTTP server of a running leakwatch fed the sample day: /healthz, /readyz, /metrics in
# the Prometheus text format, the JSON API over loss totals, the risk summary (by amount or
# by count) and response stats; bad parameters get a 400 with a JSON error, unknown paths
# a 404.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
lw_start_sample_day_with_http --currency KZT
base=$HTTP_BASE
pid=$LEAKWATCH_PID

get() { curl -s -o "$LW_TMP/body" -w '%{http_code}' "$base$1"; }
lw_wait_for "curl -sf $base/healthz >/dev/null" 20
lw_assert_eq 200 "$(get /healthz)" "/healthz"
lw_wait_for "curl -sf $base/readyz >/dev/null" 30
lw_assert_eq true "$(curl -s "$base/readyz" | jq .ready)" "/readyz once partitions are assigned"

# the day's events are applied and published
lw_wait_for "[ \$(lw_consume crm.alerts.lead-idle | wc -l) -ge 2 ]" 60
lw_wait_for "curl -sf '$base/api/risk?tenant=default' >/dev/null" 30

metrics=$(curl -s "$base/metrics")
lw_assert_contains "$metrics" '# TYPE leakwatch_events_in_total counter' "metric families are typed"
lw_assert_contains "$metrics" 'leakwatch_events_in_total{type="lead.created",topic="crm.leads"} 7' \
    "events in by type and topic"
lw_assert_contains "$metrics" 'leakwatch_dead_letters_total{reason="not_json"} 1' "dead letters by reason"
lw_assert_contains "$metrics" 'leakwatch_derived_events_total{type="lead.idle"} 2' "derived events by type"
lw_assert_contains "$metrics" 'leakwatch_redis_round_trip_seconds_bucket{le="+Inf"}' "round-trip histogram"
lw_assert_contains "$metrics" 'leakwatch_batch_size_count' "batch size histogram"

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

lw_assert_eq 400 "$(get '/api/loss-totals?tenant=default&period=November&currency=KZT')" "bad period"
lw_assert_contains "$(jq -r .error "$LW_TMP/body")" "period" "the error names the parameter"
lw_assert_eq 400 "$(get '/api/risk?tenant=default&sort=size')" "bad sort"
lw_assert_eq 400 "$(get '/api/risk')" "missing tenant"
lw_assert_eq 404 "$(get '/api/loss-totals?tenant=default&period=1999-01&currency=KZT')" "no such totals"
lw_assert_eq 404 "$(get '/nope')" "unknown path"
lw_assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/healthz")" "only GET"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
lw_assert_eq 0 "$rc" "clean exit"
lw_pass
