#!/usr/bin/env bash
# leakwatch replay: the input from the beginning into a consumer group of its own, with the
# event clock, until its end — the sample day's alerts, into a fresh Redis database; with
# replay.from, only what was written after that time (Kafka message timestamps). The
# progress line shows on a terminal (a pseudo-terminal from `script`), never on a log line's
# line, and not in a log. replay.output=none: the same state, nothing produced; a prefix: the
# derived events on the prefixed topics only. The group's deletion is tried unless kept.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
day="$LW_TEST_ROOT/../deploy/sample/day.ndjson"
"$LEAKWATCH" produce "$day" --kafka.brokers "$BROKERS"

replay() { timeout 120 "$LEAKWATCH" replay --kafka.brokers "$BROKERS" $LW_KAFKA_TEST_ARGS "$@"; }
replay --redis.url "$REDIS_URL/1" 2>"$LW_TMP/replay.log"
lw_assert_eq "L2 L6" "$(lw_consume crm.alerts.lead-idle | jq -r .data.lead_id | sort | paste -sd' ')" \
    "the day's idle alerts"
lw_assert_contains "$(cat "$LW_TMP/replay.log")" "replay as consumer group leakwatch-replay-" \
    "a consumer group of its own"
if grep -q "replay: .* events" "$LW_TMP/replay.log"; then
    lw_fail "a progress line was written to a log that is not a terminal"
fi

lw_assert_contains "$(cat "$LW_TMP/replay.log")" "not deleted (best-effort)" \
    "the group's deletion is tried (the mock cluster of librdkafka 2.0.2 does not support it)"

# Every message on every topic but the inputs: "topic<TAB>count" lines.
output_counts() {
    local t
    for t in $(kcat -L -b "$BROKERS" | sed -n 's/^ *topic "\([^"]*\)".*/\1/p' | sort); do
        case $t in crm.leads | crm.calls | crm.tasks | crm.deals) continue ;; esac
        printf '%s\t%s\n' "$t" "$(lw_consume "$t" | wc -l)"
    done
}
# A database's state without the clock marks and the input positions (named after the group)
# and the epoch (random): each key, its type and its value in a canonical form.
state_of() {
    local db=$1 k
    for k in $(lw_redis -n "$db" --scan | grep -v -e '^lw:clock:' -e ':positions$' -e '^lw:{:epoch}$' | sort); do
        case $(lw_redis -n "$db" type "$k") in
        string) printf '%s string %s\n' "$k" "$(lw_redis -n "$db" get "$k")" ;;
        hash) # by field: the order fields were first written in depends on batching
            printf '%s hash %s\n' "$k" "$(lw_redis -n "$db" hgetall "$k" | paste -d' ' - - | sort | paste -sd' ')" ;;
        set) printf '%s set %s\n' "$k" "$(lw_redis -n "$db" smembers "$k" | sort | paste -sd' ')" ;;
        zset) printf '%s zset %s\n' "$k" "$(lw_redis -n "$db" zrange "$k" 0 -1 withscores | paste -sd' ')" ;;
        list) printf '%s list %s\n' "$k" "$(lw_redis -n "$db" lrange "$k" 0 -1 | paste -sd' ')" ;;
        stream) printf '%s stream %s\n' "$k" "$(lw_redis -n "$db" xlen "$k")" ;;
        esac
    done
}
before=$(output_counts)

# replay.output=none: the same state, the outbox drained, nothing produced anywhere
replay --redis.url "$REDIS_URL/4" --replay.output none --replay.keep_group 2>"$LW_TMP/none.log"
lw_assert_eq "$before" "$(output_counts)" "replay.output=none produced no message on any topic"
lw_assert_eq "$(state_of 1)" "$(state_of 4)" "replay.output=none: the state of replay.output=topics"
lw_assert_contains "$(cat "$LW_TMP/none.log")" "derived_out=0 " "no derived event delivered"
lw_assert_contains "$(cat "$LW_TMP/none.log")" "kept (replay.keep_group)" "replay.keep_group"
if grep -q "not deleted\|group .* deleted" "$LW_TMP/none.log"; then
    lw_fail "replay.keep_group: the group's deletion was tried"
fi
for k in $(lw_redis -n 4 --scan --pattern 'lw:*outbox*'); do
    lw_assert_eq 0 "$(lw_redis -n 4 xlen "$k")" "the outbox $k is drained with replay.output=none"
done

# replay.output=replay.: the derived events and dead letters on the prefixed topics only
replay --redis.url "$REDIS_URL/5" --replay.output replay. 2>"$LW_TMP/prefix.log"
lw_assert_eq "L2 L6" "$(lw_consume replay.crm.alerts.lead-idle | jq -r .data.lead_id | sort | paste -sd' ')" \
    "the day's idle alerts on the prefixed topic"
lw_assert_eq "$(lw_consume crm.dlq | wc -l)" "$(lw_consume replay.crm.dlq | wc -l)" \
    "the dead letters on the prefixed topic"
lw_assert_eq "$before" "$(output_counts | grep -v '^replay\.')" \
    "replay.output=replay. wrote nothing to the live topics"
lw_assert_eq "$(state_of 1)" "$(state_of 5)" "replay.output=replay.: the same state"

# replay.from: only the events written after that moment
sleep 1.2
from=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.2
head -3 "$day" | sed 's/"id": "ev-/"id": "again-ev-/' > "$LW_TMP/later.ndjson"
"$LEAKWATCH" produce "$LW_TMP/later.ndjson" --kafka.brokers "$BROKERS"
replay --redis.url "$REDIS_URL/2" --replay.from "$from" 2>"$LW_TMP/from.log"
lw_assert_contains "$(cat "$LW_TMP/from.log")" "events_in=3 " "only the 3 events written after $from"

# on a terminal: the progress line, with the events done, the rate, what is left and an ETA
script -qec "$(printf '%q ' "$LEAKWATCH" replay --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL/3" $LW_KAFKA_TEST_ARGS)" \
    /dev/null > "$LW_TMP/tty.out" 2>&1 </dev/null || true
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "replay: 23 events" "the progress line on a terminal"
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "0 left, ETA 0s" "lag and ETA at the end"
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "replay: waiting for partitions" \
    "waiting for partitions until assigned"
# a log line starts a line of its own: the progress line is cleared (\r, erase to the end) first
if tr '\r' '\n' < "$LW_TMP/tty.out" | sed 's/\x1b\[K//g' | grep -q 'replay: .*ts=\|ts=.*replay: [0-9w]'; then
    lw_fail "a log line shares a line with the progress line"
fi
lw_assert_contains "$(tr '\r' '\n' < "$LW_TMP/tty.out")" "level=info" "the log lines on the terminal too"

lw_assert_eq 2 "$("$LEAKWATCH" replay --replay.from yesterday 2>/dev/null; echo $?)" \
    "a bad replay.from is refused"
lw_pass
