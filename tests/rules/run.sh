#!/usr/bin/env bash
# run.sh — the rules test bench: runs tests/rules/*.test (the format: tests/rules/README.md)
# against the Redis Functions library of processor/lua/, loaded into one real redis-server.
# No broker and no leakwatch binary: each case calls FCALL lw_event / lw_fire / lw_flush
# itself, with the arguments processor/transition.c would pass, and checks the outbox
# stream and the state.
#
#   tests/rules/run.sh [-v] [--reverse] [CASE...]     CASE: a .test file, or a case name
#
# Prints "ok N name" or "not ok N name" and what differs, per case; known-*.test (behaviour
# the bench expects as PRODUCT.md says, which the library does not do yet) are reported as
# "known N name" and summed on a line of their own; finally exactly one line
# "N passed, N failed" (real cases only). Exits 1 when a real case fails.
# -v prints each case's commands and replies. LW_RULES_LUA="a.lua b.lua ..." loads these
# Lua files in this order instead of processor/lua/*.lua sorted (paths from the repository
# root; common.lua goes first whatever its place); --reverse loads them in reverse order
# (every pair of files the other way round: what ctest's rules_reversed proves).
# Environment as the integration tests: LW_TEST_ROOT (<repo>/tests), LW_ARTEFACTS, LW_KEEP.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LW_TEST_ROOT=${LW_TEST_ROOT:-$(dirname "$here")}
export LEAKWATCH=${LEAKWATCH:-unused} # lib.sh asks for it; nothing here runs it
# shellcheck source=../integration/lib.sh source-path=SCRIPTDIR
source "$LW_TEST_ROOT/integration/lib.sh"
# shellcheck disable=SC2034 # lib.sh names the temporary directory and its messages by it
LW_TEST_NAME=rules
export LC_ALL=C.UTF-8 # ${x,,} folds Cyrillic too (loss reasons)
REPO=$(cd "$LW_TEST_ROOT/.." && pwd)
CASES_DIR=$LW_TEST_ROOT/rules

verbose=0 reverse=0
selected=()
for a in "$@"; do
    case $a in
    -v) verbose=1 ;;
    --reverse) reverse=1 ;;
    -h | --help)
        sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) selected+=("$a") ;;
    esac
done

# ---------------------------------------------------------------- time and money

RFC3339_RE='^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.([0-9]{1,9}))?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$'

