# shellcheck shell=bash
# lib.sh — the shared harness of the integration tests (tests/integration/test_*.sh).
#
# A test sources this file, calls lw_setup, starts what it needs (lw_start_redis,
# lw_start_broker, lw_spawn), checks with the lw_assert_* functions and ends with lw_pass.
# Environment: LEAKWATCH (the binary, required), LW_TEST_ROOT (<repo>/tests),
# LW_ARTEFACTS (where the logs of a failed test are copied), LW_KEEP=1 (keep the temp dir).
# Everything listens on 127.0.0.1; processes are stopped by the PID recorded when they were
# started, never by name. The shell options below apply to the test that sources this file.
set -euo pipefail

LW_TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
LW_PIDS=()
LW_REDIS_ARGS=()

# Prints a progress line on stderr.
lw_log() {
    echo "[$LW_TEST_NAME] $*" >&2
}

# Fails the test: prints FAIL with the message and exits 1 (only a subshell, inside $(...)).
lw_fail() {
    echo "FAIL: $LW_TEST_NAME: $*" >&2
    exit 1
}

# Fails unless EXPECTED equals ACTUAL: lw_assert_eq EXPECTED ACTUAL MSG
lw_assert_eq() {
    [[ "$1" == "$2" ]] || lw_fail "$3"$'\n'"  expected: $1"$'\n'"  actual:   $2"
}

# Fails unless HAYSTACK contains NEEDLE: lw_assert_contains HAYSTACK NEEDLE MSG
lw_assert_contains() {
    [[ "$1" == *"$2"* ]] || lw_fail "$3"$'\n'"  expected to contain: $2"$'\n'"  actual: $1"
}

# Ends a successful test.
lw_pass() {
    echo "PASS: $LW_TEST_NAME"
}

# Polls CMD (a string, run by eval) every 0.1 s until it succeeds; returns 1 after TIMEOUT_S.
lw_wait_for() {
    local cmd=$1 deadline=$((SECONDS + ${2:-10}))
    until eval "$cmd" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            lw_log "timed out after ${2:-10} s waiting for: $cmd"
            return 1
        fi
        sleep 0.1
    done
}

# Records PID so that the EXIT trap stops it (for processes a test starts itself).
lw_track_pid() {
    LW_PIDS+=("$1")
}

# Stops one process started by this test: SIGTERM, up to 5 s, then SIGKILL.
lw_stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        lw_log "pid $pid ignored SIGTERM for 5 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    local kept=() p
    for p in "${LW_PIDS[@]}"; do
        [[ "$p" == "$pid" ]] || kept+=("$p")
    done
    LW_PIDS=("${kept[@]}")
}

