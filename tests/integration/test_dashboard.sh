#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium opens "/" of a leakwatch fed the
# sample day, runs its JavaScript against the JSON API, and the page shows the loss card
# (three sums, reasons with the manageable ones marked), the potentially-lost-revenue card
# (three numbers, the call-first list, the time it is valid for) and response times per
# manager; and the lead leaks card (the sample day's lead waiting for a first response, with
# its phone and manager; a second tenant's duplicate and untracked contact of its day), the
# tenant picker fed by /api/tenants, managers and loss reasons by name, times in the tenant's
# zone day first, and the call-first line's phone and link to the deal in the CRM. A
# screenshot is kept as a test artefact ($LW_ARTEFACTS/dashboard.png).
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"
# The page's scripts are classic scripts sharing one global scope: a name two of them declare
# with const or let stops the second from running at all.
twice=$(grep -hoE '^(const|let|var|function|async function) [A-Za-z_$][A-Za-z0-9_$]*' \
    "$LW_TEST_ROOT"/../processor/dashboard/*.js | awk '{print $NF}' | sort | uniq -d)
lw_assert_eq "" "$twice" "no top-level name declared by two dashboard scripts"
lw_start_redis
lw_start_broker
# a second tenant: a duplicate (A2 has A1's phone) and an inbound call from a phone no lead has
cat > "$LW_TMP/acme.ndjson" <<'EOF'
{"specversion":"1.0","id":"acme-1","type":"lead.created","source":"forms/site","tenant":"acme","time":"2026-11-22T17:00:00Z","data":{"lead_id":"A1","phone":"+77011110000","manager_id":"m-anna","channel":"form"}}
{"specversion":"1.0","id":"acme-2","type":"lead.created","source":"forms/site","tenant":"acme","time":"2026-11-22T17:10:00Z","data":{"lead_id":"A2","phone":"+7 701 111 00 00","manager_id":"m-anna","channel":"whatsapp"}}
{"specversion":"1.0","id":"acme-3","type":"call.completed","source":"pbx","tenant":"acme","time":"2026-11-22T17:20:00Z","data":{"call_id":"AK1","direction":"inbound","status":"missed","phone":"+77059990000","manager_id":"m-anna","duration_s":0}}
EOF
lw_start_sample_day_with_http --currency KZT --timezone Asia/Almaty \
    --managers 'm-anna=Anna Kim;m-boris=Boris Li' \
    --crm.url_template 'https://crm.example/deals/{deal_id}'
# after the day: produced first, these 17:00 events would sit ahead of the day's morning in
# any partition they share with it (produce picks partitions at random), and the morning's
# lead L4 would be applied after T1's deadline had published the call-first list without
# its phone, as the input's order says (one run in ten)
"$LEAKWATCH" produce "$LW_TMP/acme.ndjson" --kafka.brokers "$BROKERS"
base=$HTTP_BASE
lw_wait_for "curl -sf '$base/api/risk?tenant=default' >/dev/null" 60
lw_wait_for "curl -sf '$base/api/loss-totals?tenant=default&period=2026-11&currency=KZT' >/dev/null" 30
lw_wait_for "[ \"\$(curl -s '$base/api/response-stats?tenant=default' | jq '.scopes.tenant.last_24h.count')\" = 4 ]" 30
# the day's last event (deal.updated, 18:00 UTC) applied: how long L2 waits runs to it
lw_wait_for "[ \"\$(curl -s '$base/api/lead-leaks?tenant=default' | jq '.latest_ms')\" = 1795370400000 ]" 30

text_of() { # the text of the element with this id in the dumped DOM
    sed -n "s/.*id=\"$1\"[^>]*>\([^<]*\)<.*/\1/p" "$2" | head -1
}

lw_browser amount --dump-dom "$base/?tenant=default" > "$LW_TMP/page.html"
page="$LW_TMP/page.html"
nbsp=$(printf '\xe2\x80\xaf') # the dashboard groups thousands with a narrow no-break space
lw_assert_eq "12${nbsp}000 KZT" "$(text_of loss-manageable "$page")" "loss card: manageable"
lw_assert_eq "12${nbsp}000 KZT" "$(text_of loss-target "$page")" "loss card: total target"
lw_assert_contains "$(cat "$page")" '<tr class="manageable"><td>Не отвечает более 3-х раз</td>' \
    "the manageable reason is marked, by its name"
