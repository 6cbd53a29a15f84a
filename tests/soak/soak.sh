#!/usr/bin/env bash
# The soak (issue 11 §1; not part of the quick suite): PRODUCT.md §6 measured under many
# faults at once. One generated stream (tests/bench/gen_stream.awk, SOAK_EVENTS events) is
# processed twice with the event clock, on four input topics x SOAK_PARTITIONS partitions:
#   reference  fed whole, then one `leakwatch run --until-end`: no fault
#   soak       fed in SOAK_CHUNKS chunks while leakwatch runs, and meanwhile SOAK_KILLS x
#              kill -9 of leakwatch (each at a random number of events applied, plus a
#              random 0-2 s), SOAK_OUTAGES broker outages of 10-30 s (`leakwatch broker`
#              SIGUSR1/SIGUSR2: its topics stay), SOAK_REDIS_RESTARTS restarts of
#              redis-server (AOF on) and SOAK_JOINS times a second instance joining the group
#              for 5-15 s and leaving it (rebalances); a run until the end last.
# Then, against the reference: per derived topic the events lost and invented by id and by
# content, whether every final aggregate is identical, how many times each derived id was
# written, and the time each fault took to recover from (its end to the next event applied,
# or to the outbox drained when nothing was left to apply). Exits 0 only when nothing was
# lost, invented or differs, no id carries two data, no deadline fired under two ids and
# every fault was recovered from. An id written again with the same data is reported, not a
# failure (PRODUCT.md §6: at-least-once out; downstream drops repeats by id).
#   tests/soak/soak.sh
# Environment: SOAK_EVENTS (200000), SOAK_KILLS (100), SOAK_OUTAGES (3),
# SOAK_REDIS_RESTARTS (3), SOAK_JOINS (3), SOAK_SEED (11: the moments and lengths of the
# faults), SOAK_STREAM_SEED (7), SOAK_TENANTS (3), SOAK_DAYS (9), SOAK_PARTITIONS
# (events/25000 + 1, for the mock's ~5 MB a partition), SOAK_CHUNKS (= kills, at least 4),
# SOAK_FEED_PAUSE (seconds between chunks, kills x 8 / chunks), KEEP=1 (keep the temp
# dir), LEAKWATCH (build/leakwatch).
# Quick: SOAK_EVENTS=20000 SOAK_KILLS=10 tests/soak/soak.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export LEAKWATCH=${LEAKWATCH:-$root/build/leakwatch}
export LW_TEST_ROOT=$root/tests
export LW_KEEP=${KEEP:-${LW_KEEP:-0}}
export LW_RUN_TIMEOUT=${LW_RUN_TIMEOUT:-3600}
# shellcheck source=SCRIPTDIR/../integration/lib.sh
source "$root/tests/integration/lib.sh"
# shellcheck source=SCRIPTDIR/../bench/exactness_lib.sh
source "$root/tests/bench/exactness_lib.sh"

EVENTS=${SOAK_EVENTS:-200000}
KILLS=${SOAK_KILLS:-100}
OUTAGES=${SOAK_OUTAGES:-3}
REDIS_RESTARTS=${SOAK_REDIS_RESTARTS:-3}
JOINS=${SOAK_JOINS:-3}
SEED=${SOAK_SEED:-11}
PARTITIONS=${SOAK_PARTITIONS:-$((EVENTS / 25000 + 1))}
# The feed spans about as long as the kills take (a restart waits ~10 s for the group).
CHUNKS=${SOAK_CHUNKS:-$((KILLS > 4 ? KILLS : 4))}
FEED_PAUSE=${SOAK_FEED_PAUSE:-$((KILLS * 8 / CHUNKS))}
EX_SEED=${SOAK_STREAM_SEED:-7}
EX_VARIANTS_ALL+=(soak) # its own Redis database and group
FLAGS=(--batch.size 100 --outbox.claim_idle 1s)
T0=$(date +%s.%N)

