/* run.c — the processor loop. Poll into the partitions' buffers (consumer.c: each message
 * parsed, validated and made its FCALL by input.c), release a batch in event-time order
 * (merge.c), dead-letter what is bad (dlq.c), apply the rest to Redis in one pipelined round
 * trip with the partitions' marks after it (redis.c, watermark.c), and only then store the
 * input offsets. Each FCALL first fires its tenant's deadlines due before it, bounded by the
 * group's clock, so a deadline sees every event before it and none after. Between batches:
 * fire what is due for every tenant (timers.c) and move derived events from the outbox to
 * Kafka (outbox.c, producer.c). */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

#define CLOCK_COMMANDS 64 /* room for the clock's marks and reads in one round trip */
#define OWN_COMMANDS   (CLOCK_COMMANDS + 1) /* and the tenants' SADD */
#define AHEAD_WAIT_MS  5 /* how often the group's marks are read while waiting on them */

typedef struct runner {
    const lw_config *cfg;
    volatile int *running;
    lw_redis redis;
    lw_consumer *consumer;
    lw_merge *merge; /* the consumer's */
    lw_producer *producer;
    lw_outbox *outbox;
    lw_tenants *tenants;
    lw_http *http;
    lw_progress progress; /* a replay's progress line (--until-end on a terminal) */

    lw_input **batch;     /* the inputs the merge released, in order */
    lw_argv **pipe;       /* the batch's commands: the inputs' FCALLs, then the run's own */
    size_t *pipe_input;   /* the input of each FCALL */
    lw_argv *own;         /* the run's own commands (tenants, the clock) */
    lw_argv *flush;       /* lw_flush of each tenant of the batch */
    redisReply **replies; /* of pipe */
    size_t pipe_cap;

    lw_group_clock group;       /* the group's marks as last read */
    lw_merge_state merge_state; /* why the last batch ended */

    int dlq_tag; /* its address is the opaque of dead letters */
    int dlq_pending, dlq_failed;
    int64_t clock_ms; /* the last "now" deadlines were fired at */
    int64_t next_tick_ms, next_drain_ms, next_stats_ms, next_tenants_ms, next_gauges_ms;
    int64_t next_renew_ms; /* when the ends of this instance's partitions are confirmed again */
    bool want_drain;
    int exit_code; /* set when the processor must stop with an error; -1 while running */
    bool rebuild;  /* Redis came back empty under state.rebuild=replay: stop, start again */
    uint64_t connects_seen;
    lw_epoch epoch; /* of the state this instance works on ("" until the start checked it) */
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
    if (!ok)
        lw_metrics_add("leakwatch_delivery_failures_total", NULL, 1);
    if (opaque == &run->dlq_tag) {
        run->dlq_pending--;
        run->dlq_failed += !ok;
    } else
        lw_outbox_delivered(run->outbox, opaque, ok);
}

/* ------------------------------ Redis, reconnected on demand ------------------------- */

/* Whether the state is still the one this instance started on: a reconnect may be to a
 * server that came back empty (or was replaced). If not, the processor stops before its
 * next write (exit code 4), or under state.rebuild=replay starts again to rebuild. false
 * also when Redis did not answer (the connection is dropped: checked again at the next). */
static bool same_epoch(runner *run)
{
    lw_epoch now;
    lw_epoch_found found = lw_epoch_read(&run->redis, &now);
    if (found == LW_EPOCH_ERROR)
        return false;
    if (found == LW_EPOCH_FOUND && !strcmp(now.id, run->epoch.id))
        return true;
    const char *what = found == LW_EPOCH_FOUND ? "another state (its epoch changed)"
                                               : "no state of leakwatch's (its epoch is gone)";
    if (run->cfg->state_rebuild == LW_REBUILD_REPLAY) {
        lw_warn("redis %s:%d holds %s since this instance started: state.rebuild=replay, "
                "starting again to rebuild it from the earliest retained offsets",
                run->redis.host, run->redis.port, what);
        run->rebuild = true;
    } else {
        lw_error("redis %s:%d holds %s since this instance started: it came back empty (no "
                 "persistence, a wiped replica). Stopping rather than going on without the "
                 "state; state.rebuild=replay rebuilds it from the earliest retained offsets",
                 run->redis.host, run->redis.port, what);
        run->exit_code = LW_EXIT_AMNESIA;
    }
    return false;
}

