/* cluster.c — Redis Cluster routing, after the Redis Cluster specification: a key's slot is
 * the CRC16 (XMODEM) of its hash tag mod 16384; the slot map comes from CLUSTER SLOTS; one
 * hiredis connection per master. A pipeline is split per shard, every shard's part written
 * before any is read, so the shards work in parallel; within a shard the commands keep their
 * order (a tenant's keys are one slot, so its commands keep theirs). MOVED: the map is read
 * again and the command sent to the new owner; ASK (a slot being migrated): ASKING and the
 * command to the importing node, this once; both a bounded number of times, after which the
 * redirection is the reply (a transient error the caller retries). redis.c uses this when its
 * server is a cluster node (redis.cluster). */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>
#include <strings.h>

#define MAX_NODES     64 /* masters, and nodes an ASK named */
#define MAX_REDIRECTS 5
#define NO_NODE       UINT16_MAX

typedef struct node {
    char host[256];
    int port;
    redisContext *ctx; /* NULL until first used */
    lw_buf out;        /* this round's commands, in RESP */
    size_t *idx;       /* the pipeline index of each, in order */
    bool *asking;      /* an ASKING goes before it */
    size_t n, cap;
} node;

struct lw_cluster {
    lw_redis *r; /* the seed's settings (host, password, timeout) and round trip count */
    node nodes[MAX_NODES];
    size_t nnodes;
    uint16_t owner[LW_CLUSTER_SLOTS]; /* node index of each slot's master */
};

/* ------------------------------------------------------------------ slots */

static uint16_t crc16_xmodem(const char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)p[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int lw_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        if (close && close > open + 1)
            return crc16_xmodem(open + 1, (size_t)(close - open - 1)) & (LW_CLUSTER_SLOTS - 1);
    }
    return crc16_xmodem(key, len) & (LW_CLUSTER_SLOTS - 1);
}

static bool arg_is(const lw_argv *cmd, size_t i, const char *word)
{
    return cmd->lens[i] == strlen(word) &&
           !strncasecmp(cmd->bytes.data + cmd->offsets[i], word, cmd->lens[i]);
}

/* Commands leakwatch sends that name no key (they go to any node, FUNCTION to all). */
static bool keyless(const lw_argv *cmd)
{
    static const char *const names[] = {"INFO",   "PING",     "FUNCTION", "CLUSTER", "SCRIPT",
                                        "CONFIG", "ASKING",   "AUTH",     "SELECT",  "DBSIZE",
                                        "CLIENT", "FLUSHALL", "SLOWLOG",  "COMMAND", "TIME"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (arg_is(cmd, 0, names[i]))
            return true;
    return false;
}

int lw_cluster_key_index(const lw_argv *cmd)
{
    if (cmd->n < 2 || keyless(cmd))
        return -1;
    if (arg_is(cmd, 0, "FCALL") || arg_is(cmd, 0, "FCALL_RO") || arg_is(cmd, 0, "EVAL") ||
        arg_is(cmd, 0, "EVALSHA")) /* name numkeys key... */
        return cmd->n > 3 && atoi(cmd->bytes.data + cmd->offsets[2]) > 0 ? 3 : -1;
    if (arg_is(cmd, 0, "XREADGROUP") || arg_is(cmd, 0, "XREAD")) {
        for (size_t i = 1; i + 1 < cmd->n; i++)
            if (arg_is(cmd, i, "STREAMS"))
                return (int)i + 1;
        return -1;
    }
    if (arg_is(cmd, 0, "XGROUP") || arg_is(cmd, 0, "XINFO")) /* subcommand key */
        return cmd->n > 2 ? 2 : -1;
    return 1;
}

static int command_slot(const lw_argv *cmd)
{
    int k = lw_cluster_key_index(cmd);
    return k < 0 ? -1 : lw_cluster_slot(cmd->bytes.data + cmd->offsets[k], cmd->lens[k]);
}

/* ------------------------------------------------------------------ nodes */

static size_t node_named(lw_cluster *c, const char *host, int port)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].port == port && !strcmp(c->nodes[i].host, host))
            return i;
    if (c->nnodes == MAX_NODES)
        return NO_NODE;
    node *nd = &c->nodes[c->nnodes];
    snprintf(nd->host, sizeof(nd->host), "%s", host);
    nd->port = port;
    return c->nnodes++;
}

static bool node_connected(lw_cluster *c, node *nd)
{
    if (nd->ctx)
        return true;
    char why[256];
    nd->ctx = lw_redis_dial(c->r, nd->host, nd->port, why, sizeof(why));
    if (!nd->ctx)
        lw_warn("redis cluster node %s:%d unreachable: %s", nd->host, nd->port, why);
    return nd->ctx != NULL;
}

static void node_drop(node *nd)
{
    if (nd->ctx)
        redisFree(nd->ctx);
    nd->ctx = NULL;
}

