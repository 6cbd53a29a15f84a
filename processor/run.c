/* run.c — the processor loop. One batch: poll (consumer.c), parse and validate (event.c),
 * dead-letter what is bad (dlq.c), apply the rest to Redis in one pipelined round trip
 * (transition.c, redis.c), and only then store the input offsets. Between batches: fire due
 * deadlines (timers.c, with the clock of watermark.c) and move derived events from the
 * outbox to Kafka (outbox.c, producer.c). */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

#define MARK_COMMANDS 64 /* room for the event clock's commands in one tick */

typedef struct runner {
    const lw_config *cfg;
    volatile int *running;
    lw_redis redis;
    lw_consumer consumer;
    lw_producer *producer;
    lw_outbox *outbox;
    lw_tenants tenants;
    lw_http *http;
    lw_progress progress; /* a replay's progress line (--until-end on a terminal) */

    rd_kafka_message_t **msgs; /* the batch */
    lw_argv *cmds;             /* one FCALL per valid message, then bookkeeping */
    size_t *cmd_msg;           /* the message of each FCALL */
    redisReply **replies;
    size_t cmd_cap;

    int dlq_tag; /* its address is the opaque of dead letters */
    int dlq_pending, dlq_failed;
    int64_t clock_ms; /* the last "now" deadlines were fired at */
    int64_t next_tick_ms, next_drain_ms, next_stats_ms, next_tenants_ms, next_gauges_ms;
    bool want_drain;
    int exit_code; /* set when the processor must stop with an error; -1 while running */
    uint64_t connects_seen;
} runner;

/* Sleeps delay_ms in short steps while running, then doubles it up to 5 s. */
static void backoff(runner *run, int64_t *delay_ms)
{
    for (int64_t slept = 0; slept < *delay_ms && *run->running; slept += 100) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    *delay_ms = *delay_ms * 2 > 5000 ? 5000 : *delay_ms * 2;
}

static void on_delivery(void *opaque, bool ok, const char *error, void *ctx)
{
    runner *run = ctx;
    if (opaque == &run->dlq_tag) {
        run->dlq_pending--;
        run->dlq_failed += !ok;
    } else
        lw_outbox_delivered(run->outbox, opaque, ok);
}

/* ------------------------------ Redis, reconnected on demand ------------------------- */

/* A new connection may be to a server that restarted empty: what this instance wrote
 * once (tenants, stream groups, partition marks) is written again. */
static void after_reconnect(runner *run)
{
    if (run->connects_seen == run->redis.connects)
        return;
    run->connects_seen = run->redis.connects;
    run->tenants.persisted = 0;
    if (run->outbox)
        lw_outbox_reset_streams(run->outbox);
    lw_watermark_rewrite(&run->consumer);
}

/* Connects (with backoff) and loads the library when the connection was lost. false when
 * stopping or when this Redis cannot serve leakwatch at all (exit_code set). */
static bool ensure_redis(runner *run)
{
    int64_t delay = 100;
    while (!run->redis.ctx && *run->running) {
        if (!lw_redis_connect(&run->redis, run->running))
            return false;
        int rc = lw_library_load(&run->redis);
        if (rc == LW_EXIT_DEPENDENCY || rc == LW_LIBRARY_BROKEN) {
            run->exit_code = rc == LW_EXIT_DEPENDENCY ? LW_EXIT_DEPENDENCY : LW_EXIT_RUNTIME;
            return false;
        }
        if (rc != LW_EXIT_OK) {
            lw_redis_close(&run->redis);
            backoff(run, &delay);
        }
    }
    if (run->redis.ctx)
        after_reconnect(run);
    return run->redis.ctx != NULL;
}

/* Errors worth retrying the whole batch for (the batch is idempotent). */
static bool transient_error(const char *msg)
{
    static const char *const prefixes[] = {"OOM",        "LOADING",  "BUSY",        "READONLY",
                                           "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(msg, prefixes[i], strlen(prefixes[i])))
            return true;
    return strstr(msg, "Function not found") != NULL; /* a Redis restarted empty */
}

/* Sends the commands until Redis has them all; a lost connection or a transient error is
 * retried with backoff. false only when stopping. */
static bool pipeline_until_applied(runner *run, size_t n)
{
    int64_t delay = 100;
    for (;;) {
        if (!ensure_redis(run))
            return false;
        if (lw_redis_pipeline(&run->redis, run->cmds, n, run->replies)) {
            const char *transient = NULL;
            for (size_t i = 0; i < n && !transient; i++)
                if (run->replies[i]->type == REDIS_REPLY_ERROR &&
                    transient_error(run->replies[i]->str))
                    transient = run->replies[i]->str;
            if (!transient)
                return true;
            lw_warn("redis: %s; retrying the batch in %lld ms", transient, (long long)delay);
            if (strstr(transient, "Function not found"))
                lw_redis_close(&run->redis); /* reconnect reloads the library */
            lw_redis_free_replies(run->replies, n);
        }
        backoff(run, &delay);
        if (!*run->running)
            return false;
    }
}

/* ------------------------------ one batch ------------------------------ */

static void dead_letter(runner *run, rd_kafka_message_t *m, const lw_reject *why)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", lw_reject_name(why->reason));
    lw_metrics_add("leakwatch_dead_letters_total", labels, 1);
    lw_stats_g.dlq[why->reason]++;
    if (lw_dlq_send(run->producer, run->cfg->topic_dlq, m, why, &run->dlq_tag))
        run->dlq_pending++;
    else
        run->dlq_failed++;
}