/* A new connection may be to a server that restarted empty: its epoch is checked, then what
 * this instance wrote once (tenants, stream groups, partition marks) is written again. */
static void after_reconnect(runner *run)
{
    if (run->connects_seen == run->redis.connects)
        return;
    if (run->epoch.id[0] && !same_epoch(run)) {
        lw_redis_close(&run->redis); /* nothing more is written to it */
        return;
    }
    uint64_t first = run->connects_seen ? run->connects_seen : 1; /* the first is no reconnect */
    lw_metrics_add("leakwatch_redis_reconnects_total", NULL, (double)(run->redis.connects - first));
    run->connects_seen = run->redis.connects;
    lw_tenants_rewrite(run->tenants);
    if (run->outbox)
        lw_outbox_reset_streams(run->outbox);
    if (run->merge)
        lw_watermark_rewrite(run->merge);
}

/* Whether the processor goes on: not stopping, no exit code, no rebuild pending. */
static bool may_go_on(const runner *run)
{
    return *run->running && run->exit_code < 0 && !run->rebuild;
}

/* One connection with the library loaded, retried with backoff; false when stopping or
 * when this Redis cannot serve leakwatch at all (exit_code set). */
static bool connect_with_library(runner *run, int64_t *delay)
{
    while (!run->redis.ctx && may_go_on(run)) {
        if (!lw_redis_connect(&run->redis, run->running)) {
            if (run->redis.refused) /* a wrong user, password or db: not worth waiting for */
                run->exit_code = LW_EXIT_DEPENDENCY;
            return false;
        }
        int rc = lw_library_load(&run->redis);
        if (rc == LW_EXIT_DEPENDENCY || rc == LW_LIBRARY_BROKEN) {
            run->exit_code = rc == LW_EXIT_DEPENDENCY ? LW_EXIT_DEPENDENCY : LW_EXIT_RUNTIME;
            return false;
        }
        if (rc != LW_EXIT_OK) {
            lw_redis_close(&run->redis);
            backoff(run, delay);
        }
    }
    return run->redis.ctx != NULL;
}

/* Connects (with backoff) and loads the library when the connection was lost, then checks
 * that the state is still the one this instance started on. false when stopping or when
 * this Redis cannot serve leakwatch (exit_code set). */
static bool ensure_redis(runner *run)
{
    int64_t delay = 100;
    while (connect_with_library(run, &delay)) {
        after_reconnect(run); /* drops the connection when the epoch moved or went unread */
        if (run->redis.ctx || !may_go_on(run))
            break;
        backoff(run, &delay); /* unread: e.g. a cluster node still loading its data */
    }
    return run->redis.ctx != NULL && may_go_on(run);
}

/* Sends the commands until Redis has them all; a lost connection or a transient error is
 * retried with backoff. pipe[after..n) (the clock's marks) apply only once every command
 * before them did, on every shard of a cluster. false only when stopping. */