lw_assert_eq 1 "$(text_of risk-clients "$page")" "risk card: clients at risk"
lw_assert_eq "5${nbsp}184 KZT" "$(text_of risk-stake "$page")" "risk card: amount at stake"
lw_assert_eq 1 "$(text_of risk-overdue "$page")" "risk card: overdue tasks"
lw_assert_contains "$(cat "$page")" '<td>Send the proposal</td><td><a href="https://crm.example/deals/D1" target="_blank">Dana</a></td><td>+77050001122</td><td>Boris Li</td>' \
    "the call-first list: task, client linked to the deal, phone, manager by name"
[ "$(text_of risk-as-of "$page")" != "–" ] || lw_fail "the time the list is valid for is shown"
lw_assert_contains "$(cat "$page")" '<td>Anna Kim</td><td class="num">3</td>' "response times: Anna Kim"
lw_assert_contains "$(cat "$page")" '<td>Boris Li</td><td class="num">1</td>' "response times: Boris Li"
# Boris Li's two leads: L4 answered in 2 min (within the call-back), L2 never (its idle alert
# went out): 1 unanswered, 50 % within the call-back
lw_assert_contains "$(cat "$page")" '<td>Boris Li</td><td class="num">1</td><td class="num">2 min</td><td class="num">2 min</td><td class="num">2 min</td><td class="num">1</td><td class="num">50 %</td>' \
    "response times: the unanswered and the share within the call-back"
# the lead leaks: L2 (09:05 UTC, 14:05 in Almaty) is the one lead nobody answered; by the
# latest event (deal.updated, 18:00 UTC) it has waited 8 h 55 min
lw_assert_eq 1 "$(text_of leaks-waiting "$page")" "lead leaks: waiting"
lw_assert_contains "$(cat "$page")" '<td>L2</td><td>+77025550102</td><td>whatsapp</td><td>Boris Li</td><td>22.11.2026 14:05</td><td class="num">8 h 55 min</td>' \
    "lead leaks: the waiting lead with phone, channel, manager, local time, how long"
lw_assert_eq 0 "$(text_of leaks-untracked "$page")" "lead leaks: no untracked contact today"
lw_assert_eq 0 "$(text_of leaks-duplicates "$page")" "lead leaks: no duplicate today"
lw_assert_eq "22.11.2026" "$(text_of leaks-day "$page")" "lead leaks: today is the latest event's local day"
lw_assert_contains "$(cat "$page")" '<option value="acme">acme</option><option value="default">default</option>' \
    "the tenant picker lists the tenants"

lw_wait_for "[ \"\$(curl -s '$base/api/lead-leaks?tenant=acme' | jq '.untracked | length')\" = 1 ]" 30
lw_browser acme --dump-dom "$base/?tenant=acme" > "$LW_TMP/page-acme.html"
acme="$LW_TMP/page-acme.html"
lw_assert_eq 1 "$(text_of leaks-waiting "$acme")" "acme: A1 waits"
lw_assert_eq 1 "$(text_of leaks-duplicates "$acme")" "acme: one duplicate today"
lw_assert_contains "$(cat "$acme")" '<td>A2</td><td>A1</td><td>+77011110000</td><td>whatsapp</td><td>Anna Kim</td><td>22.11.2026 22:10</td>' \
    "acme: the duplicate"
lw_assert_eq 1 "$(text_of leaks-untracked "$acme")" "acme: one untracked contact today"
lw_assert_contains "$(cat "$acme")" '<td>+77059990000</td><td>AK1</td><td>missed</td><td>Anna Kim</td><td>22.11.2026 22:20</td>' \
    "acme: the untracked contact"
lw_assert_contains "$(text_of status "$page")" "updated" "the page refreshed without errors"

lw_browser count --dump-dom "$base/?tenant=default&sort=count" > "$LW_TMP/page-count.html"
lw_assert_contains "$(cat "$LW_TMP/page-count.html")" 'data-sort="count" class="on"' \
    "the count switch"

mkdir -p "${LW_ARTEFACTS:-$LW_TMP}"
shot="${LW_ARTEFACTS:-$LW_TMP}/dashboard.png"
lw_browser shot --window-size=1400,900 --screenshot="$shot" "$base/?tenant=default" >/dev/null
[ -s "$shot" ] || lw_fail "no screenshot at $shot"
echo "screenshot: $shot"
lw_pass
