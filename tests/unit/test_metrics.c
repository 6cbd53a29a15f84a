/* test_metrics.c — processor/metrics.c: series, labels, histograms, the text format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static char *render(void)
{
    lw_buf out = {0};
    lw_metrics_render(&out);
    return out.data;
}

static void test_counters_by_label(void **state)
{
    lw_metrics_reset();
    lw_metrics_add("leakwatch_events_in_total", "type=\"lead.created\",topic=\"crm.leads\"", 2);
    lw_metrics_add("leakwatch_events_in_total", "type=\"lead.created\",topic=\"crm.leads\"", 1);
    lw_metrics_add("leakwatch_events_in_total", "type=\"call.completed\",topic=\"crm.calls\"", 1);
    lw_metrics_add("leakwatch_no_such_family", "", 1); /* ignored, never a crash */
    char *text = render();
    assert_non_null(strstr(text, "# TYPE leakwatch_events_in_total counter\n"));
    assert_non_null(
        strstr(text, "leakwatch_events_in_total{type=\"lead.created\",topic=\"crm.leads\"} 3\n"));
    assert_non_null(
        strstr(text, "leakwatch_events_in_total{type=\"call.completed\",topic=\"crm.calls\"} 1\n"));
    assert_null(strstr(text, "no_such_family"));
    free(text);
}

static void test_gauge_set(void **state)
{
    lw_metrics_reset();
    lw_metrics_set("leakwatch_consumer_lag", NULL, 120);
    lw_metrics_set("leakwatch_consumer_lag", NULL, 7);
    char *text = render();
    assert_non_null(
        strstr(text, "# TYPE leakwatch_consumer_lag gauge\nleakwatch_consumer_lag 7\n"));
    free(text);
}

static void test_histogram(void **state)
{
    lw_metrics_reset();
    lw_metrics_observe("leakwatch_batch_size", 1);
    lw_metrics_observe("leakwatch_batch_size", 600);
    lw_metrics_observe("leakwatch_batch_size", 9000);
    char *text = render();
    assert_non_null(strstr(text, "leakwatch_batch_size_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(text, "leakwatch_batch_size_bucket{le=\"500\"} 1\n"));
    assert_non_null(strstr(text, "leakwatch_batch_size_bucket{le=\"1000\"} 2\n"));
    assert_non_null(strstr(text, "leakwatch_batch_size_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "leakwatch_batch_size_sum 9601\nleakwatch_batch_size_count 3\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_by_label),
        cmocka_unit_test(test_gauge_set),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
