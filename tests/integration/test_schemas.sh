#!/usr/bin/env bash
# test_schemas.sh — checks the JSON Schemas under schemas/ (no network, no broker, no Redis).
#
#   * every file under schemas/ is JSON (jq) with "$schema" (draft 2020-12), an "$id" that
#     matches its path, a title and a non-empty "examples";
#   * every member of every "properties"/"patternProperties" has a description;
#   * every "$ref" is relative and points at an existing file and JSON pointer;
#   * each example of the input schemas (schemas/input/{lead,call,task,deal}.json) is a JSON
#     object with the required CloudEvents attributes, a type of its family, an RFC 3339
#     time, and the data fields its type requires (read from the schema's if/then rules);
#   * each example of the derived schemas has the derived envelope (source leakwatch, SHA-1 id,
#     type const, tenant, datacontenttype) and the data fields the schema requires;
#   * each example of schemas/config.json uses only known keys with well-formed durations;
#     its topics.* properties and their defaults are those `leakwatch topics` lists (with the
#     binary: LEAKWATCH, set by ctest);
#   * the jq checks themselves reject broken events (negative cases);
#   * when python3 has jsonschema (>= 4.18 with referencing, or an older one with RefResolver,
#     as Debian 12's python3-jsonschema 4.10: tests/integration/schemas.py), every schema is
#     also checked against the 2020-12 meta-schema and every example is fully validated
#     (skipped without jsonschema).
#
# Env: LW_TEST_ROOT=<repo>/tests (set by ctest); defaults to this script's ../ directory;
#      LEAKWATCH=<path of the leakwatch binary> (optional here).
set -euo pipefail

TEST_ROOT="${LW_TEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
REPO="$(cd "$TEST_ROOT/.." && pwd)"
SCHEMAS="$REPO/schemas"
DRAFT="https://json-schema.org/draft/2020-12/schema"
ID_BASE="https://leakwatch.dev/schemas/"

command -v jq >/dev/null || { echo "FAIL: test_schemas: jq not found" >&2; exit 1; }
[ -d "$SCHEMAS" ] || { echo "FAIL: test_schemas: no $SCHEMAS" >&2; exit 1; }

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
# Runs a jq program that prints one error line per problem; each line becomes a failure.
report() { # <prefix> <jq output>
    local prefix=$1 out=$2 line
    [ -z "$out" ] && return 0
    while IFS= read -r line; do fail "$prefix: $line"; done <<<"$out"
}

