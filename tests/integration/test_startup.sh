#!/usr/bin/env bash
# Bad configuration is refused at start with the key named (exit 2); an unreachable Redis
# or broker is retried with backoff and reported, never a crash; --help lists the settings
# and the exit codes.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup

expect_refusal() { # expected-text, then the command
    local want=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    lw_assert_eq 2 "$rc" "exit code of: $*"
    lw_assert_contains "$out" "$want" "message of: $*"
}
echo '{"batch.size": 10, "lead.idle_aftr": "30m"}' > "$LW_TMP/typo.json"
echo '{"batch": {"size": "many"}}' > "$LW_TMP/bad-type.json"
echo '{"tenants": {"acme": {"group.id": "x"}}}' > "$LW_TMP/bad-tenant.json"
echo '{not json' > "$LW_TMP/broken.json"
expect_refusal "lead.idle_aftr" "$LEAKWATCH" run --config "$LW_TMP/typo.json"
expect_refusal "batch.size" "$LEAKWATCH" run --config "$LW_TMP/bad-type.json"
expect_refusal "tenants.acme.group.id" "$LEAKWATCH" run --config "$LW_TMP/bad-tenant.json"
expect_refusal "broken.json" "$LEAKWATCH" run --config "$LW_TMP/broken.json"
expect_refusal "clock" env LEAKWATCH_CLOCK=sometimes "$LEAKWATCH" run
expect_refusal "LEAKWATCH_BATCH_SIZ" env LEAKWATCH_BATCH_SIZ=5 "$LEAKWATCH" run
expect_refusal "lead.callback_after" "$LEAKWATCH" run --lead.callback_after 15
expect_refusal "--no.such" "$LEAKWATCH" run --no.such 1
expect_refusal "redis.cluster" "$LEAKWATCH" run --redis.cluster maybe
expect_refusal "kafka.no.such.property" "$LEAKWATCH" run --redis.url redis://127.0.0.1:1 \
    --kafka.no.such.property 1
# `config` refuses what `run` refuses, at load, before any connection
for cmd in run config topics; do
    expect_refusal "kafka.brokrs" "$LEAKWATCH" $cmd --kafka.brokrs x:1
    expect_refusal "http.listen" "$LEAKWATCH" $cmd --http.listen localhost:80
    expect_refusal "redis.url" "$LEAKWATCH" $cmd --redis.url redis://127.0.0.1:0
    expect_refusal "--no.such" "$LEAKWATCH" $cmd --no.such 1
done

help=$("$LEAKWATCH" --help)
for want in "Exit codes" "LEAKWATCH_KAFKA_BROKERS" "LEAKWATCH_REDIS_URL" "LEAKWATCH_GROUP_ID" \
    "LEAKWATCH_CLOCK" "batch.timeout"; do
    lw_assert_contains "$help" "$want" "--help"
done
lw_assert_contains "$("$LEAKWATCH" --version)" "leakwatch " "--version"
lw_assert_eq '"event"' "$(LEAKWATCH_CLOCK=event "$LEAKWATCH" config | jq .clock)" "env in effect"

# Redis unreachable: retried with growing delays, stopped cleanly by SIGTERM
"$LEAKWATCH" run --redis.url redis://127.0.0.1:1 2>"$LW_TMP/noredis.log" &
pid=$!
lw_track_pid "$pid"
lw_wait_for "[ \$(grep -c 'retrying in' '$LW_TMP/noredis.log') -ge 4 ]" 20
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
lw_assert_eq 0 "$rc" "clean exit while Redis was unreachable"
lw_assert_contains "$(cat "$LW_TMP/noredis.log")" "retrying in 800 ms" "backoff grows"

# a Redis without Functions (FUNCTION renamed away stands in for Redis 6): refused, exit 3
lw_start_redis --rename-command FUNCTION '""'
rc=0
out=$("$LEAKWATCH" run --redis.url "$REDIS_URL" 2>&1) || rc=$?
lw_assert_eq 3 "$rc" "exit code with a Redis without Functions"
lw_assert_contains "$out" "needs Redis >= 7.0" "says which version it needs"

# broker unreachable: reported, not fatal
lw_start_redis

# redis.cluster=on with a server that is no cluster node: refused, exit 3 (not retried: its
# cluster_enabled is its configuration); auto takes it as one node
rc=0
out=$(timeout 20 "$LEAKWATCH" run --redis.url "$REDIS_URL" --redis.cluster on 2>&1) || rc=$?
lw_assert_eq 3 "$rc" "exit code of redis.cluster=on with one redis-server"
lw_assert_contains "$out" "redis.cluster=on but the server is not a cluster node" \
    "says redis.cluster=on wants a cluster"

