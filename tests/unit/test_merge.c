/* test_merge.c — the input in event-time order across partitions (processor/merge.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define T0       INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */
#define FOREVER  (-1)                   /* max_idle: clock=event */
#define NO_LIMIT INT64_MAX

static lw_input *event(int64_t time_ms, const char *id, int64_t offset)
{
    lw_input *in = calloc(1, sizeof(*in));
    in->time_ms = time_ms;
    in->id = strdup(id);
    in->offset = offset;
    in->bytes = 100;
    return in;
}

static lw_input *rejected(int64_t offset)
{
    lw_input *in = calloc(1, sizeof(*in));
    in->why.reason = LW_REJECT_NOT_JSON;
    in->offset = offset;
    in->bytes = 10;
    return in;
}

/* Pops the next input and checks its id ("" for a reject) and the state. */
static void expect_pop(lw_merge *m, const char *want_id)
{
    lw_input *in;
    lw_merge_state st = lw_merge_pop(m, NO_LIMIT, FOREVER, 0, &in);
    if (st != LW_MERGE_READY)
        fail_msg("want %s, the merge says %d", want_id, (int)st);
    assert_string_equal(in->id ? in->id : "", want_id);
    lw_input_free(in);
}

static void expect_state(lw_merge *m, lw_merge_state want)
{
    lw_input *in;
    assert_int_equal(lw_merge_pop(m, NO_LIMIT, FOREVER, 0, &in), want);
    assert_null(in);
}

static void test_heads_in_time_then_id_order(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "crm.leads", 0, 0);
    lw_merge_part *b = lw_merge_add(&m, "crm.calls", 1, 0);
    lw_merge_push(&m, a, event(T0 + 10, "a1", 0), 0);
    lw_merge_push(&m, a, event(T0 + 30, "a2", 1), 0);
    lw_merge_push(&m, b, event(T0 + 20, "b1", 0), 0);
    lw_merge_push(&m, b, event(T0 + 30, "a0", 1), 0); /* ties a2 on time, wins on id */
    lw_merge_eof(&m, a, 0);
    lw_merge_eof(&m, b, 0);
    expect_pop(&m, "a1");
    expect_pop(&m, "b1");
    expect_pop(&m, "a0");
    expect_pop(&m, "a2");
    expect_state(&m, LW_MERGE_EMPTY);
    assert_int_equal(m.bytes, 0);
    assert_int_equal(m.late, 0);
    lw_merge_free(&m);
}

static void test_same_time_and_id_by_topic_then_partition(void **state)
{
    lw_merge m = {0};
    lw_merge_part *p2 = lw_merge_add(&m, "t", 2, 0);
    lw_merge_part *p1 = lw_merge_add(&m, "t", 1, 0);
    lw_merge_part *s0 = lw_merge_add(&m, "s", 0, 0);
    lw_merge_push(&m, p2, event(T0, "x", 5), 0);
    lw_merge_push(&m, p1, event(T0, "x", 7), 0);
    lw_merge_push(&m, s0, event(T0, "x", 9), 0);
    for (int i = 0; i < 3; i++)
        lw_merge_eof(&m, &m.parts[i], 0);
    lw_input *in;
    int64_t want_offsets[] = {9, 7, 5}; /* s/0, t/1, t/2 */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lw_merge_pop(&m, NO_LIMIT, FOREVER, 0, &in), LW_MERGE_READY);
        assert_int_equal(in->offset, want_offsets[i]);
        lw_input_free(in);
    }
    lw_merge_free(&m);
}

/* A partition with nothing buffered that is not at its end may still deliver anything
 * later than what it delivered: only heads strictly older than that pass. */
static void test_empty_partition_holds_back_to_its_frontier(void **state)
{
    lw_merge m = {0};
    lw_merge_part *fast = lw_merge_add(&m, "t", 0, 0);
    lw_merge_part *slow = lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, fast, event(T0 + 5, "f1", 0), 0);
    expect_state(&m, LW_MERGE_HELD); /* slow never read: it holds everything */
    lw_merge_push(&m, slow, event(T0 + 10, "s1", 0), 0);
    expect_pop(&m, "f1");
    expect_state(&m, LW_MERGE_HELD); /* fast is empty now: its next may be before 10 */
    lw_merge_push(&m, fast, event(T0 + 7, "f2", 1), 0);
    expect_pop(&m, "f2");
    lw_merge_eof(&m, fast, 0); /* read to its end: it holds nothing back */
    expect_pop(&m, "s1");
    expect_state(&m, LW_MERGE_HELD); /* slow is empty and not at its end */
    lw_merge_eof(&m, slow, 0);
    expect_state(&m, LW_MERGE_EMPTY);
    lw_merge_free(&m);
}