# The EXIT trap: stops the recorded processes (newest first), keeps the logs of a failure.
lw_cleanup() {
    local rc=$? i
    trap - EXIT
    for ((i = ${#LW_PIDS[@]} - 1; i >= 0; i--)); do
        lw_stop_pid "${LW_PIDS[i]}"
    done
    if ((rc != 0)); then
        local log
        for log in "$LW_TMP"/*.log; do
            [[ -s "$log" ]] || continue
            echo "--- last lines of $(basename "$log") ---" >&2
            tail -n 30 "$log" >&2
        done
        if [[ -n "${LW_ARTEFACTS:-}" ]]; then
            mkdir -p "$LW_ARTEFACTS/$LW_TEST_NAME"
            cp "$LW_TMP"/*.log "$LW_ARTEFACTS/$LW_TEST_NAME/" 2>/dev/null || true
        fi
    fi
    if [[ "${LW_KEEP:-0}" == 1 ]]; then
        lw_log "kept $LW_TMP"
    else
        rm -rf "$LW_TMP"
    fi
    exit "$rc"
}

# Makes the temp dir $LW_TMP and installs the EXIT trap.
lw_setup() {
    : "${LEAKWATCH:?LEAKWATCH must name the leakwatch binary}"
    LW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/lw-$LW_TEST_NAME.XXXXXX")
    export LW_TMP
    trap lw_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Starts NAME's command in the background (stdin /dev/null, output to $LW_TMP/NAME.log);
# sets LW_LAST_PID: lw_spawn NAME CMD [ARGS...]
lw_spawn() {
    local name=$1
    shift
    "$@" </dev/null >>"$LW_TMP/$name.log" 2>&1 &
    LW_LAST_PID=$!
    lw_track_pid "$LW_LAST_PID"
}

# A random port nothing listens on, below the kernel's ephemeral range: a port inside it
# can be taken by any outgoing connection between the pick and the bind (that made a
# test's http.listen fail with "Address already in use"). Below 55 535 too, so that a
# cluster node's bus port (port + 10 000) fits.
lw_random_port() {
    local low=32768 high port i
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    high=$((low > 55535 ? 55535 : low - 1))
    ((high > 12000)) || high=55535
    for ((i = 0; i < 50; i++)); do
        port=$((10000 + (RANDOM * 32768 + RANDOM) % (high - 10000)))
        # a connect that succeeds means something listens there already
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done
    echo "$port"
}

# What redis-cli needs to be let in (a test of a Redis with a password sets it, e.g.
# LW_REDIS_CLI_ARGS=(-a PASS --no-auth-warning) before lw_start_redis).
LW_REDIS_CLI_ARGS=()

# Starts redis-server on PORT (with $LW_REDIS_ARGS); succeeds once this very process answers.
lw_try_redis_port() {
    local port=$1
    lw_spawn redis redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$LW_TMP" --daemonize no "${LW_REDIS_ARGS[@]}"
    lw_redis_answers "$port" "$LW_LAST_PID" && LW_REDIS_PID=$LW_LAST_PID
}

# Waits up to 5 s for the redis-server of PID to answer on PORT (another process may hold
# the port); stops it and fails when it does not: lw_redis_answers PORT PID
lw_redis_answers() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        redis-cli -p "$port" "${LW_REDIS_CLI_ARGS[@]}" info server 2>/dev/null |
            grep -q "^process_id:$pid" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    lw_stop_pid "$pid"
    return 1
}

# Starts redis-server on a free port; exports REDIS_PORT and REDIS_URL. Extra arguments go to
# redis-server and override the defaults: lw_start_redis [--appendonly yes ...]
lw_start_redis() {
    local port
    LW_REDIS_ARGS=("$@")
    for _ in {1..10}; do
        port=$(lw_random_port)
        if lw_try_redis_port "$port"; then
            export REDIS_PORT=$port REDIS_URL=redis://127.0.0.1:$port
            lw_log "redis on $REDIS_URL (pid $LW_REDIS_PID)"
            return 0
        fi
    done
    lw_fail "could not start redis-server on a free port (see redis.log)"
}

# Restarts redis on the same port with the same arguments. The data survive: through the AOF
# when it is on, else a SAVE before the stop. lw_restart_redis --empty starts it empty.
lw_restart_redis() {
    if [[ "${1:-}" == --empty ]]; then
        rm -rf "$LW_TMP/dump.rdb" "$LW_TMP/appendonlydir"
    elif [[ "$(lw_redis config get appendonly | tail -n 1)" == no ]]; then
        lw_redis save >/dev/null || lw_fail "redis SAVE failed before the restart"
    fi
    lw_stop_pid "$LW_REDIS_PID"
    # The port may take a moment to become free again.
    lw_wait_for "lw_try_redis_port $REDIS_PORT" 10 || lw_fail "redis did not restart on $REDIS_PORT"
    lw_log "redis restarted on $REDIS_URL (pid $LW_REDIS_PID)"
}

# Runs redis-cli against the test's redis: lw_redis CMD [ARGS...]
lw_redis() {
    redis-cli -p "$REDIS_PORT" "${LW_REDIS_CLI_ARGS[@]}" "$@"
}

# Starts `leakwatch broker` (extra args passed on); exports BROKERS.
lw_start_broker() {
    rm -f "$LW_TMP/bootstrap"
    lw_spawn broker "$LEAKWATCH" broker --port-file "$LW_TMP/bootstrap" "$@"
    LW_BROKER_PID=$LW_LAST_PID
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s "$LW_TMP/bootstrap" ]] && break
        kill -0 "$LW_BROKER_PID" 2>/dev/null || lw_fail "leakwatch broker exited at start"
        sleep 0.1
    done
    [[ -s "$LW_TMP/bootstrap" ]] || lw_fail "leakwatch broker wrote no port file within 10 s"
    BROKERS=$(cat "$LW_TMP/bootstrap")
    export BROKERS
    lw_log "broker on $BROKERS (pid $LW_BROKER_PID)"
}

# Sends the broker fault signal SIG and waits until its log says "brokers 1..N are WORD".
lw_broker_signal() {
    local sig=$1 word=$2 before
    before=$(grep -c " are $word\"" "$LW_TMP/broker.log" || true)
    kill "-$sig" "$LW_BROKER_PID"
    lw_wait_for "(( \$(grep -c ' are $word\"' '$LW_TMP/broker.log') > $before ))" 5 ||
        lw_fail "the broker did not report being $word"
}

# Takes every broker down (SIGUSR1): connections are closed and new ones refused.
lw_broker_down() {
    lw_broker_signal USR1 down
}

# Brings every broker up again (SIGUSR2).
lw_broker_up() {
    lw_broker_signal USR2 up
}

# Produces each line of FILE to TOPIC: "key<TAB>json" lines are keyed, lines without a TAB
# are sent with no key. Fails the test if kcat fails.
lw_produce() {
    local topic=$1 file=$2
    kcat -P -b "$BROKERS" -t "$topic" -K $'\t' -q -X message.timeout.ms=10000 <"$file" ||
        lw_fail "kcat could not produce $file to $topic"
}

# The same as lw_produce, named for files whose lines all are "key<TAB>json".
lw_produce_keyed() {
    lw_produce "$@"
}

# Prints the values, keys and values, or headers and values of TOPIC from the beginning.
lw__consume() {
    local fmt=$1 topic=$2 timeout_s=${3:-30}
    timeout "$timeout_s" kcat -C -b "$BROKERS" -t "$topic" -o beginning -e -q -f "$fmt" ||
        lw_fail "kcat could not read $topic to its end within $timeout_s s"
}

# Prints every message value of TOPIC, one a line: lw_consume TOPIC [TIMEOUT_S]
lw_consume() {
    lw__consume '%s\n' "$@"
}

# Prints "key<TAB>value" for every message of TOPIC: lw_consume_keyed TOPIC [TIMEOUT_S]
lw_consume_keyed() {
    lw__consume '%k\t%s\n' "$@"
}

# Prints "headers<TAB>value" (headers as k=v,k=v): lw_consume_with_headers TOPIC [TIMEOUT_S]
lw_consume_with_headers() {
    lw__consume '%h\t%s\n' "$@"
}

# Prints each message of TOPIC as one JSON object (kcat -J: topic, partition, offset, key,
# payload as a string...) with headers as an object {"name": "value"}: lw_consume_json TOPIC
lw_consume_json() {
    local topic=$1 timeout_s=${2:-30} out
    out=$(timeout "$timeout_s" kcat -C -b "$BROKERS" -t "$topic" -o beginning -e -q -J) ||
        lw_fail "kcat could not read $topic to its end within $timeout_s s"
    [[ -z "$out" ]] && return 0
    # kcat lists headers as ["name", "value", ...]; an object is what tests want to index.
    jq -c '.headers = ([(.headers // []) as $h | range(0; $h | length; 2)
                        | {($h[.]): $h[. + 1]}] | add // {})' <<<"$out"
}

# The mock broker ignores LeaveGroup: a restarted member waits out the old one's session.
LW_KAFKA_TEST_ARGS="-X session.timeout.ms=6000 -X heartbeat.interval.ms=500"

# Runs the processor over what the topics hold until it reaches their end (--until-end, event
# clock), against $BROKERS and $REDIS_URL; extra flags override. Its output is appended to
# $LW_TMP/leakwatch.log. Fails the test on a non-zero exit or after $LW_RUN_TIMEOUT s (120).
lw_leakwatch_until_end() {
    local rc=0
    timeout "${LW_RUN_TIMEOUT:-120}" "$LEAKWATCH" run --kafka.brokers "$BROKERS" \
        --redis.url "$REDIS_URL" --clock event --until-end $LW_KAFKA_TEST_ARGS "$@" \
        </dev/null >>"$LW_TMP/leakwatch.log" 2>&1 || rc=$?
    ((rc == 0)) || lw_fail "leakwatch run --until-end $* exited with $rc (see leakwatch.log)"
}

# Starts `leakwatch run` (event clock) serving HTTP on a free port in the background;
# exports HTTP_BASE and sets LEAKWATCH_PID (not exported: a LEAKWATCH_* variable in the
# environment is a setting to every leakwatch command). Extra flags are passed on.
lw_start_run_with_http() {
    local port
    port=$(lw_random_port)
    export HTTP_BASE="http://127.0.0.1:$port"
    # shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
    "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$REDIS_URL" --clock event \
        --http.listen "127.0.0.1:$port" $LW_KAFKA_TEST_ARGS "$@" 2>"$LW_TMP/leakwatch.log" &
    LEAKWATCH_PID=$!
    lw_track_pid "$LEAKWATCH_PID"
}

# Feeds the sample day, then lw_start_run_with_http with these flags.
lw_start_sample_day_with_http() {
    "$LEAKWATCH" produce "$LW_TEST_ROOT/../deploy/sample/day.ndjson" --kafka.brokers "$BROKERS"
    lw_start_run_with_http "$@"
}

# Headless Chromium on a page: lw_browser PROFILE FLAGS... URL (--dump-dom, --screenshot=...).
# Flags: headless as root, no network beyond loopback, a fresh profile of that name.
lw_browser() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$LW_TMP/chrome-$1" \
        --virtual-time-budget=10000 "${@:2}" 2>>"$LW_TMP/chromium.log"
}

# ---------------------------------------------------------------- a Redis Cluster

# Starts a Redis Cluster of N masters (3 by default, no replicas) on consecutive free ports
# below 45 000 (a node's bus port is its port + 10 000), each with AOF on and its own dir
# ($LW_TMP/cluster-<port>: nodes.conf and the AOF), joined by `redis-cli --cluster create`;
# waits for cluster_state:ok on every node. Exports CLUSTER_PORTS (space separated),
# CLUSTER_URL (the first node) and sets LW_CLUSTER_PID[port]. lw_start_cluster [N]
declare -A LW_CLUSTER_PID=()
lw_cluster_node_start() {
    local port=$1 dir=$LW_TMP/cluster-$1
    mkdir -p "$dir"
    lw_spawn "cluster-$port" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
        --appendonly yes --save '' --daemonize no
    lw_redis_answers "$port" "$LW_LAST_PID" && LW_CLUSTER_PID[$port]=$LW_LAST_PID
}

lw_cluster_ok() {
    local port
    for port in $CLUSTER_PORTS; do
        redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}

lw_start_cluster() {
    local n=${1:-3} base port ok attempt
    for attempt in {1..10}; do
        base=$((20000 + (RANDOM * 32768 + RANDOM) % 25000))
        ok=1
        CLUSTER_PORTS=""
        for ((port = base; port < base + n; port++)); do
            if lw_cluster_node_start "$port"; then
                CLUSTER_PORTS+="${CLUSTER_PORTS:+ }$port"
            else
                ok=0 && break
            fi
        done
        ((ok)) && break
        for port in $CLUSTER_PORTS; do lw_stop_pid "${LW_CLUSTER_PID[$port]}"; done
    done
    ((ok)) || lw_fail "could not start $n cluster nodes on free ports"
    # shellcheck disable=SC2046 # one argument a node
    redis-cli --cluster create $(printf '127.0.0.1:%s ' $CLUSTER_PORTS) --cluster-replicas 0 \
        --cluster-yes >"$LW_TMP/cluster-create.log" 2>&1 || lw_fail "redis-cli --cluster create failed"
    export CLUSTER_PORTS CLUSTER_URL=redis://127.0.0.1:${CLUSTER_PORTS%% *}
    lw_wait_for lw_cluster_ok 30 || lw_fail "the cluster on $CLUSTER_PORTS did not reach cluster_state:ok"
    lw_log "redis cluster on $CLUSTER_PORTS"
}

# Restarts one node of the cluster on its port, with its nodes.conf and AOF; waits for
# cluster_state:ok again. lw_restart_cluster_node PORT
lw_restart_cluster_node() {
    lw_stop_pid "${LW_CLUSTER_PID[$1]}"
    lw_wait_for "lw_cluster_node_start $1" 10 || lw_fail "cluster node $1 did not restart"
    lw_wait_for lw_cluster_ok 30 || lw_fail "the cluster is not ok after restarting $1"
}

# The cluster node (port) serving KEY's slot: lw_cluster_owner KEY
lw_cluster_owner() {
    local slot port
    slot=$(redis-cli -p "${CLUSTER_PORTS%% *}" cluster keyslot "$1")
    for port in $CLUSTER_PORTS; do
        redis-cli -p "$port" cluster nodes | awk -v s="$slot" -v p="$port" '
            $3 ~ /myself/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1]
                if (r[1] !~ /\[/ && s >= r[1] && s <= r[2]) { print p; exit } } }'
    done
}

# Runs redis-cli on every master: lw_cluster_each CMD [ARGS...]
lw_cluster_each() {
    local port
    for port in $CLUSTER_PORTS; do
        redis-cli -p "$port" "$@"
    done
}

# Moves the slot of KEY from its master to the master on port TO (the Redis Cluster
# specification's resharding: IMPORTING on the target, MIGRATING on the source, the keys
# with MIGRATE, then SETSLOT NODE everywhere). leakwatch's scripts declare one key (the
# outbox) and reach the tenant's others from it: a script running on the source while some
# of its slot's keys are gone would fail halfway. So the source lists the slot's keys, turns
# MIGRATING and migrates them all in one script, atomically; afterwards its commands are
# ASKed to the target, which has every key. HOLD seconds (0) the slot stays so, migrating
# on the source and importing on the target, before it is given to the target: what comes
# for it meanwhile is ASKed. lw_cluster_move_slot KEY TO [HOLD]
lw_cluster_move_slot() {
    local key=$1 to=$2 hold=${3:-0} from slot from_id to_id port
    from=$(lw_cluster_owner "$key")
    [[ "$from" != "$to" ]] || return 0
    slot=$(redis-cli -p "$from" cluster keyslot "$key")
    from_id=$(redis-cli -p "$from" cluster myid)
    to_id=$(redis-cli -p "$to" cluster myid)
    redis-cli -p "$to" cluster setslot "$slot" importing "$from_id" >/dev/null
    redis-cli -p "$from" eval "
        local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[1], 1000000)
        redis.call('CLUSTER', 'SETSLOT', ARGV[1], 'MIGRATING', ARGV[2])
        if #keys > 0 then
            redis.call('MIGRATE', '127.0.0.1', ARGV[3], '', 0, 5000, 'KEYS', unpack(keys))
        end
        return #keys" 0 "$slot" "$to_id" "$to" >"$LW_TMP/migrate.out" ||
        lw_fail "migrating slot $slot: $(cat "$LW_TMP/migrate.out")"
    sleep "$hold"
    for port in "$to" "$from" $CLUSTER_PORTS; do
        redis-cli -p "$port" cluster setslot "$slot" node "$to_id" >/dev/null
    done
    lw_log "slot $slot ($key, $(cat "$LW_TMP/migrate.out") keys) moved from $from to $to"
}
