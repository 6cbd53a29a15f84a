/* test_watermark.c — the event clock of PRODUCT.md §5 (processor/watermark.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <string.h>

#include "leakwatch/leakwatch.h"

#define MAX_MARKS 4
#define T0        INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */
#define MIN       60000

/* One partition: its latest event time read (-1: none) and whether it is read to its end. */
typedef struct {
    int64_t max_event_ms;
    bool at_end;
} mark_spec;

typedef struct {
    const char *name;
    size_t n;
    mark_spec marks[MAX_MARKS];
    int64_t lateness_ms;
    int64_t want;
} wm_case;

static const wm_case cases[] = {
    {"no partitions", 0, {{0}}, 0, INT64_MIN},
    {"no partitions, lateness", 0, {{0}}, 5000, INT64_MIN},
    {"one unread partition", 1, {{-1, false}}, 0, INT64_MIN},
    {"one partition with an event", 1, {{T0, false}}, 0, T0},
    {"one partition at its end", 1, {{T0, true}}, 0, T0},
    {"one unread partition among read ones",
     3,
     {{T0, false}, {-1, false}, {T0 + MIN, false}},
     0,
     INT64_MIN},
    {"lowest of open partitions",
     3,
     {{T0 + 5 * MIN, false}, {T0 + 2 * MIN, false}, {T0 + 9 * MIN, false}},
     0,
     T0 + 2 * MIN},
    {"a partition at its end does not hold the clock back",
     2,
     {{T0, true}, {T0 + 5 * MIN, false}},
     0,
     T0 + 5 * MIN},
    {"an empty partition at its end does not hold the clock back",
     2,
     {{-1, true}, {T0 + 5 * MIN, false}},
     0,
     T0 + 5 * MIN},
    {"an open partition is lower than one at its end",
     2,
     {{T0 + 9 * MIN, true}, {T0 + 5 * MIN, false}},
     0,
     T0 + 5 * MIN},
    {"all at end: the highest",
     3,
     {{T0 + 5 * MIN, true}, {T0 + 30 * MIN, true}, {T0, true}},
     0,
     T0 + 30 * MIN},
    {"all at end, one never had an event", 2, {{-1, true}, {T0 + 3 * MIN, true}}, 0, T0 + 3 * MIN},
    {"all at end, none had an event", 2, {{-1, true}, {-1, true}}, 0, INT64_MIN},
    {"lateness subtracted (open)",
     2,
     {{T0 + 5 * MIN, false}, {T0 + 2 * MIN, false}},
     30000,
     T0 + 2 * MIN - 30000},
    {"lateness subtracted (all at end)",
     2,
     {{T0 + 5 * MIN, true}, {T0 + 2 * MIN, true}},
     MIN,
     T0 + 4 * MIN},
    {"lateness with an unread partition", 2, {{T0, false}, {-1, false}}, MIN, INT64_MIN},
    /* §5: a fast partition is far ahead; the slow one still has unread messages. Taking the
     * highest would fire the slow one's timers before the events that stop them are read. */
    {"fast partition", 2, {{T0 + 24 * 60 * MIN, false}, {T0 + 10 * MIN, false}}, 0, T0 + 10 * MIN},
    {"fast partition at its end, slow one open",
     2,
     {{T0 + 24 * 60 * MIN, true}, {T0 + 10 * MIN, false}},
     0,
     T0 + 10 * MIN},
    {"the epoch itself", 1, {{0, false}}, 0, 0},
};

static void test_watermark_compute_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lw_partition_mark marks[MAX_MARKS];
        memset(marks, 0, sizeof(marks));
        for (size_t k = 0; k < cases[i].n; k++) {
            snprintf(marks[k].topic, sizeof(marks[k].topic), "crm.leads");
            marks[k].partition = (int32_t)k;
            marks[k].max_event_ms = cases[i].marks[k].max_event_ms;
            marks[k].at_end = cases[i].marks[k].at_end;
        }
        int64_t got =
            lw_watermark_compute(cases[i].n ? marks : NULL, cases[i].n, cases[i].lateness_ms);
        if (got != cases[i].want)
            fail_msg("%s: got %lld, want %lld", cases[i].name, (long long)got,
                     (long long)cases[i].want);
    }
}

/* The order of the marks does not matter. */
static void test_watermark_order_independent(void **state)
{
    lw_partition_mark marks[3];
    memset(marks, 0, sizeof(marks));
    const int64_t times[3] = {T0 + 7 * MIN, T0 + 3 * MIN, T0 + 11 * MIN};
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        for (int k = 0; k < 3; k++) {
            marks[k].max_event_ms = times[perms[p][k]];
            marks[k].at_end = perms[p][k] == 1; /* the lowest is at its end */
        }
        assert_int_equal(lw_watermark_compute(marks, 3, 0), T0 + 7 * MIN);
    }
}

