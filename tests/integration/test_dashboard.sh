#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium opens "/" of a leakwatch fed the
# sample day, runs its JavaScript against the JSON API, and the page shows the loss card
# (three sums, reasons with the manageable ones marked), the potentially-lost-revenue card
# (three numbers, the call-first list, the time it is valid for) and response times per
# manager. A screenshot is kept as a test artefact ($LW_ARTEFACTS/dashboard.png).
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"
lw_start_redis
lw_start_broker
lw_start_sample_day_with_http --currency KZT
base=$HTTP_BASE
lw_wait_for "curl -sf '$base/api/risk?tenant=default' >/dev/null" 60
lw_wait_for "curl -sf '$base/api/loss-totals?tenant=default&period=2026-11&currency=KZT' >/dev/null" 30
lw_wait_for "[ \"\$(curl -s '$base/api/response-stats?tenant=default' | jq '.scopes.tenant.last_24h.count')\" = 4 ]" 30

# flags: headless as root, no network beyond loopback, a fresh profile
browser() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$LW_TMP/chrome-$1" \
        --virtual-time-budget=10000 "${@:2}" 2>>"$LW_TMP/chromium.log"
}
text_of() { # the text of the element with this id in the dumped DOM
    sed -n "s/.*id=\"$1\"[^>]*>\([^<]*\)<.*/\1/p" "$2" | head -1
}

browser amount --dump-dom "$base/?tenant=default" > "$LW_TMP/page.html"
page="$LW_TMP/page.html"
nbsp=$(printf '\xe2\x80\xaf') # the dashboard groups thousands with a narrow no-break space
lw_assert_eq "12${nbsp}000 KZT" "$(text_of loss-manageable "$page")" "loss card: manageable"
lw_assert_eq "12${nbsp}000 KZT" "$(text_of loss-target "$page")" "loss card: total target"
lw_assert_contains "$(cat "$page")" '<tr class="manageable"><td>no_answer_3_times</td>' \
    "the manageable reason is marked"
lw_assert_eq 1 "$(text_of risk-clients "$page")" "risk card: clients at risk"
lw_assert_eq "5${nbsp}184 KZT" "$(text_of risk-stake "$page")" "risk card: amount at stake"
lw_assert_eq 1 "$(text_of risk-overdue "$page")" "risk card: overdue tasks"
lw_assert_contains "$(cat "$page")" '<td>Send the proposal</td><td>Dana</td><td>m-boris</td>' \
    "the call-first list: task, client, manager"
[ "$(text_of risk-as-of "$page")" != "–" ] || lw_fail "the time the list is valid for is shown"
lw_assert_contains "$(cat "$page")" '<td>m-anna</td><td class="num">3</td>' "response times: m-anna"
lw_assert_contains "$(cat "$page")" '<td>m-boris</td><td class="num">1</td>' "response times: m-boris"
lw_assert_contains "$(text_of status "$page")" "updated" "the page refreshed without errors"

browser count --dump-dom "$base/?tenant=default&sort=count" > "$LW_TMP/page-count.html"
lw_assert_contains "$(cat "$LW_TMP/page-count.html")" 'data-sort="count" class="on"' \
    "the count switch"

mkdir -p "${LW_ARTEFACTS:-$LW_TMP}"
shot="${LW_ARTEFACTS:-$LW_TMP}/dashboard.png"
browser shot --window-size=1400,900 --screenshot="$shot" "$base/?tenant=default" >/dev/null
[ -s "$shot" ] || lw_fail "no screenshot at $shot"
echo "screenshot: $shot"
lw_pass
