# shellcheck shell=bash
# exactness_lib.sh — the exactness check of PRODUCT.md §6 ("the output is a function of the
# input"), shared by tests/bench/exactness.sh and tests/integration/test_exactness.sh.
#
# One generated stream (gen_stream.awk) is fed into fresh stacks in several ways — the
# variants below — and everything each derived: every alert (id and data) and the last value
# of every aggregate key, is compared with the reference: the stream through one partition
# in time order, one event per batch, every deadline checked after every event.
#   reference      crm.all, 1 partition, --batch.size 1 --timers.interval 0ms
#   partitions     4 input topics x 4 partitions, default batch, 1 MB fetches per partition
#   small-fetch    the same with --batch.size 20 and 4 kB fetches per partition
#   kill9          4 x 4, killed -9 at EX_KILLS random moments, restarted, then --until-end
#   replay         after kill9, on its broker: a new group into an empty Redis database
#   two-instances  4 x 4, instances A and B share the group, B leaves (SIGTERM) mid-stream
# Every variant has its own `leakwatch broker` (derived topics keep their default names; a
# replay reads kill9's), its own Redis database of one redis-server and its own group.
#
# Use: source lib.sh and this file, lw_setup, then ex_init, ex_generate, ex_run VARIANT...,
# ex_compare, ex_report; ex_verdict says whether every variant equals the reference.
# Settings (environment): EX_KILLS (6), EX_SEED (7: the stream, the moments of the kills
# and of the stop).

EX_VARIANTS_ALL=(reference partitions small-fetch kill9 replay two-instances)
EX_KILLS=${EX_KILLS:-6}
EX_SEED=${EX_SEED:-7}
EX_BROKER_OF=""         # the variant whose broker is running