# ------------------------------------------------------------------ every file
mapfile -t FILES < <(cd "$SCHEMAS" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
[ "${#FILES[@]}" -gt 0 ] || fail "schemas/ holds no file"

declare -A SEEN_ID=()
for rel in "${FILES[@]}"; do
    f="$SCHEMAS/$rel"
    case "$rel" in
    *.json) ;;
    *) fail "schemas/$rel: not a .json file" && continue ;;
    esac
    if ! jq -e 'type == "object"' "$f" >/dev/null 2>&1; then
        fail "schemas/$rel: does not parse with jq as a JSON object"
        continue
    fi
    out=$(jq -r --arg draft "$DRAFT" --arg id "$ID_BASE$rel" '
        (if .["$schema"] != $draft then "\"$schema\" is \(.["$schema"] | tojson), want \($draft)" else empty end),
        (if .["$id"] != $id then "\"$id\" is \(.["$id"] | tojson), want \($id)" else empty end),
        (if (.title | type) != "string" or .title == "" then "no title" else empty end),
        (if (.description | type) != "string" or .description == "" then "no description" else empty end),
        (if (.examples | type) != "array" or (.examples | length) == 0 then "no examples" else empty end),
        # every declared property has a description (outside examples, defaults and if-conditions)
        (paths(type == "object") as $p
         | select(any($p[]; . == "examples" or . == "default" or . == "if") | not)
         | select(($p | length) > 0 and ($p[-1] == "properties" or $p[-1] == "patternProperties"))
         | getpath($p) | to_entries[]
         | select((.value | type) != "object" or ((.value.description | type) != "string") or .value.description == "")
         | "property \(.key | tojson) at /\($p | map(tostring) | join("/")) has no description")
    ' "$f")
    report "schemas/$rel" "$out"
    id=$(jq -r '.["$id"] // ""' "$f")
    if [ -n "$id" ]; then
        if [ -n "${SEEN_ID[$id]:-}" ]; then fail "schemas/$rel: \$id $id also used by ${SEEN_ID[$id]}"; fi
        SEEN_ID[$id]=$rel
    fi

    # every $ref resolves to a file under schemas/ and a JSON pointer inside it
    while IFS= read -r ref; do
        [ -z "$ref" ] && continue
        case "$ref" in
        *://*) fail "schemas/$rel: \$ref $ref is absolute (must be relative, resolvable offline)"; continue ;;
        esac
        file_part=${ref%%#*}
        frag=""
        [[ "$ref" == *"#"* ]] && frag=${ref#*#}
        if [ -z "$file_part" ]; then
            target="$f"
        else
            target="$(cd "$(dirname "$f")" && realpath -m "$file_part")"
        fi
        if [ ! -f "$target" ]; then
            fail "schemas/$rel: \$ref $ref: no file $target"
            continue
        fi
        if ! jq -e --arg frag "$frag" '
            ($frag | if . == "" then [] else ltrimstr("/") | split("/")
               | map(gsub("~1"; "/") | gsub("~0"; "~") | if test("^[0-9]+$") then tonumber else . end) end) as $p
            | (try getpath($p) catch null) | type == "object"' "$target" >/dev/null; then
            fail "schemas/$rel: \$ref $ref: pointer #$frag not found in $(basename "$target")"
        fi
    done < <(jq -r 'paths(type == "object") as $p | select(any($p[]; . == "examples") | not)
                    | getpath($p) | select(has("$ref")) | .["$ref"]' "$f" | LC_ALL=C sort -u)
done

# ----------------------------------------------------------- input examples
# Prints one line per problem of the examples given on stdin (an array) against family schema $s.
# shellcheck disable=SC2016
INPUT_CHECK='
def str_ok: type == "string" and length > 0;
def ce_errs($ts; $types; $rules; $dataprops):
  to_entries[] | .key as $i | .value as $e | "example \($i)" as $at
  | if ($e | type) != "object" then "\($at): not a JSON object"
    else
      ( (["specversion", "id", "type", "source", "time", "data"] - ($e | keys))[] | "\($at): missing CloudEvents attribute \(.)" ),
      ( if ($e | has("specversion")) and $e.specversion != "1.0" then "\($at): specversion is \($e.specversion | tojson), want \"1.0\"" else empty end ),
      ( if ($e | has("id")) and ($e.id | str_ok | not) then "\($at): id must be a non-empty string" else empty end ),
      ( if ($e | has("source")) and ($e.source | str_ok | not) then "\($at): source must be a non-empty string" else empty end ),
      ( if ($e | has("type")) and (any($types[]; . == $e.type) | not) then "\($at): type \($e.type | tojson) is not one of \($types | join(", "))" else empty end ),
      ( if ($e | has("time")) and (($e.time | type) != "string" or ($e.time | test($ts) | not)) then "\($at): time \($e.time | tojson) is not RFC 3339" else empty end ),
      ( if ($e | has("tenant")) and ($e.tenant | str_ok | not) then "\($at): tenant must be a non-empty string" else empty end ),
      ( if ($e | has("data")) and ($e.data | type) != "object" then "\($at): data must be a JSON object" else empty end ),
      ( if ($e.data | type) == "object" then
          ( $rules[] | select(.t == $e.type) | .req[] as $k | select($e.data | has($k) | not)
            | "\($at): \($e.type) data lacks required field \($k)" ),
          # the typed fields leakwatch reads
          ( $e.data | to_entries[] | .key as $k | .value as $v | "\($at): data.\($k) \($v | tojson)" as $bad
            | if ["lead_id", "call_id", "task_id", "deal_id", "manager_id", "pipeline_id"] | index([$k]) then
                (if ($v | type) == "string" and $v != "" then empty
                 elif ($v | type) == "number" and ($v | floor) == $v then empty
                 else "\($bad) is not an id (non-empty string or integer)" end)
              elif $k == "amount" then
                (if ($v | type) == "number" or (($v | type) == "string" and ($v | test($money))) then empty
                 else "\($bad) is not an amount (number or decimal string, at most 2 decimals)" end)
              elif $k == "currency" then
                (if ($v | type) == "string" and ($v | test("^[A-Z]{3}$")) then empty else "\($bad) is not ISO 4217" end)
              elif $k == "due_at" then
                (if ($v | type) == "string" and ($v | test($ts)) then empty else "\($bad) is not RFC 3339" end)
              elif $k == "phones" or $k == "emails" then
                (if ($v | type) == "array" and all($v[]; type == "string") then empty else "\($bad) is not an array of strings" end)
              elif ($dataprops[$k].enum? | type) == "array" then
                (if $dataprops[$k].enum | index([$v]) then empty else "\($bad) is not one of \($dataprops[$k].enum | tojson)" end)
              else empty end )
        else empty end )
    end;
$s[0] as $s
| ($s.properties.type.enum // []) as $types
| [ $s.allOf[]? | select(has("if")) | {t: .if.properties.type.const, req: (.then.properties.data.required // [])} ] as $rules
| ce_errs($ts; $types; $rules; ($s["$defs"].data.properties // {}))
'
TS_PATTERN=$(jq -r '.["$defs"].timestamp.pattern // empty' "$SCHEMAS/input/cloudevent.json" 2>/dev/null || true)
MONEY_PATTERN=$(jq -r '.["$defs"].amount.oneOf[]? | select(.type == "string") | .pattern' \
    "$SCHEMAS/input/cloudevent.json" 2>/dev/null || true)
if [ -z "$TS_PATTERN" ]; then
    fail "schemas/input/cloudevent.json: no \$defs.timestamp.pattern"
    TS_PATTERN='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'
fi
if [ -z "$MONEY_PATTERN" ]; then
    fail "schemas/input/cloudevent.json: no decimal-string pattern in \$defs.amount"
    MONEY_PATTERN='^-?[0-9]+(\.[0-9]{1,2})?$'
fi

for fam in lead call task deal; do
    f="$SCHEMAS/input/$fam.json"
    if [ ! -f "$f" ]; then
        fail "schemas/input/$fam.json missing"
        continue
    fi
    out=$(jq -r --arg fam "$fam" '
        . as $root
        | (.properties.type.enum // []) as $types
        | (if ($types | length) == 0 then "properties.type.enum is empty" else empty end),
          ($types[] | select(startswith($fam + ".") | not) | "type \(.) is not of family \($fam)"),
          ($types[] | . as $t | select(any($root.allOf[]?; .if.properties.type.const? == $t) | not)
           | "no if/then rule for type \($t)"),
          ($types[] | . as $t | select(any($root.examples[]?; .type? == $t) | not)
           | "no example of type \($t)"),
          (if any(.allOf[]?; .["$ref"]? == "cloudevent.json#/$defs/envelope") | not
           then "does not reference cloudevent.json#/$defs/envelope" else empty end),
          (if .additionalProperties == false or .["$defs"].data.additionalProperties == false
           then "must allow unknown extra fields" else empty end)
    ' "$f")
    report "schemas/input/$fam.json" "$out"
    out=$(jq -r --arg ts "$TS_PATTERN" --arg money "$MONEY_PATTERN" --slurpfile s "$f" "$INPUT_CHECK" <<<"$(jq '.examples' "$f")")
    report "schemas/input/$fam.json" "$out"
done

# Required fields per type as PRODUCT.md §1 says them.
out=$(jq -rn --slurpfile lead "$SCHEMAS/input/lead.json" --slurpfile call "$SCHEMAS/input/call.json" \
    --slurpfile task "$SCHEMAS/input/task.json" --slurpfile deal "$SCHEMAS/input/deal.json" '
    def req($s; $t): [$s[0].allOf[]? | select(.if.properties.type.const? == $t) | .then.properties.data.required[]?] | sort;
    {"lead.created": ["lead_id"], "lead.updated": ["lead_id"], "lead.status_changed": ["lead_id"],
     "lead.assigned": ["lead_id"], "lead.closed": ["lead_id"],
     "call.completed": ["call_id", "direction", "status"],
     "task.created": ["due_at", "task_id"], "task.updated": ["task_id"], "task.completed": ["task_id"],
     "task.deleted": ["task_id"],
     "deal.created": ["deal_id"], "deal.updated": ["deal_id"], "deal.stage_changed": ["deal_id"],
     "deal.won": ["deal_id"], "deal.lost": ["deal_id", "loss_reason"], "deal.reopened": ["deal_id"]}
    | to_entries[] | .key as $t | (.value | sort) as $want
    | ({lead: $lead, call: $call, task: $task, deal: $deal}[$t | split(".")[0]]) as $s
    | req($s; $t) as $got
    | select($got != $want) | "\($t): required data fields \($got), want \($want)"')
report "input contract" "$out"

# The checker must reject broken events (or it proves nothing).
negative() { # <family> <description> <event json>
    local fam=$1 what=$2 ev=$3 out
    if ! out=$(jq -r --arg ts "$TS_PATTERN" --arg money "$MONEY_PATTERN" --slurpfile s "$SCHEMAS/input/$fam.json" "$INPUT_CHECK" <<<"[$ev]" 2>&1); then
        fail "input checker crashed on $what: $out"
    elif [ -z "$out" ]; then
        fail "input checker accepted $what: $ev"
    fi
}
OK_TIME='"2026-11-22T09:00:00Z"'
negative lead "an array" '[]'
negative lead "no specversion" '{"id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "specversion 0.3" '{"specversion":"0.3","id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "no id" '{"specversion":"1.0","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "a numeric id" '{"specversion":"1.0","id":7,"type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "no source" '{"specversion":"1.0","id":"a","type":"lead.created","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "a type of another family" '{"specversion":"1.0","id":"a","type":"deal.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1}}'
negative lead "a time without offset" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":"2026-11-22T09:00:00","data":{"lead_id":1}}'
negative lead "a date as time" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":"2026-11-22","data":{"lead_id":1}}'
negative lead "data as a string" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":"x"}'
negative lead "no lead_id" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{}}'
negative lead "an empty tenant" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"tenant":"","data":{"lead_id":1}}'
negative call "no direction" '{"specversion":"1.0","id":"a","type":"call.completed","source":"s","time":'"$OK_TIME"',"data":{"call_id":1,"status":"missed"}}'
negative task "task.created without due_at" '{"specversion":"1.0","id":"a","type":"task.created","source":"s","time":'"$OK_TIME"',"data":{"task_id":1}}'
negative deal "deal.lost without loss_reason" '{"specversion":"1.0","id":"a","type":"deal.lost","source":"s","time":'"$OK_TIME"',"data":{"deal_id":1}}'
negative deal "an amount with 3 decimals" '{"specversion":"1.0","id":"a","type":"deal.won","source":"s","time":'"$OK_TIME"',"data":{"deal_id":1,"amount":"1.234"}}'
negative deal "a lower-case currency" '{"specversion":"1.0","id":"a","type":"deal.won","source":"s","time":'"$OK_TIME"',"data":{"deal_id":1,"currency":"rub"}}'
negative deal "a fractional deal_id" '{"specversion":"1.0","id":"a","type":"deal.won","source":"s","time":'"$OK_TIME"',"data":{"deal_id":1.5}}'
negative call "a bad direction" '{"specversion":"1.0","id":"a","type":"call.completed","source":"s","time":'"$OK_TIME"',"data":{"call_id":1,"direction":"sideways","status":"missed"}}'
negative task "a bad due_at" '{"specversion":"1.0","id":"a","type":"task.created","source":"s","time":'"$OK_TIME"',"data":{"task_id":1,"due_at":"tomorrow"}}'
negative lead "phones as a string list" '{"specversion":"1.0","id":"a","type":"lead.created","source":"s","time":'"$OK_TIME"',"data":{"lead_id":1,"phones":"1,2"}}'
# ... and accept a minimal valid one.
out=$(jq -r --arg ts "$TS_PATTERN" --arg money "$MONEY_PATTERN" --slurpfile s "$SCHEMAS/input/deal.json" "$INPUT_CHECK" \
    <<<'[{"specversion":"1.0","id":"a","type":"deal.lost","source":"s","time":"2026-11-22T12:00:00.5+03:00","data":{"deal_id":"7","loss_reason":"spam","amount":19.99,"currency":"RUB","extra":{"x":1}}}]')
report "input checker rejected a valid deal.lost" "$out"

# Money pattern of the input: decimal strings with at most 2 fractional digits.
out=$(jq -r '.["$defs"].amount.oneOf[] | select(.type == "string") | .pattern as $p
    | (["0", "125000", "5184.00", "-12.5", "111197.3"][] | select(test($p) | not) | "amount pattern rejects \(.)"),
      (["1.234", "1,50", "", ".5", "12.", "1e3", " 12"][] | select(test($p)) | "amount pattern accepts \(tojson)")' \
    "$SCHEMAS/input/cloudevent.json")
report "schemas/input/cloudevent.json" "$out"

# ---------------------------------------------------------- derived examples
# One schema per derived type, named after it; tests/unit/test_config.c checks that these are
# exactly the types of the table of derived types (LW_DERIVED_TYPES).
DERIVED_TYPES=$(cd "$SCHEMAS/derived" && find . -name '*.json' ! -name cloudevent.json | sed 's|^\./||; s|\.json$||' | LC_ALL=C sort)
[ -n "$DERIVED_TYPES" ] || fail "schemas/derived/ holds no schema of a derived type"
for t in $DERIVED_TYPES; do
    f="$SCHEMAS/derived/$t.json"
    out=$(jq -r --arg t "$t" --arg ts "$TS_PATTERN" '
        def str_ok: type == "string" and length > 0;
        (if .properties.type.const != $t then "properties.type.const is \(.properties.type.const | tojson), want \($t)" else empty end),
        (if any(.allOf[]?; .["$ref"]? == "cloudevent.json#/$defs/envelope") | not
         then "does not reference cloudevent.json#/$defs/envelope" else empty end),
        (.["$defs"].data.required // []) as $req
        | .examples | to_entries[] | .key as $i | .value as $e | "example \($i)" as $at
        | if ($e | type) != "object" then "\($at): not a JSON object" else
            ((["specversion", "id", "source", "type", "time", "tenant", "datacontenttype", "data"] - ($e | keys))[]
              | "\($at): missing attribute \(.)"),
            (if $e.specversion != "1.0" then "\($at): specversion is not \"1.0\"" else empty end),
            (if ($e.id | type) != "string" or ($e.id | test("^[0-9a-f]{40}$") | not) then "\($at): id is not a SHA-1 (40 hex)" else empty end),
            (if $e.source != "leakwatch" then "\($at): source is not leakwatch" else empty end),
            (if $e.type != $t then "\($at): type is \($e.type | tojson), want \($t)" else empty end),
            (if ($e.time | type) != "string" or ($e.time | test($ts) | not) then "\($at): time is not RFC 3339" else empty end),
            (if ($e.tenant | str_ok | not) then "\($at): tenant must be a non-empty string" else empty end),
            (if $e.datacontenttype != "application/json" then "\($at): datacontenttype is not application/json" else empty end),
            (if ($e.data | type) != "object" then "\($at): data is not an object"
             else ($req[] as $k | select($e.data | has($k) | not) | "\($at): data lacks required field \($k)") end)
          end
    ' "$f")
    report "schemas/derived/$t.json" "$out"
done
# exactly-specified data of the first three derived events
out=$(jq -rn --slurpfile r "$SCHEMAS/derived/lead.responded.json" --slurpfile c "$SCHEMAS/derived/lead.callback_due.json" \
    --slurpfile i "$SCHEMAS/derived/lead.idle.json" '
    def chk($name; $s; $props; $req):
      ($s[0]["$defs"].data) as $d
      | (if ($d.properties | keys) != ($props | sort) then "\($name): data properties \($d.properties | keys), want \($props | sort)" else empty end),
        (if ($d.required | sort) != ($req | sort) then "\($name): data required \($d.required | sort), want \($req | sort)" else empty end),
        (if $d.additionalProperties != false then "\($name): data must be closed (additionalProperties false)" else empty end);
    chk("lead.responded"; $r; ["lead_id", "manager_id", "channel", "response_seconds", "responded_by", "created_at", "responded_at"];
        ["lead_id", "response_seconds", "responded_by", "created_at", "responded_at"]),
    chk("lead.callback_due"; $c; ["lead_id", "manager_id", "channel", "created_at", "due_at", "threshold_seconds"];
        ["lead_id", "created_at", "due_at", "threshold_seconds"]),
    chk("lead.idle"; $i; ["lead_id", "manager_id", "channel", "created_at", "idle_seconds", "threshold_seconds"];
        ["lead_id", "created_at", "idle_seconds", "threshold_seconds"]),
    (if ($r[0]["$defs"].data.properties.responded_by.enum | sort)
        != (["call.outbound", "call.inbound_answered", "lead.status_changed", "task.completed"] | sort)
     then "lead.responded: responded_by enum differs" else empty end)')
report "derived contract" "$out"

# ------------------------------------------------------------------- config
f="$SCHEMAS/config.json"
if [ -f "$f" ]; then
    out=$(jq -r '
        .["$defs"].duration.pattern as $dur
        | (if .additionalProperties != false then "additionalProperties must be false" else empty end),
          (if (.patternProperties | keys) != ["^//", "^kafka\\."] then "patternProperties must be exactly ^// (comments) and ^kafka\\." else empty end),
          ((["kafka.brokers", "group.id", "topics.input", "topics.dlq", "topics.lead_duplicates",
            "topics.lead_response_times", "topics.lead_callback", "topics.lead_idle", "topics.untracked_contacts",
            "topics.task_overdue", "topics.deal_at_risk", "topics.loss_totals", "topics.risk_summary",
            "topics.response_stats", "redis.url", "redis.timeout", "clock", "clock.lateness", "batch.size",
            "batch.timeout", "input.max_bytes", "timers.interval", "timers.batch", "outbox.batch",
            "outbox.claim_idle", "instance.id", "log.level", "log.format", "stats.interval", "until_end",
            "lead.idle_after", "lead.callback_after", "currency", "tenants"] - (.properties | keys))[]
           | "no property \(.)"),
          # defaults that are durations must match the duration pattern
          (.properties | to_entries[] | select(.value["$ref"] == "#/$defs/duration" and (.value | has("default")))
           | select(.value.default | test($dur) | not) | "default of \(.key) is not a duration"),
          (["0", "250ms", "30s", "15m", "24h", "90d"][] | select(test($dur) | not) | "duration pattern rejects \(.)"),
          (["", "15", "1.5s", "30min", "-1s", "00"][] | select(test($dur)) | "duration pattern accepts \(tojson)"),
          # examples: known keys only, durations well formed
          (. as $s | .examples | to_entries[] | .key as $i | .value as $c
           | if ($c | type) != "object" then "example \($i): not an object" else
               ($c | to_entries[] | .key as $k
                | if ($s.properties | has($k)) then
                    (if $s.properties[$k]["$ref"] == "#/$defs/duration" and ((.value | type) != "string" or (.value | test($dur) | not))
                     then "example \($i): \($k) is not a duration" else empty end)
                  elif ($k | test("^kafka\\.")) then
                    (if (.value | type) != "string" then "example \($i): \($k) must be a string" else empty end)
                  else "example \($i): unknown key \($k)" end)
             end)
    ' "$f")
    report "schemas/config.json" "$out"
    # The topic settings and their defaults are those `leakwatch topics` lists (from the table
    # of derived types), when the binary is there.
    if [ -n "${LEAKWATCH:-}" ] && [ -x "$LEAKWATCH" ]; then
        want=$(env -i PATH="$PATH" "$LEAKWATCH" topics | awk -F'\t' '
            { d[$2] = d[$2] (d[$2] == "" ? "" : ",") $1 } END { for (k in d) print k, d[k] }' | LC_ALL=C sort)
        got=$(jq -r '.properties | to_entries[] | select(.key | startswith("topics."))
                     | "\(.key) \(.value.default)"' "$f" | LC_ALL=C sort)
        report "schemas/config.json: topics.* defaults (<) differ from leakwatch topics (>)" \
            "$(diff <(echo "$got") <(echo "$want") | grep '^[<>]' || true)"
    else
        echo "SKIP: topics.* of schemas/config.json against leakwatch topics (no LEAKWATCH binary)"
    fi
else
    fail "schemas/config.json missing"
fi

# ---------------------------------------------- full validation (when possible)
if command -v python3 >/dev/null && resolving=$(python3 "$TEST_ROOT/integration/schemas.py" 2>/dev/null); then
    echo "full validation: python3 jsonschema, \$refs by $resolving"
    if ! PYTHONPATH="$TEST_ROOT/integration" python3 - "$SCHEMAS" <<'PY'; then
import sys
from jsonschema import Draft202012Validator
from schemas import load, validator

docs = load(sys.argv[1])
bad = 0
for rel, s in sorted(docs.items()):
    try:
        Draft202012Validator.check_schema(s)
    except Exception as e:  # SchemaError
        print(f"FAIL: schemas/{rel}: not a valid 2020-12 schema: {e}", file=sys.stderr)
        bad += 1
        continue
    v = validator(s, docs)
    for i, ex in enumerate(s.get("examples", [])):
        for err in v.iter_errors(ex):
            print(f"FAIL: schemas/{rel}: example {i}: /{'/'.join(map(str, err.absolute_path))}: {err.message}",
                  file=sys.stderr)
            bad += 1
# negative cases: the schemas must refuse these
def refuses(rel, inst, what):
    global bad
    if validator(docs[rel], docs).is_valid(inst):
        print(f"FAIL: schemas/{rel} accepts {what}", file=sys.stderr)
        bad += 1
ev = lambda t, data, **kw: dict({"specversion": "1.0", "id": "x", "type": t, "source": "s",
                                 "time": "2026-11-22T09:00:00Z", "data": data}, **kw)
refuses("input/deal.json", ev("deal.lost", {"deal_id": 1}), "deal.lost without loss_reason")
refuses("input/deal.json", ev("deal.won", {"deal_id": 1, "amount": "1.234"}), "an amount with 3 decimals")
refuses("input/deal.json", ev("deal.won", {"deal_id": 1, "currency": "rub"}), "a lower-case currency")
refuses("input/deal.json", ev("deal.won", {"deal_id": 1.5}), "a fractional deal_id")
refuses("input/call.json", ev("call.completed", {"call_id": 1, "direction": "sideways", "status": "answered"}), "a bad direction")
refuses("input/task.json", ev("task.created", {"task_id": 1}), "task.created without due_at")
refuses("input/lead.json", ev("lead.created", {"lead_id": 1}, tenant=""), "an empty tenant")
refuses("input/lead.json", ev("lead.created", {"lead_id": 1}, time="2026-11-22 09:00:00"), "a time without T and offset")
refuses("config.json", {"no.such.key": 1}, "an unknown key")
refuses("config.json", {"batch.size": 0}, "batch.size 0")
refuses("config.json", {"lead.idle_after": "30min"}, "a bad duration")
refuses("config.json", {"tenants": {"acme": {"group.id": "x"}}}, "a non-tenant key in tenants")
refuses("derived/lead.idle.json", {"specversion": "1.0", "id": "x" * 40, "source": "leakwatch", "type": "lead.idle",
        "time": "2026-11-22T09:30:00Z", "tenant": "t", "datacontenttype": "application/json",
        "data": {"lead_id": "1", "created_at": "2026-11-22T09:00:00Z", "idle_seconds": 1800, "threshold_seconds": 1800}},
        "a non-hex id")
sys.exit(1 if bad else 0)
PY
        fail "full validation with python3 jsonschema (see above)"
    fi
else
    echo "SKIP: full validation (python3 jsonschema not available); jq checks only"
fi

if [ "$failures" -gt 0 ]; then
    echo "FAIL: test_schemas ($failures problems)" >&2
    exit 1
fi
echo "PASS: test_schemas"
