#!/usr/bin/env bash
# The funnel end to end: the seed-003 funnel of the rules bench (tests/rules/funnel-seed.test,
# written by tests/rules/gen/funnel-seed.sh) fed as CloudEvents through Kafka to a leakwatch
# whose deal.stages comes from its config file, then funnel.summary on crm.agg.funnel,
# /api/funnel (and its 400s), and the dashboard's funnel card in headless Chromium: the bars
# and the money lost between stages in the sales team's words. The screenshot is kept at
# $LW_FUNNEL_SHOT (default /tmp/funnel.png) and as an artefact ($LW_ARTEFACTS/funnel.png),
# tall enough for the whole card. Every funnel.summary published is checked against its JSON
# Schema, and a replay by a new group into another database must rebuild the same summaries.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
command -v chromium >/dev/null || lw_fail "chromium is not installed (deploy/install-deps.sh installs it)"

# the bench's events as CloudEvents: "event TYPE TIME name=value..." (values maybe quoted)
seed="$LW_TEST_ROOT/rules/funnel-seed.test"
n=0
while IFS= read -r line; do
    [[ $line == event\ * ]] || continue
    eval "words=(${line#event })" # the generator's own lines: names and quoted values
    n=$((n + 1))
    data=$(printf '%s\n' "${words[@]:2}" |
        jq -nRc '[inputs | capture("^(?<key>[^=]+)=(?<value>.*)$")] | from_entries
                 | with_entries(.value = (if .key == "amount" then (.value | tonumber) else .value end))')
    jq -nc --arg id "f-$n" --arg type "${words[0]}" --arg time "${words[1]}" --argjson data "$data" \
        '{specversion: "1.0", id: $id, type: $type, source: "crm/test", time: $time, data: $data}'
done <"$seed" >"$LW_TMP/funnel.ndjson"
[ "$n" -gt 40 ] || lw_fail "read only $n events from $seed"
stages=$(sed -n 's/^set deal.stages //p' "$seed")
jq -n --arg s "$stages" '{"deal.stages": $s, currency: "RUB"}' >"$LW_TMP/config.json"

lw_start_redis
lw_start_broker
"$LEAKWATCH" produce "$LW_TMP/funnel.ndjson" --kafka.brokers "$BROKERS"
port=$(lw_random_port)
base="http://127.0.0.1:$port"
# shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
"$LEAKWATCH" run --config "$LW_TMP/config.json" --kafka.brokers "$BROKERS" \
    --redis.url "$REDIS_URL" --clock event --http.listen "127.0.0.1:$port" $LW_KAFKA_TEST_ARGS \
    2>"$LW_TMP/leakwatch.log" &
lw_track_pid $!

api="$base/api/funnel?tenant=default&pipeline=default&period=2026-11"
lw_wait_for "[ \"\$(curl -s '$api' | jq -r '.summaries[0].won.amount')\" = 349800.00 ]" 60
summary=$(curl -s "$api" | jq -c '.summaries[0]')
lw_assert_eq '"3180000.00"' "$(jq -c '.stages[0].entered.amount' <<<"$summary")" "3 180 000 entered Предложение"
lw_assert_eq '"Договор, счёт"' "$(jq -c '.stages[3].stage' <<<"$summary")" "the stages in deal.stages' order"
lw_assert_eq 0.13 "$(jq -c '.drops[0].share' <<<"$summary")" "13 % lost before Переговоры"
lw_assert_eq 63 "$(jq -c '(.drops[1].share + .drops[2].share) * 100 | round' <<<"$summary")" \
    "a further 63 % before Договор, счёт"
lw_assert_eq 0.11 "$(jq -c '.money_conversion' <<<"$summary")" "11 % won"
# the API reads the state; the topic gets it once the outbox has delivered it
last_published() { lw_consume crm.agg.funnel | jq -c 'select(.type == "funnel.summary")' | tail -1; }
want=$(jq -Sc . <<<"$summary")
lw_wait_for '[ "$(last_published | jq -Sc .data)" = "$want" ]' 30 || true
lw_assert_eq "$want" "$(last_published | jq -Sc .data)" "the API serves what crm.agg.funnel last got"
# every funnel.summary published is what its JSON Schema says (python3 jsonschema, as test_schemas)
lw_consume crm.agg.funnel | jq -c 'select(.type == "funnel.summary")' >"$LW_TMP/published.ndjson"
[ -s "$LW_TMP/published.ndjson" ] || lw_fail "no funnel.summary on crm.agg.funnel"
if python3 "$LW_TEST_ROOT/integration/schemas.py" >/dev/null 2>&1; then
    PYTHONPATH="$LW_TEST_ROOT/integration" python3 - "$LW_TEST_ROOT/../schemas" "$LW_TMP/published.ndjson" <<'PY' ||
import json, sys
from schemas import load, validator
docs = load(sys.argv[1])
v = validator(docs["derived/funnel.summary.json"], docs)
bad = 0
for line in open(sys.argv[2], encoding="utf-8"):
    for err in v.iter_errors(json.loads(line)):
        print(f"funnel.summary: /{'/'.join(map(str, err.absolute_path))}: {err.message}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY
        lw_fail "funnel.summary against its schema (above)"
else
    lw_log "SKIP: funnel.summary against its schema (python3 jsonschema not available)"
fi
# a replay by a group of its own into another database: the same funnel, to the byte
# shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
timeout 120 "$LEAKWATCH" replay --config "$LW_TMP/config.json" --kafka.brokers "$BROKERS" \
    --redis.url "$REDIS_URL/1" --replay.output none $LW_KAFKA_TEST_ARGS 2>"$LW_TMP/replay.log" ||
    lw_fail "leakwatch replay failed (replay.log)"
latest() { lw_redis -n "$1" --no-raw hgetall 'lw:{default}:funnel:latest'; }
lw_assert_eq "$(latest 0)" "$(latest 1)" "a replay by a new group: the same funnel.summary"
for bad in "tenant=" "tenant=%7Bx%7D" "tenant=default&period=2026-11-22" \
    "tenant=default&period=nov" "tenant=default&pipeline="; do
    lw_assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/funnel?$bad")" "400 for $bad"
done

browser() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$LW_TMP/chrome-$1" \
        --virtual-time-budget=10000 "${@:2}" 2>>"$LW_TMP/chromium.log"
}
browser dom --dump-dom "$base/?tenant=default" >"$LW_TMP/page.html"
page=$(cat "$LW_TMP/page.html")
nbsp=$(printf '\xe2\x80\xaf') # thousands grouped with a narrow no-break space
lw_assert_contains "$page" "<li>lost between Предложение and Переговоры: 13 %, 413${nbsp}400 RUB</li>" \
    "the card: lost between the first two stages, in words"
lw_assert_contains "$page" "<li>lost at Договор, счёт, never won: 13 %, 413${nbsp}400 RUB</li>" \
    "the card: lost at the last stage"
lw_assert_contains "$page" "won: 349${nbsp}800 RUB (3 deals, 11 %)" "the card: won"
lw_assert_contains "$page" 'style="width: 87%;"' "the card: Переговоры's bar at 87 %"

shot=${LW_FUNNEL_SHOT:-/tmp/funnel.png}
browser shot --window-size=1400,2400 --screenshot="$shot" "$base/?tenant=default" >/dev/null
[ -s "$shot" ] || lw_fail "no screenshot at $shot"
if [ -n "${LW_ARTEFACTS:-}" ]; then mkdir -p "$LW_ARTEFACTS" && cp "$shot" "$LW_ARTEFACTS/funnel.png"; fi
echo "screenshot: $shot"
lw_pass