# "applied outbox": the input events the soak's database applied (its sets of applied ids)
# and the derived events still in its outbox streams. Empty while Redis is down.
soak_state() {
    lw_redis -n "$(ex_db soak)" eval "local n, o = 0, 0
        for _, k in ipairs(redis.call('KEYS', 'lw:*:seen:*')) do n = n + redis.call('SCARD', k) end
        for _, k in ipairs(redis.call('KEYS', 'lw:*:outbox')) do o = o + redis.call('XLEN', k) end
        return n .. ' ' .. o" 0 2>/dev/null | grep -E '^[0-9]+ [0-9]+$' || true
}

# How many events the feeder has produced so far.
soak_fed() {
    tail -n 1 "$EX_DIR/fed" 2>/dev/null || echo 0
}

# Seconds since the soak started, for the log of faults.
soak_clock() {
    ex_since "$T0"
}

# The feeder, in the background: the stream in CHUNKS chunks, each by `leakwatch produce`
# (as the reference was fed: the same topics, keys and order), FEED_PAUSE s apart. A chunk
# holds $EX_DIR/feed.lock while it is produced, so that a broker outage (which takes the
# lock) never cuts one in two: a producer retrying across an outage may write a message twice.
soak_feed() {
    mkdir -p "$EX_DIR/chunks"
    split -n "l/$CHUNKS" -d -a 4 "$EX_DIR/stream.ndjson" "$EX_DIR/chunks/c"
    echo 0 >"$EX_DIR/fed"
    (
        n=0
        for f in "$EX_DIR"/chunks/c*; do
            flock "$EX_DIR/feed.lock" "$LEAKWATCH" produce "$f" --kafka.brokers "$BROKERS" \
                2>>"$LW_TMP/produce.log" || { touch "$EX_DIR/feed.failed"; exit 1; }
            n=$((n + $(wc -l <"$f")))
            echo "$n" >>"$EX_DIR/fed"
            sleep "$FEED_PAUSE"
        done
    ) &
    SOAK_FEEDER=$!
    lw_track_pid "$SOAK_FEEDER"
}

# Waits until the soak made progress after a fault that ended at START (date +%s.%N): an
# event more applied than BEFORE, or everything fed applied and the outbox empty; logs the
# seconds it took into recovery.tsv: soak_recovery WHAT START BEFORE
soak_recovery() {
    local what=$1 start=$2 before=$3 state applied outbox deadline=$((SECONDS + 600))
    while ((SECONDS < deadline)); do
        state=$(soak_state)
        if [[ -n "$state" ]]; then
            read -r applied outbox <<<"$state"
            if ((applied > before)) || { ((applied >= $(soak_fed))) && ((outbox == 0)); }; then
                printf '%s\t%s\t%s\n' "$what" "$(ex_since "$start")" \
                    "$( ((applied > before)) && echo "next event applied" || echo "nothing left: outbox drained")" \
                    >>"$EX_DIR/recovery.tsv"
                return 0
            fi
        fi
        sleep 0.5
    done
    printf '%s\t%s\t%s\n' "$what" "-" "no progress within 600 s" >>"$EX_DIR/recovery.tsv"
}

# The events applied now (0 while Redis is down).
soak_applied() {
    local state
    state=$(soak_state)
    echo "${state%% *}" | grep -E '^[0-9]+$' || echo 0
}

# Waits (up to 20 min) until TARGET events are applied while PID runs: soak_wait_applied TARGET PID
soak_wait_applied() {
    local deadline=$((SECONDS + 1200))
    while (($(soak_applied) < $1)); do
        kill -0 "$2" 2>/dev/null || lw_fail "soak: the instance exited (see its log)"
        [[ ! -e "$EX_DIR/feed.failed" ]] || lw_fail "soak: the feeder failed (see produce.log)"
        ((SECONDS < deadline)) || lw_fail "soak: $(soak_applied) of $1 events applied within 20 min"
        sleep 0.5
    done
}