/* Parses each message; valid ones become FCALLs, the rest dead letters. */
static size_t build_commands(runner *run, size_t n)
{
    size_t ncmd = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = run->msgs[i];
        lw_event ev;
        lw_reject why;
        if (!lw_event_parse(m->payload, m->len, (size_t)run->cfg->input_max_bytes, &ev, &why)) {
            dead_letter(run, m, &why);
            continue;
        }
        char labels[200];
        snprintf(labels, sizeof(labels), "type=\"%s\",topic=\"%s\"", ev.type,
                 rd_kafka_topic_name(m->rkt));
        lw_metrics_add("leakwatch_events_in_total", labels, 1);
        lw_transition_argv(&ev, lw_config_tenant(run->cfg, ev.tenant), &run->cmds[ncmd]);
        run->cmd_msg[ncmd++] = i;
        lw_consumer_mark(&run->consumer, m, ev.time_ms);
        lw_tenants_add(&run->tenants, ev.tenant);
        lw_event_free(&ev);
    }
    return ncmd;
}

/* Counts the outcome of each FCALL; one the library refused goes to the dead letters. */
static void read_replies(runner *run, size_t ncmd)
{
    for (size_t i = 0; i < ncmd; i++) {
        redisReply *rep = run->replies[i];
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
            bool applied = rep->element[0]->integer == 1;
            lw_stats_g.events_applied += applied;
            lw_stats_g.events_duplicate += !applied;
            run->want_drain |= rep->element[1]->integer > 0;
            continue;
        }
        lw_reject why = {.reason = LW_REJECT_STATE_ERROR};
        char where[96];
        lw_library_locate(rep->str, where, sizeof(where));
        snprintf(why.detail, sizeof(why.detail), "lw_event (%s): %s", where,
                 rep->str ? rep->str : "unexpected reply");
        lw_error("%s", why.detail);
        dead_letter(run, run->msgs[run->cmd_msg[i]], &why);
    }
}

static void wait_for_dead_letters(runner *run)
{
    while (run->dlq_pending > 0 && *run->running && !lw_producer_fatal(run->producer))
        lw_producer_poll(run->producer, 100);
}

/* false when the batch could not be made durable (stopping): its offsets are not stored,
 * so it is read again after a restart. */
