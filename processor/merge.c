/* merge.c — the input in event-time order (PRODUCT.md §5). Each assigned partition keeps a
 * buffer of parsed messages in offset order; the next input applied is the smallest head by
 * (event time, event id, topic, partition). A partition with nothing buffered that is not
 * read to its end holds the merge: its next event may be older than every head. Rejected
 * messages have no place in that order and leave as soon as they reach their head.
 *
 * Each partition also has a frontier: no event of it that is not applied yet is older. The
 * lowest frontier of the group is the watermark (watermark.c); deadlines before it may fire.
 * Within a partition events are assumed in time order; one older than what the merge
 * applied already is late: it is applied (as stale where PRODUCT.md §1 says so) and counted.
 *
 * A partition read to its end may only be between two messages of a live feed: its next
 * one, sent a moment after another partition's, may be older. So it holds a head until the
 * head has been buffered for the end grace (what Kafka Streams' max.task.idle.ms does), and
 * once passed its frontier is that head's time. It counts as ended (for the watermark and
 * --until-end) only when no partition at all buffered anything for the grace.
 *
 * Other instances' partitions at their end are passed the same way, with one more wait: their
 * owner must have confirmed the end after the head's grace (watermark.c renews the marks),
 * since only it sees whether the feed went on there. A partition revoked from this instance
 * holds the merge at its frontier until its mark says it is open again. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

lw_merge_part *lw_merge_find(lw_merge *m, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->parts[i].partition == partition && !strcmp(m->parts[i].topic, topic))
            return &m->parts[i];
    return NULL;
}

void lw_merge_part_name(char *name, size_t size, const char *topic, int32_t partition)
{
    snprintf(name, size, "%s:%d", topic, (int)partition);
}

/* Forgets a released partition of that name (assigned again: its own mark is written). */
static void unrelease(lw_merge *m, const char *name)
{
    for (size_t i = 0; i < m->nreleased; i++)
        if (!strcmp(m->released[i].name, name)) {
            m->released[i] = m->released[--m->nreleased];
            return;
        }
}

static void release(lw_merge *m, const lw_merge_part *p)
{
    if (m->nreleased == m->released_cap) {
        m->released_cap = m->released_cap ? m->released_cap * 2 : 16;
        m->released = realloc(m->released, m->released_cap * sizeof(*m->released));
        if (!m->released)
            abort();
    }
    lw_released_part *r = &m->released[m->nreleased++];
    lw_merge_part_name(r->name, sizeof(r->name), p->topic, p->partition);
    r->frontier_ms = lw_merge_frontier(p);
}

lw_merge_part *lw_merge_add(lw_merge *m, const char *topic, int32_t partition, int64_t now_mono)
{
    lw_merge_part *p = lw_merge_find(m, topic, partition);
    if (p)
        return p;
    char name[272];
    lw_merge_part_name(name, sizeof(name), topic, partition);
    unrelease(m, name);
    m->group_unread = true;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->parts = realloc(m->parts, m->cap * sizeof(*m->parts));
        if (!m->parts)
            abort();
    }
    p = &m->parts[m->n++];
    memset(p, 0, sizeof(*p));
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->partition = partition;
    p->frontier_ms = -1; /* unread: it may hold anything */
    p->next_offset = -1;
    p->held_since_mono = now_mono;
    p->mark_dirty = true;
    return p;
}

static lw_input *queue_at(const lw_merge_part *p, size_t i)
{
    return p->queue[(p->head + i) % p->cap];
}

void lw_merge_remove(lw_merge *m, const char *topic, int32_t partition)
{
    lw_merge_part *p = lw_merge_find(m, topic, partition);
    if (!p)
        return;
    release(m, p);
    for (size_t i = 0; i < p->n; i++)
        lw_input_free(queue_at(p, i)); /* its new owner reads them again */
    m->bytes -= p->bytes;
    free(p->queue);
    *p = m->parts[--m->n];
}

