/* redis.c — the Redis connection: URL, connect with backoff, pipelined round trips. On a
 * Redis Cluster (redis.cluster) the commands go through cluster.c, to their shards. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A user or password of the URL, %XX decoded (one holding '@', ':' or '/' is written so);
 * NULL when a % is not followed by two hex digits. */
static char *url_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
        if (lo < 0) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* user:password@, :password@ or password@ (as before users existed) before the host. */
static bool parse_userinfo(const char *info, size_t len, lw_redis *r)
{
    const char *colon = memchr(info, ':', len);
    const char *pw = colon ? colon + 1 : info;
    if (colon && colon > info)
        r->user = url_decode(info, (size_t)(colon - info));
    r->password = url_decode(pw, (size_t)(info + len - pw));
    return r->password && (!colon || colon == info || r->user);
}

void lw_redis_free_url(lw_redis *r)
{
    free(r->user);
    free(r->password);
    r->user = r->password = NULL;
}

bool lw_redis_parse_url(const char *url, lw_redis *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->port = 6379;
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "redis.url: expects redis://host:port, got '%s'", lw_redact_url(url));
        return false;
    }
    const char *p = url + 8;
    /* the last '@' before the path ends the userinfo: a password may hold one unescaped */
    size_t authority = strcspn(p, "/");
    const char *at = NULL;
    for (const char *q = p; q < p + authority; q++)
        if (*q == '@')
            at = q;
    if (at) {
        if (!parse_userinfo(p, (size_t)(at - p), r)) {
            lw_redis_free_url(r);
            snprintf(err, errlen, "redis.url: a %% in the user or password of '%s' is not %%XX",
                     lw_redact_url(url));
            return false;
        }
        p = at + 1;
    }
    size_t hostlen = strcspn(p, ":/");
    if (hostlen == 0 || hostlen >= sizeof(r->host)) {
        lw_redis_free_url(r);
        snprintf(err, errlen, "redis.url: no host in '%s'", lw_redact_url(url));
        return false;
    }
    memcpy(r->host, p, hostlen);
    p += hostlen;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (port <= 0 || port > 65535 || (*end && *end != '/')) {
            lw_redis_free_url(r);
            snprintf(err, errlen, "redis.url: bad port in '%s'", lw_redact_url(url));
            return false;
        }
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1])
        r->db = atoi(p + 1);
    return true;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* An error reply to AUTH, PING or SELECT that waiting does not mend: a wrong password or user, an
 * ACL without the rights, a db out of range. A server still loading its data answers later. */