/* A replay: as the slow partition catches up the clock advances, and never goes back while
 * partitions only move forward. */
static void test_watermark_replay_monotonic(void **state)
{
    lw_partition_mark marks[2];
    memset(marks, 0, sizeof(marks));
    marks[0].max_event_ms = T0 + 60 * MIN; /* fast, read first */
    marks[1].max_event_ms = -1;
    assert_int_equal(lw_watermark_compute(marks, 2, 0), INT64_MIN);
    int64_t last = INT64_MIN;
    for (int m = 0; m <= 60; m += 5) {
        marks[1].max_event_ms = T0 + m * MIN;
        int64_t wm = lw_watermark_compute(marks, 2, 0);
        assert_int_equal(wm, T0 + m * MIN);
        assert_true(wm >= last);
        last = wm;
    }
    marks[0].at_end = true;
    marks[1].max_event_ms = T0 + 90 * MIN;
    assert_int_equal(lw_watermark_compute(marks, 2, 0), T0 + 90 * MIN);
    marks[1].at_end = true;
    assert_int_equal(lw_watermark_compute(marks, 2, 0), T0 + 90 * MIN);
}

/* ------------------------------ the group's marks ------------------------------ */

/* A hash as HGETALL answers it: field, value, field, value... */
typedef struct {
    redisReply reply;
    redisReply items[16];
    redisReply *ptrs[16];
} fake_hash;

static void fake(fake_hash *h, const char *const *flat)
{
    memset(h, 0, sizeof(*h));
    h->reply.type = REDIS_REPLY_ARRAY;
    h->reply.element = h->ptrs;
    for (size_t i = 0; flat[i]; i++) {
        h->items[i].type = REDIS_REPLY_STRING;
        h->items[i].str = (char *)flat[i];
        h->items[i].len = strlen(flat[i]);
        h->ptrs[i] = &h->items[i];
        h->reply.elements++;
    }
}

/* Read at NOW (wall), end marks confirmed within LEASE holding. */
#define NOW   INT64_C(1795340000000)
#define LEASE 3000
#define FRESH "1795339999000" /* confirmed a second ago */

static const lw_clock_view at_now = {.lateness_ms = 0, .now_wall_ms = NOW, .end_lease_ms = LEASE};
static const lw_clock_view at_now_late = {
    .lateness_ms = MIN, .now_wall_ms = NOW, .end_lease_ms = LEASE};

static lw_input *input_at(int64_t time_ms)
{
    lw_input *in = calloc(1, sizeof(*in));
    in->time_ms = time_ms;
    in->id = strdup("e");
    return in;
}

/* Another instance owns crm.leads:1 and :2; this one crm.leads:0, whose mark in Redis is
 * older than what it holds now. A topic no longer read is ignored. */
static void test_group_clock_others_and_own(void **state)
{
    lw_merge m = {0};
    lw_merge_part *own = lw_merge_add(&m, "crm.leads", 0, 0);
    lw_merge_push(&m, own, input_at(T0 + 9 * MIN), 0);
    static const char *const times[] = {
        "crm.leads:0", "1795338000000", "crm.leads:1", "1795338300000",
        "crm.leads:2", "1795338600000", "crm.old:0",   "1",
        NULL};
    static const char *const ends[] = {"crm.leads:0", "0", "crm.leads:1", "0", "crm.leads:2", FRESH,
                                       "crm.old:0",   "0", NULL};
    fake_hash t, e;
    fake(&t, times);
    fake(&e, ends);
    const lw_topic_size leads[] = {{"crm.leads", 3}},
                        leads_and_calls[] = {{"crm.leads", 3}, {"crm.calls", 1}};
    lw_group_clock c = lw_watermark_parse(&m, leads, 1, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, T0 + 5 * MIN); /* :1; :2 is at its end */
    assert_int_equal(c.event_ms, T0 + 5 * MIN);
    assert_false(c.all_at_end);

    /* :1 unread: it holds everything */
    static const char *const unread[] = {"crm.leads:1", "-1", NULL};
    fake(&t, unread);
    fake(&e, (const char *const[]){NULL});
    c = lw_watermark_parse(&m, leads, 1, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, INT64_MIN);
    assert_int_equal(c.event_ms, INT64_MIN);

    /* crm.calls:0 has no mark at all: nobody was assigned it yet, it holds everything too */
    fake(&t, times);
    fake(&e, ends);
    c = lw_watermark_parse(&m, leads_and_calls, 2, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, INT64_MIN);
    assert_int_equal(c.event_ms, INT64_MIN);

    /* alone: nothing of others bounds it; its own frontier is the watermark */
    const lw_topic_size alone[] = {{"crm.leads", 1}};
    fake(&t, (const char *const[]){NULL});
    fake(&e, (const char *const[]){NULL});
    c = lw_watermark_parse(&m, alone, 1, &t.reply, &e.reply, &at_now_late);
    assert_int_equal(c.others_ms, INT64_MAX);
    assert_int_equal(c.event_ms, T0 + 8 * MIN); /* lateness subtracted */
    assert_false(c.all_at_end);
    lw_merge_eof(&m, own, 0);
    lw_input *in;
    assert_int_equal(lw_merge_pop(&m, INT64_MAX, -1, 0, &in), LW_MERGE_READY);
    lw_input_free(in);
    c = lw_watermark_parse(&m, alone, 1, &t.reply, &e.reply, &at_now);
    assert_true(c.all_at_end);
    assert_int_equal(c.event_ms, T0 + 9 * MIN); /* all at end: the highest */
    lw_merge_free(&m);
}