static bool process_batch(runner *run, size_t n)
{
    int64_t now = lw_monotonic_ms();
    if (!lw_stats_g.first_event_mono_ms)
        lw_stats_g.first_event_mono_ms = now;
    lw_stats_g.last_event_mono_ms = now;
    lw_stats_g.events_in += n;
    lw_stats_g.batches++;
    lw_metrics_observe("leakwatch_batch_size", (double)n);

    size_t ncmd = build_commands(run, n);
    size_t total = ncmd + lw_tenants_persist_argv(&run->tenants, &run->cmds[ncmd]);
    bool durable = total == 0 || pipeline_until_applied(run, total);
    if (durable && total) {
        if (total > ncmd)
            lw_tenants_persisted(&run->tenants);
        read_replies(run, ncmd);
        lw_redis_free_replies(run->replies, total);
    }
    wait_for_dead_letters(run);
    if (run->dlq_failed) {
        /* retries never end (message.timeout.ms=0): the dead-letter topic refuses these for
         * good. Stop before their offsets move: nothing is lost, an operator must look. */
        lw_error("%d dead letter(s) of this batch could not be written to %s; stopping "
                 "before their offsets are stored",
                 run->dlq_failed, run->cfg->topic_dlq);
        run->exit_code = LW_EXIT_RUNTIME;
    }
    if (lw_producer_fatal(run->producer))
        run->exit_code = LW_EXIT_RUNTIME;
    durable &= run->dlq_pending == 0 && run->exit_code < 0;
    if (durable)
        lw_consumer_store_offsets(&run->consumer, run->msgs, n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(run->msgs[i]);
    return durable;
}

/* ------------------------------ deadlines and the outbox ------------------------------ */

/* Writes this instance's partition marks (after the batches they describe are applied),
 * then reads the group's watermark. */
static bool event_clock(runner *run, int64_t *now_ms)
{
    lw_argv *cmds = run->cmds;
    size_t n = lw_watermark_write_argv(&run->consumer, run->cfg->group_id, cmds, MARK_COMMANDS);
    if (n) {
        if (!lw_redis_pipeline(&run->redis, cmds, n, run->replies))
            return false;
        bool written = true;
        for (size_t i = 0; i < n; i++)
            if (run->replies[i]->type == REDIS_REPLY_ERROR) {
                lw_warn("redis refused a partition mark: %s", run->replies[i]->str);
                written = false;
            }
        lw_redis_free_replies(run->replies, n);
        if (!written)
            return false; /* still dirty: written at the next tick */
        lw_watermark_written(&run->consumer);
    }
    return lw_watermark_read(&run->redis, run->cfg->group_id, run->cfg->clock_lateness_ms, now_ms);
}

/* Fires what is due; returns the number fired, -1 on a Redis error. */
static int64_t fire_due(runner *run)
{
    int64_t now = lw_now_ms();
    if (run->cfg->clock == LW_CLOCK_EVENT && !event_clock(run, &now))
        return -1;
    if (now == INT64_MIN || now < run->clock_ms)
        return 0; /* no watermark yet; it never moves back */
    run->clock_ms = now;
    lw_metrics_set("leakwatch_event_clock_ms", NULL, (double)now);
    int64_t emitted = 0;
    int64_t fired =
        lw_timers_fire(&run->redis, &run->tenants, now, run->cfg->timers_batch, &emitted);
    if (fired > 0) {
        lw_stats_g.timers_fired += (uint64_t)fired;
        lw_debug("fired %lld deadline(s) at %lld", (long long)fired, (long long)now);
    }
    run->want_drain |= emitted > 0;
    return fired;
}

/* Moves derived events to Kafka and acks those delivered. Returns entries sent or -1. */
static int move_outbox(runner *run)
{
    lw_producer_poll(run->producer, 0);
    if (!lw_outbox_ack(run->outbox))
        return -1;
    run->want_drain = false;
    return lw_outbox_drain(run->outbox);
}

/* Timers pending and outbox depth over every tenant, for /metrics (every 5 s). */
static void sample_gauges(runner *run)
{
    size_t n = run->tenants.n * 2;
    if (n == 0 || n > run->cmd_cap)
        return;
    lw_buf key = {0};
    for (size_t i = 0; i < run->tenants.n; i++) {
        lw_argv *zcard = &run->cmds[2 * i], *xlen = &run->cmds[2 * i + 1];
        lw_argv_reset(zcard);
        lw_argv_reset(xlen);
        lw_key(&key, run->tenants.names[i], "timers");
        lw_argv_adds(zcard, "ZCARD");
        lw_argv_add(zcard, key.data, key.len);
        lw_key(&key, run->tenants.names[i], "outbox");
        lw_argv_adds(xlen, "XLEN");
        lw_argv_add(xlen, key.data, key.len);
    }
    lw_buf_free(&key);
    if (!lw_redis_pipeline(&run->redis, run->cmds, n, run->replies))
        return;
    double timers = 0, outbox = 0;
    for (size_t i = 0; i < n; i++)
        (i % 2 ? &outbox : &timers)[0] += (double)run->replies[i]->integer;
    lw_redis_free_replies(run->replies, n);
    lw_metrics_set("leakwatch_timers_pending", NULL, timers);
    lw_metrics_set("leakwatch_outbox_depth", NULL, outbox);
}

static void report_health(runner *run)
{
    lw_health_set(LW_HEALTH_REDIS, run->redis.ctx != NULL);
    lw_health_set(LW_HEALTH_KAFKA, run->consumer.assigned_any && run->consumer.marks_n > 0);
    lw_health_set(LW_HEALTH_PRODUCER, !lw_producer_fatal(run->producer));
}

static void between_batches(runner *run)
{
    int64_t now = lw_monotonic_ms();
    report_health(run);
    if (!ensure_redis(run))
        return;
    if (run->http && now >= run->next_gauges_ms) {
        run->next_gauges_ms = now + 5000;
        sample_gauges(run);
    }
    if (now >= run->next_tenants_ms) {
        run->next_tenants_ms = now + 5000;
        lw_tenants_refresh(&run->tenants, &run->redis);
    }
    if (now >= run->next_tick_ms) {
        run->next_tick_ms = now + run->cfg->timers_interval_ms;
        fire_due(run);
    }
    if (run->want_drain || now >= run->next_drain_ms || lw_outbox_in_flight(run->outbox)) {
        run->next_drain_ms = now + 1000;
        move_outbox(run);
    }
    if (run->cfg->until_end)
        lw_progress_tick(&run->progress, lw_stats_g.events_in, lw_consumer_lag(&run->consumer));
    if (run->cfg->stats_interval_ms && now >= run->next_stats_ms) {
        if (run->next_stats_ms)
            lw_stats_log(&run->redis, "periodic");
        run->next_stats_ms = now + run->cfg->stats_interval_ms;
    }
}

/* --until-end: every partition read to its end, the last deadlines fired, and every
 * derived event delivered. */
static bool reached_end(runner *run)
{
    if (!lw_consumer_all_at_end(&run->consumer) || !ensure_redis(run))
        return false;
    int64_t fired = fire_due(run);
    int sent = move_outbox(run);
    for (int64_t until = lw_monotonic_ms() + 5000;
         lw_producer_outq(run->producer) > 0 && lw_monotonic_ms() < until;)
        lw_producer_poll(run->producer, 50);
    bool acked = lw_outbox_ack(run->outbox);
    return fired == 0 && sent == 0 && acked && lw_outbox_in_flight(run->outbox) == 0;
}

/* ------------------------------ start and stop ------------------------------ */

static int start(runner *run)
{
    char err[512];
    if (!lw_redis_parse_url(run->cfg->redis_url, &run->redis, err, sizeof(err))) {
        fprintf(stderr, "leakwatch: config: %s\n", err);
        return LW_EXIT_CONFIG;
    }
    run->redis.timeout_ms = run->cfg->redis_timeout_ms;
    /* Kafka settings are checked before waiting for Redis: a typo is refused at once. */
    run->producer = lw_producer_new(run->cfg, on_delivery, run, err, sizeof(err));
    if (!run->producer) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
    }
    if (!ensure_redis(run))
        return run->exit_code >= 0 ? run->exit_code : LW_EXIT_OK;
    if (!lw_consumer_start(&run->consumer, run->cfg, err, sizeof(err))) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
    }
    if (*run->cfg->http_listen) {
        run->http = lw_http_start(run->cfg, err, sizeof(err));
        if (!run->http) {
            fprintf(stderr, "leakwatch: %s\n", err);
            return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
        }
    }
    run->outbox = lw_outbox_new(&run->redis, run->producer, run->cfg, &run->tenants);
    run->cmd_cap = (size_t)run->cfg->batch_size + MARK_COMMANDS;
    run->msgs = calloc((size_t)run->cfg->batch_size, sizeof(*run->msgs));
    run->cmds = calloc(run->cmd_cap, sizeof(*run->cmds));
    run->cmd_msg = calloc(run->cmd_cap, sizeof(*run->cmd_msg));
    run->replies = calloc(run->cmd_cap, sizeof(*run->replies));
    run->clock_ms = INT64_MIN;
    lw_progress_start(&run->progress);
    lw_info("leakwatch %s running: clock=%s brokers=%s redis=%s:%d", LW_VERSION,
            run->cfg->clock == LW_CLOCK_EVENT ? "event" : "wall", run->cfg->kafka_brokers,
            run->redis.host, run->redis.port);
    return -1; /* running */
}