/* One master of a CLUSTER SLOTS entry: [ip, port, id, ...]; an empty ip is the seed's. */
static size_t entry_master(lw_cluster *c, const redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER)
        return NO_NODE;
    const char *host = *m->element[0]->str ? m->element[0]->str : c->r->host;
    return node_named(c, host, (int)m->element[1]->integer);
}

/* CLUSTER SLOTS: [[start, end, master, replicas...], ...]. false when it cannot be read. */
static bool read_slot_map(lw_cluster *c, redisContext *via, char *why, size_t whylen)
{
    redisReply *rep = redisCommand(via, "CLUSTER SLOTS");
    bool ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
    if (!ok)
        snprintf(why, whylen, "CLUSTER SLOTS: %s",
                 !rep       ? via->errstr
                 : rep->str ? rep->str
                            : "no slots assigned");
    for (size_t s = 0; ok && s < LW_CLUSTER_SLOTS; s++)
        c->owner[s] = NO_NODE;
    for (size_t i = 0; ok && i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
            continue;
        size_t master = entry_master(c, e->element[2]);
        for (long long s = e->element[0]->integer; master != NO_NODE && s <= e->element[1]->integer;
             s++)
            if (s >= 0 && s < LW_CLUSTER_SLOTS)
                c->owner[s] = (uint16_t)master;
    }
    freeReplyObject(rep);
    return ok;
}

/* The map again, through the first node that answers. */
static void refresh_slot_map(lw_cluster *c)
{
    char why[256] = "no node reachable";
    for (size_t i = 0; i < c->nnodes; i++)
        if (node_connected(c, &c->nodes[i]) && read_slot_map(c, c->nodes[i].ctx, why, sizeof(why)))
            return;
    lw_warn("redis cluster: the slot map could not be read again: %s", why);
}

static bool is_master(const lw_cluster *c, size_t i)
{
    for (size_t s = 0; s < LW_CLUSTER_SLOTS; s++)
        if (c->owner[s] == i)
            return true;
    return false;
}

size_t lw_cluster_masters(const lw_cluster *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nnodes; i++)
        n += is_master(c, i);
    return n;
}

int lw_cluster_shard_of(const lw_cluster *c, const char *key, size_t len)
{
    uint16_t owner = c->owner[lw_cluster_slot(key, len)];
    return owner == NO_NODE ? -1 : (int)owner;
}

lw_cluster *lw_cluster_open(lw_redis *r, char *why, size_t whylen)
{
    lw_cluster *c = calloc(1, sizeof(*c));
    c->r = r;
    if (!read_slot_map(c, r->ctx, why, whylen)) {
        lw_cluster_free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        if (is_master(c, i) && !node_connected(c, &c->nodes[i])) {
            snprintf(why, whylen, "master %s:%d unreachable", c->nodes[i].host, c->nodes[i].port);
            lw_cluster_free(c);
            return NULL;
        }
    }
    return c;
}

void lw_cluster_free(lw_cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nnodes; i++) {
        node_drop(&c->nodes[i]);
        lw_buf_free(&c->nodes[i].out);
        free(c->nodes[i].idx);
        free(c->nodes[i].asking);
    }
    free(c);
}

/* ------------------------------------------------------------------ rounds */

static const char ASKING[] = "*1\r\n$6\r\nASKING\r\n";

static void queue(node *nd, const lw_argv *cmd, size_t i, bool asking)
{
    if (nd->n == nd->cap) {
        nd->cap = nd->cap ? nd->cap * 2 : 64;
        nd->idx = realloc(nd->idx, nd->cap * sizeof(*nd->idx));
        nd->asking = realloc(nd->asking, nd->cap * sizeof(*nd->asking));
    }
    if (asking)
        lw_buf_append(&nd->out, ASKING, sizeof(ASKING) - 1);
    lw_redis_put_command(&nd->out, cmd);
    nd->idx[nd->n] = i;
    nd->asking[nd->n++] = asking;
}

/* The node a command goes to: its slot's master; a keyless one, or one of a slot nobody
 * serves (it gets CLUSTERDOWN), the first master. */
static node *route(lw_cluster *c, const lw_argv *cmd)
{
    int slot = command_slot(cmd);
    size_t i = slot >= 0 ? c->owner[slot] : NO_NODE;
    for (size_t k = 0; i == NO_NODE && k < c->nnodes; k++)
        if (is_master(c, k))
            i = k;
    return &c->nodes[i == NO_NODE ? 0 : i];
}

static bool write_all(redisContext *ctx, const lw_buf *out)
{
    if (redisAppendFormattedCommand(ctx, out->data, out->len) != REDIS_OK)
        return false;
    int done = 0;
    while (!done)
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            return false;
    return true;
}