static bool pipeline_until_applied(runner *run, size_t n, size_t after)
{
    int64_t delay = 100;
    for (;;) {
        if (!ensure_redis(run))
            return false;
        if (lw_redis_pipeline_after(&run->redis, run->pipe, n, after, run->replies)) {
            const char *transient = NULL;
            for (size_t i = 0; i < n && !transient; i++)
                if (run->replies[i]->type == REDIS_REPLY_ERROR &&
                    lw_redis_transient_error(run->replies[i]->str))
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

/* ------------------------------ the group's clock ------------------------------ */

static int64_t plus(int64_t a, int64_t b) /* saturating, b >= 0 */
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t minus(int64_t a, int64_t b) /* saturating, b >= 0 */
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

/* Appends the clock's commands (this instance's changed marks, then the reads of every
 * mark) to the pipeline; returns how many. */
static size_t add_clock_commands(runner *run, lw_argv *own, size_t *npipe)
{
    size_t n = lw_watermark_argv(run->merge, run->cfg->group_id, lw_now_ms(), own, CLOCK_COMMANDS);
    for (size_t i = 0; i < n; i++)
        run->pipe[(*npipe)++] = &own[i];
    return n;
}

/* Reads the replies of the n clock commands: the marks written are clean, and the group's
 * marks are known anew. */
static void read_clock(runner *run, redisReply **rep, size_t n)
{
    bool written = true;
    for (size_t i = 0; i + 2 < n; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            lw_warn("redis refused a partition mark: %s", rep[i]->str);
            written = false; /* still dirty: written with the next batch */
        }
    if (written)
        lw_watermark_written(run->merge);
    const redisReply *times = rep[n - 2], *ends = rep[n - 1];
    if (times->type == REDIS_REPLY_ARRAY)
        lw_watermark_adopt(run->merge, times);
    size_t ntopics;
    const lw_topic_size *topics = lw_consumer_topics(run->consumer, &ntopics);
    if (times->type != REDIS_REPLY_ARRAY || ends->type != REDIS_REPLY_ARRAY || !ntopics)
        return; /* no topics known yet: no partition of the others could be told */
    int64_t wall = lw_now_ms(), mono = lw_monotonic_ms();
    lw_clock_view view = {.lateness_ms = run->cfg->clock_lateness_ms,
                          .now_wall_ms = wall,
                          .end_lease_ms = lw_watermark_lease_ms(run->merge->end_grace_ms)};
    run->group = lw_watermark_parse(run->merge, topics, ntopics, times, ends, &view);
    run->merge->group_unread = false;
    int64_t confirmed_mono = minus(run->group.others_confirmed_ms, wall - mono);
    lw_merge_expect_others(run->merge, run->group.others_end_ms, confirmed_mono);
}

/* One round trip for the clock alone (no batch to carry it). */
static bool refresh_clock(runner *run)
{
    size_t n = 0;
    size_t nclock = add_clock_commands(run, run->own, &n);
    if (!lw_redis_pipeline_of(&run->redis, run->pipe, n, run->replies))
        return false;
    read_clock(run, run->replies, nclock);
    lw_redis_free_replies(run->replies, n);
    return true;
}

/* "Now" for deadlines: clock=event, the group's watermark; clock=wall, the wall clock, but
 * never ahead of a partition that still has unread input. Never moves back. */
static int64_t clock_now(runner *run)
{
    int64_t now = run->group.event_ms;
    if (run->cfg->clock == LW_CLOCK_WALL) {
        int64_t wall = minus(lw_now_ms(), run->cfg->clock_lateness_ms);
        now = run->group.all_at_end || now > wall ? wall : now;
    }
    return now > run->clock_ms ? now : run->clock_ms;
}

/* The tenant's deadlines before this fire before an event at time_ms applies: every event
 * before them is applied (the merge is in order here, the other instances' partitions are
 * past others_ms), none after. */
static int64_t fire_bound(const runner *run, int64_t time_ms, int64_t wall_ms)
{
    int64_t bound = time_ms < run->group.others_ms ? time_ms : run->group.others_ms;
    if (run->cfg->clock == LW_CLOCK_WALL && wall_ms < bound)
        bound = wall_ms;
    return minus(bound, run->cfg->clock_lateness_ms);
}

/* ------------------------------ one batch ------------------------------ */

static void dead_letter(runner *run, rd_kafka_message_t *m, const lw_reject *why)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", lw_reject_name(why->reason));
    lw_metrics_add("leakwatch_dead_letters_total", labels, 1);
    lw_stats_g.dlq[why->reason]++;
    if (run->cfg->publish_none) /* replay.output=none: counted, not produced */
        return;
    if (lw_dlq_send(run->producer, run->cfg->topic_dlq, m, why, &run->dlq_tag))
        run->dlq_pending++;
    else
        run->dlq_failed++;
}

/* The next inputs in event-time order, at most batch.size; returns how many. */
static size_t release_batch(runner *run)
{
    int64_t limit = plus(run->group.others_ms, run->cfg->input.max_lead_ms);
    int64_t idle = run->cfg->clock == LW_CLOCK_EVENT ? -1 : run->cfg->input.max_idle_ms;
    int64_t now = lw_monotonic_ms();
    uint64_t late = run->merge->late;
    if (run->merge->group_unread) { /* newly assigned: the others as known now first */
        run->merge_state = LW_MERGE_AHEAD;
        return 0;
    }
    size_t n = 0;
    while (n < (size_t)run->cfg->batch_size) {
        run->merge_state = lw_merge_pop(run->merge, limit, idle, now, &run->batch[n]);
        if (run->merge_state != LW_MERGE_READY)
            break;
        n++;
    }
    if (run->merge->late > late)
        lw_metrics_add("leakwatch_events_late_total", NULL, (double)(run->merge->late - late));
    return n;
}

/* After the FCALLs: one lw_flush per tenant of the batch (its aggregates, once). */
static size_t add_flushes(runner *run, size_t ncmd, size_t *npipe)
{
    size_t nflush = 0;
    for (size_t i = 0; i < ncmd; i++) {
        const char *tenant = run->batch[run->pipe_input[i]]->tenant;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(run->batch[run->pipe_input[k]]->tenant, tenant);
        if (!seen) {
            lw_timers_flush_argv(tenant, &run->flush[nflush]);
            run->pipe[(*npipe)++] = &run->flush[nflush++];
        }
    }
    return nflush;
}

/* The batch's pipeline: an FCALL per valid input (dead letters go now), a flush per tenant,
 * then the tenants not yet in lw:{tenants} and the clock. Returns the number of commands;
 * *ncmd the FCALLs, *nflush the flushes after them, *nclock the clock's at the end. */
static size_t build_pipeline(runner *run, size_t n, size_t *ncmd, size_t *nflush, size_t *nclock)
{
    size_t k = 0;
    int64_t wall = lw_now_ms();
    for (size_t i = 0; i < n; i++) {
        lw_input *in = run->batch[i];
        if (in->why.reason != LW_REJECT_NONE) {
            dead_letter(run, in->msg, &in->why);
            continue;
        }
        char labels[200];
        lw_metrics_add("leakwatch_events_in_total",
                       lw_metrics_labels(labels, sizeof(labels), "type", in->type, "topic",
                                         rd_kafka_topic_name(in->msg->rkt), NULL),
                       1);
        lw_tenants_add(run->tenants, in->tenant);
        lw_transition_set_bound(&in->cmd, fire_bound(run, in->time_ms, wall));
        run->pipe_input[k] = i;
        run->pipe[k++] = &in->cmd;
    }
    *ncmd = k;
    *nflush = add_flushes(run, *ncmd, &k);
    lw_argv *own = run->own;
    if (lw_tenants_persist_argv(run->tenants, own))
        run->pipe[k++] = own++;
    *nclock = add_clock_commands(run, own, &k);
    return k;
}

/* The flushes' replies: derived events to drain. */
static void read_flushes(runner *run, redisReply **rep, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rep[i]->type == REDIS_REPLY_INTEGER)
            run->want_drain |= rep[i]->integer > 0;
        else
            lw_error("lw_flush: %s", rep[i]->str ? rep[i]->str : "unexpected reply");
    }
}