void lw_merge_push(lw_merge *m, lw_merge_part *p, lw_input *in, int64_t now_mono)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        lw_input **q = malloc(cap * sizeof(*q));
        if (!q)
            abort();
        for (size_t i = 0; i < p->n; i++)
            q[i] = queue_at(p, i);
        free(p->queue);
        p->queue = q;
        p->head = 0;
        p->cap = cap;
    }
    if (p->eof || p->n == 0)
        p->mark_dirty = true; /* a new head: its frontier may move */
    in->received_mono = now_mono;
    p->queue[(p->head + p->n) % p->cap] = in;
    p->n++;
    p->bytes += in->bytes;
    m->bytes += in->bytes;
    m->last_input_mono = now_mono;
    p->eof = false;
    lw_merge_settle(m, now_mono); /* nothing has ended now */
}

void lw_merge_eof(lw_merge *m, lw_merge_part *p, int64_t now_mono)
{
    if (!p->eof)
        p->mark_dirty = true;
    p->eof = true;
    lw_merge_settle(m, now_mono);
}

bool lw_merge_at_end(const lw_merge_part *p)
{
    return p->ended;
}

static bool quiet_end(const lw_merge *m, const lw_merge_part *p, int64_t now_mono)
{
    return p->eof && p->n == 0 && now_mono - m->last_input_mono >= m->end_grace_ms;
}

void lw_merge_settle(lw_merge *m, int64_t now_mono)
{
    for (size_t i = 0; i < m->n; i++) {
        lw_merge_part *p = &m->parts[i];
        bool ended = quiet_end(m, p, now_mono);
        if (ended != p->ended)
            p->mark_dirty = true;
        p->ended = ended;
    }
}

/* The time of the first event buffered, or -1 (rejects have none). */
static int64_t head_time(const lw_merge_part *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (queue_at(p, i)->why.reason == LW_REJECT_NONE)
            return queue_at(p, i)->time_ms;
    return -1;
}

int64_t lw_merge_frontier(const lw_merge_part *p)
{
    int64_t head = head_time(p);
    return head > p->frontier_ms ? head : p->frontier_ms;
}

void lw_merge_expect_others(lw_merge *m, int64_t end_ms, int64_t confirmed_mono)
{
    m->others_ended = end_ms != INT64_MAX;
    m->others_end_ms = end_ms;
    m->others_confirmed_mono = confirmed_mono;
}

/* Whether a's head comes before b's: (time, id, topic, partition). */
static bool before(const lw_merge_part *a, const lw_merge_part *b)
{
    const lw_input *x = queue_at(a, 0), *y = queue_at(b, 0);
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms;
    int c = strcmp(x->id, y->id);
    if (c)
        return c < 0;
    c = strcmp(a->topic, b->topic);
    return c ? c < 0 : a->partition < b->partition;
}

/* An empty partition that may still deliver holds the merge back to its frontier, unless
 * it has been empty longer than max_idle_ms (-1: for ever). */
static bool holds(const lw_merge_part *p, int64_t max_idle_ms, int64_t now_mono)
{
    if (p->n > 0 || p->eof)
        return false;
    return max_idle_ms < 0 || now_mono - p->held_since_mono < max_idle_ms;
}

/* Read to its end, nothing buffered, not ended yet: it holds a head for the grace. */
static bool waits_at_end(const lw_merge_part *p)
{
    return p->eof && p->n == 0 && !p->ended;
}

/* A head at t waited the grace: what the partitions read to their end send later that is
 * older than t is late. */
static void pass_ends(lw_merge *m, int64_t t)
{
    for (size_t i = 0; i < m->n; i++) {
        lw_merge_part *p = &m->parts[i];
        if (waits_at_end(p) && p->frontier_ms < t) {
            p->frontier_ms = t;
            p->mark_dirty = true;
        }
    }
}

