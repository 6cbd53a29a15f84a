/* consumer.c — the input side: a consumer group over the input topics, cooperative-sticky
 * rebalancing, each message made an input (input.c) and buffered in its partition of the
 * merge (merge.c), partitions paused while their buffer is full, and offsets stored only
 * after what the merge released is durable in Redis. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

struct lw_consumer {
    rd_kafka_t *rk;
    const lw_config *cfg;
    lw_merge merge;
    lw_topic_size *topics; /* the input topics, learnt at each assignment */
    size_t topics_n;
    bool assigned_any;
    bool left, closed;   /* lw_consumer_leave: done, and whether the group was left in time */
    int64_t start_ms;    /* replay.from, or -1 */
    lw_resume_fn resume; /* the positions Redis holds (run.c) */
    void *resume_ctx;
    bool from_beginning; /* where a partition Redis has no position of starts (epoch.c) */
};

/* replay.from: the first offset at or after the start time of each assigned partition. A
 * broker that cannot tell (librdkafka's mock answers -1) makes it start at the beginning;
 * lw_consumer_poll_batch skips what is older either way. */
static void seek_to_start_time(rd_kafka_t *rk, int64_t start_ms,
                               rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < times->cnt; i++)
        times->elems[i].offset = start_ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, times, 10000);
    for (int i = 0; !err && i < times->cnt; i++)
        parts->elems[i].offset = times->elems[i].err || times->elems[i].offset < 0
                                     ? RD_KAFKA_OFFSET_BEGINNING
                                     : times->elems[i].offset;
    if (err)
        lw_warn("replay.from: offsets for times: %s; starting from the committed offsets",
                rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(times);
}

/* Where each newly assigned partition starts: the position Redis holds, so that state and
 * position never drift apart (position.c); else replay.from; else the beginning (a Redis
 * that writes positions and holds none of it lost them or never saw it: epoch.c); else,
 * for the state of a leakwatch older than positions, the group's committed offset. */
static void resume_assigned(lw_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    size_t n = (size_t)parts->cnt, from_redis = 0;
    lw_partition_ref *refs = calloc(n + 1, sizeof(*refs));
    int64_t *resume = calloc(n + 1, sizeof(*resume));
    for (size_t i = 0; i < n; i++) {
        refs[i] = (lw_partition_ref){parts->elems[i].topic, parts->elems[i].partition};
        resume[i] = LW_POSITION_NONE;
    }
    if (c->resume)
        c->resume(c->resume_ctx, refs, n, resume);
    if (c->start_ms >= 0)
        seek_to_start_time(c->rk, c->start_ms, parts);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (resume[i] != LW_POSITION_NONE) {
            p->offset = resume[i];
            from_redis++;
            lw_debug("%s[%d] resumes at offset %lld, the position Redis holds", p->topic,
                     (int)p->partition, (long long)p->offset);
        } else if (c->from_beginning && c->start_ms < 0)
            p->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    lw_info("rebalance: %zu of %zu partition(s) resume at the positions Redis holds, the others "
            "at %s",
            from_redis, n,
            c->start_ms >= 0    ? "replay.from"
            : c->from_beginning ? "the beginning"
                                : "the group's committed offsets");
    free(refs);
    free(resume);
}

/* Whether topic is one of the comma-separated topics.input. */
static bool subscribed(const char *csv, const char *topic)
{
    size_t len = strlen(topic);
    for (const char *t = csv; *t;) {
        t += strspn(t, ", ");
        size_t n = strcspn(t, ", ");
        if (n == len && !strncmp(t, topic, len))
            return true;
        t += n;
    }
    return false;
}

/* The partition count of every input topic, so that a partition nobody was assigned yet is
 * known to be unread (watermark.c). Kept as it was when the cluster cannot tell now. All the
 * cluster's topics are asked for: the "locally known" ones are only those assigned here,
 * and an instance that knew only its own topics would take the others' marks for nobody's. */