/* Counts the outcome of each FCALL; one the library refused goes to the dead letters. */
static void read_replies(runner *run, size_t ncmd)
{
    size_t duplicates = 0; /* ids applied before: {0, ...} */
    for (size_t i = 0; i < ncmd; i++) {
        redisReply *rep = run->replies[i];
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
            bool applied = rep->element[0]->integer == 1;
            lw_stats_g.events_applied += applied;
            lw_stats_g.events_duplicate += !applied;
            duplicates += !applied;
            run->want_drain |= rep->element[1]->integer > 0;
            continue;
        }
        lw_reject why = {.reason = LW_REJECT_STATE_ERROR};
        char where[96];
        lw_library_locate(rep->str, where, sizeof(where));
        snprintf(why.detail, sizeof(why.detail), "lw_event (%s): %s", where,
                 rep->str ? rep->str : "unexpected reply");
        lw_error("%s", why.detail);
        dead_letter(run, run->batch[run->pipe_input[i]]->msg, &why);
    }
    if (duplicates)
        lw_metrics_add("leakwatch_events_duplicate_total", NULL, (double)duplicates);
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

    size_t ncmd, nflush, nclock, total = build_pipeline(run, n, &ncmd, &nflush, &nclock);
    bool durable = pipeline_until_applied(run, total, total - nclock);
    if (durable) {
        if (total > ncmd + nflush + nclock)
            lw_tenants_persisted(run->tenants);
        read_replies(run, ncmd);
        read_flushes(run, run->replies + ncmd, nflush);
        read_clock(run, run->replies + total - nclock, nclock);
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
        lw_consumer_store_offsets(run->consumer);
    for (size_t i = 0; i < n; i++)
        lw_input_free(run->batch[i]);
    return durable;
}

