#!/usr/bin/env bash
# leakwatch on a real Redis Cluster of 3 masters (lib.sh: lw_start_cluster): one generated
# stream of 8 tenants (tests/bench/gen_stream.awk) derives on the cluster exactly what it
# derives on one redis-server (the reference of tests/bench/exactness_lib.sh: every alert, id
# and data, and the last value of every aggregate key), with the tenants' state on at least
# two shards; the same holds when a busy tenant's slot is migrated twice during the run
# (MOVED and ASK followed), when a master is restarted during the run (AOF on, same port
# and nodes.conf: leakwatch reconnects and goes on), and with two instances in one group
# (exactness_lib.sh's two-instances: the group's clock on one shard, the tenants on others).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$LW_TEST_ROOT/integration/lib.sh"
# shellcheck source=SCRIPTDIR/../bench/exactness_lib.sh
source "$LW_TEST_ROOT/bench/exactness_lib.sh"
lw_setup
ex_init
ex_generate 4000 8 3
lw_start_cluster 3
read -r -a masters <<<"$CLUSTER_PORTS"

# The reference on the one redis-server, every other variant on the cluster.
ex_url() {
    if [[ "$1" == reference ]]; then echo "$REDIS_URL/$(ex_db reference)"; else echo "$CLUSTER_URL"; fi
}

# Events applied on the cluster: the members of every master's applied-id sets.
ex_applied() {
    local port n=0
    for port in $CLUSTER_PORTS; do
        n=$((n + $(redis-cli -p "$port" eval "local n = 0
            for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('SCARD', k) end
            return n" 0 'lw:*:seen:*')))
    done
    echo "$n"
}

# A fresh cluster state and broker, then leakwatch --until-end on the cluster in the
# background (small batches: the run lasts long enough to be disturbed); sets CL_PID.
cl_spawn() {
    local variant=$1
    shift
    lw_cluster_each flushall >/dev/null
    ex_four_topics "$variant"
    # shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
    lw_spawn "$variant" "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$CLUSTER_URL" \
        --group.id "ex-$variant" --clock event --until-end --batch.size 10 $LW_KAFKA_TEST_ARGS "$@"
    CL_PID=$LW_LAST_PID
}

cl_wait_end() { # VARIANT
    local rc=0
    wait "$CL_PID" || rc=$?
    ((rc == 0)) || lw_fail "$1: leakwatch exited with $rc (see $1.log)"
}

ex_variant_cluster() {
    cl_spawn cluster
    cl_wait_end cluster
    lw_assert_contains "$(cat "$LW_TMP/cluster.log")" "is a cluster of 3 masters" \
        "redis.cluster=auto found the cluster"
    local t port owners=""
    for t in t1 t2 t3 t4 t5 t6 t7 t8; do
        port=$(lw_cluster_owner "lw:{$t}:latest")
        lw_assert_eq 1 "$(redis-cli -p "$port" exists "lw:{$t}:latest")" \
            "tenant $t's state is on the master that owns its slot ($port)"
        owners+="$port"$'\n'
    done
    local shards
    shards=$(sort -u <<<"$owners" | grep -c .)
    ((shards >= 2)) || lw_fail "the 8 tenants' state is on $shards shard(s), not spread"
    ex_note "cluster: the 8 tenants' state on $shards of 3 shards"
}

# ASKING commands a node was sent: cl_asking_calls PORT
cl_asking_calls() {
    redis-cli -p "$1" info commandstats | tr -d '\r' |
        awk -F'[:=,]' '$1 == "cmdstat_asking" { n = $3 } END { print n + 0 }'
}

# t1, the busiest tenant: its slot goes to another master at a third of the stream (held
# migrating for 2 s: t1's commands meanwhile are ASKed) and to the third master at two
# thirds. One event a batch: with 10 the run once ended inside the first move's 2 s, before the
# second move could start.
ex_variant_cluster_migrate() {
    cl_spawn cluster-migrate --batch.size 1
    local from to asked
    from=$(lw_cluster_owner "lw:{t1}:outbox")
    for to in "${masters[@]}"; do [[ "$to" == "$from" ]] || break; done
    ex_wait_applied cluster-migrate $((EX_EVENTS / 3)) "$CL_PID"
    asked=$(cl_asking_calls "$to")
    lw_cluster_move_slot "lw:{t1}:outbox" "$to" 2
    asked=$(($(cl_asking_calls "$to") - asked))
    ((asked > 0)) || lw_fail "leakwatch sent no ASKING to $to while t1's slot was migrating to it"
    ex_note "cluster-migrate: $asked commands ASKed to $to while t1's slot was migrating"
    local third
    for third in "${masters[@]}"; do [[ "$third" == "$from" || "$third" == "$to" ]] || break; done
    ex_wait_applied cluster-migrate $((EX_EVENTS * 2 / 3)) "$CL_PID"
    lw_cluster_move_slot "lw:{t1}:outbox" "$third"
    ex_note "cluster-migrate: t1's slot moved at $((EX_EVENTS / 3)) and $((EX_EVENTS * 2 / 3)) events"
    cl_wait_end cluster-migrate
    lw_assert_eq "$third" "$(lw_cluster_owner "lw:{t1}:outbox")" "t1's slot ends on the third master"
    grep -q "MOVED" "$LW_TMP/cluster-migrate.log" ||
        lw_fail "leakwatch met no MOVED: the migrations fell outside its run"
}

# The second master (not the one of redis.url) restarted at half of the stream.
ex_variant_cluster_restart() {
    cl_spawn cluster-restart
    ex_wait_applied cluster-restart $((EX_EVENTS / 2)) "$CL_PID"
    lw_restart_cluster_node "${masters[1]}"
    ex_note "cluster-restart: master ${masters[1]} restarted at $((EX_EVENTS / 2)) events"
    cl_wait_end cluster-restart
    grep -q "connection was lost; reconnecting" "$LW_TMP/cluster-restart.log" ||
        lw_fail "leakwatch never lost the restarted master: the restart fell outside its run"
}

ex_variant_cluster_two_instances() {
    lw_cluster_each flushall >/dev/null
    ex_variant_two_instances
}

ex_check reference cluster cluster-migrate cluster-restart cluster-two-instances
lw_pass
