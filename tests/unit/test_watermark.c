/* test_watermark.c — the event clock of PRODUCT.md §5 (processor/watermark.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermark_compute_table),
        cmocka_unit_test(test_watermark_order_independent),
        cmocka_unit_test(test_watermark_replay_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
