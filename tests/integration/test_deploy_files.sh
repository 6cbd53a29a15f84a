#!/usr/bin/env bash
# test_deploy_files.sh — checks the deployment files (no network, no broker, no Redis).
#
#   * every *.json under deploy/ and schemas/ is exactly one JSON value (jq) (the sample
#     *.ndjson files are not checked: they hold bad lines on purpose, for the dead letters);
#   * every YAML file (deploy/k8s/*.yaml, any other *.yaml/*.yml under deploy/, and
#     docker-compose.yml) parses. YAML is read with fy-dump (Debian's libfyaml-utils, a small
#     C tool, installed by deploy/install-deps.sh), which turns it into JSON for jq; the
#     Python `yq` is used instead when fy-dump is missing;
#   * deploy/k8s/: each manifest has the expected apiVersion and kind, a name and the
#     namespace of namespace.yaml; label, annotation and ConfigMap data values are strings;
#     the Deployment has >= 2 replicas, probes on /readyz and /healthz at the port of the
#     config's "http.listen", LEAKWATCH_INSTANCE_ID from the pod name, the config file
#     mounted from the ConfigMap where its --config argument points, resources, a non-root
#     read-only container and >= 30 s to stop; the Service and the PodDisruptionBudget
#     select the Deployment's pods (the Service with prometheus.io annotations, the budget
#     below the replica count); the ConfigMap's leakwatch.json is JSON with "http.listen"
#     listening on all interfaces, and its plain keys agree with the JSON;
#   * deploy/leakwatch.service: [Unit]/[Service]/[Install], ExecStart running
#     `leakwatch run --config ...`, Restart=on-failure, RestartPreventExitStatus with 2 and
#     3, SIGTERM and a stop timeout; `systemd-analyze verify` reports nothing on it (when
#     systemd-analyze is there);
#   * docker-compose.yml: the four services (KRaft Kafka, topic creation, Redis 7 with AOF,
#     leakwatch built from an existing Dockerfile); Kafka's log.dirs and Redis's /data in
#     named volumes; Kafka's host listener published on 127.0.0.1 and advertised as that
#     localhost port; every published port on 127.0.0.1 (HTTP as 127.0.0.1:8080:8080); a
#     one-shot service running `leakwatch produce` on deploy/sample/day.ndjson after the topics;
#   * deploy/k8s/topics-job.yaml: a batch/v1 Job, non-root, its brokers from a key of the
#     ConfigMap, creating the topics of docker-compose.yml (the same names, policies and
#     --partitions) and so, with the binary, every default topic;
#   * with the leakwatch binary (LEAKWATCH; skipped with a message when missing): the topics
#     created by docker-compose.yml are exactly the default topics (`leakwatch topics`, from
#     the table of derived types), each with the cleanup policy it lists; every LEAKWATCH_*
#     variable the files set is a known setting; the example config and (once the binary
#     knows "http.listen") the ConfigMap's config are accepted by `leakwatch config`; the
#     exit codes the unit does not restart on are in `leakwatch --help`.
#
# Env: LW_TEST_ROOT=<repo>/tests (set by ctest; defaults to this script's ../ directory),
#      LEAKWATCH=<path of the leakwatch binary> (optional here).
set -euo pipefail

NAME=test_deploy_files
TEST_ROOT="${LW_TEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
REPO="$(cd "$TEST_ROOT/.." && pwd)"
K8S="$REPO/deploy/k8s"
UNIT="$REPO/deploy/leakwatch.service"
COMPOSE="$REPO/docker-compose.yml"

log() { echo "[$NAME] $*" >&2; }
die() {
    echo "FAIL: $NAME: $*" >&2
    exit 1
}
failures=0
fail() {
    echo "FAIL: $NAME: $*" >&2
    failures=$((failures + 1))
}
# Each line of OUT (the output of a jq program that prints one line per problem) is a failure.
report() { # <prefix> <out>
    local prefix=$1 out=$2 line
    [ -z "$out" ] && return 0
    while IFS= read -r line; do fail "$prefix: $line"; done <<<"$out"
}

command -v jq >/dev/null || die "jq not found (deploy/install-deps.sh installs it)"
if command -v fy-dump >/dev/null; then
    YAML_TOOL=fy-dump
elif command -v yq >/dev/null; then
    YAML_TOOL=yq
else
    die "no YAML parser: neither fy-dump (libfyaml-utils) nor yq (deploy/install-deps.sh installs libfyaml-utils)"