static void learn_topics(lw_consumer *c)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, &md, 5000);
    if (err) {
        lw_warn("metadata of the input topics: %s", rd_kafka_err2str(err));
        return;
    }
    lw_topic_size *sizes = calloc((size_t)md->topic_cnt + 1, sizeof(*sizes));
    size_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err || !subscribed(c->cfg->topics_input, md->topics[i].topic))
            continue;
        snprintf(sizes[n].name, sizeof(sizes[n].name), "%s", md->topics[i].topic);
        sizes[n++].partitions = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    free(c->topics);
    c->topics = sizes;
    c->topics_n = n;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    lw_consumer *c = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    int64_t now = lw_monotonic_ms();
    for (int i = 0; i < parts->cnt; i++) {
        if (assign)
            lw_merge_add(&c->merge, parts->elems[i].topic, parts->elems[i].partition, now);
        else
            lw_merge_remove(&c->merge, parts->elems[i].topic, parts->elems[i].partition);
    }
    lw_info("rebalance: %s %d partition(s) (%s)", assign ? "assigned" : "revoked", parts->cnt,
            rd_kafka_rebalance_protocol(rk));
    lw_metrics_add("leakwatch_rebalances_total", assign ? "kind=\"assign\"" : "kind=\"revoke\"", 1);
    if (assign)
        resume_assigned(c, parts);
    rd_kafka_error_t *error = NULL;
    if (cooperative)
        error = assign ? rd_kafka_incremental_assign(rk, parts)
                       : rd_kafka_incremental_unassign(rk, parts);
    else
        rd_kafka_assign(rk, assign ? parts : NULL);
    if (error) {
        lw_error("rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (assign) {
        rd_kafka_resume_partitions(rk, parts); /* a partition had again starts unpaused */
        c->assigned_any = true;
        learn_topics(c);
    }
}

/* librdkafka's statistics (every statistics.interval.ms, 5 s by default): the lag of each
 * partition assigned here as Burrow and the Kafka exporters count it, its high watermark
 * less the group's committed offset (consumer_lag; -1 while either is unknown: not shown).
 * librdkafka learns the high watermark from its fetches: no request of its own. */
static int on_statistics(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    lw_consumer *c = opaque;
    json_t *root = json_loadb(json, len, 0, NULL);
    size_t n = 0;
    char(*labels)[200] = calloc(c->merge.n + 1, sizeof(*labels));
    const char **names = calloc(c->merge.n + 1, sizeof(*names));
    double *lags = calloc(c->merge.n + 1, sizeof(*lags));
    const char *topic_name, *part_name;
    json_t *topic, *part;
    json_object_foreach(json_object_get(root, "topics"), topic_name, topic)
    {
        json_object_foreach(json_object_get(topic, "partitions"), part_name, part)
        {
            json_t *lag = json_object_get(part, "consumer_lag");
            int32_t id = (int32_t)atoi(part_name);
            if (n == c->merge.n || !json_is_integer(lag) || json_integer_value(lag) < 0 ||
                !strcmp(part_name, "-1") || !lw_merge_find(&c->merge, topic_name, id))
                continue;
            names[n] = lw_metrics_labels(labels[n], sizeof(labels[n]), "topic", topic_name,
                                         "partition", part_name, NULL);
            lags[n++] = (double)json_integer_value(lag);
        }
    }
    json_decref(root);
    lw_metrics_set_all("leakwatch_consumer_lag", names, lags, n);
    free(labels);
    free(names);
    free(lags);
    return 0; /* librdkafka frees json */
}

static rd_kafka_topic_partition_list_t *topic_list(const char *csv)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char *copy = strdup(csv), *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
    free(copy);
    return l;
}

