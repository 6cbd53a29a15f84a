#!/usr/bin/env bash
# The seed's two worked examples (PRODUCT.md §3 and §4) rebuilt from event streams:
# - loss totals: 170 target refusals lost 412 560, 127 613 of it manageable, of which
#   "no answer more than 3 times" is 60 clients and 111 197; non-target reasons excluded;
#   reasons given by id or by Russian name count as one; a reopened deal, a changed reason
#   and a changed amount move the totals; a loss late in the evening UTC counts in the next
#   local month (tenant time zone Asia/Almaty, UTC+5);
# - risk: 1 client at risk, 5 184 at stake, 3 overdue tasks, whatever else happened.
# Everything is fed twice: the totals do not move.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
cd "$LW_TMP"
echo '{"timezone": "Asia/Almaty", "currency": "KZT"}' > config.json

n=0
ev() { # type time data
    n=$((n + 1))
    printf '{"specversion":"1.0","id":"e%d","type":"%s","source":"amocrm/webhook","time":"2026-11-22T%sZ","data":%s}\n' \
        "$n" "$1" "$2" "$3"
}
lost() { # deal reason amount [time]
    ev deal.lost "${4:-10:00:00}" "{\"deal_id\":\"$1\",\"loss_reason\":\"$2\",\"amount\":\"$3\",\"manager_id\":\"m1\"}"
}
{
    # §3: 60 x "no answer more than 3 times" = 111 197 (by id and by Russian name)
    for i in $(seq 1 30); do lost "NA$i" no_answer_3_times 1853; done
    for i in $(seq 31 59); do lost "NA$i" "Не отвечает более 3-х раз" 1853; done
    lost NA60 "НЕ ОТВЕЧАЕТ БОЛЕЕ 3-Х РАЗ" 1870
    # 4 x chose a competitor = 16 416; CC4 first lost for 4 000, then its amount corrected
    for i in 1 2 3; do lost "CC$i" "Выбрал других" 4104; done
    lost CC4 chose_competitor 4000 10:00:00
    ev deal.updated 10:30:00 '{"deal_id":"CC4","amount":4104}'
    # objective 220 000 and unclassified 64 947
    for i in $(seq 1 40); do lost "NN$i" not_now 2500; done
    for i in $(seq 1 40); do lost "ND$i" "Целевой, но нет потребности" 3000; done
    for i in $(seq 1 25); do lost "EX$i" "Дорого" 2500; done
    lost EX26 "Дорого" 2447
    # non-target: excluded from every total
    for i in $(seq 1 10); do lost "SP$i" "Спам" 9999; done
    lost DU1 duplicate 5000
    # corrections that leave nothing behind
    lost RE1 not_now 7777 11:00:00
    ev deal.reopened 12:00:00 '{"deal_id":"RE1"}'
    lost RS1 no_answer_3_times 500 11:00:00
    lost RS1 spam 500 11:30:00
    # §4: one client with three overdue tasks on a 5 184 deal
    ev deal.created 09:00:00 '{"deal_id":"D1","amount":"5184","currency":"KZT","contact_name":"Dana","manager_id":"m-boris","stage":"proposal"}'
    for t in 1 2 3; do
        ev task.created 09:0$t:00 "{\"task_id\":\"T$t\",\"deal_id\":\"D1\",\"due_at\":\"2026-11-22T1$t:00:00Z\",\"manager_id\":\"m-boris\",\"title\":\"call $t\"}"
    done
    # a client whose tasks were done (one in time, one late): not at risk at the end
    ev deal.created 09:00:00 '{"deal_id":"D2","amount":90000,"currency":"KZT","contact_name":"Erlan","manager_id":"m-anna"}'
    ev task.created 09:05:00 '{"task_id":"T4","deal_id":"D2","due_at":"2026-11-22T10:00:00Z"}'
    ev task.completed 09:50:00 '{"task_id":"T4"}'
    ev task.created 09:06:00 '{"task_id":"T5","deal_id":"D2","due_at":"2026-11-22T13:00:00Z"}'
    ev task.completed 13:30:00 '{"task_id":"T5"}'
    # a won deal's overdue task puts nobody at risk
    ev deal.created 09:00:00 '{"deal_id":"D3","amount":70000,"currency":"KZT","contact_name":"Farida"}'
    ev task.created 09:10:00 '{"task_id":"T6","deal_id":"D3","due_at":"2026-11-22T10:00:00Z"}'
    ev deal.won 09:30:00 '{"deal_id":"D3"}'
    # a task read before its deal, re-dated to later before it was due (in event time: a
    # re-dating after 10:00 would find it overdue), then done in time
    ev task.created 09:20:00 '{"task_id":"T7","deal_id":"D4","due_at":"2026-11-22T10:00:00Z"}'
    ev deal.created 09:25:00 '{"deal_id":"D4","amount":"1000.50","currency":"KZT"}'
    ev task.updated 09:50:00 '{"task_id":"T7","due_at":"2026-11-22T15:00:00Z"}'
    ev task.completed 14:00:00 '{"task_id":"T7"}'
    ev deal.updated 18:00:00 '{"deal_id":"D4","stage":"contract"}'
} | jq -c -s 'sort_by(.time) | .[]' > day.ndjson # a CRM sends in time order (jq's sort is stable)
# lost at 21:00 UTC on 30 November: 1 December in Almaty
printf '{"specversion":"1.0","id":"late","type":"deal.lost","source":"s","time":"2026-11-30T21:00:00Z","data":{"deal_id":"LATE","loss_reason":"not_now","amount":100}}\n' > late.ndjson

