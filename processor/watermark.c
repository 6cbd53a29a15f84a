/* watermark.c — the event clock (PRODUCT.md §5). Each instance writes the marks of the
 * partitions it owns to Redis; every instance reads all of them, so one consumer group
 * agrees on one watermark:
 *   lw:clock:<group>:time  "<topic>:<partition>" -> latest event time read (ms, -1: none)
 *   lw:clock:<group>:end   "<topic>:<partition>" -> 1 when read to its end, else 0 */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>

int64_t lw_watermark_compute(const lw_partition_mark *marks, size_t n, int64_t lateness_ms)
{
    bool any_open = false;
    int64_t lowest_open = INT64_MAX, highest = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (!marks[i].at_end) {
            if (marks[i].max_event_ms < 0)
                return INT64_MIN; /* unread: it may hold anything */
            any_open = true;
            if (marks[i].max_event_ms < lowest_open)
                lowest_open = marks[i].max_event_ms;
        }
        if (marks[i].max_event_ms > highest)
            highest = marks[i].max_event_ms;
    }
    int64_t wm = any_open ? lowest_open : highest;
    return wm < 0 ? INT64_MIN : wm - lateness_ms;
}

static void clock_key(lw_argv *a, const char *group, const char *which)
{
    char key[300];
    snprintf(key, sizeof(key), "lw:clock:%s:%s", group, which);
    lw_argv_adds(a, key);
}

static void mark_field(lw_argv *a, const lw_partition_mark *m)
{
    char field[200];
    snprintf(field, sizeof(field), "%s:%d", m->topic, (int)m->partition);
    lw_argv_adds(a, field);
}

size_t lw_watermark_write_argv(lw_consumer *c, const char *group, lw_argv *cmds, size_t max)
{
    size_t n = 0, dirty = 0;
    /* a partition not read yet is announced without overwriting an earlier owner's mark */
    for (size_t i = 0; i < c->marks_n && n + 2 < max; i++) {
        lw_partition_mark *m = &c->marks[i];
        if (!m->dirty)
            continue;
        dirty++;
        if (m->max_event_ms < 0) {
            lw_argv_reset(&cmds[n]);
            lw_argv_adds(&cmds[n], "HSETNX");
            clock_key(&cmds[n], group, "time");
            mark_field(&cmds[n], m);
            lw_argv_adds(&cmds[n], "-1");
            n++;
        }
    }
    if (!dirty)
        return n;
    lw_argv *ends = &cmds[n], *times = &cmds[n + 1];
    lw_argv_reset(ends);
    lw_argv_reset(times);
    lw_argv_adds(ends, "HSET");
    clock_key(ends, group, "end");
    lw_argv_adds(times, "HSET");
    clock_key(times, group, "time");
    for (size_t i = 0; i < c->marks_n; i++) {
        lw_partition_mark *m = &c->marks[i];
        if (!m->dirty)
            continue;
        mark_field(ends, m);
        lw_argv_adds(ends, m->at_end ? "1" : "0");
        if (m->max_event_ms >= 0) {
            mark_field(times, m);
            lw_argv_addi(times, m->max_event_ms);
        }
    }
    return n + (times->n > 2 ? 2 : 1); /* ends always has a field; times may have none */
}

void lw_watermark_rewrite(lw_consumer *c)
{
    for (size_t i = 0; i < c->marks_n; i++)
        c->marks[i].dirty = true;
}

void lw_watermark_written(lw_consumer *c)
{
    for (size_t i = 0; i < c->marks_n; i++)
        c->marks[i].dirty = false;
}

static lw_partition_mark *mark_named(lw_partition_mark *marks, size_t *n, const char *field)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(marks[i].topic, field))
            return &marks[i];
    lw_partition_mark *m = &marks[(*n)++];
    memset(m, 0, sizeof(*m));
    snprintf(m->topic, sizeof(m->topic), "%s", field); /* "topic:partition" as the name */
    m->max_event_ms = -1;
    return m;
}

bool lw_watermark_read(lw_redis *r, const char *group, int64_t lateness_ms, int64_t *out_ms)
{
    lw_argv cmds[2] = {0};
    for (int i = 0; i < 2; i++) {
        lw_argv_adds(&cmds[i], "HGETALL");
        clock_key(&cmds[i], group, i == 0 ? "time" : "end");
    }
    redisReply *rep[2] = {0};
    bool ok = lw_redis_pipeline(r, cmds, 2, rep);
    lw_argv_free(&cmds[0]);
    lw_argv_free(&cmds[1]);
    if (!ok)
        return false;
    size_t cap = rep[0]->elements / 2 + rep[1]->elements / 2 + 1, n = 0;
    lw_partition_mark *marks = calloc(cap, sizeof(*marks));
    for (size_t i = 0; i + 1 < rep[0]->elements; i += 2)
        mark_named(marks, &n, rep[0]->element[i]->str)->max_event_ms =
            strtoll(rep[0]->element[i + 1]->str, NULL, 10);
    for (size_t i = 0; i + 1 < rep[1]->elements; i += 2)
        mark_named(marks, &n, rep[1]->element[i]->str)->at_end =
            !strcmp(rep[1]->element[i + 1]->str, "1");
    *out_ms = lw_watermark_compute(marks, n, lateness_ms);
    free(marks);
    lw_redis_free_replies(rep, 2);
    return true;
}