# A broker outage of 10-30 s, between two chunks of the feed: soak_outage NUMBER
soak_outage() {
    local d=$((10 + RANDOM % 21)) before start
    exec {lock}>"$EX_DIR/feed.lock"
    flock "$lock"
    lw_broker_down
    ex_note "soak: broker outage #$1 of $d s at $(soak_clock) s"
    sleep "$d"
    before=$(soak_applied)
    lw_broker_up
    start=$(date +%s.%N)
    exec {lock}>&-
    soak_recovery "broker outage #$1 (${d} s)" "$start" "$before"
}

# A restart of redis-server (SIGTERM, AOF on; the same port): soak_redis_restart NUMBER
soak_redis_restart() {
    local before start
    before=$(soak_applied)
    ex_note "soak: redis restart #$1 at $(soak_clock) s ($before events applied)"
    lw_restart_redis # not --empty: the AOF brings the data back
    start=$(date +%s.%N)
    soak_recovery "redis restart #$1" "$start" "$before"
}

# Starts instance NAME of the soak (ex_spawn) and waits until it has partitions; sets
# SOAK_PID. A free port picked at random may be taken by the time it binds (one in ~30 of
# 100 restarts hit one on a busy machine): the start is then tried again on another.
# soak_start NAME [FLAGS...]
soak_start() {
    local name=$1 try pid
    shift
    for try in 1 2 3 4 5; do
        ex_spawn soak "$name" "$@"
        pid=$LW_LAST_PID
        if lw_wait_for "! kill -0 $pid || curl -s 'http://${EX_HTTP[$name]}/readyz' | jq -e .kafka_assigned" 60 &&
            kill -0 "$pid" 2>/dev/null; then
            SOAK_PID=$pid
            return 0
        fi
        lw_stop_pid "$pid"
        grep -q 'http.listen: cannot listen' "$LW_TMP/soak-$name.log" ||
            lw_fail "soak: $name had no partition within 60 s, or exited (see soak-$name.log)"
        lw_log "soak: $name could not listen on ${EX_HTTP[$name]} (try $try): another port"
    done
    lw_fail "soak: $name found no free port in 5 tries"
}

# A second instance B joins the group, stays 5-15 s and leaves it (SIGTERM): soak_join NUMBER
soak_join() {
    local stay=$((5 + RANDOM % 11)) b before start
    soak_start "b$1" --instance.id B "${FLAGS[@]}"
    b=$SOAK_PID
    ex_note "soak: instance B joined (#$1) at $(soak_clock) s, stays $stay s"
    sleep "$stay"
    before=$(soak_applied)
    lw_stop_pid "$b"
    start=$(date +%s.%N)
    soak_recovery "instance B left #$1" "$start" "$before"
}

# Adds KIND to the faults of COUNT random kill numbers in 1..KILLS (in SOAK_EXTRA; RANDOM
# drawn in this shell, not a subshell, which would reseed it): soak_pick COUNT KIND
declare -A SOAK_EXTRA=()
soak_pick() {
    local i k
    for ((i = 0; i < $1; i++)); do
        k=$((1 + RANDOM % KILLS))
        SOAK_EXTRA[$k]+=" $2"
    done
}