# Seconds since an earlier `date +%s.%N`, with one decimal: ex_since START
ex_since() {
    awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Starts the one redis-server (extra arguments go to it: the soak turns the AOF on) and learns
# the derived topics from `leakwatch topics`: those derived types are written to; the
# compacted ones are the aggregates, the others carry alerts. Sets EX_DIR, EX_TOPICS,
# EX_AGG_TOPICS. ex_init [REDIS_ARGS...]
ex_init() {
    EX_DIR=$LW_TMP/exactness
    mkdir -p "$EX_DIR"
    : >"$EX_DIR/notes.txt"
    lw_start_redis "$@"
    "$LEAKWATCH" topics | awk -F'\t' '$4 != ""' >"$EX_DIR/topics.tsv"
    mapfile -t EX_TOPICS < <(cut -f1 "$EX_DIR/topics.tsv")
    ((${#EX_TOPICS[@]} > 0)) || lw_fail "leakwatch topics lists no derived topic"
    EX_AGG_TOPICS=" $(awk -F'\t' '$3 == "compact" { print $1 }' "$EX_DIR/topics.tsv" | paste -sd' ') "
}

# Generates the stream into $EX_DIR/stream.ndjson in (time, id) order and, for kcat,
# $EX_DIR/stream.keyed ("<entity id><TAB><event>", the key `leakwatch produce` would give).
# ex_generate N TENANTS DAYS
ex_generate() {
    awk -v N="$1" -v TENANTS="$2" -v DAYS="$3" -v SEED="$EX_SEED" \
        -f "$LW_TEST_ROOT/bench/gen_stream.awk" 2>"$EX_DIR/gen.txt" |
        LC_ALL=C sort -t$'\t' -k1,1 -k2,2 | cut -f3- >"$EX_DIR/stream.ndjson"
    awk '{
        family = $0; sub(/^.*"type":"/, "", family); sub(/\..*$/, "", family)
        key = ""
        if (match($0, "\"" family "_id\":\"[^\"]*\""))
            key = substr($0, RSTART + length(family) + 7, RLENGTH - length(family) - 8)
        print key "\t" $0
    }' "$EX_DIR/stream.ndjson" >"$EX_DIR/stream.keyed"
    EX_EVENTS=$(wc -l <"$EX_DIR/stream.ndjson")
    lw_log "$(cat "$EX_DIR/gen.txt")"
}

# The Redis database of a variant: its place in EX_VARIANTS_ALL, from 1.
ex_db() {
    local i
    for i in "${!EX_VARIANTS_ALL[@]}"; do
        [[ "${EX_VARIANTS_ALL[i]}" == "$1" ]] && echo $((i + 1)) && return 0
    done
    lw_fail "no variant $1"
}

# The Redis URL of VARIANT: its database of the one redis-server (a test may redefine this,
# and ex_applied with it: tests/integration/test_cluster.sh runs variants on a cluster).
ex_url() {
    echo "$REDIS_URL/$(ex_db "$1")"
}

# Stops the running broker, if any, and starts a fresh one for VARIANT whose topics are
# INPUTS (a comma list, "name:partitions" allowed), the dead letters and every derived
# topic, each with PARTITIONS partitions: ex_fresh_broker VARIANT PARTITIONS INPUTS
ex_fresh_broker() {
    [[ -n "$EX_BROKER_OF" ]] && lw_stop_pid "$LW_BROKER_PID"
    local topics
    topics="$3,crm.dlq,$(printf '%s\n' "${EX_TOPICS[@]}" | paste -sd,)"
    lw_start_broker --partitions "$2" --topics "$topics"
    EX_BROKER_OF=$1
    rm -f "$EX_DIR/broker.next"
}

# Reads each TOPIC from the beginning to its end with kcat, all at once (each takes about a
# second to see the end), into OUT, topic after topic: ex_read_topics KCAT_FORMAT OUT TOPIC...
# KCAT_FORMAT: -J (a JSON object a message) or a -f format.
ex_read_topics() {
    local fmt=$1 out=$2 i pid pids=()
    shift 2
    local topics=("$@") how=(-J)
    [[ "$fmt" == -J ]] || how=(-f "$fmt")
    for i in "${!topics[@]}"; do
        timeout 60 kcat -C -b "$BROKERS" -t "${topics[i]}" -o beginning -e -q "${how[@]}" >"$out.$i" &
        pids+=($!)
        lw_track_pid "$!"
    done
    for i in "${!pids[@]}"; do
        pid=${pids[i]}
        wait "$pid" || lw_fail "kcat could not read ${topics[i]} to its end within 60 s"
        lw_stop_pid "$pid"
        cat "$out.$i"
        rm -f "$out.$i"
    done >"$out"
}

# Fails unless the input topics hold the whole stream: librdkafka's mock keeps about 5 MB
# per partition and silently drops older segments. ex_check_input TOPIC...
ex_check_input() {
    local n
    ex_read_topics '\n' "$EX_DIR/input.count" "$@"
    n=$(wc -l <"$EX_DIR/input.count")
    ((n == EX_EVENTS)) || lw_fail "the broker holds $n of $EX_EVENTS input events in $*" \
        "(the mock drops segments beyond ~5 MB per partition: fewer events or more partitions)"
}

# A fresh broker with the four default input topics x PARTITIONS (4), fed the stream in time
# order by `leakwatch produce` (each event to its family's topic, keyed by entity id):
# ex_four_topics VARIANT [PARTITIONS]
ex_four_topics() {
    ex_fresh_broker "$1" "${2:-4}" crm.leads,crm.calls,crm.tasks,crm.deals
    "$LEAKWATCH" produce "$EX_DIR/stream.ndjson" --kafka.brokers "$BROKERS" 2>>"$LW_TMP/produce.log" ||
        lw_fail "leakwatch produce failed (see produce.log)"
    ex_check_input crm.leads crm.calls crm.tasks crm.deals
}

# Runs `leakwatch run --until-end` (event clock) for VARIANT in its database and group, with
# a marker in leakwatch.log: ex_until_end VARIANT [FLAGS...]
ex_until_end() {
    local variant=$1
    shift
    echo "=== $variant: until the end $* ===" >>"$LW_TMP/leakwatch.log"
    lw_leakwatch_until_end --group.id "ex-$variant" --redis.url "$(ex_url "$variant")" "$@"
}

# Starts `leakwatch run` (event clock) for VARIANT in the background, logging to
# $LW_TMP/VARIANT-NAME.log and serving HTTP on a free port; sets LW_LAST_PID and
# EX_HTTP[NAME]: ex_spawn VARIANT NAME [FLAGS...]
declare -A EX_HTTP=()
ex_spawn() {
    local variant=$1 name=$2
    shift 2
    EX_HTTP[$name]=127.0.0.1:$(lw_random_port)
    # shellcheck disable=SC2086 # LW_KAFKA_TEST_ARGS is a list of flags
    lw_spawn "$variant-$name" "$LEAKWATCH" run --kafka.brokers "$BROKERS" \
        --redis.url "$(ex_url "$variant")" --group.id "ex-$variant" --clock event \
        --http.listen "${EX_HTTP[$name]}" $LW_KAFKA_TEST_ARGS "$@"
}

# Waits until the instance NAME (process PID) of VARIANT says on /readyz that it has
# partitions (a member that replaces a killed one waits out the dead one's session first):
# ex_wait_assigned VARIANT NAME PID
ex_wait_assigned() {
    if ! lw_wait_for "! kill -0 $3 || curl -s 'http://${EX_HTTP[$2]}/readyz' | jq -e .kafka_assigned" 60 ||
        ! kill -0 "$3" 2>/dev/null; then
        lw_fail "$1 $2 had no partition within 60 s, or exited (see $1-$2.log)"
    fi
}

# How many input events VARIANT's database has applied: the members of its sets of applied
# event ids (lw:{tenant}:seen:<day>). The moments of kills and stops are chosen by it.
ex_applied() {
    lw_redis -n "$(ex_db "$1")" eval "local n = 0
        for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('SCARD', k) end
        return n" 0 'lw:*:seen:*'
}

# Waits until VARIANT has applied at least TARGET events, while PID runs:
# ex_wait_applied VARIANT TARGET PID
ex_wait_applied() {
    if ! lw_wait_for "! kill -0 $3 || (( \$(ex_applied $1) >= $2 ))" 120 || ! kill -0 "$3" 2>/dev/null; then
        lw_fail "$1 applied $(ex_applied "$1") of the $2 events awaited within 120 s, or its" \
            "instance exited (or its applied-event sets lw:*:seen:* are gone: see ex_applied)"
    fi
}

# COUNT moments of the stream as numbers of events applied, ascending, into EX_MOMENTS:
# random shares of it (bash's RANDOM, seeded by the caller) and, last, all of it (while the
# last deadlines fire and the outbox drains). RANDOM is drawn here, in the shell itself: a
# subshell ($(...), a pipe) reseeds it, and the moments would differ from run to run.
# ex_moments COUNT
ex_moments() {
    local i shares=()
    for ((i = 1; i < $1; i++)); do
        shares+=($((EX_EVENTS * (5 + RANDOM % 91) / 100)))
    done
    mapfile -t EX_MOMENTS < <(printf '%s\n' "${shares[@]}" | sed '/^$/d' | sort -n)
    EX_MOMENTS+=("$EX_EVENTS")
}

# Logs what happened during a variant and keeps it for the report.
ex_note() {
    lw_log "$*"
    echo "$*" >>"$EX_DIR/notes.txt"
}

# ---------------------------------------------------------------------------- the variants

# reference: every event in (time, id) order through one partition, one event per batch,
# every deadline checked after every event: read order = event order. kcat compresses
# (lz4), so that the whole stream fits in the mock's ~5 MB of one partition.
ex_variant_reference() {
    ex_fresh_broker reference 4 crm.all:1
    kcat -P -b "$BROKERS" -t crm.all -p 0 -K $'\t' -z lz4 -q -X message.timeout.ms=30000 \
        <"$EX_DIR/stream.keyed" || lw_fail "kcat could not produce the stream to crm.all"
    ex_check_input crm.all
    LEAKWATCH=${EX_REFERENCE_LEAKWATCH:-$LEAKWATCH} \
        ex_until_end reference --topics.input crm.all --batch.size 1 --timers.interval 0ms
}

# partitions: 4 topics x 4 partitions, default batches, a partition fetched 1 MB at a time,
# so that one partition is read far ahead of the others.
ex_variant_partitions() {
    ex_four_topics partitions
    ex_until_end partitions -X max.partition.fetch.bytes=1048576
}

# small-fetch: the same read 20 events per batch from 4 kB fetches: another interleaving.
ex_variant_small_fetch() {
    ex_four_topics small-fetch
    ex_until_end small-fetch --batch.size 20 -X max.partition.fetch.bytes=4096
}

# kill9: killed -9 at EX_KILLS moments of the stream (ex_moments: when that many events are
# applied), restarted each time, then a run until the end; batches of 100 so that a kill
# may fall between many. Moments of the stream, not of the clock: a restarted member waits
# ~10 s for the killed one's session to expire, then reads the stream in a second or two.
ex_variant_kill9() {
    local i=0 pid at flags=(--batch.size 100 --outbox.claim_idle 1s)
    ex_four_topics kill9
    RANDOM=$EX_SEED
    ex_moments "$EX_KILLS"
    for at in "${EX_MOMENTS[@]}"; do
        i=$((i + 1))
        ex_spawn kill9 "run$i" "${flags[@]}"
        pid=$LW_LAST_PID
        ex_wait_assigned kill9 "run$i" "$pid"
        ex_wait_applied kill9 "$at" "$pid"
        kill -KILL "$pid"
        { lw_stop_pid "$pid"; } 2>/dev/null # no "Killed" from bash
        ex_note "kill9: kill -9 #$i once $at events were applied ($(ex_applied kill9) by then)"
    done
    ex_until_end kill9 "${flags[@]}"
}

# replay: kill9's topics read again by a new group into an empty database (chosen without
# kill9, on a broker of its own).
ex_variant_replay() {
    [[ "$EX_BROKER_OF" == kill9 ]] || ex_four_topics replay
    ex_until_end replay
}

# two-instances: A starts, B joins its group ~2 s later (within the group's first
# rebalance: they share the partitions), B is stopped (SIGTERM) at a random moment of the
# stream, A takes over its partitions and applies the rest, then is stopped too; a run until
# the end (A's instance id) follows. Batches of 100, as in kill9.
ex_variant_two_instances() {
    local a b at flags=(--batch.size 100 --outbox.claim_idle 1s)
    ex_four_topics two-instances 1 # one partition a topic: each instance reads some topics only
    RANDOM=$((EX_SEED + 1))
    ex_spawn two-instances A --instance.id A "${flags[@]}"
    a=$LW_LAST_PID
    sleep 2
    ex_spawn two-instances B --instance.id B "${flags[@]}"
    b=$LW_LAST_PID
    ex_wait_assigned two-instances B "$b"
    at=$((EX_EVENTS * (25 + RANDOM % 51) / 100))
    ex_wait_applied two-instances "$at" "$b"
    lw_stop_pid "$b"
    ex_note "two-instances: B stopped once $at events were applied ($(ex_applied two-instances) by then)"
    ex_wait_applied two-instances "$EX_EVENTS" "$a"
    lw_stop_pid "$a"
    ex_note "two-instances: A stopped once all were applied"
    ex_until_end two-instances --instance.id A "${flags[@]}"
}

# Runs one variant and collects what it derived; notes how long each took.
ex_run() {
    local variant=$1 t0 t1 run
    lw_log "variant $variant"
    t0=$(date +%s.%N)
    "ex_variant_${variant//-/_}"
    run=$(ex_since "$t0")
    t1=$(date +%s.%N)
    ex_collect "$variant"
    ex_note "$variant: ran ${run} s, collected in $(ex_since "$t1") s," \
        "$(awk -F'\t' '$1 != "crm.dlq"' "$EX_DIR/$variant.records" | wc -l) derived messages"
}

# ---------------------------------------------------------------------------- collecting

# Reads every derived topic of the running broker into $EX_DIR/VARIANT.records, sorted by
# topic, partition, offset, one line a message:
#   topic partition offset type tenant key id data   (TAB-separated; data: sorted-key JSON)
# Only messages after what an earlier variant on the same broker collected are taken
# ($EX_DIR/broker.next: "topic:partition" -> next offset). Fails when the mock dropped the
# oldest messages of an alert topic, and when a dead letter appeared.
ex_collect() {
    local variant=$1 raw=$EX_DIR/$1.raw
    ex_read_topics -J "$raw" "${EX_TOPICS[@]}" crm.dlq
    [[ -s "$EX_DIR/broker.next" ]] || echo '{}' >"$EX_DIR/broker.next"
    jq -r --slurpfile next "$EX_DIR/broker.next" '
        def canon: walk(if type == "object" then to_entries | sort_by(.key) | from_entries else . end);
        select(.offset >= ($next[0]["\(.topic):\(.partition)"] // 0))
        | (.payload | fromjson) as $e
        | [.topic, (.partition | tostring), (.offset | tostring), $e.type // "?", $e.tenant // "?",
           .key // "", $e.id // "?", ($e.data | canon | tojson)] | join("\t")' "$raw" |
        LC_ALL=C sort -t$'\t' -k1,1 -k2,2n -k3,3n >"$EX_DIR/$variant.records" ||
        lw_fail "the derived events of $variant could not be read (not CloudEvents JSON?)"
    jq -s 'reduce .[] as $m ({}; .["\($m.topic):\($m.partition)"] = $m.offset + 1)' \
        "$raw" | jq -s '(.[1] // {}) + .[0]' - "$EX_DIR/broker.next" >"$EX_DIR/broker.next.tmp"
    mv "$EX_DIR/broker.next.tmp" "$EX_DIR/broker.next"
    local dropped
    dropped=$(jq -r --arg agg "$EX_AGG_TOPICS" '.topic as $t | select($agg | contains(" \($t) ") | not)
        | "\(.topic)[\(.partition)]@\(.offset)"' "$raw" | awk -F'@' '
        { p = $1; o = $2 + 0; if (!(p in min) || o < min[p]) min[p] = o }
        END { for (p in min) if (min[p] > 0) printf "%s from offset %d ", p, min[p] }')
    [[ -z "$dropped" ]] || lw_fail "$variant: the mock broker dropped the oldest alerts of $dropped" \
        "(more than ~5 MB in a partition)"
    local dead
    dead=$(awk -F'\t' '$1 == "crm.dlq"' "$EX_DIR/$variant.records" | wc -l)
    ((dead == 0)) || lw_fail "$variant: $dead input events went to crm.dlq (the generator's fault?)"
    ex_split "$variant"
}

# From VARIANT.records: VARIANT.alerts, the distinct "type id data" of the alert topics,
# and VARIANT.aggs, "type key data" of the last message of each aggregate key.
ex_split() {
    local r=$EX_DIR/$1.records
    awk -F'\t' -v agg="$EX_AGG_TOPICS" -v OFS='\t' 'index(agg, " " $1 " ") == 0 && $1 != "crm.dlq" {
        print $4, $7, $8 }' "$r" | LC_ALL=C sort -u >"$EX_DIR/$1.alerts"
    awk -F'\t' -v agg="$EX_AGG_TOPICS" -v OFS='\t' 'index(agg, " " $1 " ") > 0 {
        k = $4 OFS $6; if (!(k in last)) order[++n] = k; last[k] = $8 }
        END { for (i = 1; i <= n; i++) print order[i], last[order[i]] }' "$r" |
        LC_ALL=C sort >"$EX_DIR/$1.aggs"
}

# ---------------------------------------------------------------------------- comparing

# Compares two "type name value" files (alerts: name = id, aggregates: name = Kafka key):
# per type, "type<TAB>in reference<TAB>missing<TAB>new<TAB>other contents". Several values
# of one name (an id carrying two data) compare as a set. ex_diff REFERENCE OTHER
ex_diff() {
    awk -F'\t' -v OFS='\t' '
        FILENAME == ARGV[1] { ref[$1 FS $2] = ref[$1 FS $2] "\034" $3; types[$1]; next }
        { got[$1 FS $2] = got[$1 FS $2] "\034" $3; types[$1] }
        END {
            for (k in ref) {
                split(k, p, FS); n[p[1]]++
                if (!(k in got)) missing[p[1]]++
                else if (got[k] != ref[k]) other[p[1]]++
            }
            for (k in got) { split(k, p, FS); if (!(k in ref)) new[p[1]]++ }
            for (t in types) print t, n[t] + 0, missing[t] + 0, new[t] + 0, other[t] + 0
        }' "$1" "$2"
}

# Up to 3 examples per type of what differs between two such files, for a reader:
# ex_examples REFERENCE OTHER
ex_examples() {
    awk -F'\t' '
        FILENAME == ARGV[1] { ref[$1 FS $2] = ref[$1 FS $2] "\034" $3; next }
        { got[$1 FS $2] = got[$1 FS $2] "\034" $3 }
        function values(label, set) {
            if (set == "") return "\n    " label "(none)"
            gsub(/\034/, "\n    " label, set)
            return set
        }
        function show(k, p) {
            split(k, p, FS)
            if (shown[p[1]]++ < 3)
                print p[1] " " p[2] ":" values("reference: ", ref[k]) values("this run:  ", got[k])
        }
        END {
            for (k in ref) if (got[k] != ref[k]) show(k)
            for (k in got) if (!(k in ref)) show(k)
        }' "$1" "$2"
}

# Checks within one variant, "check<TAB>count" (each must be 0):
#   ids carrying two different data; lead.idle / lead.callback_due emitted with more than one
#   id for one lead; task.overdue with more than one id for one task and due time (a task
#   re-dated after it went overdue may go overdue again at its new due time); aggregate
#   Kafka keys written by more than one tenant (on a compacted topic one replaces another).
ex_self_checks() {
    awk -F'\t' -v agg="$EX_AGG_TOPICS" '
        $1 == "crm.dlq" { next }
        { d = $4 FS $7; if (!((d FS $8) in seen)) { seen[d FS $8]; if (++data[d] == 2) two_data++ } }
        $4 == "lead.idle" || $4 == "lead.callback_due" || $4 == "task.overdue" {
            k = $4 FS $5 FS $6
            if ($4 == "task.overdue" && match($8, /"due_at":"[^"]*"/)) k = k FS substr($8, RSTART, RLENGTH)
            if (!((k FS $7) in ids)) { ids[k FS $7]; if (++nid[k] == 2) again[$4]++ }
        }
        index(agg, " " $1 " ") > 0 {
            k = $4 FS $6; if (!((k FS $5) in tenants)) { tenants[k FS $5]; if (++nt[k] == 2) shared++ }
        }
        END {
            print "ids carrying two different data\t" two_data + 0
            print "lead.idle more than once for a lead\t" again["lead.idle"] + 0
            print "lead.callback_due more than once for a lead\t" again["lead.callback_due"] + 0
            print "task.overdue more than once for a task and due time\t" again["task.overdue"] + 0
            print "aggregate keys written by several tenants\t" shared + 0
        }' "$EX_DIR/$1.records"
}

# Compares every collected variant with the reference and runs the checks within each:
# $EX_DIR/compare.tsv ("variant kind type n missing new other"), checks.tsv ("variant check
# count"), and diff-VARIANT.txt with examples. ex_compare VARIANT...
ex_compare() {
    local v kind
    : >"$EX_DIR/compare.tsv"
    : >"$EX_DIR/checks.tsv"
    for v in "$@"; do
        ex_self_checks "$v" | sed "s/^/$v\t/" >>"$EX_DIR/checks.tsv"
        [[ "$v" == reference ]] && continue
        : >"$EX_DIR/diff-$v.txt"
        for kind in alerts aggs; do
            ex_diff "$EX_DIR/reference.$kind" "$EX_DIR/$v.$kind" | sed "s/^/$v\t$kind\t/" >>"$EX_DIR/compare.tsv"
            ex_examples "$EX_DIR/reference.$kind" "$EX_DIR/$v.$kind" >>"$EX_DIR/diff-$v.txt"
        done
    done
}

# Prints the tables: per derived type and variant "missing/new/other" against the reference
# (alerts by id, aggregates by Kafka key; "same" when nothing differs), the checks within
# each variant, and what happened (times, kills). ex_report VARIANT...
ex_report() {
    echo "exactness: $(sed 's/^gen_stream: //' "$EX_DIR/gen.txt")"
    echo "each cell: missing/new/other-contents against the reference ('same': none)"
    ex_table alerts "alerts (distinct ids)" "$@"
    ex_table aggs "aggregates (last per key)" "$@"
    echo
    echo "checks within each variant (each must be 0):"
    printf '  %-52s' ""
    printf ' %13s' "$@"
    echo
    awk -F'\t' -v variants="$*" '
        { v[$1 FS $2] = $3; if (!($2 in order)) { order[$2] = ++n; name[n] = $2 } }
        END {
            nv = split(variants, vs, " ")
            for (j = 1; j <= n; j++) {
                printf "  %-52s", name[j]
                for (i = 1; i <= nv; i++) printf " %13s", v[vs[i] FS name[j]]
                printf "\n"
            }
        }' "$EX_DIR/checks.tsv"
    echo
    echo "what happened:"
    sed 's/^/  /' "$EX_DIR/notes.txt"
}

# One table of ex_report, a row per derived type of KIND (alerts or aggs) with its count in
# the reference and a cell per other variant: ex_table KIND TITLE VARIANT...
ex_table() {
    local kind=$1 title=$2 v
    shift 2
    echo
    printf '%-28s %9s' "$title" reference
    for v in "$@"; do
        [[ "$v" == reference ]] || printf ' %15s' "$v"
    done
    echo
    awk -F'\t' -v kind="$kind" -v variants="$*" '
        FILENAME == ARGV[1] {
            if ($2 == kind) { types[$3]; cell[$1 FS $3] = $5 + $6 + $7 == 0 ? "same" : $5 "/" $6 "/" $7 }
            next
        }
        { types[$1]; if (!(($1 FS $2) in name)) { name[$1 FS $2]; n[$1]++ } }
        END {
            nv = split(variants, vs, " ")
            for (t in types) {
                printf "%-28s %9d", t, n[t]
                for (i = 1; i <= nv; i++)
                    if (vs[i] != "reference")
                        printf " %15s", (vs[i] FS t) in cell ? cell[vs[i] FS t] : "-"
                printf "\n"
            }
        }' "$EX_DIR/compare.tsv" "$EX_DIR/reference.$kind" | LC_ALL=C sort
}

# Prints the verdict line; succeeds only when every variant equals the reference on every
# derived type and every check within each variant is 0.
ex_verdict() {
    local differ failed
    differ=$(awk -F'\t' '$5 + $6 + $7 > 0 { print $1 }' "$EX_DIR/compare.tsv" | sort -u | paste -sd' ')
    failed=$(awk -F'\t' '$3 > 0 { print $1 }' "$EX_DIR/checks.tsv" | sort -u | paste -sd' ')
    if [[ -z "$differ" && -z "$failed" ]]; then
        echo "VERDICT: EXACT — every variant ($*) derived the same as the reference"
        return 0
    fi
    echo "VERDICT: NOT EXACT —${differ:+ differ from the reference: $differ;}${failed:+ failed checks within: $failed}"
    return 1
}

# Runs every VARIANT, compares them with the reference (the first), prints the tables and
# the verdict; fails the test unless every one is exact: ex_check VARIANT...
ex_check() {
    local v verdict
    for v in "$@"; do
        ex_run "$v"
    done
    ex_compare "$@"
    ex_report "$@"
    verdict=$(ex_verdict "$@") || lw_fail "$verdict (the table above)"
    echo "$verdict"
}