/* The commands: an unread partition is announced with HSETNX (an earlier owner's mark stays),
 * the others' frontiers and end flags in one HSET each, then the two reads. */
static void test_marks_written(void **state)
{
    lw_merge m = {0};
    lw_merge_part *read = lw_merge_add(&m, "crm.calls", 3, 0);
    lw_merge_add(&m, "crm.calls", 4, 0);
    lw_merge_push(&m, read, input_at(T0), 0);
    lw_argv cmds[8];
    memset(cmds, 0, sizeof(cmds));
    size_t n = lw_watermark_argv(&m, "g", NOW, cmds, 8);
    assert_int_equal(n, 5);
    const char *const want[5][6] = {
        {"HSETNX", "lw:clock:{g}:time", "crm.calls:4", "-1", NULL},
        {"HSET", "lw:clock:{g}:end", "crm.calls:3", "0", "crm.calls:4", "0"},
        {"HSET", "lw:clock:{g}:time", "crm.calls:3", "1795338000000", NULL},
        {"HGETALL", "lw:clock:{g}:time", NULL},
        {"HGETALL", "lw:clock:{g}:end", NULL},
    };
    for (size_t i = 0; i < n; i++) {
        lw_argv_finish(&cmds[i]);
        size_t k = 0;
        for (; k < 6 && want[i][k]; k++) {
            assert_true(k < cmds[i].n);
            assert_int_equal(cmds[i].lens[k], strlen(want[i][k]));
            assert_memory_equal(cmds[i].ptrs[k], want[i][k], cmds[i].lens[k]);
        }
        assert_int_equal(cmds[i].n, k);
    }
    lw_watermark_written(&m);
    assert_int_equal(lw_watermark_argv(&m, "g", NOW, cmds, 8), 2); /* clean: the reads only */
    for (size_t i = 0; i < 8; i++)
        lw_argv_free(&cmds[i]);
    lw_merge_free(&m);
}

/* An end mark holds while its owner's confirmation is within the lease: a stale one (the
 * owner killed, or gone) and an old "1" count as open at their frontier. */
static void test_end_marks_need_a_fresh_word(void **state)
{
    lw_merge m = {0};
    lw_merge_part *own = lw_merge_add(&m, "crm.leads", 0, 0);
    lw_merge_push(&m, own, input_at(T0 + 9 * MIN), 0);
    static const char *const times[] = {"crm.leads:1", "1795338300000", "crm.leads:2",
                                        "1795338600000", NULL};
    static const char *const fresh[] = {"crm.leads:1", "1795339998000", "crm.leads:2", FRESH, NULL};
    static const char *const stale[] = {"crm.leads:1", "1795339998000", "crm.leads:2",
                                        "1795339996999", NULL};
    static const char *const old[] = {"crm.leads:1", "1", "crm.leads:2", FRESH, NULL};
    const lw_topic_size leads[] = {{"crm.leads", 3}};
    fake_hash t, e;
    fake(&t, times);
    fake(&e, fresh);
    lw_group_clock c = lw_watermark_parse(&m, leads, 1, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, INT64_MAX); /* both at their end */
    assert_int_equal(c.others_end_ms, T0 + 5 * MIN);
    assert_int_equal(c.others_confirmed_ms, NOW - 2000);
    fake(&e, stale);
    c = lw_watermark_parse(&m, leads, 1, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, T0 + 10 * MIN); /* :2 confirmed 3 001 ms ago */
    assert_int_equal(c.others_end_ms, T0 + 5 * MIN);
    assert_int_equal(c.event_ms, T0 + 9 * MIN);
    fake(&e, old);
    c = lw_watermark_parse(&m, leads, 1, &t.reply, &e.reply, &at_now);
    assert_int_equal(c.others_ms, T0 + 5 * MIN);
    assert_int_equal(c.others_end_ms, T0 + 10 * MIN);
    assert_int_equal(c.others_confirmed_ms, NOW - 1000);
    lw_merge_free(&m);
}