static void test_frontier_rule(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_part *b = lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, a, event(T0 + 10, "a1", 0), 0);
    lw_merge_push(&m, b, event(T0 + 5, "b1", 0), 0);
    lw_merge_push(&m, b, event(T0 + 10, "b2", 1), 0);
    lw_merge_push(&m, b, event(T0 + 20, "b3", 2), 0);
    expect_pop(&m, "b1");
    expect_pop(&m, "a1"); /* a is now empty, its frontier 10 */
    /* b2 ties a's frontier: a's next event could be at 10 with a smaller id */
    expect_state(&m, LW_MERGE_HELD);
    assert_int_equal(lw_merge_frontier(a), T0 + 10);
    assert_int_equal(lw_merge_frontier(b), T0 + 10); /* its head */
    lw_merge_eof(&m, a, 0);
    expect_pop(&m, "b2");
    expect_pop(&m, "b3");
    assert_true(lw_merge_at_end(a));
    assert_false(lw_merge_at_end(b)); /* b has seen no end */
    lw_merge_free(&m);
}

static void test_idle_partition_stops_holding(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 1000);
    lw_merge_add(&m, "t", 1, 1000);
    lw_merge_push(&m, a, event(T0, "a1", 0), 0);
    lw_input *in;
    assert_int_equal(lw_merge_pop(&m, NO_LIMIT, 500, 1499, &in), LW_MERGE_HELD);
    assert_int_equal(lw_merge_pop(&m, NO_LIMIT, 500, 1500, &in), LW_MERGE_READY);
    lw_input_free(in);
    lw_merge_free(&m);
}

static void test_limit_holds_events_ahead(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_push(&m, a, event(T0 + 10, "a1", 0), 0);
    lw_merge_push(&m, a, event(T0 + 20, "a2", 1), 0);
    lw_merge_eof(&m, a, 0);
    lw_input *in;
    assert_int_equal(lw_merge_pop(&m, T0 + 10, FOREVER, 0, &in), LW_MERGE_READY);
    lw_input_free(in);
    assert_int_equal(lw_merge_pop(&m, T0 + 10, FOREVER, 0, &in), LW_MERGE_AHEAD);
    assert_int_equal(lw_merge_pop(&m, T0 + 20, FOREVER, 0, &in), LW_MERGE_READY);
    lw_input_free(in);
    lw_merge_free(&m);
}

/* A reject has no time: it leaves at once, even while another partition holds the merge,
 * and its offset moves the partition's position on. */
static void test_rejects_leave_at_once(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, a, rejected(0), 0);
    lw_merge_push(&m, a, event(T0, "a1", 1), 0);
    lw_merge_push(&m, a, rejected(2), 0);
    expect_pop(&m, "");
    assert_int_equal(a->next_offset, 1);
    expect_state(&m, LW_MERGE_HELD);
    lw_merge_eof(&m, &m.parts[1], 0);
    expect_pop(&m, "a1");
    expect_pop(&m, "");
    assert_int_equal(a->next_offset, 3);
    assert_int_equal(lw_merge_frontier(a), T0); /* rejects do not move it */
    lw_merge_free(&m);
}

static void test_late_event_counted(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_push(&m, a, event(T0 + 50, "a1", 0), 0);
    lw_merge_push(&m, a, event(T0 + 40, "a2", 1), 0); /* out of order within its partition */
    lw_merge_eof(&m, a, 0);
    expect_pop(&m, "a1");
    expect_pop(&m, "a2");
    assert_int_equal(m.late, 1);
    assert_int_equal(m.applied_ms, T0 + 50);
    assert_int_equal(lw_merge_frontier(a), T0 + 50); /* never moves back */
    lw_merge_free(&m);
}

static void test_remove_frees_and_marks(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, a, event(T0, "a1", 0), 0);
    lw_merge_push(&m, a, event(T0 + 1, "a2", 1), 0);
    assert_true(m.parts[1].mark_dirty);
    assert_int_equal(lw_merge_frontier(&m.parts[1]), -1);
    lw_merge_remove(&m, "t", 0); /* revoked: its new owner reads them again */
    assert_int_equal(m.n, 1);
    assert_int_equal(m.bytes, 0);
    assert_null(lw_merge_find(&m, "t", 0));
    assert_non_null(lw_merge_find(&m, "t", 1));
    lw_merge_free(&m);
}

