#!/usr/bin/env bash
# State and positions cannot drift apart (README: State and positions):
# (a) a Redis that acknowledged writes and then lost them (restored to an earlier snapshot, as
#     a failover to a lagging replica or the AOF's lost second leaves it) loses the positions
#     with the state: the events are read again, and the state and the derived events are
#     those of a run with no fault;
# (b) a Redis that comes back empty is noticed: at start (exit 4 with its message), while
#     running (a reconnect to it: exit 4), and with state.rebuild=replay the state is rebuilt
#     from the earliest offsets, the same again.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_redis
lw_start_broker
awk -v N=1000 -v TENANTS=2 -f "$LW_TEST_ROOT/bench/gen_events.awk" | sort -s -k1,1 | cut -f2- \
    >"$LW_TMP/events.ndjson"
head -n 500 "$LW_TMP/events.ndjson" >"$LW_TMP/first.ndjson"
lw_assert_contains "$(tail -n 1 "$LW_TMP/first.ndjson")" '"type"' "the stream is split in two"
tail -n +501 "$LW_TMP/events.ndjson" >"$LW_TMP/second.ndjson"

# A database's state in one canonical text, without what is named after the group or random
# (clock marks, positions, the epoch): one line a key, its type and its value.
STATE_LUA='
local out = {}
for _, k in ipairs(redis.call("KEYS", "lw:*")) do
  if not (k:find("^lw:clock:") or k:find(":positions$") or k == "lw:{:epoch}") then
    local t, v = redis.call("TYPE", k).ok, nil
    if t == "hash" then
      local f, p = redis.call("HGETALL", k), {}
      for i = 1, #f, 2 do p[#p + 1] = f[i] .. "=" .. f[i + 1] end
      table.sort(p)
      v = table.concat(p, " ")
    elseif t == "set" then
      v = redis.call("SMEMBERS", k)
      table.sort(v)
      v = table.concat(v, " ")
    elseif t == "zset" then v = table.concat(redis.call("ZRANGE", k, 0, -1, "WITHSCORES"), " ")
    elseif t == "list" then v = table.concat(redis.call("LRANGE", k, 0, -1), " ")
    elseif t == "stream" then v = tostring(redis.call("XLEN", k))
    else v = tostring(redis.call("GET", k)) end
    out[#out + 1] = k .. " " .. t .. " " .. v
  end
end
table.sort(out)
return table.concat(out, "\n")'
state_of() { lw_redis -n "$1" eval "$STATE_LUA" 0; }
# The derived events of the output topics (PREFIX: of the prefixed ones): type, id and
# data, each once; of an aggregate (a compacted topic) the last value of each key, as the
# intermediate ones depend on batching (README: Time and order).
derived() {
    local prefix=${1:-} t cleanup
    while IFS=$'\t' read -r t _ cleanup _; do
        if [[ $cleanup == compact ]]; then
            lw_consume_keyed "$prefix$t" | awk -F'\t' '{ last[$1] = $2 } END { for (k in last) print last[k] }'
        else
            lw_consume "$prefix$t"
        fi | jq -c '[.type, .id, .data]'
    done < <("$LEAKWATCH" topics | awk -F'\t' '$4 != ""') | sort -u
}
produce() { "$LEAKWATCH" produce "$1" --kafka.brokers "$BROKERS"; }
run_faulty() { lw_leakwatch_until_end --group.id faulty --redis.url "$REDIS_URL/0" "$@"; }
# Exits of a run that must fail: its exit code in RC, its log in $LW_TMP/refused.log.
run_refused() {
    RC=0
    timeout 60 "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL/0" \
        --group.id faulty --clock event --until-end $LW_KAFKA_TEST_ARGS "$@" \
        </dev/null 2>"$LW_TMP/refused.log" || RC=$?
}

# (a) The first half applied and snapshotted; the second half applied, its offsets committed;
# then Redis goes back to the snapshot: it acknowledged the second half and lost it.
produce "$LW_TMP/first.ndjson"
run_faulty
lw_redis save >/dev/null
cp "$LW_TMP/dump.rdb" "$LW_TMP/snapshot.rdb"
produce "$LW_TMP/second.ndjson"
run_faulty
after_second=$(state_of 0)
lw_stop_pid "$LW_REDIS_PID" # --save '': nothing written at the stop
cp "$LW_TMP/snapshot.rdb" "$LW_TMP/dump.rdb"
lw_wait_for "lw_try_redis_port $REDIS_PORT" 10 || lw_fail "redis did not restart on $REDIS_PORT"
[[ "$(state_of 0)" != "$after_second" ]] || lw_fail "the snapshot holds the second half already"
: >"$LW_TMP/leakwatch.log"
run_faulty
resumed=$(grep -o 'msg="rebalance: [0-9]* of [0-9]* partition(s) resume at the positions Redis holds' \
    "$LW_TMP/leakwatch.log" | head -n 1)
[[ "$resumed" =~ rebalance:\ ([1-9][0-9]*)\ of ]] ||
    lw_fail "no partition resumed at the position Redis holds: ${resumed:-no such line}"

# The reference: every event, no fault, in db 1 by a replay (a group of its own, the event
# clock) writing its derived events to topics of their own
timeout 120 "$LEAKWATCH" replay --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL/1" \
    --replay.output ref. $LW_KAFKA_TEST_ARGS </dev/null 2>>"$LW_TMP/leakwatch.log" ||
    lw_fail "the reference replay failed (see leakwatch.log)"
reference=$(state_of 1)
reference_derived=$(derived ref.)
(($(wc -l <<<"$reference") > 300)) || lw_fail "the reference state is small: $(wc -l <<<"$reference") keys"
(($(wc -l <<<"$reference_derived") > 300)) ||
    lw_fail "the reference derived little: $(wc -l <<<"$reference_derived") events"
lw_assert_eq "$reference" "$after_second" "the state before the loss is the reference"
lw_assert_eq "$reference" "$(state_of 0)" "Redis lost its last writes: read again, the state is the reference"

# (b) Redis comes back empty: refused at start, with its exit code and message
lw_restart_redis --empty
run_refused
lw_assert_eq 4 "$RC" "an empty Redis under a group that ran before: exit 4"
lw_assert_contains "$(cat "$LW_TMP/refused.log")" "Redis came back empty" "the message says why"
lw_assert_contains "$(cat "$LW_TMP/refused.log")" "state.rebuild=replay" "and what to do"
lw_assert_eq "" "$(lw_redis -n 0 keys 'lw:*')" "nothing is written to the empty Redis"

# ... and with state.rebuild=replay, rebuilt from the earliest offsets: the same state
run_faulty --state.rebuild replay
lw_assert_eq "$reference" "$(state_of 0)" "state.rebuild=replay: the state is rebuilt"

# ... and noticed while running, at a reconnect to a Redis that came back empty: under
# state.rebuild=replay it starts again and rebuilds the state
live() {
    # emptied here, not by the background job's redirection: that one may come after the
    # wait below has already found the previous run's line
    : >"$LW_TMP/live.log"
    "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL/0" --group.id faulty \
        --clock event $LW_KAFKA_TEST_ARGS "$@" </dev/null 2>>"$LW_TMP/live.log" &
    LIVE_PID=$!
    lw_track_pid "$LIVE_PID"
    lw_wait_for "grep -q 'resume at the positions Redis holds' '$LW_TMP/live.log'" 60 ||
        lw_fail "the live run was not assigned its partitions (see live.log)"
}
live --state.rebuild replay
lw_restart_redis --empty
lw_wait_for '[[ "$(state_of 0)" == "$reference" ]]' 90 ||
    lw_fail "state.rebuild=replay: the state was not rebuilt after the reconnect (see live.log)"
lw_assert_contains "$(cat "$LW_TMP/live.log")" "starting again to rebuild" "it started again"
RC=0
kill -TERM "$LIVE_PID"
wait "$LIVE_PID" || RC=$?
lw_stop_pid "$LIVE_PID"
lw_assert_eq 0 "$RC" "the rebuilt instance stops cleanly"

# ... and by default it stops, with the exit code
live
lw_restart_redis --empty
RC=0
lw_wait_for "! kill -0 $LIVE_PID" 30 || lw_fail "the live run went on after Redis came back empty"
wait "$LIVE_PID" || RC=$?
lw_stop_pid "$LIVE_PID"
lw_assert_eq 4 "$RC" "Redis emptied under a running instance: exit 4"
lw_assert_contains "$(cat "$LW_TMP/live.log")" "since this instance started" "the message says when"

# every run above wrote to the same topics: their derived events together, by id and data, and
# the last value of each aggregate, are the reference's (nothing invented, nothing changed)
lw_assert_eq "$reference_derived" "$(derived)" "the derived events of every run are the reference's"
lw_pass