/* ------------------------------ deadlines and the outbox ------------------------------ */

/* Fires what is due for every tenant; returns the number fired, -1 on a Redis error. */
static int64_t fire_due(runner *run)
{
    if (!refresh_clock(run))
        return -1;
    int64_t now = clock_now(run);
    if (now == INT64_MIN)
        return 0; /* no watermark yet */
    run->clock_ms = now;
    lw_metrics_set("leakwatch_event_clock_timestamp_seconds", NULL, (double)now / 1000.0);
    int64_t emitted = 0;
    int64_t fired =
        lw_timers_fire(&run->redis, run->tenants, now, run->cfg->timers_batch, &emitted);
    if (fired > 0) {
        lw_stats_g.timers_fired += (uint64_t)fired;
        lw_metrics_add("leakwatch_timers_fired_total", NULL, (double)fired);
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

/* <verb> <the tenant's key of that shape> */
static void tenant_command(lw_argv *cmd, const char *verb, const char *shape, const char *tenant)
{
    lw_buf key = {0};
    lw_key(&key, shape, tenant);
    lw_argv_reset(cmd);
    lw_argv_adds(cmd, verb);
    lw_argv_add(cmd, key.data, key.len);
    lw_buf_free(&key);
}

/* Timers pending and outbox depth over every tenant, for /metrics (every 5 s). */
static void sample_gauges(runner *run)
{
    size_t n = lw_tenants_count(run->tenants) * 2;
    if (n == 0 || n > OWN_COMMANDS)
        return;
    for (size_t i = 0; i < n / 2; i++) {
        const char *tenant = lw_tenants_name(run->tenants, i);
        tenant_command(&run->own[2 * i], "ZCARD", LW_KEY_TIMERS, tenant);
        tenant_command(&run->own[2 * i + 1], "XLEN", LW_KEY_OUTBOX, tenant);
    }
    if (!lw_redis_pipeline(&run->redis, run->own, n, run->replies))
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
    lw_health_set(LW_HEALTH_KAFKA, lw_consumer_assigned(run->consumer));
    lw_health_set(LW_HEALTH_PRODUCER, !lw_producer_fatal(run->producer));
}

static void show_progress(runner *run)
{
    lw_progress_tick(&run->progress, lw_consumer_assigned(run->consumer), lw_stats_g.events_in,
                     lw_consumer_lag(run->consumer), lw_stats_g.first_event_mono_ms);
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
        lw_metrics_set("leakwatch_input_buffered_bytes", NULL, (double)run->merge->bytes);
    }
    if (now >= run->next_tenants_ms) {
        run->next_tenants_ms = now + 5000;
        if (!same_epoch(run)) /* a FLUSHALL keeps the connection: no reconnect tells */
            return;
        lw_tenants_refresh(run->tenants, &run->redis);
    }
    if (now >= run->next_renew_ms) {
        run->next_renew_ms = now + lw_watermark_renew_ms(run->merge->end_grace_ms);
        lw_watermark_renew(run->merge);
    }
    if (now >= run->next_tick_ms) {
        run->next_tick_ms = now + run->cfg->timers_interval_ms;
        fire_due(run);
    } else if (run->merge_state == LW_MERGE_AHEAD || lw_merge_marks_dirty(run->merge))
        refresh_clock(run); /* waiting for the other instances, or they for this one */
    if (run->want_drain || now >= run->next_drain_ms || lw_outbox_in_flight(run->outbox)) {
        run->next_drain_ms = now + 1000;
        move_outbox(run);
    }
    if (run->cfg->until_end)
        show_progress(run);
    if (run->cfg->stats_interval_ms && now >= run->next_stats_ms) {
        if (run->next_stats_ms)
            lw_stats_log(&run->redis, "periodic");
        run->next_stats_ms = now + run->cfg->stats_interval_ms;
    }
}

/* Whether every tenant's outbox stream is empty (a delivered entry is deleted): what the
 * last deadlines derived is out, whatever the drain said. */
static bool outboxes_empty(runner *run)
{
    size_t n = lw_tenants_count(run->tenants);
    if (n > OWN_COMMANDS)
        n = OWN_COMMANDS;
    for (size_t i = 0; i < n; i++)
        tenant_command(&run->own[i], "XLEN", LW_KEY_OUTBOX, lw_tenants_name(run->tenants, i));
    if (n == 0)
        return true;
    if (!lw_redis_pipeline(&run->redis, run->own, n, run->replies))
        return false;
    bool empty = true;
    for (size_t i = 0; i < n; i++)
        empty &= run->replies[i]->type == REDIS_REPLY_INTEGER && run->replies[i]->integer == 0;
    lw_redis_free_replies(run->replies, n);
    if (!empty)
        run->want_drain = true;
    return empty;
}

/* --until-end: every partition of the group read to its end (this instance's, and those
 * other instances own or nobody was assigned yet), the last deadlines fired, and every
 * derived event delivered. */
static bool reached_end(runner *run)
{
    if (!lw_consumer_all_at_end(run->consumer) || !ensure_redis(run))
        return false;
    int64_t fired = fire_due(run);
    if (!run->group.all_at_end)
        return false;
    int sent = move_outbox(run);
    for (int64_t until = lw_monotonic_ms() + 5000;
         lw_producer_outq(run->producer) > 0 && lw_monotonic_ms() < until;)
        lw_producer_poll(run->producer, 50);
    bool acked = lw_outbox_ack(run->outbox);
    return fired == 0 && sent == 0 && acked && lw_outbox_in_flight(run->outbox) == 0 &&
           outboxes_empty(run);
}

/* ------------------------------ start and stop ------------------------------ */

/* lw_resume_fn: the positions Redis holds for the partitions being assigned, read again
 * until Redis answers (a partition must not start at Kafka's offset while Redis is merely
 * away: that offset may be ahead of the state). */
static bool resume_from_redis(void *ctx, const lw_partition_ref *parts, size_t n, int64_t *resume)
{
    runner *run = ctx;
    int64_t delay = 100;
    while (ensure_redis(run)) {
        if (lw_positions_read(&run->redis, run->cfg->group_id, parts, n, resume))
            return true;
        lw_warn("redis: the input positions could not be read; retrying in %lld ms",
                (long long)delay);
        backoff(run, &delay);
    }
    return false;
}

/* What Redis holds when there is no epoch: new (written now), the state of a leakwatch
 * older than epochs (adopted), or a Redis that came back empty while the group has run
 * before (committed offsets): refused, or rebuilt under state.rebuild=replay. Returns -1 to
 * go on, else the exit code. */
static int no_epoch(runner *run, bool has_state, int64_t *delay)
{
    char err[512];
    int before = has_state ? 0 : lw_consumer_committed_before(run->consumer, err, sizeof(err));
    if (before < 0) {
        lw_warn("%s; retrying in %lld ms", err, (long long)*delay);
        backoff(run, delay);
        return -1;
    }
    bool rebuild = before && run->cfg->state_rebuild == LW_REBUILD_REPLAY;
    if (before && !rebuild) {
        lw_error("redis %s:%d holds no state of leakwatch's (no epoch key " LW_KEY_EPOCH ") but "
                 "consumer group %s has committed offsets: Redis came back empty (no "
                 "persistence, a wiped replica). Refusing to go on without the state: start "
                 "with state.rebuild=replay to rebuild it from the earliest retained offsets",
                 run->redis.host, run->redis.port, run->cfg->group_id);
        return LW_EXIT_AMNESIA;
    }
    if (rebuild)
        lw_warn("redis holds no state but group %s ran before: state.rebuild=replay, rebuilding "
                "from the earliest retained offsets",
                run->cfg->group_id);
    if (has_state)
        lw_info("redis holds the state of a leakwatch older than epochs: adopted; partitions "
                "resume at the group's committed offsets until they have a position in Redis");
    if (!lw_epoch_write(&run->redis, has_state, &run->epoch))
        backoff(run, delay);
    return -1;
}

/* Finds the epoch of the state (or writes the first), before any partition is assigned. */
static int check_epoch(runner *run)
{
    int64_t delay = 100;
    while (!run->epoch.id[0]) {
        if (!ensure_redis(run))
            return run->exit_code >= 0 ? run->exit_code : LW_EXIT_OK;
        lw_epoch_found found = lw_epoch_read(&run->redis, &run->epoch);
        if (found == LW_EPOCH_ERROR)
            backoff(run, &delay);
        else if (found != LW_EPOCH_FOUND) {
            int rc = no_epoch(run, found == LW_EPOCH_NONE_WITH_STATE, &delay);
            if (rc >= 0)
                return rc;
        }
        if (!*run->running)
            return LW_EXIT_OK;
    }
    lw_info("redis state epoch %s", run->epoch.id);
    lw_consumer_set_resume(run->consumer, resume_from_redis, run, !run->epoch.committed_fallback);
    return -1;
}

static int start(runner *run)
{
    char err[512];
    run->tenants = lw_tenants_new();
    if (!lw_redis_parse_url(run->cfg->redis_url, &run->redis, err, sizeof(err))) {
        fprintf(stderr, "leakwatch: config: %s\n", err);
        return LW_EXIT_CONFIG;
    }
    run->redis.timeout_ms = run->cfg->redis_timeout_ms;
    run->redis.cluster_mode = run->cfg->redis_cluster;
    /* Kafka settings are checked before waiting for Redis: a typo is refused at once. */
    run->producer = lw_producer_new(run->cfg, on_delivery, run, err, sizeof(err));
    if (!run->producer) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
    }
    if (!ensure_redis(run))
        return run->exit_code >= 0 ? run->exit_code : LW_EXIT_OK;
    run->consumer = lw_consumer_new(run->cfg, err, sizeof(err));
    if (!run->consumer) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
    }
    run->merge = lw_consumer_merge(run->consumer);
    int rc = check_epoch(run);
    if (rc >= 0)
        return rc;
    if (!lw_consumer_subscribe(run->consumer, err, sizeof(err))) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return LW_EXIT_RUNTIME;
    }
    if (*run->cfg->http_listen) {
        run->http = lw_http_start(run->cfg, err, sizeof(err));
        if (!run->http) {
            fprintf(stderr, "leakwatch: %s\n", err);
            return strncmp(err, "config:", 7) ? LW_EXIT_RUNTIME : LW_EXIT_CONFIG;
        }
    }
    run->outbox = lw_outbox_new(&run->redis, run->producer, run->cfg, run->tenants);
    run->pipe_cap = 2 * (size_t)run->cfg->batch_size + OWN_COMMANDS; /* FCALLs, flushes, own */
    run->batch = calloc((size_t)run->cfg->batch_size, sizeof(*run->batch));
    run->pipe = calloc(run->pipe_cap, sizeof(*run->pipe));
    run->pipe_input = calloc(run->pipe_cap, sizeof(*run->pipe_input));
    run->own = calloc(OWN_COMMANDS, sizeof(*run->own));
    run->flush = calloc((size_t)run->cfg->batch_size, sizeof(*run->flush));
    run->replies = calloc(run->pipe_cap, sizeof(*run->replies));
    run->clock_ms = INT64_MIN;
    run->group = (lw_group_clock){.others_ms = INT64_MIN, .event_ms = INT64_MIN};
    lw_progress_start(&run->progress);
    lw_info("leakwatch %s running: clock=%s brokers=%s redis=%s:%d", LW_VERSION,
            run->cfg->clock == LW_CLOCK_EVENT ? "event" : "wall", run->cfg->kafka_brokers,
            run->redis.host, run->redis.port);
    return -1; /* running */
}