/* Defaults the design depends on; kafka.* may override the rest. */
static bool consumer_conf(rd_kafka_conf_t *conf, const lw_config *cfg, char *err, size_t errlen)
{
    static const char *const forced[][2] = {
        {"enable.auto.offset.store", "false"}, /* stored by us once Redis has the batch */
        {"enable.auto.commit", "true"},        /* commits what was stored, in the background */
        {"enable.partition.eof", "true"},      /* the event clock needs "read to the end" */
    };
    static const char *const defaults[][2] = {
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        /* prefetch at most 16 MB: memory stays flat however far behind the input is */
        {"queued.max.messages.kbytes", "16384"},
        {"statistics.interval.ms", "5000"}, /* consumer lag for /metrics */
    };
    char why[256];
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        bool overridden = false;
        for (size_t k = 0; k < cfg->kafka_props_n; k++)
            overridden |= !strcmp(cfg->kafka_props[k].key, defaults[i][0]);
        if (!overridden)
            rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], why, sizeof(why));
    }
    for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++)
        rd_kafka_conf_set(conf, forced[i][0], forced[i][1], why, sizeof(why));
    if (rd_kafka_conf_set(conf, "group.id", cfg->group_id, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "config: group.id: %s", why);
        return false;
    }
    return true;
}

/* The handle and its callbacks; lw_consumer_subscribe joins the group. */
static bool join_group(lw_consumer *c, char *err, size_t errlen)
{
    const lw_config *cfg = c->cfg;
    rd_kafka_conf_t *conf = lw_kafka_conf(cfg, err, errlen);
    if (!conf)
        return false;
    if (!consumer_conf(conf, cfg, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_stats_cb(conf, on_statistics);
    rd_kafka_conf_set_opaque(conf, c);
    char why[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf); /* kept by the caller when rd_kafka_new fails */
        snprintf(err, errlen, "kafka consumer: %s", why);
        return false;
    }
    rd_kafka_poll_set_consumer(c->rk);
    return true;
}

bool lw_consumer_subscribe(lw_consumer *c, char *err, size_t errlen)
{
    const lw_config *cfg = c->cfg;
    rd_kafka_topic_partition_list_t *topics = topic_list(cfg->topics_input);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "subscribe to %s: %s", cfg->topics_input, rd_kafka_err2str(e));
        return false;
    }
    lw_info("consumer group %s subscribed to %s", cfg->group_id, cfg->topics_input);
    return true;
}

lw_consumer *lw_consumer_new(const lw_config *cfg, char *err, size_t errlen)
{
    lw_consumer *c = calloc(1, sizeof(*c));
    c->cfg = cfg;
    c->start_ms = -1;
    /* the wall clock waits at most input.max_idle for any partition: no grace on top */
    c->merge.end_grace_ms = cfg->clock == LW_CLOCK_EVENT ? cfg->input.end_grace_ms : 0;
    if (*cfg->replay_from)
        lw_rfc3339_parse(cfg->replay_from, &c->start_ms);
    if (join_group(c, err, errlen))
        return c;
    lw_consumer_close(c);
    return NULL;
}

void lw_consumer_set_resume(lw_consumer *c, lw_resume_fn fn, void *ctx, bool from_beginning)
{
    c->resume = fn;
    c->resume_ctx = ctx;
    c->from_beginning = from_beginning;
}

/* Every partition of the input topics the cluster knows; NULL with err filled if it cannot
 * tell. */
static rd_kafka_topic_partition_list_t *input_partitions(lw_consumer *c, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, NULL, &md, 5000);
    if (e) {
        snprintf(err, errlen, "metadata of the input topics: %s", rd_kafka_err2str(e));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err || !subscribed(c->cfg->topics_input, md->topics[i].topic))
            continue;
        for (int k = 0; k < md->topics[i].partition_cnt; k++)
            rd_kafka_topic_partition_list_add(l, md->topics[i].topic,
                                              md->topics[i].partitions[k].id);
    }
    rd_kafka_metadata_destroy(md);
    return l;
}

int lw_consumer_committed_before(lw_consumer *c, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = input_partitions(c, err, errlen);
    if (!l)
        return -1;
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_committed(c->rk, l, 10000) : 0;
    int committed = e ? -1 : 0;
    if (e)
        snprintf(err, errlen, "committed offsets of group %s: %s", c->cfg->group_id,
                 rd_kafka_err2str(e));
    for (int i = 0; !e && i < l->cnt; i++)
        committed |= l->elems[i].offset >= 0;
    rd_kafka_topic_partition_list_destroy(l);
    return committed;
}

