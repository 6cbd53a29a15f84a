#!/usr/bin/env bash
# The HTTP API behind http.token, and hostile text in the dashboard. leakwatch runs with a
# bearer token (from http.token_file): /healthz and /readyz answer anyone, the dashboard's
# files load (they hold no data, and the page must load to ask for the token), every other
# path (the JSON API, /metrics) answers 401 without the token or with a wrong one and 200
# with it. Events whose contact name, deal title, task title, loss reason and lead id are
# markup (<script>, an <img onerror>) are shown by headless Chromium, the token given in the
# URL fragment: the text is there literally and none of it ran.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"
lw_start_redis
lw_start_broker

token="t0k-$RANDOM$RANDOM-secret"
printf '%s\n' "$token" >"$LW_TMP/token"
# each hostile string sets data-pwned on <body> if it ever runs as script
script='<script>document.body.dataset.pwned=1</script>'
img='<img src=x onerror=\"document.body.dataset.pwned=2\">'
ce='"specversion":"1.0","source":"crm"'
cat >"$LW_TMP/hostile.ndjson" <<EOF
{$ce,"id":"h1","type":"lead.created","time":"2026-11-22T09:00:00Z","data":{"lead_id":"L$img","name":"Eve $script","phone":"+77011112233","channel":"form","manager_id":"m1"}}
{$ce,"id":"h2","type":"deal.created","time":"2026-11-22T09:10:00Z","data":{"deal_id":"D1","amount":"5000","currency":"KZT","stage":"proposal","manager_id":"m1","contact_name":"Dana $script","title":"Deal $img"}}
{$ce,"id":"h3","type":"task.created","time":"2026-11-22T09:20:00Z","data":{"task_id":"T1","deal_id":"D1","due_at":"2026-11-22T10:00:00Z","kind":"call","title":"Call $img","manager_id":"m1"}}
{$ce,"id":"h4","type":"deal.lost","time":"2026-11-22T11:00:00Z","data":{"deal_id":"D2","amount":"700","currency":"KZT","loss_reason":"Too dear $script","manager_id":"m1"}}
{$ce,"id":"h5","type":"deal.updated","time":"2026-11-22T18:00:00Z","data":{"deal_id":"D1","stage":"negotiation"}}
EOF
"$LEAKWATCH" produce "$LW_TMP/hostile.ndjson" --kafka.brokers "$BROKERS"
port=$(lw_random_port)
base="http://127.0.0.1:$port"
# shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
"$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event \
    --currency KZT --http.listen "127.0.0.1:$port" --http.token_file "$LW_TMP/token" \
    $LW_KAFKA_TEST_ARGS 2>"$LW_TMP/leakwatch.log" &
lw_track_pid $!

code() { curl -s -o "$LW_TMP/body" -w '%{http_code}' "${@:2}" "$base$1"; }
authed() { curl -s -H "Authorization: Bearer $token" "$base$1"; }
lw_wait_for "curl -sf $base/healthz" 20 || lw_fail "no /healthz"
lw_assert_eq 200 "$(code /healthz)" "/healthz needs no token"
lw_wait_for "curl -sf $base/readyz" 30 || lw_fail "never ready"
lw_assert_eq 200 "$(code /readyz)" "/readyz needs no token"

for path in '/api/risk?tenant=default' /api/tenants '/api/loss-periods?tenant=default' \
    '/api/managers?tenant=default' /metrics \
    /no-such-path; do
    lw_assert_eq 401 "$(code "$path")" "$path without a token"
    lw_assert_eq 401 "$(code "$path" -H "Authorization: Bearer wrong-$token")" "$path, wrong token"
    lw_assert_eq 401 "$(code "$path" -H "Authorization: Bearer ${token%?}")" "$path, token cut short"
    lw_assert_eq 401 "$(code "$path" -H "Authorization: Basic $token")" "$path, not a bearer"