fi
log "YAML parsed with $YAML_TOOL"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Prints the documents of a YAML file as a JSON array (one element per document); fails
# (non-zero, the parser's message on stderr) when the file is not YAML.
yaml_to_json() { # <file>
    if [ "$YAML_TOOL" = fy-dump ]; then
        fy-dump -C off -m json "$1" | jq -s .
    else
        yq . "$1" | jq -s .
    fi
}

# The leakwatch binary, when there is one. Its defaults are read with a clean environment
# so that a developer's LEAKWATCH_* variables do not change them.
LW=""
if [ -n "${LEAKWATCH:-}" ] && [ -x "${LEAKWATCH}" ]; then
    LW=$LEAKWATCH
else
    log "no leakwatch binary (LEAKWATCH=${LEAKWATCH:-unset}): skipping the checks against it"
fi
lw_clean() { env -i PATH="$PATH" HOME="$TMP" "$LW" "$@"; }

# --- JSON ----------------------------------------------------------------------------------
njson=0
while IFS= read -r -d '' f; do
    njson=$((njson + 1))
    rel=${f#"$REPO"/}
    if ! n=$(jq -s length "$f" 2>"$TMP/err"); then
        fail "$rel: not JSON: $(head -c 300 "$TMP/err")"
    elif [ "$n" != 1 ]; then
        fail "$rel: $n JSON values, want exactly 1"
    fi
done < <(find "$REPO/deploy" "$REPO/schemas" -name '*.json' -type f -print0 | sort -z)
[ "$njson" -gt 0 ] || fail "no *.json under deploy/ and schemas/"

# --- YAML: every file parses ---------------------------------------------------------------
[ -f "$COMPOSE" ] || fail "no docker-compose.yml"
[ -d "$K8S" ] || die "no deploy/k8s/"
yaml_files=("$COMPOSE")
while IFS= read -r -d '' f; do yaml_files+=("$f"); done \
    < <(find "$REPO/deploy" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
# All the parsed files in one JSON object: {"<path relative to the repo>": [documents...]}.
echo '{}' >"$TMP/yaml.json"
for f in "${yaml_files[@]}"; do
    [ -f "$f" ] || continue
    rel=${f#"$REPO"/}
    if ! yaml_to_json "$f" >"$TMP/doc.json" 2>"$TMP/err"; then
        fail "$rel: not YAML: $(head -c 500 "$TMP/err")"
        continue
    fi
    report "$rel" "$(jq -r 'if length == 0 then "no YAML document"
        else .[] | select(type != "object") | "a document is a \(type), not a mapping" end' "$TMP/doc.json")"
    jq --arg k "$rel" --slurpfile d "$TMP/doc.json" '.[$k] = $d[0]' "$TMP/yaml.json" >"$TMP/yaml.new"
    mv "$TMP/yaml.new" "$TMP/yaml.json"
done
log "parsed ${#yaml_files[@]} YAML files, $njson JSON files"

# --- deploy/k8s: kinds, names, namespaces --------------------------------------------------
report "deploy/k8s" "$(jq -r '
    {"namespace.yaml": ["v1", "Namespace"], "configmap.yaml": ["v1", "ConfigMap"],
     "deployment.yaml": ["apps/v1", "Deployment"], "service.yaml": ["v1", "Service"],
     "pdb.yaml": ["policy/v1", "PodDisruptionBudget"]} as $want
    | . as $root | (.["deploy/k8s/namespace.yaml"][0].metadata.name // "") as $ns
    | ($want | to_entries[] | .key as $f | .value as [$api, $kind]
       | $root["deploy/k8s/\($f)"] as $docs
       | if $docs == null then "\($f): missing (or not YAML)"
         elif ($docs | length) != 1 then "\($f): \($docs | length) documents, want 1"
         elif $docs[0].apiVersion != $api or $docs[0].kind != $kind then
           "\($f): apiVersion/kind \($docs[0].apiVersion)/\($docs[0].kind), want \($api)/\($kind)"
         else empty end),
      (to_entries[] | select(.key | startswith("deploy/k8s/")) | .key as $f | .value[]
       | select(type == "object")
       | (if (.apiVersion | type) != "string" or (.kind | type) != "string" then
            "\($f): no apiVersion or kind" else empty end),
         (if (.metadata.name | type) != "string" or .metadata.name == "" then
            "\($f): \(.kind) has no metadata.name" else empty end),
         (if .kind != "Namespace" and .metadata.namespace != $ns then
            "\($f): \(.kind) \(.metadata.name) is in namespace \(.metadata.namespace), want \($ns) (namespace.yaml)"
          else empty end),
         # Kubernetes refuses numbers and booleans where strings are due.
         (paths(type != "string") as $p
          | select(($p | length) >= 2 and (($p[-2] == "labels" or $p[-2] == "annotations")
                   or (.kind == "ConfigMap" and $p == ["data", $p[-1]])))
          | "\($f): \($p | map(tostring) | join(".")) is not a string (quote it)"),
         (paths(objects | has("value")) as $p | getpath($p)
          | select(($p | length) >= 2 and $p[-2] == "env" and (.value | type) != "string")
          | "\($f): env \(.name) has a value that is not a string (quote it)"))
' "$TMP/yaml.json")"

# --- deploy/k8s: the ConfigMap's config file -----------------------------------------------
jq -r '.["deploy/k8s/configmap.yaml"][0].data["leakwatch.json"] // empty' "$TMP/yaml.json" >"$TMP/leakwatch.json"
if [ ! -s "$TMP/leakwatch.json" ]; then
    fail "configmap.yaml: no data key leakwatch.json"
    echo '{}' >"$TMP/leakwatch.json"
elif ! jq -e 'type == "object"' "$TMP/leakwatch.json" >/dev/null 2>"$TMP/err"; then
    fail "configmap.yaml: leakwatch.json is not a JSON object: $(head -c 300 "$TMP/err")"
    echo '{}' >"$TMP/leakwatch.json"
fi
report "configmap.yaml" "$(jq -r --slurpfile cfg "$TMP/leakwatch.json" '
    $cfg[0] as $c | .["deploy/k8s/configmap.yaml"][0].data // {} | . as $data
    | (if ($c["http.listen"] | type) != "string" then "leakwatch.json has no \"http.listen\""
       elif ($c["http.listen"] | test("^(0\\.0\\.0\\.0|\\[::\\]|::)?:[0-9]+$") | not) then
         "leakwatch.json: http.listen \($c["http.listen"]) does not listen on all interfaces (probes come from the node)"
       else empty end),
      ($data | to_entries[] | .key as $k | select($k != "leakwatch.json" and ($c | has($k)))
       | select(($c[$k] | tostring) != .value)
       | "data key \(.key) (\(.value)) differs from leakwatch.json (\($c[.key]))")
' "$TMP/yaml.json")"
HTTP_PORT=$(jq -r '.["http.listen"] // "" | capture(":(?<p>[0-9]+)$").p // 8080' "$TMP/leakwatch.json")

# --- deploy/k8s: Deployment, Service, PodDisruptionBudget ----------------------------------
report "deployment.yaml" "$(jq -r --argjson port "$HTTP_PORT" '
    def matches($labels): (. // {}) as $sel
        | ($sel | length) > 0 and ($sel | to_entries | all(.value == $labels[.key]));
    .["deploy/k8s/deployment.yaml"][0] as $d | .["deploy/k8s/configmap.yaml"][0] as $cm
    | select($d.kind == "Deployment")
    | ($d.spec.template.metadata.labels // {}) as $labels | $d.spec.template.spec as $p
    | ($p.containers[0] // {}) as $c
    | def port_of: if type == "number" then . else . as $n | ([$c.ports[]? | select(.name == $n) | .containerPort][0]) end;
      def env($n): [$c.env[]? | select(.name == $n)][0];
      def sc($k): if $c.securityContext[$k] != null then $c.securityContext[$k] else $p.securityContext[$k] end;
    (if ($d.spec.replicas | type) != "number" or $d.spec.replicas < 2 then
       "replicas \($d.spec.replicas), want >= 2 (several instances in one consumer group)" else empty end),
    (if ($d.spec.selector.matchLabels | matches($labels)) | not then
       "spec.selector.matchLabels does not select the pod template labels" else empty end),
    (if ($p.containers | length) < 1 then "no container" else empty end),
    (if ($c.image // "" | test("(^|/)leakwatch:[^:/]+$")) | not then "image \($c.image), want leakwatch:<tag>" else empty end),
    (if ($c.ports // [] | any(.containerPort == $port)) | not then "no containerPort \($port) (http.listen)" else empty end),
    # (each "X as $v | ..." in parentheses: unbracketed, it would take in the terms after it)
    ((["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]) as [$probe, $path]
     | ($c[$probe].httpGet // {}) as $g
     | (if $g.path != $path then "\($probe) path \($g.path), want \($path)" else empty end),
       (if ($g.port | port_of) != $port then "\($probe) port \($g.port), want \($port) (http.listen)" else empty end)),
    (if env("LEAKWATCH_INSTANCE_ID").valueFrom.fieldRef.fieldPath != "metadata.name" then
       "env LEAKWATCH_INSTANCE_ID must come from the pod name (fieldRef metadata.name): each instance needs its own outbox consumer"
     else empty end),
    (("LEAKWATCH_KAFKA_BROKERS", "LEAKWATCH_REDIS_URL") as $n
     | if env($n) == null then "no env \($n)" else empty end),
    ($c.env[]? | select(.valueFrom.configMapKeyRef != null) | .name as $n | .valueFrom.configMapKeyRef as $r
     | if $r.name != $cm.metadata.name then "env \($n) refers to ConfigMap \($r.name), not \($cm.metadata.name)"
       elif ($cm.data // {} | has($r.key)) | not then "env \($n) refers to key \($r.key), not in configmap.yaml"
       else empty end),
    # args: run --config PATH, PATH served by a ConfigMap volume from configmap.yaml.
    (($c.args // []) as $args
     | (if $args[0] != "run" then "args \($args), want run first" else empty end),
       ([range(0; ($args | length) - 1) | select($args[.] == "--config") | $args[. + 1]][0]) as $cfg
       | if $cfg == null then "args have no --config FILE"
        else ($cfg | sub("/[^/]*$"; "")) as $dir | ($cfg | sub("^.*/"; "")) as $file
        | ([$c.volumeMounts[]? | select(.mountPath == $dir or .mountPath == "\($dir)/")][0]) as $m
        | ([$p.volumes[]? | select(.name == $m.name)][0].configMap) as $v
        | if $m == null then "no volumeMount at \($dir) for --config \($cfg)"
          elif $v == null or $v.name != $cm.metadata.name then "\($dir) is not mounted from ConfigMap \($cm.metadata.name)"
          elif ($v.items // null) == null then
            (if ($cm.data // {} | has($file)) then empty else "configmap.yaml has no key \($file) (--config \($cfg))" end)
          elif ([$v.items[] | select(.path == $file and .key == "leakwatch.json")] | length) == 0 then
            "the ConfigMap volume does not put leakwatch.json at \($file)"
          else empty end
        end),
    (["requests", "limits"][] as $k | ["cpu", "memory"][] as $r
     | if $c.resources[$k][$r] == null then "no resources.\($k).\($r)" else empty end),
    (if sc("runAsNonRoot") != true then "securityContext.runAsNonRoot is not true" else empty end),
    (if $c.securityContext.readOnlyRootFilesystem != true then "securityContext.readOnlyRootFilesystem is not true" else empty end),
    (if ($p.terminationGracePeriodSeconds // 30) < 30 then
       "terminationGracePeriodSeconds \($p.terminationGracePeriodSeconds) < 30 (SIGTERM finishes the batch and commits)"
     else empty end)
' "$TMP/yaml.json")"

report "service.yaml" "$(jq -r --argjson port "$HTTP_PORT" '
    .["deploy/k8s/deployment.yaml"][0] as $d | .["deploy/k8s/service.yaml"][0] as $s
    | select($s.kind == "Service")
    | ($d.spec.template.metadata.labels // {}) as $labels | ($d.spec.template.spec.containers[0].ports // []) as $cports
    | (if ($s.spec.selector // {}) as $sel | ($sel | length) > 0 and ($sel | to_entries | all(.value == $labels[.key]))
       then empty else "spec.selector does not select the Deployment pods" end),
      ([$s.spec.ports[]? | select(.port == $port)][0]) as $sp
      | (if $sp == null then "no port \($port)"
         elif ($sp.targetPort // $sp.port) as $t
              | (if ($t | type) == "number" then $t else ([$cports[] | select(.name == $t) | .containerPort][0]) end) != $port
         then "port \($port) targets \($sp.targetPort), not the container port \($port)" else empty end),
      ($s.metadata.annotations // {}) as $a
      | (if $a["prometheus.io/scrape"] != "true" then "annotation prometheus.io/scrape is not \"true\"" else empty end),
        (if $a["prometheus.io/port"] != ($port | tostring) then "annotation prometheus.io/port is not \"\($port)\"" else empty end),
        (if ($a["prometheus.io/path"] // "/metrics") != "/metrics" then "annotation prometheus.io/path is not /metrics" else empty end)
' "$TMP/yaml.json")"

report "pdb.yaml" "$(jq -r '
    .["deploy/k8s/deployment.yaml"][0] as $d | .["deploy/k8s/pdb.yaml"][0] as $b
    | select($b.kind == "PodDisruptionBudget")
    | ($d.spec.template.metadata.labels // {}) as $labels
    | (if ($b.spec.selector.matchLabels // {}) as $sel | ($sel | length) > 0 and ($sel | to_entries | all(.value == $labels[.key]))
       then empty else "spec.selector does not select the Deployment pods" end),
      (if ($b.spec.minAvailable | type) != "number" or $b.spec.minAvailable < 1 then
         "minAvailable \($b.spec.minAvailable), want a number >= 1"
       elif ($d.spec.replicas | type) == "number" and $b.spec.minAvailable >= $d.spec.replicas then
         "minAvailable \($b.spec.minAvailable) >= replicas \($d.spec.replicas): no pod could ever be evicted"
       else empty end)
' "$TMP/yaml.json")"

# --- docker-compose.yml --------------------------------------------------------------------
report "docker-compose.yml" "$(jq -r '
    .["docker-compose.yml"][0] // {} | . as $top | (.services // {}) as $s
    | (if ($s | type) != "object" or ($s | length) == 0 then "no services" else empty end),
      (["kafka", "topics", "redis", "leakwatch"][] | select($s[.] == null) | "no service \(.)"),
      (if ($s.kafka.environment.KAFKA_PROCESS_ROLES // "" | test("broker") and test("controller")) | not then
         "kafka is not a KRaft broker+controller (KAFKA_PROCESS_ROLES)" else empty end),
      (if ($s.redis.image // "" | test("^redis:7")) | not then "redis image \($s.redis.image), want redis:7.x" else empty end),
      (if ([$s.redis.command[]?] | index(["--appendonly", "yes"])) == null then "redis without --appendonly yes" else empty end),
      (if $s.topics.command == null then "topics has no command" else empty end),
      (if ($s.leakwatch.build.dockerfile | type) != "string" then "leakwatch has no build.dockerfile" else empty end)
' "$TMP/yaml.json")"
ctx=$(jq -r '.["docker-compose.yml"][0].services.leakwatch.build.context // "."' "$TMP/yaml.json")
dockerfile=$(jq -r '.["docker-compose.yml"][0].services.leakwatch.build.dockerfile // "Dockerfile"' "$TMP/yaml.json")
[ -f "$REPO/$ctx/$dockerfile" ] || fail "docker-compose.yml: leakwatch's Dockerfile $ctx/$dockerfile does not exist"

# The topics a shell command creates (on stdin): "name compact" or "name delete" per line,
# from each `for topic in ...; do ... done` loop (compact when the loop's body sets
# cleanup.policy=compact).
topics_of_command() {
    sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' \
    | awk '
        /^[[:space:]]*for topic in .*;[[:space:]]*do[[:space:]]*$/ {
            sub(/^[[:space:]]*for topic in[[:space:]]+/, ""); sub(/;[[:space:]]*do[[:space:]]*$/, "")
            n = split($0, names, /[[:space:]]+/); inloop = 1; compact = 0; next }
        inloop && /cleanup\.policy=compact/ { compact = 1 }
        inloop && /^[[:space:]]*done/ {
            for (i = 1; i <= n; i++) if (names[i] != "") print names[i], (compact ? "compact" : "delete")
            inloop = 0 }'
}
jq -r '.["docker-compose.yml"][0].services.topics.command // ""
       | if type == "array" then join("\n") else . end' "$TMP/yaml.json" \
    | topics_of_command >"$TMP/compose-topics"
[ -s "$TMP/compose-topics" ] || fail "docker-compose.yml: no topic found in the topics service's command"

# Kafka's data in a named volume at its log.dirs (as Redis's); a host listener published on
# loopback and advertised as the host port; the HTTP port on loopback; the one-shot feeder
# of the sample day.
report "docker-compose.yml" "$(jq -r '
    .["docker-compose.yml"][0] // {} | (.volumes // {}) as $vols | (.services // {}) as $s
    | $s.kafka as $k | ($k.environment // {}) as $e
    | def named_volume_at($svc; $dir):
        [$svc.volumes[]? | select(type == "string") | capture("^(?<v>[^:/.][^:]*):(?<d>[^:]+)") | select(.d == $dir) | .v][0];
    (named_volume_at($k; $e.KAFKA_LOG_DIRS // "") as $v
     | if ($e.KAFKA_LOG_DIRS // "") == "" then "kafka: no KAFKA_LOG_DIRS"
       elif $v == null or (($vols | has($v)) | not) then "kafka: no named volume at its KAFKA_LOG_DIRS \($e.KAFKA_LOG_DIRS)"
       else empty end),
    (if (named_volume_at($s.redis; "/data") // "") as $v | ($vols | has($v)) then empty else "redis: no named volume at /data" end),
    (if ($e.CLUSTER_ID // "") == "" then "kafka: no CLUSTER_ID (its data volume is formatted for one)" else empty end),
    ([$k.ports[]? | tostring | capture("^127\\.0\\.0\\.1:(?<h>[0-9]+):(?<c>[0-9]+)$")][0]) as $hp
    | (if $hp == null then "kafka: no port published on 127.0.0.1 (the host listener)"
       else
         ([$e.KAFKA_LISTENERS // "" | split(",")[] | capture("^(?<n>[A-Z_]+)://[^:]*:(?<p>[0-9]+)$") | select(.p == $hp.c) | .n][0]) as $name
         | if $name == null then "kafka: the published port \($hp.c) is no listener of KAFKA_LISTENERS"
           elif ([$e.KAFKA_ADVERTISED_LISTENERS // "" | split(",")[] | select(. == "\($name)://localhost:\($hp.h)")] | length) == 0 then
             "kafka: listener \($name) is not advertised as localhost:\($hp.h) (the host port)"
           elif ($e.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP // "" | split(",") | index("\($name):PLAINTEXT")) == null then
             "kafka: listener \($name) has no protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"
           else empty end
       end),
    ($s | to_entries[] | .key as $n | .value.ports[]? | tostring
     | select(test("^127\\.0\\.0\\.1:") | not) | "\($n): port \(.) is not published on 127.0.0.1 only"),
    (if ([$s.leakwatch.ports[]? | tostring | select(test("^127\\.0\\.0\\.1:8080:8080$"))] | length) == 0 then
       "leakwatch: HTTP not published as 127.0.0.1:8080:8080" else empty end),
    ([$s | to_entries[] | select(([.value.command[]?] | index("produce")) != null)][0]) as $f
    | if $f == null then "no service runs leakwatch produce (the sample day feeder)"
      else $f.value as $v | ([$v.command[]?] as $c | $c[($c | index("produce")) + 1]) as $file
        | (if ($v.restart // "no") != "no" then "\($f.key): restart \($v.restart), want no (one shot)" else empty end),
          (if $v.depends_on.topics.condition != "service_completed_successfully" then
             "\($f.key) does not wait for the topics service to complete" else empty end),
          (if $v.image != $s.leakwatch.image and $v.build.dockerfile != $s.leakwatch.build.dockerfile then
             "\($f.key) does not run the leakwatch image" else empty end),
          ([$v.volumes[]? | tostring | capture("^\\./(?<src>[^:]+):(?<dst>[^:]+)") | . as $m
           | select(($file // "") | startswith($m.dst + "/")) | $m.src + ($file | ltrimstr($m.dst))][0]) as $src
          | if $src != "deploy/sample/day.ndjson" then "\($f.key) feeds \($file), not deploy/sample/day.ndjson mounted from the repository" else empty end
      end
' "$TMP/yaml.json")"

# deploy/k8s/topics-job.yaml: a Job creating the same topics, partitions and policies as the
# topics service, its brokers from the ConfigMap's kafka.brokers.
JOB="deploy/k8s/topics-job.yaml"
report "$JOB" "$(jq -r '
    .["deploy/k8s/topics-job.yaml"] as $docs | .["deploy/k8s/configmap.yaml"][0] as $cm
    | if $docs == null then "missing (or not YAML)"
      else $docs[0] as $j | ($j.spec.template.spec // {}) as $p
      | (if $j.apiVersion != "batch/v1" or $j.kind != "Job" then "apiVersion/kind \($j.apiVersion)/\($j.kind), want batch/v1/Job" else empty end),
        (if ($p.restartPolicy // "") | IN("OnFailure", "Never") | not then "restartPolicy \($p.restartPolicy), want OnFailure or Never" else empty end),
        (if ($p.containers[0].securityContext.allowPrivilegeEscalation) != false or ($p.securityContext.runAsNonRoot // $p.containers[0].securityContext.runAsNonRoot) != true then
           "not a non-root container without privilege escalation (the namespace enforces restricted)" else empty end),
        ($p.containers[0].env[]? | select(.valueFrom.configMapKeyRef != null) | .valueFrom.configMapKeyRef as $r
         | if $r.name != $cm.metadata.name or (($cm.data // {}) | has($r.key) | not) then
             "env \(.name) refers to \($r.name)/\($r.key), not a key of configmap.yaml" else empty end)
      end' "$TMP/yaml.json")"
jq -r '.["deploy/k8s/topics-job.yaml"][0].spec.template.spec.containers[0] // {}
       | [.command[]?, .args[]?] | join("\n")' "$TMP/yaml.json" >"$TMP/job-command"
topics_of_command <"$TMP/job-command" >"$TMP/job-topics"
[ -s "$TMP/job-topics" ] || fail "$JOB: no topic found in its command"
if ! diff <(sort "$TMP/compose-topics") <(sort "$TMP/job-topics") >"$TMP/diff"; then
    fail "$JOB: its topics differ from docker-compose.yml's (< compose, > job): $(tr '\n' ' ' <"$TMP/diff")"
fi
jq -r '.["docker-compose.yml"][0].services.topics.command // "" | if type == "array" then join("\n") else . end' \
    "$TMP/yaml.json" | grep -o -- '--partitions [0-9]*' | sort -u >"$TMP/compose-partitions"
grep -o -- '--partitions [0-9]*' "$TMP/job-command" | sort -u >"$TMP/job-partitions"
[ -s "$TMP/job-partitions" ] && cmp -s "$TMP/compose-partitions" "$TMP/job-partitions" \
    || fail "$JOB: $(cat "$TMP/job-partitions") is not docker-compose.yml's $(cat "$TMP/compose-partitions")"

# --- deploy/leakwatch.service --------------------------------------------------------------
if [ ! -f "$UNIT" ]; then
    fail "no deploy/leakwatch.service"
else
    # key=value lines as "Section<TAB>Key<TAB>Value"; anything else is a syntax error.
    unit_lines=$(awk '
        /^[[:space:]]*([#;].*)?$/ { next }
        /^\[[A-Za-z]+\][[:space:]]*$/ { sec = $0; gsub(/[][[:space:]]/, "", sec); next }
        /^[A-Za-z][A-Za-z0-9]*=/ { i = index($0, "="); printf "%s\t%s\t%s\n", sec, substr($0, 1, i - 1), substr($0, i + 1); next }
        { printf "ERROR\tline %d\t%s\n", NR, $0 }' "$UNIT")
    uval() { awk -F'\t' -v s="$1" -v k="$2" '$1 == s && $2 == k { v = $3 } END { print v }' <<<"$unit_lines"; }
    while IFS=$'\t' read -r _ where text; do
        fail "leakwatch.service: $where is neither [Section] nor Key=Value: $text"
    done < <(grep '^ERROR' <<<"$unit_lines" || true)
    for s in Unit Service Install; do
        grep -q "^\[$s\]" "$UNIT" || fail "leakwatch.service: no [$s] section"
    done
    exec_start=$(uval Service ExecStart)
    [[ "$exec_start" =~ ^/[^[:space:]]*leakwatch[[:space:]]+run([[:space:]]|$) ]] \
        || fail "leakwatch.service: ExecStart '$exec_start', want /…/leakwatch run …"
    [[ "$exec_start" =~ [[:space:]]--config[[:space:]]+/ ]] \
        || fail "leakwatch.service: ExecStart has no --config /absolute/path"
    [ "$(uval Service Restart)" = on-failure ] || fail "leakwatch.service: Restart is not on-failure"
    prevent=$(uval Service RestartPreventExitStatus)
    [[ " $prevent " == *" 2 "* && " $prevent " == *" 3 "* ]] \
        || fail "leakwatch.service: RestartPreventExitStatus '$prevent' lacks 2 (bad config) or 3 (unusable dependency)"
    [ "$(uval Service KillSignal)" = SIGTERM ] || fail "leakwatch.service: KillSignal is not SIGTERM"
    [ -n "$(uval Service TimeoutStopSec)" ] || fail "leakwatch.service: no TimeoutStopSec"
    [ "$(uval Service DynamicUser)" = yes ] || fail "leakwatch.service: DynamicUser is not yes"
    [ -n "$(uval Install WantedBy)" ] || fail "leakwatch.service: no WantedBy in [Install]"

    # systemd's own parser (warns about unknown keys and bad values). The ExecStart binary
    # must exist for it, so a copy runs /bin/true (or the binary under test) instead.
    if command -v systemd-analyze >/dev/null; then
        bin=${LW:-/bin/true}
        sed -e "s#^ExecStart=[^[:space:]]*#ExecStart=$bin#" "$UNIT" >"$TMP/leakwatch.service"
        systemd-analyze verify "$TMP/leakwatch.service" >"$TMP/verify" 2>&1 || true
        report "leakwatch.service: systemd-analyze verify" "$(grep -F "leakwatch.service" "$TMP/verify" || true)"
    else
        log "no systemd-analyze: the unit is checked by this script only"
    fi
fi

# --- against the leakwatch binary ----------------------------------------------------------
if [ -n "$LW" ]; then
    if ! lw_clean config >"$TMP/defaults.json" 2>"$TMP/err"; then
        fail "leakwatch config failed: $(head -c 300 "$TMP/err")"
        echo '{}' >"$TMP/defaults.json"
    fi
    lw_clean --help >"$TMP/help" 2>&1 || true

    # Every default topic exists in docker-compose.yml (auto-creation is off there) and
    # every topic created there is one of them, with the cleanup policy leakwatch lists
    # (the aggregates compacted). Lines: "topic setting policy".
    if ! lw_clean topics >"$TMP/topics.tsv" 2>"$TMP/err"; then
        fail "leakwatch topics failed: $(head -c 300 "$TMP/err")"
    fi
    cut -f1-3 "$TMP/topics.tsv" | tr '\t' ' ' | sort -u >"$TMP/default-topics"
    [ -s "$TMP/default-topics" ] || fail "leakwatch topics lists no topic"
    while read -r topic key _; do
        grep -q "^$topic " "$TMP/compose-topics" \
            || fail "docker-compose.yml does not create $topic (default of $key)"
    done <"$TMP/default-topics"
    while read -r topic policy; do
        listed=$(awk -v t="$topic" '$1 == t { print $2, $3; exit }' "$TMP/default-topics")
        key=${listed% *} want=${listed#* }
        if [ -z "$listed" ]; then
            fail "docker-compose.yml creates $topic, which is no default topic of leakwatch topics"
            continue
        fi
        [ "$policy" = "$want" ] || fail "docker-compose.yml: $topic ($key) is created $policy, want $want"
    done <"$TMP/compose-topics"
    while read -r topic _; do
        grep -q "^$topic " "$TMP/job-topics" || fail "$JOB does not create $topic"
    done <"$TMP/default-topics"
    log "checked the $(wc -l <"$TMP/compose-topics") topics of docker-compose.yml against $(wc -l <"$TMP/default-topics") defaults"

    # LEAKWATCH_* variables set by the Deployment and by docker-compose.yml are settings.
    {
        jq -r '.["deploy/k8s/deployment.yaml"][0].spec.template.spec.containers[]?.env[]?.name' "$TMP/yaml.json"
        jq -r '.["docker-compose.yml"][0].services.leakwatch.environment // {}
               | if type == "array" then .[] | sub("=.*"; "") else keys[] end' "$TMP/yaml.json"
    } | grep '^LEAKWATCH_' | sort -u | while read -r var; do
        [[ "$var" == LEAKWATCH_KAFKA_* ]] && [[ "$var" != LEAKWATCH_KAFKA_BROKERS ]] && continue # librdkafka pass-through
        grep -q "env ${var}[, ]" "$TMP/help" || echo "$var"
    done >"$TMP/unknown-env"
    report "environment" "$(sed 's/$/ is not a setting in leakwatch --help/' "$TMP/unknown-env")"

    # The exit codes the unit does not restart on are documented.
    for code in 2 3; do
        grep -Eq "^[[:space:]]+${code}[[:space:]]" "$TMP/help" || fail "leakwatch --help lists no exit code $code"
    done

    # The example config and the ConfigMap's config are accepted.
    lw_clean config --config "$REPO/deploy/leakwatch.example.json" >/dev/null 2>"$TMP/err" \
        || fail "leakwatch config refuses deploy/leakwatch.example.json: $(head -c 300 "$TMP/err")"
    if jq -e 'has("http.listen")' "$TMP/defaults.json" >/dev/null; then
        if lw_clean config --config "$TMP/leakwatch.json" >"$TMP/effective.json" 2>"$TMP/err"; then
            want=$(jq -r '.["http.listen"] // ""' "$TMP/leakwatch.json")
            got=$(jq -r '.["http.listen"]' "$TMP/effective.json")
            [ "$want" = "$got" ] || fail "configmap.yaml: effective http.listen '$got', want '$want'"
        else
            fail "leakwatch config refuses configmap.yaml's leakwatch.json: $(head -c 300 "$TMP/err")"
        fi
    else
        log "this leakwatch does not know http.listen yet: configmap.yaml's config not run through it"
    fi
fi

if [ "$failures" -gt 0 ]; then
    echo "FAIL: $NAME: $failures problem(s)" >&2
    exit 1
fi
echo "PASS: $NAME"
