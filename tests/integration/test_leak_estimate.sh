#!/usr/bin/env bash
# The leak estimate end to end: the rules bench's seed month (tests/rules/gen/
# leak-estimate-seed.sh: 950 leads, 50 of them never answered, 50 untracked contacts, 76
# deals won at 125 000) as CloudEvents through the embedded broker into leakwatch (clock
# event), then /api/leak-estimate (the seed's table; 400 on bad parameters) and the
# dashboard's "What the leaks cost" card in headless Chromium: the calculator with its
# observed inputs, money grouped by thousands with the currency sign. The screenshot is kept
# as a test artefact ($LW_ARTEFACTS/leak-estimate.png).
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"
lw_start_redis
lw_start_broker

# the bench's event lines as CloudEvents of tenant default (currency RUB, the default)
"$LW_TEST_ROOT/rules/gen/leak-estimate-seed.sh" | awk '
$1 == "event" {
  data = ""; n++
  for (i = 4; i <= NF; i++) {
    split($i, kv, "=")
    name = kv[1] == "phones" ? "phone" : kv[1]
    value = name == "amount" ? kv[2] : "\"" kv[2] "\""
    data = data (data ? "," : "") "\"" name "\":" value
  }
  printf "{\"specversion\":\"1.0\",\"id\":\"s%d\",\"type\":\"%s\",\"source\":\"gen\",\"time\":\"%s\",\"data\":{%s}}\n", n, $2, $3, data
}' >"$LW_TMP/month.ndjson"
lw_assert_eq 1976 "$(wc -l <"$LW_TMP/month.ndjson")" "the seed month's events"
# an event after the month: the event clock passes the last 24 h deadline
echo '{"specversion":"1.0","id":"end","type":"lead.updated","source":"gen","time":"2026-12-01T00:00:00Z","data":{"lead_id":"L1"}}' >>"$LW_TMP/month.ndjson"
"$LEAKWATCH" produce "$LW_TMP/month.ndjson" --kafka.brokers "$BROKERS"
lw_start_run_with_http --leak.lifetime_purchases 10 --lead.idle_after 0 --lead.callback_after 0
base=$HTTP_BASE
api="$base/api/leak-estimate?tenant=default&period=2026-11"
lw_wait_for "[ \"\$(curl -s '$api' | jq -r '.estimates[0].unanswered')\" = 50 ]" 90
got=$(curl -s "$api" | jq -c '.estimates[0] | {leads, untracked, incoming, unanswered, lost_leads,
    lost_share, conversion, average_deal, lost_deals, lost_revenue, lost_margin,
    lost_margin_per_year, lost_lifetime_value}')
lw_assert_eq '{"leads":950,"untracked":50,"incoming":1000,"unanswered":50,"lost_leads":100,"lost_share":"0.1000","conversion":"0.0800","average_deal":"125000.00","lost_deals":"8.00","lost_revenue":"1000000.00","lost_margin":"400000.00","lost_margin_per_year":"4800000.00","lost_lifetime_value":"10000000.00"}' \
    "$got" "the seed's table from the API"
lw_assert_eq 1 "$(curl -s "$base/api/leak-estimate?tenant=default&currency=RUB" | jq '.estimates | length')" \
    "filtered by currency"
lw_assert_eq 0 "$(curl -s "$base/api/leak-estimate?tenant=default&currency=USD" | jq '.estimates | length')" \
    "no estimate in another currency"
for bad in "tenant=a%7Bb%7D" "tenant=default&period=2026-11-22" "tenant=default&period=11-2026" \
    "tenant=default&currency=rub" "period=2026-11"; do
    lw_assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/leak-estimate?$bad")" \
        "400 for $bad"
done
lw_assert_contains "$(curl -s "$base/api/leak-estimate?tenant=default&period=x")" '"period' \
    "the error names the parameter"

lw_browser dom --dump-dom "$base/?tenant=default" >"$LW_TMP/page.html"
page=$(cat "$LW_TMP/page.html")
nbsp=$(printf '\xe2\x80\xaf') # the dashboard groups thousands with a narrow no-break space
lw_assert_contains "$page" "<option value=\"2026-11:RUB\">2026-11 · RUB</option>" "the month picker"
lw_assert_contains "$page" "<span id=\"estimate-headline\">400${nbsp}000 ₽</span>" "the headline"
lw_assert_contains "$page" "<span id=\"estimate-year\">4${nbsp}800${nbsp}000 ₽</span>" "a year"
for line in \
    "<td>Incoming requests</td><td class=\"muted\">950 leads + 50 untracked contacts</td><td class=\"num\">1${nbsp}000</td>" \
    "<td>Lost on the way</td><td class=\"muted\">50 untracked + 50 never answered</td><td class=\"num\">100 (10 %)</td>" \
    "<td>Conversion</td><td class=\"muted\">76 won ÷ 950 leads, last 90 d</td><td class=\"num\">8 %</td>" \
    "<td>Lost revenue</td><td class=\"muted\">8.00 × 125${nbsp}000 ₽</td><td class=\"num\">1${nbsp}000${nbsp}000 ₽</td>" \
    "<td>Lost margin a month</td><td class=\"muted\">1${nbsp}000${nbsp}000 ₽ × 0.4 margin</td><td class=\"num\">400${nbsp}000 ₽</td>" \
    "<td>Lifetime value lost</td><td class=\"muted\">1${nbsp}000${nbsp}000 ₽ × 10 purchases</td><td class=\"num\">10${nbsp}000${nbsp}000 ₽</td>"; do
    lw_assert_contains "$page" "$line" "the calculator: ${line%%</td>*}"
done

mkdir -p "${LW_ARTEFACTS:-$LW_TMP}"
shot="${LW_ARTEFACTS:-$LW_TMP}/leak-estimate.png"
lw_browser shot --window-size=1400,1400 --screenshot="$shot" "$base/?tenant=default" >/dev/null
[ -s "$shot" ] || lw_fail "no screenshot at $shot"
echo "screenshot: $shot"
lw_pass