/* Every interleaving of reads gives the one order: many partitions, each in time order,
 * pushed and popped in a random rhythm, come out as the whole stream sorted. */
static uint32_t rng = 12345;
static uint32_t next_random(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

typedef struct {
    int64_t time;
    char id[16];
    int part;
} item;

static int by_time_then_id(const void *x, const void *y)
{
    const item *a = x, *b = y;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    return strcmp(a->id, b->id);
}

static void test_any_read_order_gives_one_order(void **state)
{
    enum { PARTS = 5, ITEMS = 3000 };
    item *all = calloc(ITEMS, sizeof(*all));
    for (int i = 0; i < ITEMS; i++) {
        all[i].time = T0 + (int64_t)(next_random() % 2000); /* many ties */
        snprintf(all[i].id, sizeof(all[i].id), "e%05u", next_random() % 100000);
        all[i].part = (int)(next_random() % PARTS);
    }
    qsort(all, ITEMS, sizeof(*all), by_time_then_id); /* each partition gets its share in order */
    for (int round = 0; round < 20; round++) {
        lw_merge m = {0};
        for (int p = 0; p < PARTS; p++)
            lw_merge_add(&m, "t", p, 0);
        int next_of[PARTS] = {0}, popped = 0, cursor[PARTS] = {0};
        while (popped < ITEMS) {
            /* feed a random partition a random number of its next items */
            int p = (int)(next_random() % PARTS), k = (int)(next_random() % 40);
            for (int i = cursor[p]; i < ITEMS && k > 0; i++, cursor[p] = i)
                if (all[i].part == p) {
                    lw_merge_push(&m, &m.parts[p], event(all[i].time, all[i].id, next_of[p]++), 0);
                    k--;
                }
            bool rest = true;
            for (int q = 0; q < PARTS; q++) {
                bool more = false;
                for (int i = cursor[q]; i < ITEMS && !more; i++)
                    more = all[i].part == q;
                if (!more)
                    lw_merge_eof(&m, &m.parts[q], 0);
                rest &= !more;
            }
            lw_input *in;
            while (lw_merge_pop(&m, NO_LIMIT, FOREVER, 0, &in) == LW_MERGE_READY) {
                if (in->time_ms != all[popped].time || strcmp(in->id, all[popped].id))
                    fail_msg("round %d: item %d is %lld %s, want %lld %s", round, popped,
                             (long long)in->time_ms, in->id, (long long)all[popped].time,
                             all[popped].id);
                popped++;
                lw_input_free(in);
            }
            if (rest && popped < ITEMS)
                fail_msg("round %d: everything read, %d of %d released", round, popped, ITEMS);
        }
        assert_int_equal(m.late, 0);
        lw_merge_free(&m);
    }
    free(all);
}

/* Pops at now_mono under clock=event; returns the state and frees what came out, checking
 * its id. */
static lw_merge_state pop_at(lw_merge *m, int64_t now_mono, const char *want_id)
{
    lw_input *in;
    lw_merge_state st = lw_merge_pop(m, NO_LIMIT, FOREVER, now_mono, &in);
    if (st == LW_MERGE_READY) {
        assert_string_equal(in->id, want_id);
        lw_input_free(in);
    }
    return st;
}

/* A live feed: a partition read to its end holds a head for the grace (its next message,
 * sent a moment after, may be older), then lets it pass and takes its time as its frontier;
 * it counts as ended only once nothing at all came for the grace. */
static void test_end_grace_holds_a_live_partition(void **state)
{
    lw_merge m = {.end_grace_ms = 100};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_part *b = lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, a, event(T0 + 10, "a1", 0), 0);
    lw_merge_push(&m, b, event(T0 + 5, "b1", 0), 0);
    lw_merge_eof(&m, b, 0);
    assert_int_equal(pop_at(&m, 0, "b1"), LW_MERGE_READY);
    assert_int_equal(pop_at(&m, 50, NULL), LW_MERGE_HELD); /* a1 buffered 50 ms ago */
    assert_false(lw_merge_at_end(b));
    lw_merge_push(&m, b, event(T0 + 7, "b2", 1), 60); /* sent after a1, older */
    lw_merge_eof(&m, b, 60);
    assert_int_equal(pop_at(&m, 60, "b2"), LW_MERGE_READY);
    assert_int_equal(pop_at(&m, 99, NULL), LW_MERGE_HELD);
    assert_int_equal(pop_at(&m, 100, "a1"), LW_MERGE_READY); /* a1 waited the grace */
    assert_int_equal(lw_merge_frontier(b), T0 + 10);
    lw_merge_settle(&m, 159);
    assert_false(lw_merge_at_end(b)); /* b2 came 99 ms ago */
    lw_merge_settle(&m, 160);
    assert_true(lw_merge_at_end(b));
    assert_false(lw_merge_at_end(a));                  /* a has seen no end */
    lw_merge_push(&m, b, event(T0 + 8, "b3", 2), 200); /* too late: after the grace */
    assert_false(lw_merge_at_end(b));
    assert_int_equal(pop_at(&m, 200, "b3"), LW_MERGE_READY);
    assert_int_equal(m.late, 1);
    lw_merge_free(&m);
}

