/* outbox.c — the emitter of the transactional outbox. The library appends each derived
 * event to lw:{tenant}:outbox in the same atomic call that decides it; here they are read
 * with a consumer group, produced to Kafka, and acknowledged (XACK + XDEL) only after the
 * delivery report. Entries a crashed instance left pending are read again: its own at
 * start (same instance.id), any instance's once idle for outbox.claim_idle. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <unistd.h>
#include <string.h>

#define GROUP "emit"

typedef struct acked_entry {
    char key[128];
    char id[32];
} acked_entry;

struct lw_outbox {
    lw_redis *r;
    lw_producer *p;
    const lw_config *cfg;
    const lw_tenants *tenants;
    size_t groups_ready; /* tenants[0..groups_ready) have the group and had their own
                            pending entries re-read */
    acked_entry *acked;
    size_t nacked, capacked;
    size_t in_flight;
    int64_t last_claim_ms;
    char consumer[128];
};

lw_outbox *lw_outbox_new(lw_redis *r, lw_producer *p, const lw_config *cfg,
                         const lw_tenants *tenants)
{
    lw_outbox *o = calloc(1, sizeof(*o));
    o->r = r;
    o->p = p;
    o->cfg = cfg;
    o->tenants = tenants;
    o->last_claim_ms = lw_monotonic_ms();
    if (*cfg->instance_id) {
        snprintf(o->consumer, sizeof(o->consumer), "%s", cfg->instance_id);
    } else {
        gethostname(o->consumer, sizeof(o->consumer) - 1);
    }
    return o;
}

static void entry_free(lw_outbox_entry *e)
{
    free(e->tenant);
    free(e->type);
    free(e->id);
    free(e->key);
    free(e->data);
    free(e->trace);
    free(e);
}

/* An entry as XREADGROUP/XAUTOCLAIM return it: [id, [field, value, ...]]. */
static lw_outbox_entry *entry_from_reply(const redisReply *item)
{
    if (item->type != REDIS_REPLY_ARRAY || item->elements != 2 ||
        item->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL; /* deleted meanwhile */
    lw_outbox_entry *e = calloc(1, sizeof(*e));
    snprintf(e->stream_id, sizeof(e->stream_id), "%s", item->element[0]->str);
    const redisReply *f = item->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *name = f->element[i]->str, *value = f->element[i + 1]->str;
        if (!strcmp(name, "tenant"))
            e->tenant = strdup(value);
        else if (!strcmp(name, "type"))
            e->type = strdup(value);
        else if (!strcmp(name, "id"))
            e->id = strdup(value);
        else if (!strcmp(name, "key"))
            e->key = strdup(value);
        else if (!strcmp(name, "data"))
            e->data = strdup(value);
        else if (!strcmp(name, "time"))
            e->time_ms = strtoll(value, NULL, 10);
        else if (!strcmp(name, "trace"))
            e->trace = strdup(value);
    }
    if (!e->tenant || !e->type || !e->id || !e->key || !e->data) {
        lw_error("outbox entry %s lacks a field; dropped", e->stream_id);
        entry_free(e);
        return NULL;
    }
    return e;
}

static void ack_later(lw_outbox *o, const lw_outbox_entry *e)
{
    if (o->nacked == o->capacked) {
        o->capacked = o->capacked ? o->capacked * 2 : 256;
        o->acked = realloc(o->acked, o->capacked * sizeof(*o->acked));
    }
    acked_entry *a = &o->acked[o->nacked++];
    snprintf(a->key, sizeof(a->key), LW_KEY_OUTBOX, e->tenant);
    snprintf(a->id, sizeof(a->id), "%s", e->stream_id);
}

/* The headers of a derived message: the content type of structured mode, and the trace
 * context of the input event it came from (the envelope carries it too). parent holds the
 * traceparent the header points at. */
static size_t derived_headers(const lw_outbox_entry *e, lw_header h[3],
                              char parent[LW_TRACEPARENT_LEN + 1])
{
    size_t n = 0;
    h[n++] =
        (lw_header){"content-type", LW_STRUCTURED_CONTENT_TYPE, strlen(LW_STRUCTURED_CONTENT_TYPE)};
    const char *state;
    if (!lw_trace_split(e->trace, parent, &state))
        return n;
    h[n++] = (lw_header){"traceparent", parent, LW_TRACEPARENT_LEN};
    if (state)
        h[n++] = (lw_header){"tracestate", state, strlen(state)};
    return n;
}