/* The moment the shutdown must be over: shutdown.timeout after the stop signal (or now). */
static int64_t shutdown_deadline(const runner *run)
{
    int64_t at = lw_monotonic_ms();
    int sig = lw_signal_received(&at);
    if (sig && run->consumer)
        lw_info("received %s: shutting down within %lld ms", lw_signal_name(sig),
                (long long)run->cfg->shutdown_timeout_ms);
    return at + run->cfg->shutdown_timeout_ms;
}

static int64_t left_until(int64_t deadline)
{
    int64_t left = deadline - lw_monotonic_ms();
    return left > 0 ? left : 0;
}

/* librdkafka's order: close the consumer (commits stored offsets), flush the producer,
 * then destroy; within shutdown.timeout of the signal, the consumer taking at most half of
 * it. Nothing is lost by a bound: offsets are stored only once their work is durable, and an
 * outbox entry is acked only once delivered, so what did not finish is redone after the
 * restart. Derived events delivered by the flush are acked before Redis goes. */
static void stop(runner *run)
{
    int64_t deadline = shutdown_deadline(run);
    lw_progress_end(&run->progress);
    lw_http_stop(run->http);
    lw_consumer_leave(run->consumer, left_until(deadline) / 2);
    if (run->merge && run->merge->nreleased && run->redis.ctx && run->own)
        refresh_clock(run); /* the revoked partitions' marks open: the group does not wait on
                               this instance's word for them */
    lw_consumer_free(run->consumer);
    run->consumer = NULL;
    run->merge = NULL;
    if (run->producer) {
        lw_producer_flush(run->producer, (int)left_until(deadline));
        lw_producer_poll(run->producer, 0);
        if (run->outbox && run->redis.ctx && left_until(deadline) > 0)
            lw_outbox_ack(run->outbox); /* not past the deadline: a hung Redis takes its timeout */
        lw_producer_destroy(run->producer);
    }
    lw_outbox_free(run->outbox);
    lw_stats_log(&run->redis, "exit");
    lw_redis_close(&run->redis);
    for (size_t i = 0; run->own && i < OWN_COMMANDS; i++)
        lw_argv_free(&run->own[i]);
    free(run->own);
    for (size_t i = 0; run->flush && i < (size_t)run->cfg->batch_size; i++)
        lw_argv_free(&run->flush[i]);
    free(run->flush);
    free(run->pipe);
    free(run->pipe_input);
    free(run->replies);
    free(run->batch);
    lw_redis_free_url(&run->redis);
    lw_tenants_free(run->tenants);
}

