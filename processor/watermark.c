/* watermark.c — the event clock (PRODUCT.md §5). Each instance writes the marks of the
 * partitions it owns to Redis, after the events they describe (in the same pipeline, so a
 * mark is never ahead of the state); every instance reads all of them, so one consumer group
 * agrees on one watermark:
 *   lw:clock:{<group>}:time  "<topic>:<partition>" -> its frontier: no event of it not applied
 *                          yet is older (ms; -1: nothing read yet)
 *   lw:clock:{<group>}:end   "<topic>:<partition>" -> when read to its end and applied: the
 *                          wall time (ms) its owner last confirmed that; else 0
 * The lowest frontier of the partitions other instances own bounds what this one may do:
 * deadlines fire only before it, and events apply at most input.max_lead after it.
 *
 * An end is only as good as its owner's word: the owner confirms it every renew interval,
 * a confirmation older than the lease counts as open (the owner was killed or left, and the
 * feed may have gone on there), and a partition revoked is written open at once. */
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
    snprintf(key, sizeof(key), LW_KEY_CLOCK, group, which);
    lw_argv_adds(a, key);
}

static void mark_field(lw_argv *a, const lw_merge_part *p)
{
    char field[272];
    lw_merge_part_name(field, sizeof(field), p->topic, p->partition);
    lw_argv_adds(a, field);
}

static void start_command(lw_argv *a, const char *verb, const char *group, const char *which)
{
    lw_argv_reset(a);
    lw_argv_adds(a, verb);
    clock_key(a, group, which);
}

int64_t lw_watermark_renew_ms(int64_t grace_ms)
{
    int64_t half = grace_ms / 2;
    return grace_ms <= 0 || half > 1000 ? 1000 : half < 50 ? 50 : half;
}

int64_t lw_watermark_lease_ms(int64_t grace_ms)
{
    return 2000 + 4 * lw_watermark_renew_ms(grace_ms);
}

/* The writes: HSETNX -1 for partitions not read yet (an earlier owner's mark stays), one
 * HSET of the end marks (the released ones open), one HSET of the frontiers known. */
static size_t write_argv(const lw_merge *m, const char *group, int64_t now_wall_ms, lw_argv *cmds,
                         size_t max)
{
    size_t n = 0, dirty = m->nreleased;
    for (size_t i = 0; i < m->n && n + 2 < max; i++) {
        const lw_merge_part *p = &m->parts[i];
        if (!p->mark_dirty)
            continue;
        dirty++;
        if (lw_merge_frontier(p) < 0) {
            start_command(&cmds[n], "HSETNX", group, "time");
            mark_field(&cmds[n], p);
            lw_argv_adds(&cmds[n], "-1");
            n++;
        }
    }
    if (!dirty)
        return n;
    lw_argv *ends = &cmds[n], *times = &cmds[n + 1];
    start_command(ends, "HSET", group, "end");
    start_command(times, "HSET", group, "time");
    for (size_t i = 0; i < m->n; i++) {
        const lw_merge_part *p = &m->parts[i];
        if (!p->mark_dirty)
            continue;
        mark_field(ends, p);
        lw_argv_addi(ends, lw_merge_at_end(p) ? now_wall_ms : 0);
        if (lw_merge_frontier(p) >= 0) {
            mark_field(times, p);
            lw_argv_addi(times, lw_merge_frontier(p));
        }
    }
    for (size_t i = 0; i < m->nreleased; i++) { /* its new owner writes its frontier */
        lw_argv_adds(ends, m->released[i].name);
        lw_argv_adds(ends, "0");
    }
    return n + (times->n > 2 ? 2 : 1); /* ends always has a field; times may have none */
}

size_t lw_watermark_argv(const lw_merge *m, const char *group, int64_t now_wall_ms, lw_argv *cmds,
                         size_t max)
{
    size_t n = write_argv(m, group, now_wall_ms, cmds, max - 2);
    start_command(&cmds[n++], "HGETALL", group, "time");
    start_command(&cmds[n++], "HGETALL", group, "end");
    return n;
}

void lw_watermark_rewrite(lw_merge *m)
{
    for (size_t i = 0; i < m->n; i++)
        m->parts[i].mark_dirty = true;
}

void lw_watermark_written(lw_merge *m)
{
    for (size_t i = 0; i < m->n; i++)
        m->parts[i].mark_dirty = false;
    m->nreleased = 0;
}

void lw_watermark_renew(lw_merge *m)
{
    for (size_t i = 0; i < m->n; i++)
        m->parts[i].mark_dirty |= lw_merge_at_end(&m->parts[i]);
}

/* ------------------------------ reading the group's marks ------------------------------ */

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

/* Whether "topic:partition" names a partition of an input topic. */
static bool input_partition(const char *field, const lw_topic_size *topics, size_t ntopics)
{
    const char *colon = strrchr(field, ':');
    if (!colon)
        return false;
    size_t len = (size_t)(colon - field);
    long partition = strtol(colon + 1, NULL, 10);
    for (size_t i = 0; i < ntopics; i++)
        if (strlen(topics[i].name) == len && !strncmp(topics[i].name, field, len))
            return partition >= 0 && partition < topics[i].partitions;
    return false;
}

