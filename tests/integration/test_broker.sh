#!/usr/bin/env bash
# test_broker.sh — `leakwatch broker` is a Kafka broker that kcat can use: messages produced can
# be read back, it refuses clients while down and keeps its data when up again, and --port
# bootstraps on the chosen port.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lw_setup

# Succeeds when a metadata request through BROKERS answers within 3 s.
metadata_ok() {
    timeout 10 kcat -L -b "$BROKERS" -m 3 -t crm.leads >/dev/null 2>&1
}

# A loopback port that nothing is listening on.
free_port() {
    local port
    while :; do
        port=$(lw_random_port)
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    echo "$port"
}

lw_start_broker
lw_assert_contains "$(kcat -L -b "$BROKERS" -t crm.leads)" 'topic "crm.leads" with 3 partitions' \
    "crm.leads is pre-created with the default 3 partitions"

printf '%s\t%s\n' lead-1 '{"n":1}' lead-2 '{"n":2}' lead-3 '{"n":3}' >"$LW_TMP/leads.tsv"
lw_produce_keyed crm.leads "$LW_TMP/leads.tsv"
expected=$(sort "$LW_TMP/leads.tsv")
lw_assert_eq "$expected" "$(lw_consume_keyed crm.leads | sort)" "keys and values read back"
lw_assert_eq 3 "$(lw_consume crm.leads | wc -l)" "message count"

lw_broker_down
if metadata_ok; then
    lw_fail "a metadata request succeeded while the broker was down"
fi
lw_broker_up
lw_wait_for metadata_ok 15 || lw_fail "metadata requests still fail after the broker came up"
lw_assert_eq "$expected" "$(lw_consume_keyed crm.leads | sort)" "messages kept across down/up"

lw_stop_pid "$LW_BROKER_PID"
port=$(free_port)
lw_start_broker --port "$port" --topics crm.leads:2,other
lw_assert_eq "127.0.0.1:$port" "$BROKERS" "the port file names the --port bootstrap"
lw_assert_contains "$(kcat -L -b "$BROKERS" -t crm.leads)" 'topic "crm.leads" with 2 partitions' \
    "--topics sets the partition count"
lw_produce_keyed crm.leads "$LW_TMP/leads.tsv"
lw_assert_eq "$expected" "$(lw_consume_keyed crm.leads | sort)" "round trip bootstrapped on --port"
lw_broker_down
if metadata_ok; then
    lw_fail "bootstrapping on --port succeeded while the broker was down"
fi
lw_broker_up
lw_wait_for metadata_ok 15 || lw_fail "bootstrapping on --port fails after the broker came up"

lw_pass