lw_merge *lw_consumer_merge(lw_consumer *c)
{
    return &c->merge;
}

const lw_topic_size *lw_consumer_topics(const lw_consumer *c, size_t *n)
{
    *n = c->topics_n;
    return c->topics;
}

bool lw_consumer_assigned(const lw_consumer *c)
{
    return c->assigned_any && c->merge.n > 0;
}

/* ------------------------------ filling the buffers ------------------------------ */

static lw_merge_part *part_of(lw_consumer *c, const rd_kafka_message_t *m)
{
    return lw_merge_find(&c->merge, rd_kafka_topic_name(m->rkt), m->partition);
}

/* Takes one polled message or event; true when a message was buffered. */
static bool take(lw_consumer *c, rd_kafka_message_t *m)
{
    lw_merge_part *p = part_of(c, m);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p)
            lw_merge_eof(&c->merge, p, lw_monotonic_ms());
    } else if (m->err) {
        lw_warn("consume: %s", rd_kafka_message_errstr(m));
    } else if (!p) {
        lw_debug("a message of %s[%d], not assigned: dropped", rd_kafka_topic_name(m->rkt),
                 (int)m->partition); /* its new owner reads it */
    } else if (c->start_ms >= 0 && rd_kafka_message_timestamp(m, NULL) < c->start_ms) {
        /* before replay.from: skipped; its offset moves on now when nothing waits before it,
         * else with what does */
        if (p->n == 0)
            p->next_offset = m->offset + 1;
    } else {
        lw_merge_push(&c->merge, p, lw_input_new(m, c->cfg), lw_monotonic_ms());
        return true;
    }
    rd_kafka_message_destroy(m);
    return false;
}

/* A partition's share of input.buffer_bytes: it is paused over it, resumed under half. */
static size_t share(const lw_consumer *c)
{
    size_t each = (size_t)c->cfg->input.buffer_bytes / (c->merge.n ? c->merge.n : 1);
    return each < 65536 ? 65536 : each;
}

static void pause_or_resume(lw_consumer *c, lw_merge_part *p, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (err)
        lw_warn("%s %s[%d]: %s", pause ? "pause" : "resume", p->topic, (int)p->partition,
                rd_kafka_err2str(err));
    else
        p->paused = pause;
    rd_kafka_topic_partition_list_destroy(l);
}

static void flow_control(lw_consumer *c)
{
    size_t limit = share(c);
    for (size_t i = 0; i < c->merge.n; i++) {
        lw_merge_part *p = &c->merge.parts[i];
        if (!p->paused && p->bytes > limit)
            pause_or_resume(c, p, true);
        else if (p->paused && p->bytes < limit / 2)
            pause_or_resume(c, p, false);
    }
}

size_t lw_consumer_fill(lw_consumer *c, int64_t timeout_ms, size_t max)
{
    size_t n = 0;
    if (c->assigned_any && !c->topics_n)
        learn_topics(c); /* the cluster could not tell at the assignment: no clock without */
    flow_control(c);     /* what the merge released since may have made room */
    int64_t deadline = lw_monotonic_ms() + timeout_ms;
    while (n < max) {
        int64_t left = n ? 0 : deadline - lw_monotonic_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (!m)
            break;
        n += take(c, m);
    }
    flow_control(c);
    return n;
}