/* A partition at its end writes the moment of its word, again when renewed; a revoked one
 * is written open. */
static void test_end_confirmed_and_released_written(void **state)
{
    lw_merge m = {.end_grace_ms = 100};
    lw_merge_part *p = lw_merge_add(&m, "crm.tasks", 0, 0);
    lw_merge_add(&m, "crm.tasks", 1, 0);
    lw_merge_eof(&m, p, 0);
    lw_merge_settle(&m, 100);
    lw_merge_remove(&m, "crm.tasks", 1);
    lw_argv cmds[8];
    memset(cmds, 0, sizeof(cmds));
    size_t n = lw_watermark_argv(&m, "g", NOW, cmds, 8);
    assert_int_equal(n, 4); /* HSETNX (unread), the ends, the two reads */
    lw_argv_finish(&cmds[1]);
    const char *const want[] = {"HSET",          "lw:clock:{g}:end", "crm.tasks:0",
                                "1795340000000", "crm.tasks:1",      "0"};
    assert_int_equal(cmds[1].n, 6);
    for (size_t k = 0; k < 6; k++)
        assert_memory_equal(cmds[1].ptrs[k], want[k], strlen(want[k]));
    lw_watermark_written(&m);
    assert_false(lw_merge_marks_dirty(&m));
    lw_watermark_renew(&m);
    assert_true(lw_merge_marks_dirty(&m));
    assert_int_equal(lw_watermark_renew_ms(500), 250);
    assert_int_equal(lw_watermark_lease_ms(500), 3000);
    assert_int_equal(lw_watermark_renew_ms(0), 1000);
    for (size_t i = 0; i < 8; i++)
        lw_argv_free(&cmds[i]);
    lw_merge_free(&m);
}

/* A partition taken over (after a restart or a rebalance) starts from its previous owner's
 * frontier: a restart that finds nothing new keeps the clock, and a held partition holds
 * back only to there. Its own frontier, once it has one, is never replaced. */
static void test_adopt_previous_owner(void **state)
{
    lw_merge m = {0};
    lw_merge_part *p = lw_merge_add(&m, "crm.deals", 1, 0);
    lw_merge_part *q = lw_merge_add(&m, "crm.deals", 2, 0);
    lw_merge_push(&m, q, input_at(T0 + 3 * MIN), 0);
    lw_input *in;
    assert_int_equal(lw_merge_pop(&m, INT64_MAX, -1, 0, &in), LW_MERGE_HELD); /* p unread */
    static const char *const times[] = {"crm.deals:1", "1795338600000", "crm.deals:2", "1", NULL};
    fake_hash t;
    fake(&t, times);
    lw_watermark_adopt(&m, &t.reply);
    assert_int_equal(lw_merge_frontier(p), T0 + 10 * MIN);
    assert_int_equal(lw_merge_frontier(q), T0 + 3 * MIN); /* its head, not Redis's 1 */
    assert_int_equal(lw_merge_pop(&m, INT64_MAX, -1, 0, &in), LW_MERGE_READY);
    lw_input_free(in);
    lw_merge_eof(&m, p, 0);
    lw_merge_eof(&m, q, 0);
    const lw_topic_size deals[] = {{"crm.deals", 3}};
    static const char *const other[] = {"crm.deals:0", "1795338000000", NULL};
    static const char *const other_end[] = {"crm.deals:0", FRESH, NULL};
    fake_hash e;
    fake(&t, other);
    fake(&e, other_end);
    lw_group_clock c = lw_watermark_parse(&m, deals, 1, &t.reply, &e.reply, &at_now);
    assert_true(c.all_at_end);
    assert_int_equal(c.event_ms, T0 + 10 * MIN); /* the adopted frontier is the highest */
    lw_merge_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_compute_table),
        cmocka_unit_test(test_watermark_order_independent),
        cmocka_unit_test(test_watermark_replay_monotonic),
        cmocka_unit_test(test_group_clock_others_and_own),
        cmocka_unit_test(test_marks_written),
        cmocka_unit_test(test_end_marks_need_a_fresh_word),
        cmocka_unit_test(test_end_confirmed_and_released_written),
        cmocka_unit_test(test_adopt_previous_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