# The faulty run. Instance A is killed -9 at KILLS moments (a random number of events
# applied, then 0-2 s more) and restarted each time; at some of the kill numbers (picked
# at random) a broker outage, a Redis restart or instance B's join and leave happens first.
ex_variant_soak() {
    local i=0 at pid before start kind
    ex_fresh_broker soak "$PARTITIONS" crm.leads,crm.calls,crm.tasks,crm.deals
    : >"$EX_DIR/recovery.tsv"
    RANDOM=$SEED
    soak_pick "$OUTAGES" outage
    soak_pick "$REDIS_RESTARTS" redis
    soak_pick "$JOINS" join
    local n_outage=0 n_redis=0 n_join=0
    soak_feed
    ex_moments "$KILLS"
    i=0
    for at in "${EX_MOMENTS[@]}"; do
        i=$((i + 1))
        start=$(date +%s.%N)
        before=$(soak_applied)
        soak_start "a$i" --instance.id A "${FLAGS[@]}"
        pid=$SOAK_PID
        ((i == 1)) || soak_recovery "kill -9 #$((i - 1))" "$start" "$before"
        for kind in ${SOAK_EXTRA[$i]:-}; do
            case $kind in
            outage) soak_outage $((n_outage += 1)) ;;
            redis) soak_redis_restart $((n_redis += 1)) ;;
            join) soak_join $((n_join += 1)) ;;
            esac
        done
        soak_wait_applied "$at" "$pid"
        sleep "$((RANDOM % 3)).$((RANDOM % 10))"
        kill -KILL "$pid"
        { lw_stop_pid "$pid"; } 2>/dev/null # no "Killed" from bash
        ex_note "soak: kill -9 #$i at $(soak_clock) s, $(soak_applied) events applied (moment: $at)"
    done
    # bash forgets the status of an old child after enough others (100 kills and restarts
    # later, `wait` answers "not a child"): the feeder's own marks tell instead
    while kill -0 "$SOAK_FEEDER" 2>/dev/null; do sleep 1; done
    [[ ! -e $EX_DIR/feed.failed && $(soak_fed) -eq $(wc -l <"$EX_DIR/stream.ndjson") ]] ||
        lw_fail "soak: the feeder failed (see produce.log)"
    start=$(date +%s.%N)
    before=$(soak_applied)
    soak_start final --instance.id A "${FLAGS[@]}"
    pid=$SOAK_PID
    soak_recovery "kill -9 #$i" "$start" "$before"
    lw_stop_pid "$pid"
    ex_check_input crm.leads crm.calls crm.tasks crm.deals
    ex_until_end soak --instance.id A "${FLAGS[@]}"
    ex_note "soak: faults done: $i kills, $n_outage broker outages, $n_redis redis restarts, $n_join joins"
}

# The reference: the same topology, fed whole, one run to the end, no fault.
soak_reference() {
    ex_four_topics reference "$PARTITIONS"
    ex_until_end reference
}

# Per derived topic, events lost and invented against the reference, by id (the distinct
# ids) and by content (the distinct id and data), from the .alerts files ("type id data").
soak_losses() {
    echo
    echo "per derived topic: lost/invented against the reference (by id; by content = id + data)"
    printf '  %-30s %-24s %9s %9s %9s %11s %11s\n' topic type reference "lost id" "new id" "lost data" "new data"
    awk -F'\t' -v OFS='\t' '
        FILENAME == ARGV[1] { m = split($4, ts, " "); for (i = 1; i <= m; i++) topic[ts[i]] = $1; next }
        FILENAME == ARGV[2] { types[$1]; rid[$1 FS $2]; rc[$0]; next }
        { types[$1]; gid[$1 FS $2]; gc[$0] }
        END {
            for (k in rid) { split(k, p, FS); n[p[1]]++; if (!(k in gid)) lid[p[1]]++ }
            for (k in gid) { split(k, p, FS); if (!(k in rid)) nid[p[1]]++ }
            for (k in rc) { split(k, p, FS); if (!(k in gc)) lc[p[1]]++ }
            for (k in gc) { split(k, p, FS); if (!(k in rc)) nc[p[1]]++ }
            for (t in types)
                printf "  %-30s %-24s %9d %9d %9d %11d %11d\n", topic[t], t, n[t], lid[t], nid[t], lc[t], nc[t]
        }' "$EX_DIR/topics.tsv" "$EX_DIR/reference.alerts" "$EX_DIR/soak.alerts" | LC_ALL=C sort
    awk -F'\t' '$1 == "soak" && $2 == "aggs" { n += $4; d += $5 + $6 + $7 }
        END { printf "final aggregates: %d keys in the reference, %d differ (missing, new or other value): %s\n",
              n, d, d == 0 ? "all identical" : "NOT identical" }' "$EX_DIR/compare.tsv"
}