/* Another instance's partition at its end, frontier T0 + 10: a head at or after it waits the
 * grace, then for that owner to confirm the end after the grace (it alone sees whether the
 * feed went on there); one before it goes at once. */
static void test_others_end_needs_their_word(void **state)
{
    lw_merge m = {.end_grace_ms = 100};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_push(&m, a, event(T0 + 5, "a1", 0), 1000);
    lw_merge_push(&m, a, event(T0 + 10, "a2", 1), 1000);
    lw_merge_expect_others(&m, T0 + 10, 900); /* confirmed before a2 came */
    assert_int_equal(pop_at(&m, 1000, "a1"), LW_MERGE_READY);
    assert_int_equal(pop_at(&m, 1050, NULL), LW_MERGE_HELD);  /* the grace */
    assert_int_equal(pop_at(&m, 1100, NULL), LW_MERGE_AHEAD); /* their word is older */
    lw_merge_expect_others(&m, T0 + 10, 1099);
    assert_int_equal(pop_at(&m, 1200, NULL), LW_MERGE_AHEAD);
    lw_merge_expect_others(&m, T0 + 10, 1100); /* still at its end after the grace */
    assert_int_equal(pop_at(&m, 1200, "a2"), LW_MERGE_READY);
    lw_merge_push(&m, a, event(T0 + 20, "a3", 2), 1300);
    lw_merge_expect_others(&m, INT64_MAX, 0); /* the other one's input came: open again */
    assert_int_equal(pop_at(&m, 1300, "a3"), LW_MERGE_READY);
    lw_merge_free(&m);
}

/* A revoked partition holds the merge at its frontier until its mark is written open (its
 * mark in Redis may still say "ended"); assigned again, it holds as its own. */
static void test_released_holds_until_written(void **state)
{
    lw_merge m = {0};
    lw_merge_part *a = lw_merge_add(&m, "t", 0, 0);
    lw_merge_part *b = lw_merge_add(&m, "t", 1, 0);
    lw_merge_push(&m, a, event(T0 + 9, "a1", 0), 0);
    lw_merge_push(&m, b, event(T0 + 5, "b1", 0), 0);
    lw_merge_eof(&m, b, 0);
    expect_pop(&m, "b1");
    lw_merge_remove(&m, "t", 1);
    assert_int_equal(m.nreleased, 1);
    assert_string_equal(m.released[0].name, "t:1");
    assert_int_equal(m.released[0].frontier_ms, T0 + 5);
    assert_true(lw_merge_marks_dirty(&m));
    expect_state(&m, LW_MERGE_HELD);
    m.group_unread = false;
    lw_merge_add(&m, "t", 1, 0); /* back: its own mark is written, unread it holds */
    assert_true(m.group_unread); /* run.c releases nothing until the marks are read */
    assert_int_equal(m.nreleased, 0);
    expect_state(&m, LW_MERGE_HELD);
    lw_merge_remove(&m, "t", 1);
    lw_watermark_written(&m); /* written open: the group's marks bound the merge now */
    assert_int_equal(m.nreleased, 0);
    expect_pop(&m, "a1");
    lw_merge_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_in_time_then_id_order),
        cmocka_unit_test(test_same_time_and_id_by_topic_then_partition),
        cmocka_unit_test(test_empty_partition_holds_back_to_its_frontier),
        cmocka_unit_test(test_frontier_rule),
        cmocka_unit_test(test_idle_partition_stops_holding),
        cmocka_unit_test(test_limit_holds_events_ahead),
        cmocka_unit_test(test_rejects_leave_at_once),
        cmocka_unit_test(test_late_event_counted),
        cmocka_unit_test(test_remove_frees_and_marks),
        cmocka_unit_test(test_any_read_order_gives_one_order),
        cmocka_unit_test(test_end_grace_holds_a_live_partition),
        cmocka_unit_test(test_others_end_needs_their_word),
        cmocka_unit_test(test_released_holds_until_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