done
lw_assert_eq '"a bearer token (http.token) is required"' "$(jq .error "$LW_TMP/body")" "401 says why"
lw_assert_contains "$(curl -s -D - -o /dev/null "$base/api/tenants")" 'WWW-Authenticate: Bearer' \
    "401 names the scheme"
lw_assert_eq 200 "$(code /metrics -H "authorization: bearer $token")" "/metrics with the token (any case)"
lw_assert_eq 200 "$(code /api/tenants -H "Authorization: Bearer $token")" "the right token"
lw_assert_eq 404 "$(code /no-such-path -H "Authorization: Bearer $token")" "an unknown path with the token"
lw_assert_eq 400 "$(code '/api/risk?tenant=ac%20me' -H "Authorization: Bearer $token")" \
    "a tenant tenants.pattern refuses is a bad parameter"
lw_assert_eq 400 "$(code '/api/loss-totals?tenant=default&period=2026-13&currency=KZT' -H "Authorization: Bearer $token")" \
    "a month 13 is a bad period"
lw_assert_eq 400 "$(code '/api/managers?tenant=default&month=2026-00' -H "Authorization: Bearer $token")" \
    "a month 00 is a bad month"
lw_assert_eq 200 "$(code /)" "the dashboard page loads without a token"
lw_assert_eq 200 "$(code /dashboard.js)" "its script too"
lw_assert_contains "$(curl -s -D - -o /dev/null "$base/")" "Content-Security-Policy: default-src 'self'; script-src 'self'" \
    "no inline script may run on the page"

# the hostile text is stored and served as sent (the API's JSON escapes it)
lw_wait_for "[ \"\$(authed '/api/loss-totals?tenant=default&period=2026-11&currency=KZT' | jq -r '.reasons[0].reason')\" = 'Too dear $script' ]" 60 ||
    lw_fail "the loss reason was not served as sent"
lw_wait_for "authed '/api/risk?tenant=default' | jq -e '.call_first | length == 1'" 30 ||
    lw_fail "no call-first line"
lw_assert_eq "" "$(grep -F "$token" "$LW_TMP/leakwatch.log" || true)" "the token is never logged"

lw_browser token --dump-dom "$base/?tenant=default#token=$token" >"$LW_TMP/page.html"
page=$(cat "$LW_TMP/page.html")
lw_assert_contains "$page" '<body>' "nothing ran: <body> has no data-pwned"
own_scripts=$(grep -o '<script' "$LW_TEST_ROOT/../processor/dashboard/index.html" | wc -l)
lw_assert_eq "$own_scripts" "$(grep -o '<script' <<<"$page" | wc -l)" \
    "the page's own scripts are its only ones"
lw_assert_eq 0 "$(grep -c '<img' <<<"$page" || true)" "no image element was made from the text"
lw_assert_contains "$page" '<td>Call &lt;img src=x onerror="document.body.dataset.pwned=2"&gt;</td>' \
    "the task title shown literally"
lw_assert_contains "$page" '<td>Dana &lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;</td>' \
    "the contact name shown literally"
lw_assert_contains "$page" '<td>Too dear &lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;</td>' \
    "the loss reason shown literally"
lw_assert_contains "$page" '<td>L&lt;img src=x onerror="document.body.dataset.pwned=2"&gt;</td>' \
    "the lead id shown literally"
lw_assert_contains "$page" 'id="token-field" hidden=""' "with the token, the token field stays hidden"
lw_assert_eq "" "$(grep -F "$token" <<<"$page" || true)" "the token left the page's address"

lw_browser notoken --dump-dom "$base/?tenant=default" >"$LW_TMP/page-notoken.html"
nopage=$(cat "$LW_TMP/page-notoken.html")
lw_assert_contains "$nopage" 'a token is needed' "without the token the page says so"
lw_assert_contains "$nopage" '<label id="token-field">' "... and shows the token field"
lw_assert_contains "$nopage" 'id="risk-clients">–<' "... and no data"
lw_pass