# How many times each derived id was written to its topic (records: every message), per
# alert type: ids written once, more than once, and the most times one id was written.
soak_fired() {
    echo
    echo "times each derived id was written (repeats with the same data are allowed: at-least-once out;"
    echo "two data under one id, or a deadline under two ids, fail the checks above):"
    printf '  %-24s %9s %9s %9s %6s\n' type ids once "more" max
    awk -F'\t' -v agg="$EX_AGG_TOPICS" '$1 != "crm.dlq" && index(agg, " " $1 " ") == 0 { c[$4 FS $7]++ }
        END {
            for (k in c) { split(k, p, FS); ids[p[1]]++; if (c[k] == 1) once[p[1]]++; else more[p[1]]++
                           if (c[k] > max[p[1]]) max[p[1]] = c[k] }
            for (t in ids) printf "  %-24s %9d %9d %9d %6d\n", t, ids[t], once[t], more[t], max[t]
        }' "$EX_DIR/soak.records" | LC_ALL=C sort
}

# The recovery times of recovery.tsv, one line a fault, and their summary per kind.
soak_recoveries() {
    echo
    echo "time to recover after each fault (its end to the next event applied; s):"
    awk -F'\t' '{ printf "  %-34s %7s  %s\n", $1, $2, $3 }' "$EX_DIR/recovery.tsv"
    awk -F'\t' '$2 != "-" { k = $1; sub(/ #.*/, "", k); n[k]++; s[k] += $2; if ($2 > m[k]) m[k] = $2 }
        END { for (k in n) printf "  %-20s %4d faults: mean %.1f s, max %.1f s\n", k, n[k], s[k] / n[k], m[k] }' \
        "$EX_DIR/recovery.tsv" | LC_ALL=C sort
}

# Succeeds when nothing differs from the reference, every check within is 0 (no id with two
# data, no deadline under two ids) and every fault was recovered from. Repeats of an id with
# the same data are counted, and allowed.
soak_verdict() {
    local more stuck
    more=$(awk -F'\t' -v agg="$EX_AGG_TOPICS" '$1 != "crm.dlq" && index(agg, " " $1 " ") == 0 { c[$4 FS $7]++ }
        END { for (k in c) if (c[k] > 1) m++; print m + 0 }' "$EX_DIR/soak.records")
    stuck=$(awk -F'\t' '$2 == "-"' "$EX_DIR/recovery.tsv" | wc -l)
    echo
    if ex_verdict reference soak && ((stuck == 0)); then
        echo "SOAK: TARGET MET — 0 lost, 0 invented, 0 differing aggregates, no id with two data," \
            "no deadline under two ids; $more ids written again with the same data (allowed)"
        return 0
    fi
    echo "SOAK: TARGET NOT MET — $stuck faults not recovered from; $more ids written again" \
        "with the same data (allowed)"
    return 1
}

lw_setup
ex_init --appendonly yes
ex_generate "$EVENTS" "${SOAK_TENANTS:-3}" "${SOAK_DAYS:-9}"
lw_log "reference: $EX_EVENTS events, $PARTITIONS partitions per topic"
t=$(date +%s.%N)
soak_reference
ex_collect reference
ex_note "reference: ran and collected in $(ex_since "$t") s"
ex_run soak
ex_compare reference soak
ex_report reference soak
soak_losses
soak_fired
soak_recoveries
echo
echo "soak wall time: $(soak_clock) s"
[[ "$LW_KEEP" == 1 ]] && echo "details: $EX_DIR"
if ! soak_verdict; then
    mkdir -p "$LW_TMP/logs"
    mv "$LW_TMP"/*.log "$LW_TMP/logs/" 2>/dev/null || true
    exit 1
fi