static void send_entry(lw_outbox *o, lw_outbox_entry *e)
{
    if (o->cfg->publish_none) { /* replay.output=none: drained and acked, nothing produced */
        ack_later(o, e);
        entry_free(e);
        return;
    }
    const char *topic = lw_config_topic_for(o->cfg, e->type);
    char *value = topic ? lw_envelope_build(e) : NULL;
    if (!value) {
        lw_error("outbox entry %s: cannot emit %s (no topic or bad data); dropped", e->stream_id,
                 e->type);
        ack_later(o, e);
        entry_free(e);
        return;
    }
    lw_header headers[3];
    char parent[LW_TRACEPARENT_LEN + 1];
    size_t nheaders = derived_headers(e, headers, parent);
    o->in_flight++;
    if (!lw_producer_send(o->p, topic, e->key, strlen(e->key), value, strlen(value), headers,
                          nheaders, e)) {
        o->in_flight--; /* stays pending in Redis: claimed again later */
        entry_free(e);
    }
    free(value);
}

static int send_entries(lw_outbox *o, const redisReply *entries)
{
    int sent = 0;
    for (size_t i = 0; entries && entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
         i++) {
        lw_outbox_entry *e = entry_from_reply(entries->element[i]);
        if (e) {
            send_entry(o, e);
            sent++;
        }
    }
    return sent;
}

/* The group of each new tenant's stream, then that stream's entries still pending for this
 * consumer name (delivered to Kafka or not before a crash: sent again, same ids). */
static bool prepare_new_streams(lw_outbox *o, int *sent)
{
    for (; o->groups_ready < lw_tenants_count(o->tenants); o->groups_ready++) {
        const char *tenant = lw_tenants_name(o->tenants, o->groups_ready);
        char key[128];
        snprintf(key, sizeof(key), LW_KEY_OUTBOX, tenant);
        redisReply *rep = lw_redis_command(o->r, "XGROUP CREATE %s " GROUP " 0 MKSTREAM", key);
        if (!rep)
            return false;
        freeReplyObject(rep); /* BUSYGROUP: it exists */
        rep = lw_redis_command(o->r, "XREADGROUP GROUP " GROUP " %s COUNT %lld STREAMS %s 0",
                               o->consumer, (long long)o->cfg->outbox_batch * 10, key);
        if (!rep)
            return false;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1)
            *sent += send_entries(o, rep->element[0]->element[1]);
        freeReplyObject(rep);
    }
    return true;
}

/* XAUTOCLAIM on each stream: entries idle longer than outbox.claim_idle. */
static bool claim_idle_entries(lw_outbox *o, int *sent)
{
    for (size_t i = 0; i < o->groups_ready; i++) {
        redisReply *rep = lw_redis_command(
            o->r, "XAUTOCLAIM " LW_KEY_OUTBOX " " GROUP " %s %lld 0-0 COUNT %lld",
            lw_tenants_name(o->tenants, i), o->consumer, (long long)o->cfg->outbox_claim_idle_ms,
            (long long)o->cfg->outbox_batch);
        if (!rep)
            return false;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
            int n = send_entries(o, rep->element[1]);
            if (n)
                lw_info("outbox of %s: took over %d entries left pending",
                        lw_tenants_name(o->tenants, i), n);
            *sent += n;
        }
        freeReplyObject(rep);
    }
    return true;
}

/* One XREADGROUP per stream, all in one round trip: on a Redis Cluster each tenant's stream
 * is read from the shard that owns it (one command naming several would be CROSSSLOT). */