static bool owned(const lw_merge *m, const char *field)
{
    char name[200];
    for (size_t i = 0; i < m->n; i++) {
        lw_merge_part_name(name, sizeof(name), m->parts[i].topic, m->parts[i].partition);
        if (!strcmp(name, field))
            return true;
    }
    return false;
}

/* The lowest frontier of the marks at their end, and their oldest confirmation. */
static void lowest_ended(const lw_partition_mark *marks, size_t n, lw_group_clock *clock)
{
    clock->others_end_ms = INT64_MAX;
    clock->others_confirmed_ms = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!marks[i].at_end)
            continue;
        if (marks[i].max_event_ms < clock->others_end_ms)
            clock->others_end_ms = marks[i].max_event_ms;
        if (marks[i].confirmed_ms < clock->others_confirmed_ms)
            clock->others_confirmed_ms = marks[i].confirmed_ms;
    }
}

/* An end mark's value: at its end while its owner's confirmation holds. */
static void read_end(lw_partition_mark *mk, const char *value, const lw_clock_view *view)
{
    int64_t confirmed = strtoll(value, NULL, 10);
    mk->at_end = confirmed > 0 && view->now_wall_ms - confirmed <= view->end_lease_ms;
    mk->confirmed_ms = confirmed;
}

/* The lowest frontier of marks not at their end (INT64_MIN if one is unread), or INT64_MAX
 * when every one is at its end. */
static int64_t lowest_open(const lw_partition_mark *marks, size_t n)
{
    int64_t low = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (!marks[i].at_end && marks[i].max_event_ms < low)
            low = marks[i].max_event_ms < 0 ? INT64_MIN : marks[i].max_event_ms;
    return low;
}

void lw_watermark_adopt(lw_merge *m, const redisReply *times)
{
    char name[200];
    for (size_t i = 0; i < m->n; i++) {
        lw_merge_part *p = &m->parts[i];
        if (p->frontier_ms >= 0)
            continue;
        lw_merge_part_name(name, sizeof(name), p->topic, p->partition);
        for (size_t k = 0; k + 1 < times->elements; k += 2)
            if (!strcmp(times->element[k]->str, name)) {
                p->frontier_ms = strtoll(times->element[k + 1]->str, NULL, 10);
                p->mark_dirty |= p->frontier_ms >= 0;
            }
    }
}

/* Every partition of the input topics that is neither owned nor marked: never read. */
static void add_unmarked(const lw_merge *m, const lw_topic_size *topics, size_t ntopics,
                         lw_partition_mark **marks, size_t *n, size_t *cap)
{
    char field[272];
    for (size_t t = 0; t < ntopics; t++)
        for (int32_t p = 0; p < topics[t].partitions; p++) {
            lw_merge_part_name(field, sizeof(field), topics[t].name, p);
            if (owned(m, field))
                continue;
            if (*n == *cap) {
                *cap *= 2;
                *marks = realloc(*marks, *cap * sizeof(**marks));
            }
            mark_named(*marks, n, field); /* found, or added unread */
        }
}

lw_group_clock lw_watermark_parse(const lw_merge *m, const lw_topic_size *topics, size_t ntopics,
                                  const redisReply *times, const redisReply *ends,
                                  const lw_clock_view *view)
{
    size_t cap = m->n + times->elements / 2 + ends->elements / 2 + 16, others = 0;
    lw_partition_mark *marks = calloc(cap, sizeof(*marks));
    /* others first, from Redis */
    for (int pass = 0; pass < 2; pass++) {
        const redisReply *r = pass == 0 ? times : ends;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *field = r->element[i]->str;
            if (owned(m, field) || !input_partition(field, topics, ntopics))
                continue;
            lw_partition_mark *mk = mark_named(marks, &others, field);
            if (pass == 0)
                mk->max_event_ms = strtoll(r->element[i + 1]->str, NULL, 10);
            else
                read_end(mk, r->element[i + 1]->str, view);
        }
    }
    add_unmarked(m, topics, ntopics, &marks, &others, &cap);
    if (others + m->n > cap) {
        cap = others + m->n;
        marks = realloc(marks, cap * sizeof(*marks));
    }
    /* then the merge's own, as they are now */
    size_t n = others;
    for (size_t i = 0; i < m->n; i++, n++) {
        marks[n].max_event_ms = lw_merge_frontier(&m->parts[i]);
        marks[n].at_end = lw_merge_at_end(&m->parts[i]);
    }
    lw_group_clock clock = {.others_ms = lowest_open(marks, others),
                            .event_ms = lw_watermark_compute(marks, n, view->lateness_ms),
                            .all_at_end = lowest_open(marks, n) == INT64_MAX};
    lowest_ended(marks, others, &clock);
    free(marks);
    return clock;
}
