#!/usr/bin/env bash
# Redis with a password (requirepass: AUTH password) and with an ACL user (AUTH user
# password; the default user off, so nothing works without it): the right redis.url applies
# the events, a wrong password or user is refused at start with exit 3 and a clear message
# (not retried as "unreachable"), and no password is ever printed: not by `leakwatch config`,
# not in the logs.
set -euo pipefail
source "$LW_TEST_ROOT/integration/lib.sh"
lw_setup
lw_start_broker
printf '{"specversion":"1.0","id":"a1","type":"lead.created","source":"crm","time":"2026-11-22T09:00:00Z","data":{"lead_id":"L1","phone":"+77011112233"}}\n' >"$LW_TMP/one.ndjson"
"$LEAKWATCH" produce "$LW_TMP/one.ndjson" --kafka.brokers "$BROKERS"

# runs leakwatch against URL until the end of the input; echoes its exit code
run_with() {
    local rc=0
    timeout 60 "$LEAKWATCH" run --kafka.brokers "$BROKERS" --redis.url "$1" --clock event \
        --until-end --group.id "g$RANDOM" $LW_KAFKA_TEST_ARGS </dev/null >"$LW_TMP/$2.log" 2>&1 || rc=$?
    echo "$rc"
}
never_shown() { # the password appears in none of the logs
    lw_assert_eq "" "$(grep -rlF -- "$1" "$LW_TMP"/*.log || true)" "the password is printed somewhere"
}

# requirepass: AUTH <password>
pass='s3cret-Pa55'
LW_REDIS_CLI_ARGS=(-a "$pass" --no-auth-warning)
lw_start_redis --requirepass "$pass"
lw_assert_eq 0 "$(run_with "redis://:$pass@127.0.0.1:$REDIS_PORT" requirepass)" "the right password"
lw_assert_eq 1 "$(lw_redis exists 'lw:{default}:lead:L1')" \
    "the event was applied"
lw_assert_eq 3 "$(run_with "redis://:wrong-$pass@127.0.0.1:$REDIS_PORT" wrongpass)" "a wrong password: exit 3"
lw_assert_contains "$(cat "$LW_TMP/wrongpass.log")" "refused this connection (AUTH (password): WRONGPASS" \
    "the refusal says what Redis said"
lw_assert_contains "$(cat "$LW_TMP/wrongpass.log")" "check the user, password and db of redis.url" "and what to mend"
lw_assert_eq "" "$(grep 'retrying in' "$LW_TMP/wrongpass.log" || true)" "not retried as unreachable"
lw_assert_eq 3 "$(run_with "redis://127.0.0.1:$REDIS_PORT" nopass)" "no password for a Redis that needs one: exit 3"
lw_assert_contains "$(cat "$LW_TMP/nopass.log")" "NOAUTH" "Redis's reason for the missing password"

# an ACL user (AUTH user password); the default user is off. The password holds '@' and ':',
# %XX-escaped in the URL.
user=lw-app apass='p@ss:w0rd-Acl'
LW_REDIS_CLI_ARGS=(--user "$user" --pass "$apass" --no-auth-warning)
lw_start_redis --user default off --user "$user" on ">$apass" '~*' '&*' '+@all'
url="redis://$user:p%40ss%3Aw0rd-Acl@127.0.0.1:$REDIS_PORT/0"
lw_assert_eq 0 "$(run_with "$url" acl)" "the ACL user"
lw_assert_eq 1 "$(lw_redis exists 'lw:{default}:lead:L1')" \
    "the event was applied as the ACL user"
lw_assert_eq 3 "$(run_with "redis://someone:p%40ss%3Aw0rd-Acl@127.0.0.1:$REDIS_PORT" wronguser)" "a wrong user: exit 3"
lw_assert_contains "$(cat "$LW_TMP/wronguser.log")" "AUTH (user and password): WRONGPASS" "named"
lw_assert_eq 3 "$(run_with "redis://:p%40ss%3Aw0rd-Acl@127.0.0.1:$REDIS_PORT" userless)" \
    "the ACL user's password without the user (the default user is off): exit 3"

# `leakwatch config` shows the URL without its password, and the secrets as ***
shown=$("$LEAKWATCH" config --redis.url "$url" --kafka.sasl.password "$pass" --http.token "$apass")
lw_assert_eq "redis://$user:***@127.0.0.1:$REDIS_PORT/0" "$(jq -r '."redis.url"' <<<"$shown")" "config: redis.url"
lw_assert_eq '***' "$(jq -r '."kafka.sasl.password"' <<<"$shown")" "config: kafka.sasl.password"
lw_assert_eq '***' "$(jq -r '."http.token"' <<<"$shown")" "config: http.token"
"$LEAKWATCH" config --redis.url "$url" >"$LW_TMP/config.log"
"$LEAKWATCH" run --redis.url "$url" --help >"$LW_TMP/help.log"
lw_assert_contains "$(cat "$LW_TMP/help.log")" "http.token" "--help lists the token setting"
lw_assert_contains "$(cat "$LW_TMP/help.log")" "(secret: printed as ***)" "--help says it is masked"
rc=0
"$LEAKWATCH" config --redis.url "redis://$user:$pass@h:0" >"$LW_TMP/refused.log" 2>&1 || rc=$?
lw_assert_eq 2 "$rc" "a bad redis.url is refused"
lw_assert_contains "$(cat "$LW_TMP/refused.log")" "redis://$user:***@h:0" "naming the URL without its password"
never_shown "$pass"
never_shown "p%40ss"
never_shown "$apass"
lw_pass
