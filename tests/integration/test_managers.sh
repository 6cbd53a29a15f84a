#!/usr/bin/env bash
# The manager report end to end: a generated month of three managers (anna answers her six
# leads in 5 min and wins two deals of 150 000; boris answers his three in 40 min (gone idle
# first: lead.idle_after is 30 min), wins one of
# 1 200 000 and loses one of 80 000 to a competitor; vera answers none of her four; gleb has
# no leads and wins one deal of 100 000: his won ÷ leads reads "–", not 0 %) as
# CloudEvents through the embedded broker into leakwatch (clock event, http.token set), then
# manager.report on crm.agg.managers, /api/managers (its 400s and 401) and the dashboard's
# manager table in headless Chromium: money grouped by thousands with the currency sign, and
# the rows in the order of the column sorted by (?managers_sort=, what a click on a column
# head writes). The screenshot is kept at $LW_MANAGERS_SHOT (default /tmp/managers.png) and
# as an artefact.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"
lw_start_redis
lw_start_broker

n=0
ev() { # TYPE TIME DATA-JSON
    n=$((n + 1))
    printf '{"specversion":"1.0","id":"m%d","type":"%s","source":"gen","time":"%s","data":%s}\n' \
        "$n" "$1" "$2" "$3"
}
# a lead of MANAGER at 10:00 on DAY, answered AFTER minutes later by an outbound call (or not)
lead() { # ID MANAGER DAY [AFTER]
    ev lead.created "2026-11-${3}T10:00:00Z" "{\"lead_id\":\"$1\",\"manager_id\":\"$2\",\"channel\":\"web\"}"
    [ -z "${4:-}" ] || ev call.completed "2026-11-${3}T10:$(printf %02d "$4"):00Z" \
        "{\"call_id\":\"K$1\",\"lead_id\":\"$1\",\"manager_id\":\"$2\",\"direction\":\"outbound\",\"status\":\"answered\"}"
}
deal() { # ID MANAGER DAY TYPE AMOUNT [REASON]
    local reason=${6:+,\"loss_reason\":\"$6\"}
    ev deal.created "2026-11-${3}T11:00:00Z" "{\"deal_id\":\"$1\",\"manager_id\":\"$2\",\"amount\":$5}"
    ev "$4" "2026-11-${3}T15:00:00Z" "{\"deal_id\":\"$1\",\"manager_id\":\"$2\",\"amount\":$5$reason}"
}
{
    for i in 1 2 3 4 5 6; do lead "A$i" m-anna "1$i" 5; done
    for i in 1 2 3; do lead "B$i" m-boris "1$i" 40; done
    for i in 1 2 3 4; do lead "V$i" m-vera "2$i"; done
    deal DA1 m-anna 14 deal.won 150000
    deal DA2 m-anna 15 deal.won 150000
    deal DB1 m-boris 16 deal.won 1200000
    deal DB2 m-boris 17 deal.lost 80000 chose_competitor
    deal DG1 m-gleb 18 deal.won 100000
    # after the month: the event clock passes vera's idle deadlines
    ev lead.updated 2026-12-01T12:00:00Z '{"lead_id":"A1"}'
} >"$LW_TMP/month.ndjson"
"$LEAKWATCH" produce "$LW_TMP/month.ndjson" --kafka.brokers "$BROKERS"
token=managers-$RANDOM
lw_start_run_with_http --http.token "$token"
base=$HTTP_BASE
get() { curl -s -H "Authorization: Bearer $token" "$base$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

api="/api/managers?tenant=default&month=2026-11"
lw_wait_for "[ \"\$(get '$api' | jq -r '[.managers[] | .idle] | add')\" = 7 ]" 60 ||
    lw_fail "the month's reports never came: $(get "$api")"
sorted() { jq -Sc . <<<"$1"; }
summary() { get "$api" | jq -Sc --arg m "$1" '.managers[] | select(.manager_id == $m)
    | {leads, answered, median_response_seconds, share_within_15m, share_within_30m, idle,
       calls_made, deals_won, deals_lost, conversion, won, lost_manageable}'; }
lw_assert_eq "$(sorted '{"leads":6,"answered":6,"median_response_seconds":300,"share_within_15m":"1.0000","share_within_30m":"1.0000","idle":0,"calls_made":6,"deals_won":2,"deals_lost":0,"conversion":"0.3333","won":[{"currency":"RUB","count":2,"amount":"300000.00","average":"150000.00"}],"lost_manageable":[]}')" \
    "$(summary m-anna)" "anna's month"
lw_assert_eq "$(sorted '{"leads":3,"answered":3,"median_response_seconds":2400,"share_within_15m":"0.0000","share_within_30m":"0.0000","idle":3,"calls_made":3,"deals_won":1,"deals_lost":1,"conversion":"0.3333","won":[{"currency":"RUB","count":1,"amount":"1200000.00","average":"1200000.00"}],"lost_manageable":[{"currency":"RUB","count":1,"amount":"80000.00"}]}')" \
    "$(summary m-boris)" "boris's month"
lw_assert_eq "$(sorted '{"leads":4,"answered":0,"median_response_seconds":null,"share_within_15m":"0.0000","share_within_30m":"0.0000","idle":4,"calls_made":0,"deals_won":0,"deals_lost":0,"conversion":"0.0000","won":[],"lost_manageable":[]}')" \
    "$(summary m-vera)" "vera's month: no response, no median"
lw_assert_eq "$(sorted '{"leads":0,"answered":0,"median_response_seconds":null,"share_within_15m":"0.0000","share_within_30m":"0.0000","idle":0,"calls_made":0,"deals_won":1,"deals_lost":0,"conversion":"0.0000","won":[{"currency":"RUB","count":1,"amount":"100000.00","average":"100000.00"}],"lost_manageable":[]}')" \
    "$(summary m-gleb)" "gleb's month: a won deal, no leads, conversion 0.0000 by definition"
lw_assert_eq '["2026-11"]' "$(get "/api/managers?tenant=default" | jq -c '[.period] + .months | unique')" \
    "without a month: the latest, and the months there are"

# the API reads the state; the topic gets it once the outbox has delivered it
last_published() {
    lw_consume_keyed crm.agg.managers | awk -F'\t' '$1 == "default|managers|2026-11|m-boris"' |
        tail -1 | cut -f2- | jq -Sc .data
}
want=$(get "$api" | jq -Sc '.managers[] | select(.manager_id == "m-boris")')
lw_wait_for '[ "$(last_published)" = "$want" ]' 30 || true
lw_assert_eq "$want" "$(last_published)" "the API serves what crm.agg.managers last got"

for bad in "tenant=" "tenant=%7Bx%7D" "tenant=default&month=2026-11-22" "tenant=default&month=nov"; do
    lw_assert_eq 400 "$(code -H "Authorization: Bearer $token" "$base/api/managers?$bad")" "400 for $bad"
done
lw_assert_eq 401 "$(code "$base$api")" "/api/managers without the token"

# the table in Chromium: the order of the rows by the column sorted by
rows() { # the managers of the table's rows, in order, from a dumped page
    python3 -c 'import re,sys
body = re.search(r"<tbody id=\"manager-rows\">(.*?)</tbody>", sys.stdin.read(), re.S).group(1)
print(" ".join(re.findall(r"<tr><td>([^<]*)</td>", body)))'
}
page() { lw_browser "$1" --dump-dom "$base/?tenant=default${2:+&managers_sort=$2}#token=$token"; }
default_page=$(page dom)
lw_assert_eq "m-anna m-vera m-boris m-gleb" "$(rows <<<"$default_page")" "by leads, most first (the default)"
nbsp=$(printf '\xe2\x80\xaf') # thousands grouped with a narrow no-break space
lw_assert_contains "$default_page" "<td class=\"num\">1${nbsp}200${nbsp}000 ₽</td>" "boris's average won deal"
lw_assert_contains "$default_page" "<td class=\"num\">80${nbsp}000 ₽</td>" "boris's manageable loss"
lw_assert_contains "$default_page" 'Leads ▼' "the sorted column is marked"
lw_assert_contains "$default_page" 'title="Deals won in the month ÷ leads created in the month (not ÷ deals created)"' \
    "the conversion column says what it divides"
# a row's cells from the head's Won column on: won, lost, won ÷ leads
won_on() { # MANAGER
    python3 -c 'import re,sys
body = re.search(r"<tbody id=\"manager-rows\">(.*?)</tbody>", sys.stdin.read(), re.S).group(1)
for tr in re.findall(r"<tr>(.*?)</tr>", body):
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", tr)
    if cells[0] == sys.argv[1]: print(" | ".join(cells[11:14]))' "$1" <<<"$default_page"
}
lw_assert_eq "2 | 0 | 33.3 %" "$(won_on m-anna)" "anna: 2 won of 6 leads, to one decimal"
lw_assert_eq "0 | 0 | 0.0 %" "$(won_on m-vera)" "vera: none won of 4 leads"
lw_assert_eq "1 | 0 | –" "$(won_on m-gleb)" "gleb: a won deal but no leads, no conversion to show"
lw_assert_eq "m-boris m-anna m-gleb m-vera" "$(page dom2 -average_won | rows)" "by average won deal, largest first"
lw_assert_eq "m-anna m-boris m-gleb m-vera" "$(page dom3 median | rows)" \
    "by median response, quickest first; gleb and vera (none answered) last"
lw_assert_eq "m-vera m-gleb m-boris m-anna" "$(page dom4 -manager | rows)" "by manager, descending"

shot=${LW_MANAGERS_SHOT:-/tmp/managers.png}
lw_browser shot --window-size=1600,1400 --screenshot="$shot" "$base/?tenant=default#token=$token" >/dev/null
[ -s "$shot" ] || lw_fail "no screenshot at $shot"
if [ -n "${LW_ARTEFACTS:-}" ]; then mkdir -p "$LW_ARTEFACTS" && cp "$shot" "$LW_ARTEFACTS/managers.png"; fi
echo "screenshot: $shot"
lw_pass