void lw_consumer_store_offsets(lw_consumer *c)
{
    rd_kafka_topic_partition_list_t *offsets =
        rd_kafka_topic_partition_list_new((int)c->merge.n + 1);
    for (size_t i = 0; i < c->merge.n; i++) {
        lw_merge_part *p = &c->merge.parts[i];
        if (p->next_offset > p->stored_offset)
            rd_kafka_topic_partition_list_add(offsets, p->topic, p->partition)->offset =
                p->next_offset;
    }
    rd_kafka_resp_err_t err = offsets->cnt ? rd_kafka_offsets_store(c->rk, offsets) : 0;
    if (err)
        lw_debug("offsets_store: %s", rd_kafka_err2str(err));
    for (int i = 0; i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *o = &offsets->elems[i];
        lw_merge_part *p = lw_merge_find(&c->merge, o->topic, o->partition);
        if (o->err == RD_KAFKA_RESP_ERR__STATE)
            lw_info("%s[%d] was revoked meanwhile; its new owner re-reads from the last commit",
                    o->topic, o->partition);
        else if (o->err)
            lw_warn("store offset %s[%d]@%lld: %s", o->topic, o->partition, (long long)o->offset,
                    rd_kafka_err2str(o->err));
        else if (p)
            p->stored_offset = o->offset;
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

int64_t lw_consumer_lag(lw_consumer *c)
{
    if (c->merge.n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->merge.n);
    for (size_t i = 0; i < c->merge.n; i++)
        rd_kafka_topic_partition_list_add(l, c->merge.parts[i].topic, c->merge.parts[i].partition);
    rd_kafka_position(c->rk, l);
    int64_t lag = 0;
    for (int i = 0; i < l->cnt; i++) {
        int64_t low, high;
        if (rd_kafka_get_watermark_offsets(c->rk, l->elems[i].topic, l->elems[i].partition, &low,
                                           &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            l->elems[i].offset >= 0 && high > l->elems[i].offset)
            lag += high - l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
}

bool lw_consumer_all_at_end(const lw_consumer *c)
{
    if (!c->assigned_any || c->merge.n == 0)
        return false;
    for (size_t i = 0; i < c->merge.n; i++)
        if (!lw_merge_at_end(&c->merge.parts[i]))
            return false;
    return true;
}

/* One wait on the close queue. It gets what the consumer's queue holds too: messages fetched
 * but not read yet (a backlog) as well as the rebalance events. rd_kafka_queue_poll_callback
 * aborts on a message (librdkafka asserts res != RD_KAFKA_OP_RES_PASS: a message is no
 * callback); rd_kafka_consume_queue runs the callbacks and hands messages back. They are
 * dropped unstored: the next owner reads them again. */
static void serve_close_queue(rd_kafka_queue_t *q)
{
    rd_kafka_message_t *m = rd_kafka_consume_queue(q, 50);
    if (m)
        rd_kafka_message_destroy(m);
}

/* rd_kafka_consumer_close waits until the group is left and the stored offsets are
 * committed: with the coordinator unreachable, 46 s. The same close through a queue, served
 * (the rebalance callback runs) until it is done or the time is up. */
static bool close_group(rd_kafka_t *rk, int64_t timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
    if (error) {
        lw_warn("consumer close: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    int64_t until = lw_monotonic_ms() + timeout_ms;
    while (!error && !rd_kafka_consumer_closed(rk) && lw_monotonic_ms() < until)
        serve_close_queue(q);
    bool closed = !error && rd_kafka_consumer_closed(rk);
    rd_kafka_queue_destroy(q);
    if (!closed)
        lw_warn("consumer close: the group was not left within %lld ms; the offsets not "
                "committed are read again by the next owner",
                (long long)timeout_ms);
    return closed;
}

/* A handle whose close did not finish: librdkafka 2.0.2's destroy would still wait for the
 * group (session.timeout.ms, 45 s), so it is left to the process's exit, reachable from here
 * so that the leak checker does not count it. */
static rd_kafka_t *abandoned;

void lw_consumer_leave(lw_consumer *c, int64_t timeout_ms)
{
    if (c && c->rk && !c->left) {
        c->closed = close_group(c->rk, timeout_ms);
        c->left = true;
    }
}

void lw_consumer_free(lw_consumer *c)
{
    if (!c)
        return;
    if (c->rk) {
        lw_merge_free(&c->merge); /* before destroy: the inputs hold its messages */
        if (c->closed)
            rd_kafka_destroy(c->rk);
        else
            abandoned = c->rk;
    }
    free(c->topics);
    free(c);
}

void lw_consumer_close_within(lw_consumer *c, int64_t timeout_ms)
{
    lw_consumer_leave(c, timeout_ms);
    lw_consumer_free(c);
}

void lw_consumer_close(lw_consumer *c)
{
    lw_consumer_close_within(c, 30000);
}