/* How long to wait for input: not at all while the merge has more to release. */
static int64_t fill_wait(const runner *run)
{
    switch (run->merge_state) {
    case LW_MERGE_READY:
        return 0;
    case LW_MERGE_AHEAD:
        return AHEAD_WAIT_MS < run->cfg->batch_timeout_ms ? AHEAD_WAIT_MS
                                                          : run->cfg->batch_timeout_ms;
    default:
        return run->cfg->batch_timeout_ms;
    }
}

/* Starts, runs until stopped, stops; *rebuild when it stopped to rebuild the state. */
static int run_once(const lw_config *cfg, volatile int *running, bool *rebuild)
{
    runner run = {.cfg = cfg, .running = running, .exit_code = -1};
    int rc = start(&run);
    while (rc < 0 && *running && run.exit_code < 0 && !run.rebuild) {
        lw_consumer_fill(run.consumer, fill_wait(&run), (size_t)cfg->batch_size);
        size_t n = release_batch(&run);
        if (n && !process_batch(&run, n))
            break;
        between_batches(&run);
        if (lw_producer_fatal(run.producer))
            run.exit_code = LW_EXIT_RUNTIME;
        else if (cfg->until_end && reached_end(&run)) {
            run.progress.next_ms = 0; /* the last numbers, whenever the line was drawn */
            show_progress(&run);
            lw_info("every input partition read to its end and the outbox drained");
            break;
        }
    }
    stop(&run);
    *rebuild = run.rebuild;
    if (rc >= 0)
        return rc;
    return run.exit_code >= 0 ? run.exit_code : LW_EXIT_OK;
}

/* The processor; started again when Redis came back empty under state.rebuild=replay (the
 * start then finds no epoch and rebuilds). */
int lw_run(const lw_config *cfg, volatile int *running)
{
    for (;;) {
        bool rebuild = false;
        int rc = run_once(cfg, running, &rebuild);
        if (!rebuild || !*running)
            return rc;
        lw_info("starting again: the state is rebuilt");
    }
}
