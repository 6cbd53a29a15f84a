/* test_progress.c — the replay's progress line (processor/progress.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static void test_waiting_for_partitions(void **state)
{
    char line[160];
    lw_progress_format(false, 0, 0, 0, 5000, line, sizeof(line));
    assert_string_equal(line, "replay: waiting for partitions");
    /* assigned, nothing read yet: no rate, no ETA */
    lw_progress_format(true, 0, 100, 0, 5000, line, sizeof(line));
    assert_string_equal(line, "replay: 0 events, 0/s, 100 left, ETA –");
}

/* The rate counts from the first message, not from the start (the wait for partitions). */
static void test_rate_from_first_message(void **state)
{
    char line[160];
    lw_progress_format(true, 2000, 4000, 10000, 12000, line, sizeof(line));
    assert_string_equal(line, "replay: 2000 events, 1000/s, 4000 left, ETA 0m04s");
    lw_progress_format(true, 90000, 60000, 1000, 91000, line, sizeof(line));
    assert_string_equal(line, "replay: 90000 events, 1000/s, 60000 left, ETA 1m00s");
    lw_progress_format(true, 23, 0, 1000, 2000, line, sizeof(line));
    assert_string_equal(line, "replay: 23 events, 23/s, 0 left, ETA 0s");
    /* revoked at the end: the events done still show */
    lw_progress_format(false, 23, 0, 1000, 2000, line, sizeof(line));
    assert_string_equal(line, "replay: 23 events, 23/s, 0 left, ETA 0s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiting_for_partitions),
        cmocka_unit_test(test_rate_from_first_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