static bool refusal(const char *msg)
{
    static const char *const transient[] = {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"};
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (!strncmp(msg, transient[i], strlen(transient[i])))
            return false;
    return true;
}

/* One handshake command; false with a reason when the server refuses it (*refused when it
 * always will). */
static bool handshake_step(redisReply *rep, const char *what, bool *refused, char *why,
                           size_t whylen)
{
    bool ok = rep && rep->type != REDIS_REPLY_ERROR;
    snprintf(why, whylen, "%s: %s", what, rep && rep->str ? rep->str : "no reply");
    *refused = rep && rep->type == REDIS_REPLY_ERROR && refusal(rep->str);
    freeReplyObject(rep);
    return ok;
}

/* AUTH [user] password (Redis 6 ACL users, or requirepass), or a PING, and SELECT when db is
 * not 0. */
static bool handshake(redisContext *ctx, const lw_redis *r, int db, bool *refused, char *why,
                      size_t whylen)
{
    if (r->password && r->user &&
        !handshake_step(redisCommand(ctx, "AUTH %s %s", r->user, r->password),
                        "AUTH (user and password)", refused, why, whylen))
        return false;
    if (r->password && !r->user &&
        !handshake_step(redisCommand(ctx, "AUTH %s", r->password), "AUTH (password)", refused, why,
                        whylen))
        return false;
    /* without a password, a server that wants one says so now (NOAUTH), not at each command */
    if (!r->password && !handshake_step(redisCommand(ctx, "PING"), "PING", refused, why, whylen))
        return false;
    if (db && !handshake_step(redisCommand(ctx, "SELECT %d", db), "SELECT", refused, why, whylen))
        return false;
    return true;
}

static redisContext *dial(const lw_redis *r, const char *host, int port, int db, bool *refused,
                          char *why, size_t whylen)
{
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    *refused = false;
    redisContext *ctx = redisConnectWithTimeout(host, port, tv);
    if (!ctx || ctx->err) {
        snprintf(why, whylen, "%s", ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    if (!handshake(ctx, r, db, refused, why, whylen)) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

redisContext *lw_redis_dial(const lw_redis *r, const char *host, int port, char *why, size_t whylen)
{
    bool refused;
    return dial(r, host, port, 0, &refused, why, whylen); /* a cluster has db 0 only */
}

/* Whether the server is a cluster node (INFO cluster's cluster_enabled): 1 or 0; -1 when the
 * connection gave no answer. */
static int cluster_enabled(redisContext *ctx)
{
    redisReply *rep = redisCommand(ctx, "INFO cluster");
    int on = !rep ? -1 : rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_enabled:1");
    freeReplyObject(rep);
    return on;
}

/* redis.cluster: auto follows the server, on requires a cluster, off never asks. */
static bool open_cluster(lw_redis *r, char *why, size_t whylen)
{
    if (r->cluster_mode == LW_CLUSTER_OFF)
        return true;
    int enabled = cluster_enabled(r->ctx);
    if (enabled < 0) {
        snprintf(why, whylen, "INFO cluster: %s", r->ctx->errstr);
        return false;
    }
    if (!enabled && r->cluster_mode == LW_CLUSTER_ON) {
        /* a server's cluster_enabled is its configuration: waiting does not change it */
        snprintf(why, whylen, "redis.cluster=on but the server is not a cluster node");
        r->refused = true;
        return false;
    }
    if (!enabled)
        return true;
    r->cluster = lw_cluster_open(r, why, whylen);
    if (r->cluster && r->connects == 0)
        lw_info("redis %s:%d is a cluster of %zu masters", r->host, r->port,
                lw_cluster_masters(r->cluster));
    return r->cluster != NULL;
}

static bool try_connect(lw_redis *r, char *why, size_t whylen)
{
    r->ctx = dial(r, r->host, r->port, r->db, &r->refused, why, whylen);
    if (r->ctx && !open_cluster(r, why, whylen))
        lw_redis_close(r);
    return r->ctx != NULL;
}

bool lw_redis_connect_once(lw_redis *r)
{
    char why[256];
    bool ok = try_connect(r, why, sizeof(why));
    if (ok)
        r->connects++;
    else
        lw_debug("redis %s:%d unreachable: %s", r->host, r->port, why);
    return ok;
}

bool lw_redis_connect(lw_redis *r, volatile int *running)
{
    int64_t delay = 100;
    for (int attempt = 1; *running; attempt++) {
        char why[256];
        if (try_connect(r, why, sizeof(why))) {
            r->connects++;
            if (attempt > 1)
                lw_info("redis %s:%d reachable again after %d attempts", r->host, r->port, attempt);
            return true;
        }
        if (r->refused) {
            lw_error("redis %s:%d refused this connection (%s): check the user, password and db "
                     "of redis.url, and redis.cluster",
                     r->host, r->port, why);
            return false;
        }
        lw_warn("redis %s:%d unreachable (%s); attempt %d, retrying in %lld ms", r->host, r->port,
                why, attempt, (long long)delay);
        for (int64_t slept = 0; slept < delay && *running; slept += 100)
            sleep_ms(100);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    return false;
}

void lw_redis_close(lw_redis *r)
{
    lw_cluster_free(r->cluster);
    r->cluster = NULL;
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
}

/* Reads the replies of n commands appended to the connection. */
static bool read_replies(lw_redis *r, size_t n, redisReply **replies)
{
    r->round_trips++;
    int64_t started = lw_monotonic_us();
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(r->ctx, &reply) != REDIS_OK) {
            lw_warn("redis %s:%d: connection lost (%s); reconnecting", r->host, r->port,
                    r->ctx->errstr);
            lw_redis_free_replies(replies, i);
            lw_redis_close(r);
            return false;
        }
        replies[i] = reply;
    }
    lw_metrics_observe("leakwatch_redis_round_trip_seconds",
                       (double)(lw_monotonic_us() - started) / 1e6);
    return true;
}

/* ---------------------------------------------------------------- pipelines */

/* <prefix><n>\r\n */
static void put_count(lw_buf *out, char prefix, size_t n)
{
    char line[24];
    line[0] = prefix;
    size_t len = 1 + lw_format_int((int64_t)n, line + 1);
    line[len++] = '\r';
    line[len++] = '\n';
    lw_buf_append(out, line, len);
}

/* One command in RESP. A batch's commands are written here and handed to hiredis at once:
 * its own formatting (an sdscatfmt per argument) was a tenth of the processor's work. */
void lw_redis_put_command(lw_buf *out, const lw_argv *cmd)
{
    put_count(out, '*', cmd->n);
    for (size_t i = 0; i < cmd->n; i++) {
        put_count(out, '$', cmd->lens[i]);
        lw_buf_append(out, cmd->bytes.data + cmd->offsets[i], cmd->lens[i]);
        lw_buf_append(out, "\r\n", 2);
    }
}

/* LW_REDIS_DUMP=FILE appends every pipeline, as sent, to FILE: tests/bench/lua_profile.sh
 * replays it into a redis-server under callgrind to count the library's instructions. */
static void dump_pipeline(const lw_buf *resp)
{
    static FILE *dump;
    static bool opened;
    if (!opened) {
        opened = true;
        const char *path = getenv("LW_REDIS_DUMP");
        dump = path && *path ? fopen(path, "ab") : NULL;
        if (path && *path && !dump)
            lw_warn("LW_REDIS_DUMP=%s: cannot open it; pipelines are not dumped", path);
    }
    if (dump && resp->len > 0) {
        fwrite(resp->data, 1, resp->len, dump);
        fflush(dump);
    }
}

static bool send_pipeline(lw_redis *r, const lw_buf *resp, size_t n, redisReply **replies)
{
    dump_pipeline(resp);
    if (resp->len > 0 && redisAppendFormattedCommand(r->ctx, resp->data, resp->len) != REDIS_OK) {
        lw_warn("redis %s:%d: out of memory for a pipeline of %zu commands", r->host, r->port, n);
        return false;
    }
    return read_replies(r, n, replies);
}

static bool single_pipeline(lw_redis *r, lw_argv *const *cmds, size_t n, redisReply **replies)
{
    lw_buf resp = {0};
    for (size_t i = 0; i < n; i++)
        lw_redis_put_command(&resp, cmds[i]);
    bool ok = send_pipeline(r, &resp, n, replies);
    lw_buf_free(&resp);
    return ok;
}

static bool cluster_pipeline(lw_redis *r, lw_argv *const *cmds, size_t from, size_t to,
                             redisReply **replies)
{
    if (lw_cluster_pipeline(r->cluster, cmds, from, to, replies))
        return true;
    lw_warn("redis cluster: a node's connection was lost; reconnecting");
    lw_redis_close(r);
    return false;
}

bool lw_redis_pipeline_of(lw_redis *r, lw_argv *const *cmds, size_t n, redisReply **replies)
{
    if (!r->ctx)
        return false;
    return r->cluster ? cluster_pipeline(r, cmds, 0, n, replies)
                      : single_pipeline(r, cmds, n, replies);
}

bool lw_redis_pipeline(lw_redis *r, lw_argv *cmds, size_t n, redisReply **replies)
{
    lw_argv **of = malloc((n ? n : 1) * sizeof(*of));
    for (size_t i = 0; i < n; i++)
        of[i] = &cmds[i];
    bool ok = lw_redis_pipeline_of(r, of, n, replies);
    free(of);
    return ok;
}

static const char *first_transient(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR && lw_redis_transient_error(replies[i]->str))
            return replies[i]->str;
    return NULL;
}

bool lw_redis_pipeline_after(lw_redis *r, lw_argv *const *cmds, size_t n, size_t after,
                             redisReply **replies)
{
    if (!r->ctx || !r->cluster)
        return lw_redis_pipeline_of(r, cmds, n, replies); /* one connection keeps the order */
    if (!cluster_pipeline(r, cmds, 0, after, replies))
        return false;
    const char *transient = first_transient(replies, after);
    if (transient) {
        lw_warn("redis cluster: %s; what depends on this batch is not sent", transient);
        lw_redis_free_replies(replies, after);
        return false;
    }
    if (cluster_pipeline(r, cmds, after, n, replies))
        return true;
    lw_redis_free_replies(replies, after);
    return false;
}

void lw_redis_free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* The argv of one command in RESP ("*<n>\r\n" then "$<len>\r\n<bytes>\r\n" each), as hiredis
 * formats it. */
static void argv_of_resp(const char *resp, lw_argv *out)
{
    char *p;
    long n = strtol(resp + 1, &p, 10);
    for (long i = 0; i < n; i++) {
        size_t len = strtoul(p + 3, &p, 10); /* past "\r\n$" */
        lw_argv_add(out, p + 2, len);
        p += 2 + len;
    }
}

/* One command on a cluster: to its key's shard; FUNCTION to every master; other keyless
 * ones to the seed. */
static redisReply *cluster_command(lw_redis *r, const char *fmt, va_list ap)
{
    char *resp = NULL;
    if (redisvFormatCommand(&resp, fmt, ap) < 0)
        return NULL;
    lw_argv cmd = {0};
    argv_of_resp(resp, &cmd);
    redisFreeCommand(resp);
    redisReply *reply = NULL;
    lw_argv *one = &cmd;
    if (lw_cluster_key_index(&cmd) >= 0)
        cluster_pipeline(r, &one, 0, 1, &reply);
    else if (cmd.n > 0 && cmd.lens[0] == 8 && !strncasecmp(cmd.bytes.data, "FUNCTION", 8))
        reply = lw_cluster_broadcast(r->cluster, &cmd);
    else {
        lw_argv_finish(&cmd);
        reply = redisCommandArgv(r->ctx, (int)cmd.n, cmd.ptrs, cmd.lens);
    }
    lw_argv_free(&cmd);
    return reply;
}

redisReply *lw_redis_command(lw_redis *r, const char *fmt, ...)
{
    if (!r->ctx)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = r->cluster ? cluster_command(r, fmt, ap) : redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    r->round_trips += !r->cluster; /* cluster.c counts its own */
    if (!reply && r->ctx) {
        lw_warn("redis %s:%d: connection lost (%s); reconnecting", r->host, r->port,
                r->ctx->errstr);
        lw_redis_close(r);
    }
    return reply;
}

bool lw_redis_transient_error(const char *msg)
{
    static const char *const prefixes[] = {"OOM",        "LOADING",  "BUSY",        "READONLY",
                                           "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT",
                                           "MOVED",      "ASK"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(msg, prefixes[i], strlen(prefixes[i])))
            return true;
    /* a Redis restarted empty; a script that met a key its slot's migration moved already */
    return strstr(msg, "Function not found") || strstr(msg, "non local key");
}

int lw_redis_version(lw_redis *r)
{
    redisReply *rep = lw_redis_command(r, "INFO server");
    int version = -1;
    const char *v =
        rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:") : NULL;
    int major, minor, patch;
    if (v && sscanf(v, "redis_version:%d.%d.%d", &major, &minor, &patch) == 3)
        version = major * 10000 + minor * 100 + patch;
    freeReplyObject(rep);
    return version;
}