static bool read_new_entries(lw_outbox *o, int *sent)
{
    size_t n = o->groups_ready;
    lw_argv *cmds = calloc(n, sizeof(*cmds));
    redisReply **rep = calloc(n, sizeof(*rep));
    lw_buf key = {0};
    for (size_t i = 0; i < n; i++) {
        lw_argv *cmd = &cmds[i];
        lw_argv_adds(cmd, "XREADGROUP");
        lw_argv_adds(cmd, "GROUP");
        lw_argv_adds(cmd, GROUP);
        lw_argv_adds(cmd, o->consumer);
        lw_argv_adds(cmd, "COUNT");
        lw_argv_addi(cmd, o->cfg->outbox_batch);
        lw_argv_adds(cmd, "STREAMS");
        lw_key(&key, LW_KEY_OUTBOX, lw_tenants_name(o->tenants, i));
        lw_argv_add(cmd, key.data, key.len);
        lw_argv_adds(cmd, ">");
    }
    lw_buf_free(&key);
    bool ok = lw_redis_pipeline(o->r, cmds, n, rep);
    for (size_t i = 0; ok && i < n; i++) {
        if (rep[i]->type == REDIS_REPLY_ARRAY && rep[i]->elements == 1)
            *sent += send_entries(o, rep[i]->element[0]->element[1]);
    }
    if (ok)
        lw_redis_free_replies(rep, n);
    for (size_t i = 0; i < n; i++)
        lw_argv_free(&cmds[i]);
    free(cmds);
    free(rep);
    return ok;
}

int lw_outbox_drain(lw_outbox *o)
{
    int sent = 0;
    if (!prepare_new_streams(o, &sent))
        return -1;
    if (o->groups_ready == 0)
        return 0;
    int64_t now = lw_monotonic_ms();
    /* only with nothing of ours in flight: XAUTOCLAIM would take those back too */
    if (o->in_flight == 0 && now - o->last_claim_ms >= o->cfg->outbox_claim_idle_ms / 2 + 1) {
        o->last_claim_ms = now;
        if (!claim_idle_entries(o, &sent))
            return -1;
    }
    if (o->in_flight < (size_t)o->cfg->outbox_batch * 4 && !read_new_entries(o, &sent))
        return -1;
    return sent;
}

void lw_outbox_reset_streams(lw_outbox *o)
{
    o->groups_ready = 0;
}

void lw_outbox_delivered(lw_outbox *o, lw_outbox_entry *e, bool ok)
{
    o->in_flight--;
    if (ok) {
        char labels[96];
        snprintf(labels, sizeof(labels), "type=\"%s\"", e->type);
        lw_metrics_add("leakwatch_derived_events_total", labels, 1);
        lw_stats_g.derived_out++;
        ack_later(o, e);
    }
    entry_free(e);
}

/* The acked ids of one stream as XACK <key> emit <ids...> and XDEL <key> <ids...>. */
static void ack_commands(const lw_outbox *o, const char *key, lw_argv *ack, lw_argv *del)
{
    lw_argv_adds(ack, "XACK");
    lw_argv_adds(ack, key);
    lw_argv_adds(ack, GROUP);
    lw_argv_adds(del, "XDEL");
    lw_argv_adds(del, key);
    for (size_t i = 0; i < o->nacked; i++) {
        if (strcmp(o->acked[i].key, key) != 0)
            continue;
        lw_argv_adds(ack, o->acked[i].id);
        lw_argv_adds(del, o->acked[i].id);
    }
}

bool lw_outbox_ack(lw_outbox *o)
{
    if (o->nacked == 0)
        return true;
    size_t cap = 2 * lw_tenants_count(o->tenants) + 2, n = 0;
    lw_argv *cmds = calloc(cap, sizeof(*cmds));
    redisReply **rep = calloc(cap, sizeof(*rep));
    for (size_t t = 0; t < lw_tenants_count(o->tenants) && n + 2 <= cap; t++) {
        char key[128];
        snprintf(key, sizeof(key), LW_KEY_OUTBOX, lw_tenants_name(o->tenants, t));
        ack_commands(o, key, &cmds[n], &cmds[n + 1]);
        if (cmds[n].n > 3)
            n += 2;
        else
            lw_argv_reset(&cmds[n]), lw_argv_reset(&cmds[n + 1]);
    }
    bool ok = n == 0 || lw_redis_pipeline(o->r, cmds, n, rep);
    if (ok) {
        lw_redis_free_replies(rep, n);
        o->nacked = 0;
    }
    for (size_t i = 0; i < cap; i++)
        lw_argv_free(&cmds[i]);
    free(cmds);
    free(rep);
    return ok;
}

size_t lw_outbox_in_flight(const lw_outbox *o)
{
    return o->in_flight + o->nacked;
}

void lw_outbox_free(lw_outbox *o)
{
    if (!o)
        return;
    free(o->acked);
    free(o);
}