/* librdkafka's order: close the consumer (commits stored offsets), flush the producer,
 * then destroy. Derived events delivered by the flush are acked before Redis goes. */
static void stop(runner *run)
{
    lw_progress_end(&run->progress);
    lw_http_stop(run->http);
    lw_consumer_close(&run->consumer);
    if (run->producer) {
        lw_producer_flush(run->producer, 10000);
        lw_producer_poll(run->producer, 0);
        if (run->outbox && run->redis.ctx)
            lw_outbox_ack(run->outbox);
        lw_producer_destroy(run->producer);
    }
    lw_outbox_free(run->outbox);
    lw_stats_log(&run->redis, "exit");
    lw_redis_close(&run->redis);
    for (size_t i = 0; i < run->cmd_cap; i++)
        lw_argv_free(&run->cmds[i]);
    free(run->cmds);
    free(run->cmd_msg);
    free(run->replies);
    free(run->msgs);
    free(run->redis.password);
    lw_tenants_free(&run->tenants);
}

int lw_run(const lw_config *cfg, volatile int *running)
{
    runner run = {.cfg = cfg, .running = running, .exit_code = -1};
    int rc = start(&run);
    while (rc < 0 && *running && run.exit_code < 0) {
        size_t n = lw_consumer_poll_batch(&run.consumer, run.msgs, (size_t)cfg->batch_size,
                                          cfg->batch_timeout_ms);
        if (n && !process_batch(&run, n))
            break;
        between_batches(&run);
        if (lw_producer_fatal(run.producer))
            run.exit_code = LW_EXIT_RUNTIME;
        else if (cfg->until_end && reached_end(&run)) {
            lw_info("every input partition read to its end and the outbox drained");
            break;
        }
    }
    stop(&run);
    if (rc >= 0)
        return rc;
    return run.exit_code >= 0 ? run.exit_code : LW_EXIT_OK;
}