"$LEAKWATCH" produce day.ndjson --kafka.brokers "$BROKERS"
lw_leakwatch_until_end --config config.json
"$LEAKWATCH" produce day.ndjson --kafka.brokers "$BROKERS"
lw_leakwatch_until_end --config config.json

last_totals() { lw_consume_keyed crm.agg.loss-totals | awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print v }'; }
nov=$(last_totals "default|loss|2026-11|KZT")
day=$(last_totals "default|loss|2026-11-22|KZT")
summary() { jq -c "$@" <<<"$nov"; }
lw_assert_eq '{"count":170,"amount":"412560.00"}' "$(summary ".data.target | {count, amount}")" "170 target refusals, 412 560"
lw_assert_eq '{"count":64,"amount":"127613.00"}' "$(summary ".data.manageable | {count, amount}")" "manageable 127 613"
lw_assert_eq '{"count":80,"amount":"220000.00"}' "$(summary ".data.objective | {count, amount}")" "objective"
lw_assert_eq '{"count":26,"amount":"64947.00"}' "$(summary ".data.unclassified | {count, amount}")" "unclassified"
lw_assert_eq '{"reason":"no_answer_3_times","class":"manageable","count":60,"amount":"111197.00"}' \
    "$(summary '.data.reasons[] | select(.reason == "no_answer_3_times") | {reason, class, count, amount}')" "no answer 3 times: 60, 111 197"
lw_assert_eq '{"reason":"chose_competitor","class":"manageable","count":4,"amount":"16416.00"}' \
    "$(summary '.data.reasons[] | select(.reason == "chose_competitor") | {reason, class, count, amount}')" "a corrected amount moved"
lw_assert_eq "Дорого" "$(summary -r '.data.reasons[] | select(.class == "unclassified") | .reason')" \
    "an unknown reason is listed as it came"
lw_assert_eq "" "$(summary -r '.data.reasons[] | select(.reason == "spam" or .reason == "duplicate")')" \
    "non-target reasons are in no total"
lw_assert_eq "$(jq -c '.data | del(.period, .period_kind)' <<<"$nov")" \
    "$(jq -c '.data | del(.period, .period_kind)' <<<"$day")" "the day's totals are the month's"
lw_assert_eq "deal.lost 64" \
    "$(jq -r '.data.by_manager[] | select(.manager_id == "m1" and .reason == "no_answer_3_times") | "deal.lost \(.count + 4)"' <<<"$nov")" \
    "the per-manager view"