static bool read_queued(node *nd, redisReply **replies)
{
    for (size_t k = 0; k < nd->n; k++) {
        void *reply = NULL;
        if (nd->asking[k]) {
            if (redisGetReply(nd->ctx, &reply) != REDIS_OK)
                return false;
            freeReplyObject(reply); /* +OK */
        }
        if (redisGetReply(nd->ctx, &reply) != REDIS_OK)
            return false;
        replies[nd->idx[k]] = reply;
    }
    return true;
}

static void clear_queues(lw_cluster *c)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        lw_buf_reset(&c->nodes[i].out);
        c->nodes[i].n = 0;
    }
}

/* Writes every node's queue, then reads each node's replies: one round trip, the shards in
 * parallel. false on an I/O error. */
static bool send_round(lw_cluster *c, redisReply **replies)
{
    c->r->round_trips++;
    int64_t started = lw_monotonic_us();
    bool ok = true;
    for (size_t i = 0; i < c->nnodes && ok; i++) {
        node *nd = &c->nodes[i];
        ok = nd->n == 0 || (node_connected(c, nd) && write_all(nd->ctx, &nd->out));
        if (!ok && nd->ctx)
            lw_warn("redis cluster node %s:%d: %s", nd->host, nd->port, nd->ctx->errstr);
    }
    for (size_t i = 0; i < c->nnodes && ok; i++) {
        node *nd = &c->nodes[i];
        ok = nd->n == 0 || read_queued(nd, replies);
        if (!ok)
            lw_warn("redis cluster node %s:%d: connection lost (%s)", nd->host, nd->port,
                    nd->ctx->errstr);
    }
    clear_queues(c);
    lw_metrics_observe("leakwatch_redis_round_trip_seconds",
                       (double)(lw_monotonic_us() - started) / 1e6);
    return ok;
}

/* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>": the node named. */
static bool redirection(const redisReply *rep, bool *ask, int *slot, char *host, int *port)
{
    if (!rep || rep->type != REDIS_REPLY_ERROR)
        return false;
    *ask = !strncmp(rep->str, "ASK ", 4);
    if (!*ask && strncmp(rep->str, "MOVED ", 6))
        return false;
    char addr[256];
    if (sscanf(rep->str + (*ask ? 4 : 6), "%d %255s", slot, addr) != 2)
        return false;
    char *colon = strrchr(addr, ':'); /* an IPv6 address has colons of its own */
    if (!colon || *slot < 0 || *slot >= LW_CLUSTER_SLOTS)
        return false;
    *colon = '\0';
    snprintf(host, 256, "%s", *addr ? addr : "127.0.0.1");
    *port = atoi(colon + 1);
    return true;
}

static const char *first_moved(redisReply **replies, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR &&
            !strncmp(replies[i]->str, "MOVED ", 6))
            return replies[i]->str;
    return NULL;
}

/* Queues again each redirected command (its reply dropped) to the node named; how many. */
static size_t queue_redirected(lw_cluster *c, lw_argv *const *cmds, size_t from, size_t to,
                               redisReply **replies)
{
    const char *moved = first_moved(replies, from, to);
    if (moved) {
        lw_info("redis cluster: %s; the slot map is read again", moved);
        refresh_slot_map(c); /* the other slots that moved with it, at once */
    }
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        bool ask;
        int slot, port;
        char host[256];
        if (!redirection(replies[i], &ask, &slot, host, &port))
            continue;
        size_t k = node_named(c, host, port);
        if (k == NO_NODE)
            continue;
        if (!ask)
            c->owner[slot] = (uint16_t)k;
        else
            lw_debug("redis cluster: %s", replies[i]->str);
        freeReplyObject(replies[i]);
        replies[i] = NULL;
        queue(&c->nodes[k], cmds[i], i, ask);
        n++;
    }
    return n;
}

bool lw_cluster_pipeline(lw_cluster *c, lw_argv *const *cmds, size_t from, size_t to,
                         redisReply **replies)
{
    if (from == to)
        return true;
    for (size_t i = from; i < to; i++) {
        replies[i] = NULL;
        queue(route(c, cmds[i]), cmds[i], i, false);
    }
    bool ok = send_round(c, replies);
    for (int round = 0; ok && round < MAX_REDIRECTS; round++) {
        if (!queue_redirected(c, cmds, from, to, replies))
            return true;
        ok = send_round(c, replies);
    }
    if (!ok)
        lw_redis_free_replies(replies + from, to - from);
    return ok;
}

redisReply *lw_cluster_broadcast(lw_cluster *c, const lw_argv *cmd)
{
    redisReply *kept = NULL;
    for (size_t i = 0; i < c->nnodes; i++) {
        if (!is_master(c, i))
            continue;
        redisReply *rep = NULL;
        queue(&c->nodes[i], cmd, 0, false);
        if (!send_round(c, &rep)) {
            freeReplyObject(kept);
            return NULL;
        }
        if (kept && kept->type == REDIS_REPLY_ERROR) {
            freeReplyObject(rep);
            continue;
        }
        freeReplyObject(kept);
        kept = rep;
    }
    return kept;
}