# Unix ms of an RFC 3339 time in REPLY; fails on anything else.
ms_of() {
    [[ $1 =~ $RFC3339_RE ]] || return 1
    local y=$((10#${BASH_REMATCH[1]})) m=$((10#${BASH_REMATCH[2]})) d=$((10#${BASH_REMATCH[3]}))
    local secs=$((10#${BASH_REMATCH[4]} * 3600 + 10#${BASH_REMATCH[5]} * 60 + 10#${BASH_REMATCH[6]}))
    local frac=${BASH_REMATCH[8]}000 sign=${BASH_REMATCH[10]}
    local off=0
    if [[ -n $sign ]]; then
        off=$((10#${BASH_REMATCH[11]} * 3600 + 10#${BASH_REMATCH[12]} * 60))
        [[ $sign == - ]] && off=$((-off))
    fi
    # days from 1970-01-01 (the civil-from-days inverse common.lua's rfc3339 uses)
    if ((m <= 2)); then y=$((y - 1)); fi
    local era=$((y / 400)) mp=$((m > 2 ? m - 3 : m + 9))
    local yoe=$((y - era * 400))
    local doe=$((yoe * 365 + yoe / 4 - yoe / 100 + (153 * mp + 2) / 5 + d - 1))
    local days=$((era * 146097 + doe - 719468))
    REPLY=$(((days * 86400 + secs - off) * 1000 + 10#${frac:0:3}))
}

# A duration as config.c reads them (500ms, 30s, 15m, 24h, 7d, 0) in ms, in REPLY.
dur_ms() {
    [[ $1 =~ ^([0-9]+)(ms|s|m|h|d)?$ ]] || return 1
    local n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in
    ms) REPLY=$n ;;
    s) REPLY=$((n * 1000)) ;;
    m) REPLY=$((n * 60000)) ;;
    h) REPLY=$((n * 3600000)) ;;
    d) REPLY=$((n * 86400000)) ;;
    *) REPLY=$n ;; # a bare number: ms
    esac
}

# A *_ms value of an event: an RFC 3339 time, a duration or a number of ms, in REPLY.
value_ms() {
    if ms_of "$1" || dur_ms "$1"; then return 0; fi
    [[ $1 =~ ^-[0-9]+$ ]] && REPLY=$1
}

# Money as processor/money.c takes it (a decimal with at most 2 fractional digits) in minor
# units, in REPLY.
minor_of() {
    [[ $1 =~ ^(-?)([0-9]+)(\.([0-9]{1,2}))?$ ]] || return 1
    local frac=${BASH_REMATCH[4]}00
    REPLY=$((10#${BASH_REMATCH[2]} * 100 + 10#${frac:0:2}))
    [[ -n ${BASH_REMATCH[1]} ]] && REPLY=$((-REPLY))
    return 0
}

# Replaces every bare RFC 3339 time in text (not inside a "string") by its Unix ms; REPLY.
subst_times() {
    local text=$1 out=''
    local tre='([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))'
    # left to right: quoted strings copied as they are, times outside them converted
    while [[ -n $text ]]; do
        if [[ $text =~ ^(\"([^\"\\]|\\.)*\")(.*)$ ]]; then
            out+=${BASH_REMATCH[1]}
            text=${BASH_REMATCH[3]}
        elif [[ $text =~ ^$tre(.*)$ ]]; then
            text=${BASH_REMATCH[4]}
            ms_of "${BASH_REMATCH[1]}"
            out+=$REPLY
        elif [[ $text =~ ^([^\"0-9]+|[0-9]+)(.*)$ ]]; then
            out+=${BASH_REMATCH[1]}
            text=${BASH_REMATCH[2]}
        else
            out+=$text
            text=''
        fi
    done
    REPLY=$out
}

# ---------------------------------------------------------------- the case language

# Splits a line into TOKS: words, "quoted strings" and name="quoted values" (\" and \\
# escape inside quotes); quotes are removed.
tokenize() {
    local rest=$1 tok
    TOKS=()
    local re='^[[:space:]]*(([^[:space:]"]*)("(([^"\\]|\\.)*)")?)(.*)$'
    while [[ $rest =~ ^[[:space:]]*[^[:space:]] ]]; do
        [[ $rest =~ $re ]] || return 1
        if [[ -n ${BASH_REMATCH[3]} ]]; then
            tok=${BASH_REMATCH[4]}
            tok=${tok//\\\"/\"}
            tok=${BASH_REMATCH[2]}${tok//\\\\/\\}
        else
            tok=${BASH_REMATCH[2]}
        fi
        [[ -n ${BASH_REMATCH[1]} ]] || return 1
        TOKS+=("$tok")
        rest=${BASH_REMATCH[6]}
    done
}

# One argument as redis-cli reads it from stdin: double-quoted, \ and " escaped.
cli_quote() {
    local s=${1//\\/\\\\}
    REPLY="\"${s//\"/\\\"}\""
}

# Adds a command (its arguments) to the case's redis-cli input; REPLY: its reply's index.
add_cmd() {
    local line='' a
    for a in "$@"; do
        cli_quote "$a"
        line+="$REPLY "
    done
    CMDS+=("$line")
    REPLY=$((${#CMDS[@]} - 1))
}

# config.c's defaults of the per-tenant settings the library gets (through transition.c).
declare -A DEFAULTS=(
    [lead.idle_after]=30m [lead.callback_after]=15m [currency]=RUB [dedup.window]=90d
    [lead.untracked_after]=15m [timezone]=UTC [deal.stalled_after]=7d [deal.stage_limits]='' [deal.stages]=''
    [deal.no_next_step_after]=24h [state.retention]=400d
    [leak.margin]=0.4 [leak.lifetime_purchases]=1 [leak.unanswered_after]=24h
    [leak.conversion_window]=90d
    [loss.nontarget]='spam=Спам;duplicate=Дубль'
    [loss.manageable]='no_answer_3_times=Не отвечает более 3-х раз;chose_competitor=Выбрал других'
    [loss.objective]='not_now=Хочет, но не сейчас;service_not_offered=Нет у нас услуги;no_need=Целевой, но нет потребности;schedule_mismatch=Не подходит график;do_not_call=Больше не звонить'
)
declare -A SETTINGS=()

setting() { # TENANT NAME -> REPLY
    local k="$1|$2"
    if [[ -v SETTINGS[$k] ]]; then REPLY=${SETTINGS[$k]}; else REPLY=${DEFAULTS[$2]}; fi
}

setting_ms() { # TENANT NAME -> REPLY (ms)
    setting "$1" "$2"
    dur_ms "$REPLY" || case_error "setting $2 is not a duration: $REPLY"
}

fold() { # as loss_reason.c: trimmed, case-folded
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    REPLY=${s,,}
}

# A loss reason's class and canonical name from the tenant's lists (loss_reason.c):
# CLASS and KEY.
classify() {
    local tenant=$1 reason=$2 cls list item id name want
    fold "$reason"
    want=$REPLY
    for cls in nontarget manageable objective; do
        setting "$tenant" "loss.$cls"
        list=$REPLY
        IFS=';' read -r -a items <<<"$list"
        for item in "${items[@]}"; do
            id=${item%%=*}
            [[ $item == *=* ]] && name=${item#*=} || name=$item
            fold "$id"
            local fid=$REPLY
            fold "$name"
            if [[ (-n $fid && $fid == "$want") || (-n $REPLY && $REPLY == "$want") ]]; then
                CLASS=$cls KEY=$id
                return
            fi
        done
    done
    CLASS=unclassified KEY=$reason
}

# A decimal setting as config.c holds it, in ten-thousandths (0.4 -> 4000), in REPLY.
setting_e4() { # TENANT NAME
    setting "$1" "$2"
    [[ $REPLY =~ ^([0-9]+)(\.([0-9]{1,4}))?$ ]] || case_error "setting $2 is not a decimal: $REPLY"
    local frac=${BASH_REMATCH[3]}0000
    REPLY=$((10#${BASH_REMATCH[1]} * 10000 + 10#${frac:0:4}))
}

# The local day and month of a time in a time zone (DAY, MONTH); one date(1) per zone and
# quarter hour (cases of many events): local days start on a quarter hour of UTC, as every
# zone's offsets and changes are whole quarter hours.
declare -A LOCAL_DAYS=()
local_period() {
    local ms=$1 tz=$2 secs=$(($1 / 1000))
    ((ms < 0 && ms % 1000 != 0)) && secs=$((secs - 1))
    local q=$(((secs - (secs % 900 + 900) % 900) / 900))
    [[ -v LOCAL_DAYS[$tz@$q] ]] || LOCAL_DAYS[$tz@$q]=$(TZ=$tz date -d "@$((q * 900))" +%F)
    DAY=${LOCAL_DAYS[$tz@$q]}
    MONTH=${DAY:0:7}
}

# The data fields transition.c passes (text_fields and the normalized ones).
declare -A FIELDS=()
for f in lead_id call_id task_id deal_id manager_id channel status direction stage \
    closed_reason loss_reason kind contact_name pipeline_id title due_ms amount_minor currency \
    stalled_after_ms loss_class loss_key day month due_month deal_stages stalled_learn no_next_step_ms \
    phones emails dedup_window_ms untracked_after_ms idle_after_ms callback_after_ms trace \
    unanswered_after_ms leak_margin leak_lifetime leak_window_ms leak_currency \
    retention_ms position next_offset; do
    FIELDS[$f]=1
done

case_error() {
    CASE_ERRORS+=("line $LINE_NO: $*")
    return 1
}

# event TYPE TIME [id=ID] [tenant=T] [fire_before=TIME|none] name=value...
parse_event() {
    local type=${TOKS[1]:-} time=${TOKS[2]:-} tenant=$CASE_TENANT id='' fb=''
    [[ $type == *.* ]] || case_error "event wants a type and a time" || return
    ms_of "$time" || case_error "not an RFC 3339 time: $time" || return
    local t=$REPLY
    local -A pairs=()
    local order=() tok name value
    for tok in "${TOKS[@]:3}"; do
        [[ $tok == *=* ]] || case_error "expected name=value, got: $tok" || return
        name=${tok%%=*} value=${tok#*=}
        case $name in
        id) id=$value ;;
        tenant) tenant=$value ;;
        fire_before)
            if [[ $value == none ]]; then fb=-9223372036854775808; else
                ms_of "$value" || case_error "fire_before: not a time: $value" || return
                fb=$REPLY
            fi
            ;;
        due_at)
            ms_of "$value" || case_error "due_at: not a time: $value" || return
            pairs[due_ms]=$REPLY order+=(due_ms)
            ;;
        amount)
            minor_of "$value" || case_error "amount: not money: $value" || return
            pairs[amount_minor]=$REPLY order+=(amount_minor)
            ;;
        *)
            [[ -v FIELDS[$name] ]] || case_error "transition.c passes no field '$name'" || return
            if [[ $name == *_ms ]]; then
                value_ms "$value" || case_error "$name: not a time, duration or ms: $value" || return
                value=$REPLY
            fi
            pairs[$name]=$value order+=("$name")
            ;;
        esac
    done
    NEXT_ID=$((NEXT_ID + 1))
    [[ -n $id ]] || id=e$NEXT_ID
    [[ -n $fb ]] || fb=$t
    note_tenant "$tenant"
    # what transition.c adds from the tenant's settings, unless the case gives it
    local family=${type%%.*}
    put() { [[ -v pairs[$1] ]] || { pairs[$1]=$2 && order+=("$1"); }; }
    if [[ -v pairs[amount_minor] ]]; then
        setting "$tenant" currency
        put currency "$REPLY"
    fi
    if [[ $family == deal ]]; then
        if [[ -v pairs[stage] ]]; then
            local limit='' item
            setting "$tenant" deal.stage_limits
            IFS=';' read -r -a items <<<"$REPLY"
            fold "${pairs[stage]}"
            local want=$REPLY
            for item in "${items[@]}"; do
                fold "${item%%=*}"
                if [[ $item == *=* && $REPLY == "$want" ]] && dur_ms "${item#*=}"; then
                    limit=$REPLY
                    break
                fi
            done
            [[ -n $limit ]] || { setting_ms "$tenant" deal.stalled_after && limit=$REPLY &&
                put stalled_learn 1; }
            put stalled_after_ms "$limit"
        fi
        if [[ -v pairs[loss_reason] ]]; then
            classify "$tenant" "${pairs[loss_reason]}"
            put loss_class "$CLASS"
            put loss_key "$KEY"
        fi
        setting "$tenant" deal.stages
        [[ -z $REPLY ]] || put deal_stages "$REPLY" # as written: config.c's form is the same
    fi
    # The local period (transition.c: add_periods): what the leak estimate counts and a loss
    # reason by day and month, every deal event by month (the funnel's cohort).
    local counted=0 by_day=0
    [[ $type == lead.created || $type == call.completed || $type == deal.won ]] && counted=1
    ((counted)) || [[ $family == deal && -v pairs[loss_reason] ]] && by_day=1
    if ((by_day)) || [[ $family == deal ]]; then
        setting "$tenant" timezone
        local_period "$t" "$REPLY"
        ((by_day)) && put day "$DAY"
        put month "$MONTH"
    fi
    if [[ -v pairs[due_ms] ]]; then # transition.c: the local month a task is due in
        setting "$tenant" timezone
        local_period "${pairs[due_ms]}" "$REPLY"
        put due_month "$MONTH"
    fi
    if [[ $family == deal || $family == task ]]; then
        setting_ms "$tenant" deal.no_next_step_after && put no_next_step_ms "$REPLY"
    fi
    if [[ $family == lead || $family == call ]]; then
        setting_ms "$tenant" dedup.window && put dedup_window_ms "$REPLY"
    fi
    if [[ $family == call ]]; then
        setting_ms "$tenant" lead.untracked_after && put untracked_after_ms "$REPLY"
    fi
    if [[ $type == lead.created ]]; then
        setting_ms "$tenant" lead.idle_after && put idle_after_ms "$REPLY"
        setting_ms "$tenant" lead.callback_after && put callback_after_ms "$REPLY"
        setting_ms "$tenant" leak.unanswered_after && put unanswered_after_ms "$REPLY"
    fi
    if ((counted)); then
        setting_e4 "$tenant" leak.margin && put leak_margin "$REPLY"
        setting_e4 "$tenant" leak.lifetime_purchases && put leak_lifetime "$REPLY"
        setting_ms "$tenant" leak.conversion_window && put leak_window_ms "$REPLY"
        setting "$tenant" currency
        put leak_currency "$REPLY"
    fi
    setting_ms "$tenant" state.retention && put retention_ms "$REPLY"
    local args=(FCALL lw_event 1 "lw:{$tenant}:outbox" "$tenant" "$id" "$type" "$t" "$fb")
    for name in "${order[@]}"; do
        args+=("$name" "${pairs[$name]}")
    done
    add_cmd "${args[@]}"
    step cmd "$REPLY"
}

note_tenant() {
    local x
    for x in "${TENANTS[@]}"; do [[ $x == "$1" ]] && return; done
    TENANTS+=("$1")
}

# A JSON string of text, in REPLY.
json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    REPLY="\"$s\""
}

# A step of the case for the checker: KIND REPLY-INDEX [more JSON members, ",..."]; the
# line it came from is kept.
step() {
    json_str "$LINE_TEXT"
    STEPS+=("{\"kind\":\"$1\",\"r\":$2,\"line\":$LINE_NO,\"text\":$REPLY${3:-}}")
}

# An outbox check reads every tenant's stream as it is at that point.
add_outbox_reads() {
    local first='' t
    for t in "${TENANTS[@]}"; do
        add_cmd XRANGE "lw:{$t}:outbox" - +
        [[ -n $first ]] || first=$REPLY
    done
    REPLY=$first
}

# Reads a case file into CMDS (the redis-cli input), STEPS (for the checker) and WHERES
# (the jq expressions of its expect lines).
parse_case() {
    local file=$1 raw line join='' t
    CMDS=() STEPS=() WHERES=()
    CASE_ERRORS=() TENANTS=() SETTINGS=() NEXT_ID=0 CASE_TENANT=t DESCRIPTION=''
    # every tenant the case names is read at each outbox check
    CASE_TENANT=$(sed -n 's/^tenant[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$file" | head -n 1)
    CASE_TENANT=${CASE_TENANT:-t}
    TENANTS=("$CASE_TENANT")
    while read -r t; do note_tenant "${t#tenant=}"; done < <(grep -o 'tenant=[A-Za-z0-9._-]*' "$file" || true)
    add_cmd FLUSHDB
    LINE_NO=0
    while IFS= read -r raw || [[ -n $raw ]]; do
        LINE_NO=$((LINE_NO + 1))
        [[ -z $join ]] || raw=${raw#"${raw%%[![:space:]]*}"}
        if [[ $raw == *\\ ]]; then # continued on the next line
            join+="${raw%\\}"
            [[ $join == *[[:space:]] ]] || join+=' '
            continue
        fi
        line=$join$raw
        join=''
        LINE_TEXT=$line
        [[ $line =~ ^[[:space:]]*$ ]] && continue
        if [[ $line =~ ^[[:space:]]*# ]]; then
            if [[ -z $DESCRIPTION ]]; then
                DESCRIPTION=${line#*#}
                DESCRIPTION=${DESCRIPTION# }
            fi
            continue
        fi
        parse_line "$line" || true
    done <"$file"
}

parse_line() {
    local line=$1 word=${1%%[[:space:]]*}
    case $word in
    tenant) ;; # read above
    set)
        local rest=${line#set} tenant=$CASE_TENANT
        rest=${rest#"${rest%%[![:space:]]*}"}
        if [[ $rest =~ ^tenant=([^[:space:]]+)[[:space:]]+(.*)$ ]]; then
            tenant=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
        fi
        [[ $rest =~ ^([^[:space:]]+)[[:space:]]+(.*[^[:space:]])[[:space:]]*$ ]] ||
            case_error "set NAME VALUE" || return
        [[ -v DEFAULTS[${BASH_REMATCH[1]}] ]] ||
            case_error "no such setting: ${BASH_REMATCH[1]} (one of: ${!DEFAULTS[*]})" || return
        SETTINGS["$tenant|${BASH_REMATCH[1]}"]=${BASH_REMATCH[2]}
        ;;
    event)
        tokenize "$line" || case_error "cannot split: $line" || return
        parse_event
        ;;
    fire)
        tokenize "$line" || case_error "cannot split: $line" || return
        local tenant=$CASE_TENANT limit=1000 tok # timers.batch's default
        ms_of "${TOKS[1]:-}" || case_error "fire TIME [tenant=T] [limit=N]" || return
        local now=$REPLY
        for tok in "${TOKS[@]:2}"; do
            case $tok in
            tenant=*) tenant=${tok#tenant=} ;;
            limit=*) limit=${tok#limit=} ;;
            *) case_error "fire: unknown $tok" || return ;;
            esac
        done
        add_cmd FCALL lw_fire 1 "lw:{$tenant}:outbox" "$tenant" "$now" "$limit"
        step cmd "$REPLY"
        ;;
    flush)
        tokenize "$line" || return
        local tenant=$CASE_TENANT
        [[ ${TOKS[1]:-} == tenant=* ]] && tenant=${TOKS[1]#tenant=}
        add_cmd FCALL lw_flush 1 "lw:{$tenant}:outbox" "$tenant"
        step cmd "$REPLY"
        ;;
    redis)
        subst_times "${line#redis}"
        tokenize "$REPLY" || case_error "cannot split: $line" || return
        add_cmd "${TOKS[@]}"
        step cmd "$REPLY"
        ;;
    state)
        [[ $line =~ ^state[[:space:]]+(.*[^[:space:]])[[:space:]]+([=~])\>[[:space:]]*(.*)$ ]] ||
            case_error "state COMMAND... => REPLY or state COMMAND... ~> JSON" || return
        local want=${BASH_REMATCH[3]} op=${BASH_REMATCH[2]}
        subst_times "${BASH_REMATCH[1]}"
        tokenize "$REPLY" || case_error "cannot split: $line" || return
        subst_times "$want"
        json_str "$REPLY"
        want=$REPLY
        add_cmd "${TOKS[@]}"
        step state "$REPLY" ",\"want\":$want,\"op\":\"$op\""
        ;;
    expect)
        parse_expect "$line"
        ;;
    no)
        [[ $line =~ ^no[[:space:]]+more([[:space:]]+(.*))?$ ]] || case_error "no more [TYPE...]" || return
        json_str "${BASH_REMATCH[2]}"
        local types=$REPLY
        add_outbox_reads
        step nomore "$REPLY" ",\"types\":$types"
        ;;
    *) case_error "unknown line: $line" ;;
    esac
}

# expect TYPE KEY [@TIME] [tenant=T] [JSON] [where JQ]  |  expect reply JSON  |
# expect error TEXT
parse_expect() {
    local rest=${1#expect}
    rest=${rest#"${rest%%[![:space:]]*}"}
    local word=${rest%%[[:space:]]*}
    rest=${rest#"$word"}
    rest=${rest#"${rest%%[![:space:]]*}"}
    case $word in
    reply)
        subst_times "$rest"
        json_str "$REPLY"
        step reply -1 ",\"want\":$REPLY"
        return
        ;;
    error)
        json_str "$rest"
        step error -1 ",\"want\":$REPLY"
        return
        ;;
    *.*) ;;
    *) case_error "expect TYPE KEY ..., expect reply JSON or expect error TEXT" || return ;;
    esac
    local key=${rest%%[[:space:]]*} time='' tenant=$CASE_TENANT subset='' where=''
    [[ -n $key ]] || case_error "expect $word: which key? (* for any)" || return
    rest=${rest#"$key"}
    while :; do
        rest=${rest#"${rest%%[![:space:]]*}"}
        if [[ $rest =~ ^@([^[:space:]]+)(.*)$ ]]; then
            rest=${BASH_REMATCH[2]} time=${BASH_REMATCH[1]}
            ms_of "$time" || case_error "not a time: $time" || return
            time=$REPLY
        elif [[ $rest =~ ^tenant=([^[:space:]]+)(.*)$ ]]; then
            tenant=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
        else
            break
        fi
    done
    # the JSON subset, then "where" and a jq expression (the first " where " splits them)
    if [[ $rest == where[[:space:]]* ]]; then
        where=${rest#where}
        where=${where#"${where%%[![:space:]]*}"}
    elif [[ $rest == *" where "* ]]; then
        subset=${rest%%" where "*} where=${rest#*" where "}
    else
        # shellcheck disable=SC2034 # read through ${!a} below
        subset=$rest
    fi
    local w=0 spec a
    if [[ -n $where ]]; then
        WHERES+=("$where")
        w=${#WHERES[@]}
    fi
    spec=",\"w\":$w"
    for a in word key time tenant subset where; do
        json_str "${!a}"
        spec+=",\"${a/word/type}\":$REPLY"
    done
    add_outbox_reads
    step expect "$REPLY" "$spec"
}

# ---------------------------------------------------------------- checking

# The checker: walks each case's steps with its replies (one JSON value per command),
# keeps which outbox entries the expect lines took, and prints what differs ("line N: the
# line" and indented lines under it), each line prefixed with the case's number and a tab;
# nothing for a case whose checks all hold. Input: one object per case {n, tenant0,
# ntenants, steps, replies}. $lua: the library's files and their first lines, to name the
# file of an error. where_check($n; $w), the expect lines' jq expressions, is generated.
# shellcheck disable=SC2016 # jq programs: their $ are jq's
JQ_LOCATE='
# " (file.lua:line)" for an error naming a line of the whole library, as library.c does
def locate: ([capture("user_function:(?<n>[0-9]+)")] | .[0]) as $m
    | if $m == null then "" else ($m.n | tonumber) as $n
        | ([range($lua | length) | select($lua[.].first <= $n)] | last) as $i
        | if $i == null then "" else " (\($lua[$i].name):\($n - $lua[$i].first + 1))" end end;
'
# shellcheck disable=SC2016
JQ_CHECK=$JQ_LOCATE'
def fmt_ms: tonumber as $ms | ($ms / 1000 | floor | todate) as $s
    | if $ms % 1000 == 0 then $s else $s[0:19] + ".\($ms % 1000 + 1000 | tostring | .[1:])Z" end;
# what differs between an expected JSON subset and the actual value, one line each
def diffs($e; $a; $p):
    if ($e | type) == "object" then
        if ($a | type) != "object" then "\($p): expected an object \($e | tojson), got \($a | tojson)"
        else $e | to_entries[] | diffs(.value; $a[.key]; "\($p).\(.key)") end
    elif ($e | type) == "array" then
        if ($a | type) != "array" then "\($p): expected \($e | tojson), got \($a | tojson)"
        elif ($e | length) != ($a | length) then
            "\($p): expected \($e | length) items \($e | tojson), got \($a | length): \($a | tojson)"
        else range($e | length) as $i | diffs($e[$i]; $a[$i]; "\($p)[\($i)]") end
    elif $e == $a then empty
    else "\($p): expected \($e | tojson), got \($a | tojson)" end;
# replies compare loosely: scalars as text (the reply "1795338000000" is 1795338000000)
def loose: walk(if type == "number" or type == "boolean" then tostring else . end);
# a value shown with the time it stands for when it looks like Unix ms
def with_time: tojson + (tostring | if test("^1[0-9]{12}$") then " (\(fmt_ms))" else "" end);
def compare($want; $got):
    ($want | . as $t | try fromjson catch $t) as $w
    | if ($w | loose) == ($got | loose) then empty
      else "expected \($w | with_time)", "     got \($got | with_time)" end;
def type_in($types): . as $x | ($types | split(" ") | map(select(. != ""))) as $t
    | ($t | length) == 0
      or any($t[]; . as $p | $p == $x or ($p | endswith(".*")) and ($x | startswith($p[0:-1])));
def check_case:
    . as $case | $case.replies as $replies | $case.ntenants as $ntenants | $case.tenant0 as $tenant0
    | def show: "\(.type) \(.key) @\(.at)"
          + (if .tenant != $tenant0 then " tenant=\(.tenant)" else "" end) + " \(.data | tojson)";
      def short: show | if length > 220 then .[0:217] + "..." else . end;
      # the outbox: the XRANGE replies of every tenant from index r, in the order added
      def outbox($r): [range($ntenants) as $i | $replies[$r + $i][] | . as [$sid, $kv]
          | ([range(0; $kv | length; 2) as $j | {($kv[$j]): $kv[$j + 1]}] | add)
          | . + {sid: $sid, ref: "\(.tenant)/\($sid)", at: (.time | fmt_ms),
                 data: (.data as $d | try ($d | fromjson) catch $d)}]
          | sort_by(.sid | split("-") | map(tonumber));
      # the entry an expect line takes (the first left of its type, tenant and key), and
      # what differs
      def expect($s; $left):
          [$left[] | select(.type == $s.type and .tenant == $s.tenant and ($s.key == "*" or .key == $s.key))]
          | if length == 0 then {lines: (["no \($s.type) with key \($s.key) left in the outbox, which holds:"]
              + ($left | if length == 0 then ["    (nothing)"] else map("    " + short) end))}
            else .[0] as $c
              | [ (if $s.time != "" and $c.time != $s.time then
                     "@: expected \($s.time | fmt_ms), got \($c.at)" else empty end),
                  (if $s.subset != "" then
                     (try ($s.subset | fromjson) catch "\u0000") as $e
                     | if $e == "\u0000" then "not JSON: \($s.subset)" else diffs($e; $c.data; "data") end
                   else empty end),
                  (if $s.w > 0 then
                     ($c | try where_check($case.n; $s.w) catch "error: \(.)") as $v
                     | if $v == true then empty else "where \($s.where): \($v | tojson)" end
                   else empty end) ] as $errs
              | {take: $c.ref,
                 lines: (if $errs == [] then [] else ["got: \($c | show)"] + ($errs | map("  " + .)) end)}
            end;
      def fail($s; $lines): .out += ["line \($s.line): \($s.text)"] + ($lines | map("    " + .));
      def error_lines($c): "line \($c.line): \($c.text)", "    error: \($c.error)\($c.error | locate)";
      reduce $case.steps[] as $s ({taken: {}, last: null, errored: null, out: []};
          (if .errored != null and $s.kind != "error" then .out += [error_lines(.errored)] | .errored = null
           else . end)
          | if $s.kind == "cmd" then
              .last = $replies[$s.r]
              | if (.last | type) == "object" and .last.error then .errored = ($s + {error: .last.error})
                else . end
            elif $s.kind == "state" and $s.op == "~" then
              ($replies[$s.r] | if type == "string" then (. as $t | try fromjson catch $t) else . end) as $g
              | (try ($s.want | fromjson) catch "\u0000") as $e
              | (if $e == "\u0000" then ["not JSON: \($s.want)"] else [diffs($e; $g; "reply")] end) as $l
              | if $l == [] then . else fail($s; $l + ["got: \($g | tojson)"]) end
            elif $s.kind == "state" then
              [compare($s.want; $replies[$s.r])] as $l | if $l == [] then . else fail($s; $l) end
            elif $s.kind == "reply" then
              [compare($s.want; .last)] as $l | if $l == [] then . else fail($s; $l) end
            elif $s.kind == "error" then
              if .errored == null then fail($s; ["expected an error, got \(.last | tojson)"])
              elif (.errored.error | contains($s.want)) then .errored = null
              else fail($s; ["the error is: \(.errored.error)"]) | .errored = null end
            else
              .taken as $taken | [outbox($s.r)[] | select($taken[.ref] | not)] as $left
              | if $s.kind == "nomore" then
                  [$left[] | select(.type | type_in($s.types))] as $l
                  | if $l == [] then . else fail($s; ["left in the outbox:"] + ($l | map("    " + short))) end
                else expect($s; $left) as $x
                  | (if $x.take then .taken[$x.take] = true else . end)
                  | if $x.lines == [] then . else fail($s; $x.lines) end
                end
            end)
      | (if .errored != null then .out += [error_lines(.errored)] else . end)
      | .out[];
inputs | . as $c | check_case | "\($c.n)\t\(.)"
'

# Parses a case and runs its commands in one redis-cli session; leaves the checker's input
# in $LW_TMP/case.N.json and its expect lines' jq expressions in WHERE_DEFS. PARSE_ERRORS[N]
# or RUN_ERRORS[N] when it cannot get that far.
prepare_case() {
    local n=$1 file=$2 out=$LW_TMP/replies.$1 w
    parse_case "$file"
    DESCRIPTIONS[$n]=$DESCRIPTION
    if ((${#CASE_ERRORS[@]} > 0)); then
        PARSE_ERRORS[$n]=$(printf '%s\n' "the case does not parse:" "${CASE_ERRORS[@]/#/  }")
        return
    fi
    printf '%s\n' "${CMDS[@]}" >"$LW_TMP/commands.$n"
    redis-cli -p "$REDIS_PORT" --json <"$LW_TMP/commands.$n" 2>&1 |
        sed 's/^error:\(.*\)$/{"error":\1}/' >"$out" || true # redis-cli prints error:"text"
    mapfile -t replies <"$out"
    if ((${#replies[@]} != ${#CMDS[@]})); then
        RUN_ERRORS[$n]="redis-cli printed ${#replies[@]} replies for ${#CMDS[@]} commands: $(head -c 2000 "$out")"
        return
    fi
    if ((verbose)); then
        echo "# $n $(basename "$file" .test)"
        paste -d'\n' <(sed 's/^/  > /' "$LW_TMP/commands.$n") <(sed 's/^/  < /' "$out")
    fi
    local IFS=,
    json_str "$CASE_TENANT"
    printf '{"n":%d,"tenant0":%s,"ntenants":%d,"steps":[%s],"replies":[%s]}\n' "$n" "$REPLY" \
        "${#TENANTS[@]}" "${STEPS[*]}" "${replies[*]}" >"$LW_TMP/case.$n.json"
    unset IFS
    local defs='' ends=''
    for w in "${!WHERES[@]}"; do
        defs+="if \$n == $n and \$w == $((w + 1)) then (${WHERES[w]}) else "
        ends+=' end'
    done
    CASE_DEFS[$n]=$defs CASE_ENDS[$n]=$ends
    WHERE_DEFS+=$defs WHERE_ENDS+=$ends
}

# Checks the prepared cases (files) with one jq; prints its lines "N<TAB>text".
check_cases() {
    jq -nr --argjson lua "$LUA_JSON" \
        "def where_check(\$n; \$w): ${1}true${2};$JQ_CHECK" "${@:3}" 2>&1
}

# ---------------------------------------------------------------- the library

# The Lua sources: processor/lua/*.lua as CMakeLists.txt globs them, or LW_RULES_LUA's.
lua_sources() {
    if [[ -n ${LW_RULES_LUA:-} ]]; then
        local f
        for f in $LW_RULES_LUA; do [[ $f == /* ]] && echo "$f" || echo "$REPO/$f"; done
        return
    fi
    local order=()
    ((reverse)) && order=(-r)
    printf '%s\n' "$REPO"/processor/lua/*.lua | LC_ALL=C sort "${order[@]}"
}

# Builds the library as the build does (cmake/lua_library.cmake: common.lua, the generated
# keys.lua, then the other sources in their order, each in its own do ... end) and loads it
# with FUNCTION LOAD REPLACE. LUA_JSON: each file's name and first line, from the map.
load_library() {
    local lib=$LW_TMP/leakwatch.lua map=$LW_TMP/leakwatch.map out name first
    mapfile -t LUA_FILES < <(lua_sources)
    if ! out=$(cmake -DKEYS="$REPO/processor/keys.tab" \
        "-DSOURCES=$(IFS=, && echo "${LUA_FILES[*]}")" -DOUT_LUA="$lib" -DOUT_MAP="$map" \
        -P "$REPO/cmake/lua_library.cmake" 2>&1); then
        LOAD_ERROR="cmake/lua_library.cmake could not build the library: $out"
        return 1
    fi
    LUA_JSON='['
    while read -r name first; do
        [[ $LUA_JSON == '[' ]] || LUA_JSON+=','
        LUA_JSON+="{\"name\":\"$name\",\"first\":$first}"
    done <"$map"
    LUA_JSON+=']'
    local reply
    reply=$(redis-cli -p "$REDIS_PORT" -x FUNCTION LOAD REPLACE <"$lib" 2>&1)
    if [[ $reply != leakwatch ]]; then
        LOAD_ERROR="FUNCTION LOAD refused the library: $reply$(jq -nr --arg e "$reply" \
            --argjson lua "$LUA_JSON" "$JQ_LOCATE"' $e | locate')"
        return 1
    fi
}

# ---------------------------------------------------------------- main

cases=()
if ((${#selected[@]} > 0)); then
    for c in "${selected[@]}"; do
        if [[ -f $c ]]; then cases+=("$c"); elif [[ -f $CASES_DIR/${c%.test}.test ]]; then
            cases+=("$CASES_DIR/${c%.test}.test")
        else
            echo "no such case: $c" >&2
            exit 2
        fi
    done
else
    cases=("$CASES_DIR"/*.test)
fi

started=$(date +%s%N)
for tool in redis-server redis-cli jq cmake; do
    if ! command -v "$tool" >/dev/null; then
        echo "not ok 0 the bench needs $tool (deploy/install-deps.sh installs it)"
        echo "0 passed, ${#cases[@]} failed"
        exit 1
    fi
done
lw_setup
# shellcheck disable=SC2119 # no arguments for redis-server
lw_start_redis
passed=0 failed=0 known_failing=0 known_passing=0 n=0
finish() {
    lw_stop_pid "$LW_REDIS_PID"
    : >"$LW_TMP/redis.log" # lib.sh prints the logs of a failed test: the report is above
    local ms=$((($(date +%s%N) - started) / 1000000))
    local lua=none
    [[ ! -s $LW_TMP/leakwatch.map ]] || lua=$(cut -d' ' -f1 "$LW_TMP/leakwatch.map" | paste -sd' ')
    echo "# ${#cases[@]} cases, $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s; the library: $lua"
    if ((known_failing + known_passing > 0)); then
        echo "known: $known_failing still failing, $known_passing now passing (known-*.test, not counted below)"
    fi
    echo "$passed passed, $failed failed"
}

LUA_FILES=()
if ! load_library; then
    echo "not ok 0 the library loads"
    echo "    $LOAD_ERROR"
    for f in "${cases[@]}"; do [[ $(basename "$f") == known-* ]] || failed=$((failed + 1)); done
    finish
    exit 1
fi

# every case's commands, then every case checked in one jq run (jq starts slowly); if that
# run fails (a bad where expression), each case is checked on its own to name the culprit
declare -A PARSE_ERRORS=() RUN_ERRORS=() DESCRIPTIONS=() RESULTS=() CASE_DEFS=() CASE_ENDS=()
WHERE_DEFS='' WHERE_ENDS=''
inputs=()
for file in "${cases[@]}"; do
    n=$((n + 1))
    prepare_case "$n" "$file"
    [[ -f $LW_TMP/case.$n.json ]] && inputs+=("$LW_TMP/case.$n.json")
done
if ((${#inputs[@]} > 0)); then
    if out=$(check_cases "$WHERE_DEFS" "$WHERE_ENDS" "${inputs[@]}"); then
        while IFS=$'\t' read -r k line; do
            [[ -n $k ]] && RESULTS[$k]+="$line"$'\n'
        done <<<"$out"
    else
        for f in "${inputs[@]}"; do
            k=${f##*/case.} k=${k%.json}
            out=$(check_cases "${CASE_DEFS[$k]}" "${CASE_ENDS[$k]}" "$f") ||
                out="$k	the checker failed on this case (a bad where expression?): ${out//$'\n'/ }"
            while IFS=$'\t' read -r k2 line; do
                [[ -n $k2 ]] && RESULTS[$k]+="$line"$'\n'
            done <<<"$out"
        done
    fi
fi

n=0
for file in "${cases[@]}"; do
    n=$((n + 1))
    name=$(basename "$file" .test)
    FAILS=()
    if [[ -v PARSE_ERRORS[$n] ]]; then
        mapfile -t FAILS <<<"${PARSE_ERRORS[$n]}"
    elif [[ -v RUN_ERRORS[$n] ]]; then
        FAILS=("${RUN_ERRORS[$n]}")
    elif [[ -n ${RESULTS[$n]:-} ]]; then
        mapfile -t FAILS <<<"${RESULTS[$n]%$'\n'}"
    fi
    DESCRIPTION=${DESCRIPTIONS[$n]:-}
    if [[ $name == known-* ]]; then
        if ((${#FAILS[@]} == 0)); then
            known_passing=$((known_passing + 1))
            echo "known $n $name: now passes (drop known- from its name)"
        else
            known_failing=$((known_failing + 1))
            echo "known $n $name: fails as expected${DESCRIPTION:+ — $DESCRIPTION}"
            printf '    %s\n' "${FAILS[@]}"
        fi
    elif ((${#FAILS[@]} == 0)); then
        passed=$((passed + 1))
        echo "ok $n $name"
    else
        failed=$((failed + 1))
        echo "not ok $n $name${DESCRIPTION:+ — $DESCRIPTION}"
        printf '    %s\n' "${FAILS[@]}"
        if [[ -n ${LW_ARTEFACTS:-} ]]; then
            mkdir -p "$LW_ARTEFACTS/rules"
            {
                printf '%s\n' "${FAILS[@]}"
                echo "--- commands and replies ---"
                [[ -f $LW_TMP/commands.$n ]] &&
                    paste -d'\n' <(sed 's/^/> /' "$LW_TMP/commands.$n") <(sed 's/^/< /' "$LW_TMP/replies.$n")
            } >"$LW_ARTEFACTS/rules/$name.txt"
        fi
    fi
done
finish
((failed == 0))