risk=$(lw_consume crm.agg.risk-summary | tail -1)
lw_assert_eq 1 "$(jq .data.clients_at_risk <<<"$risk")" "1 client at risk"
lw_assert_eq '[{"currency":"KZT","amount":"5184.00"}]' "$(jq -c '[.data.at_stake[] | {currency, amount}]' <<<"$risk")" "5 184 at stake"
lw_assert_eq 3 "$(jq .data.overdue_tasks <<<"$risk")" "3 overdue tasks"
lw_assert_eq "T1 T2 T3" "$(jq -r '[.data.call_first[].task_id] | join(" ")' <<<"$risk")" \
    "call first: the longest overdue first at equal amounts"
lw_assert_eq '{"task_id":"T1","client":"Dana","manager_id":"m-boris","amount":"5184.00"}' \
    "$(jq -c '.data.call_first[0] | {task_id, client, manager_id, amount}' <<<"$risk")" \
    "a line of the list"
as_of=$(jq -r .data.as_of <<<"$risk")
lw_assert_eq $(($(date -d "$as_of" +%s) - $(date -d 2026-11-22T11:00:00Z +%s))) \
    "$(jq .data.call_first[0].overdue_seconds <<<"$risk")" "overdue for: from its due time to as_of ($as_of)"
lw_assert_eq '[{"manager_id":"m-boris","overdue_tasks":3}]' "$(jq -c '[.data.by_manager[] | {manager_id, overdue_tasks}]' <<<"$risk")" \
    "who lets tasks slip"

alerts() { lw_consume "$1" | jq -r "$2" | sort | paste -sd' '; }
lw_assert_eq "T1 T2 T3 T5 T6" "$(alerts crm.alerts.task-overdue 'select(.type == "task.overdue") | .data.task_id')" \
    "task.overdue: T4 done in time, T7 re-dated before it was due"
lw_assert_eq "T5:completed:1800" \
    "$(alerts crm.alerts.task-overdue 'select(.type == "task.overdue_resolved") | "\(.data.task_id):\(.data.resolution):\(.data.overdue_seconds)"')" \
    "task.overdue_resolved"
lw_assert_eq "deal.at_risk:D1:overdue_tasks deal.at_risk:D2:overdue_tasks deal.risk_cleared:D2:resolved" \
    "$(alerts crm.alerts.deal-at-risk '"\(.type):\(.data.deal_id):\(.data.reasons // [] | join(",") | if . == "" then "" else . end)\(.data.cleared_by // "")"' | sed 's/overdue_tasks\([a-z]\)/overdue_tasks:\1/')" \
    "deals at risk and cleared; the won deal never"
# a week later in event time: the late loss counts in December, not November
"$LEAKWATCH" produce late.ndjson --kafka.brokers "$BROKERS"
lw_leakwatch_until_end --config config.json
lw_assert_eq '{"count":1,"amount":"100.00"}' \
    "$(last_totals "default|loss|2026-12|KZT" | jq -c ".data.target | {count, amount}")" \
    "21:00 UTC on 30 Nov is December in Almaty"
lw_assert_eq '{"count":170,"amount":"412560.00"}' \
    "$(last_totals "default|loss|2026-11|KZT" | jq -c ".data.target | {count, amount}")" "November unchanged"
# and the deals left without a next step for 24 h, or a week in one stage, are at risk
lw_assert_contains "$(alerts crm.alerts.deal-at-risk 'select(.type == "deal.at_risk") | "\(.data.deal_id):\(.data.reasons | join(","))"')" \
    "D2:no_next_step" "no next step for 24 h"
lw_assert_contains "$(alerts crm.alerts.deal-at-risk 'select(.type == "deal.at_risk") | "\(.data.deal_id):\(.data.reasons | join(","))"')" \
    "D1:overdue_tasks,stalled" "a week in one stage: stalled"
lw_pass