"$LEAKWATCH" run --redis.url "$REDIS_URL" --kafka.brokers 127.0.0.1:1 2>"$LW_TMP/nobroker.log" &
pid=$!
lw_track_pid "$pid"
lw_wait_for "grep -q 'Connection refused' '$LW_TMP/nobroker.log'" 20
kill -0 "$pid" || lw_fail "leakwatch died while the broker was unreachable"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
lw_assert_eq 0 "$rc" "clean exit while the broker was unreachable"

# Each command has its --help, from the table that parses its flags
bhelp=$("$LEAKWATCH" broker --help)
for want in "--port N" "--port-file FILE" "--partitions N" "--brokers N" "--topics" "SETTINGS" \
    "LEAKWATCH_TOPICS_DLQ"; do
    lw_assert_contains "$bhelp" "$want" "broker --help"
done
lw_assert_contains "$("$LEAKWATCH" produce --help)" "--topic T" "produce --help"
lw_assert_contains "$("$LEAKWATCH" produce --help)" "LEAKWATCH_KAFKA_BROKERS" "produce --help"
lw_assert_contains "$("$LEAKWATCH" config --help)" "--kafka-properties" "config --help"
for cmd in run replay topics; do
    lw_assert_contains "$("$LEAKWATCH" $cmd --help)" "leakwatch $cmd [SETTINGS]" "$cmd --help"
done
expect_refusal "--bogus" "$LEAKWATCH" broker --bogus 1
expect_refusal "kafka.brokrs" "$LEAKWATCH" produce - --kafka.brokrs x:1
expect_refusal "FILE|-" "$LEAKWATCH" produce --kafka.brokers 127.0.0.1:1

# produce takes the settings like run (here from a file, with a kafka.* property), and -
# reads standard input; the broker creates the topics the settings name
echo '{"topics.input": "crm.leads,crm.calls", "topics.dlq": "dead.letters"}' >"$LW_TMP/topics.json"
lw_start_broker --config "$LW_TMP/topics.json"
lw_assert_contains "$(kcat -L -b "$BROKERS")" '"dead.letters"' "the broker's topics from --config"
echo "{\"kafka.brokers\": \"$BROKERS\", \"kafka.client.id\": \"lw-produce\"}" >"$LW_TMP/produce.json"
head -n 3 "$LW_TEST_ROOT/../deploy/sample/day.ndjson" >"$LW_TMP/three.ndjson"
"$LEAKWATCH" produce - --config "$LW_TMP/produce.json" --topic crm.calls <"$LW_TMP/three.ndjson" \
    2>"$LW_TMP/stdin.log" || lw_fail "produce - failed: $(cat "$LW_TMP/stdin.log")"
lw_assert_contains "$(cat "$LW_TMP/stdin.log")" "3 delivered" "produce - read standard input"
# sorted: the three go to the partitions of their keys, and a topic is read partition by
# partition, so only each partition's order is the input's
lw_assert_eq "$(sort "$LW_TMP/three.ndjson")" "$(lw_consume crm.calls | sort)" "what produce - sent"
lw_stop_pid "$LW_BROKER_PID"

# SIGTERM with the broker and Redis gone (kill -9): out within 10 s (systemd and Kubernetes
# kill at 30 s), saying why. Offsets not committed are read again: nothing is lost.
lw_start_broker
"$LEAKWATCH" run --redis.url "$REDIS_URL" --kafka.brokers "$BROKERS" 2>"$LW_TMP/sigterm.log" &
pid=$!
lw_track_pid "$pid"
lw_wait_for "grep -q 'rebalance: assigned' '$LW_TMP/sigterm.log'" 30 || lw_fail "no assignment"
sleep 3 # the assigned partitions' positions are known: what is produced now is read
"$LEAKWATCH" produce "$LW_TEST_ROOT/../deploy/sample/day.ndjson" --kafka.brokers "$BROKERS" \
    2>"$LW_TMP/produce.log"
lw_wait_for "lw_redis --scan --pattern 'lw:{*}:lead:*' | grep -q ." 30 || lw_fail "nothing applied"
kill -KILL "$LW_BROKER_PID" "$LW_REDIS_PID"
lw_wait_for "grep -q 'brokers are down' '$LW_TMP/sigterm.log'" 20
sleep 5 # the group notices its coordinator is gone
started=$(date +%s%N)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
took_ms=$((($(date +%s%N) - started) / 1000000))
lw_log "SIGTERM to exit: $took_ms ms"
lw_assert_eq 0 "$rc" "exit code of SIGTERM with the broker and Redis gone"
((took_ms < 10000)) || lw_fail "SIGTERM took $took_ms ms with the broker and Redis gone"
lw_assert_contains "$(cat "$LW_TMP/sigterm.log")" "received SIGTERM" "the signal is logged"
lw_pass