static lw_input *take_head(lw_merge *m, lw_merge_part *p, int64_t now_mono)
{
    lw_input *in = queue_at(p, 0);
    p->head = (p->head + 1) % p->cap;
    p->n--;
    p->bytes -= in->bytes;
    m->bytes -= in->bytes;
    if (p->n == 0) {
        p->held_since_mono = now_mono;
        p->ended = quiet_end(m, p, now_mono);
    }
    p->next_offset = in->offset + 1;
    p->mark_dirty = true;
    if (in->why.reason == LW_REJECT_NONE) {
        if (in->time_ms < m->applied_ms)
            m->late++;
        else
            m->applied_ms = in->time_ms;
        if (in->time_ms > p->frontier_ms)
            p->frontier_ms = in->time_ms;
    }
    return in;
}

/* The lowest frontier of the partitions released and not yet written open. */
static int64_t released_to(const lw_merge *m)
{
    int64_t to = INT64_MAX;
    for (size_t i = 0; i < m->nreleased; i++)
        if (m->released[i].frontier_ms < to)
            to = m->released[i].frontier_ms;
    return to;
}

/* A head at t at or after a partition at its end (own: end_to; another instance's:
 * others_to) waits for the grace, and for the other owners' confirmation after it. */
static lw_merge_state wait_at_ends(lw_merge *m, const lw_input *head, int64_t end_to,
                                   int64_t others_to, int64_t now_mono)
{
    int64_t t = head->time_ms, graced = head->received_mono + m->end_grace_ms;
    if (t < end_to && t < others_to)
        return LW_MERGE_READY;
    if (now_mono < graced)
        return LW_MERGE_HELD;
    if (t >= others_to && m->end_grace_ms > 0 && m->others_confirmed_mono < graced)
        return LW_MERGE_AHEAD; /* the other instances' word, read with the clock */
    if (t >= end_to)
        pass_ends(m, t);
    return LW_MERGE_READY;
}

lw_merge_state lw_merge_pop(lw_merge *m, int64_t limit_ms, int64_t max_idle_ms, int64_t now_mono,
                            lw_input **out)
{
    *out = NULL;
    lw_merge_settle(m, now_mono);
    lw_merge_part *next = NULL;
    int64_t held_to = released_to(m), end_to = INT64_MAX;
    for (size_t i = 0; i < m->n; i++) {
        lw_merge_part *p = &m->parts[i];
        if (p->n > 0 && queue_at(p, 0)->why.reason != LW_REJECT_NONE) {
            *out = take_head(m, p, now_mono); /* a reject has no place in the order */
            return LW_MERGE_READY;
        }
        if (holds(p, max_idle_ms, now_mono) && p->frontier_ms < held_to)
            held_to = p->frontier_ms;
        if (waits_at_end(p) && p->frontier_ms < end_to)
            end_to = p->frontier_ms;
        if (p->n > 0 && (!next || before(p, next)))
            next = p;
    }
    if (!next)
        return held_to == INT64_MAX ? LW_MERGE_EMPTY : LW_MERGE_HELD;
    int64_t t = queue_at(next, 0)->time_ms;
    /* strictly older than a holding partition's frontier: its next event may tie on time
     * and win on id */
    if (t >= held_to)
        return LW_MERGE_HELD;
    if (t > limit_ms)
        return LW_MERGE_AHEAD;
    int64_t others_to = m->others_ended ? m->others_end_ms : INT64_MAX;
    lw_merge_state st = wait_at_ends(m, queue_at(next, 0), end_to, others_to, now_mono);
    if (st != LW_MERGE_READY)
        return st;
    *out = take_head(m, next, now_mono);
    return LW_MERGE_READY;
}

bool lw_merge_marks_dirty(const lw_merge *m)
{
    if (m->nreleased)
        return true;
    for (size_t i = 0; i < m->n; i++)
        if (m->parts[i].mark_dirty)
            return true;
    return false;
}

void lw_merge_free(lw_merge *m)
{
    while (m->n > 0)
        lw_merge_remove(m, m->parts[0].topic, m->parts[0].partition);
    free(m->parts);
    free(m->released);
    memset(m, 0, sizeof(*m));
}
