/* test_metrics.c — processor/metrics.c: series, labels, histograms, the text format; and
 * tests/support/promtext.c, the strict reader of the text format the tests parse with. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "leakwatch/leakwatch.h"
#include "promtext.h"

static char *render(void)
{
    lw_buf out = {0};
    lw_metrics_render(&out);
    return out.data;
}

static double value_of(const prom_sample *s)
{
    assert_non_null(s);
    return s->value;
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

/* The reader itself: each text breaks one rule and must be refused for it. */
static void test_reader_refuses(void **state)
{
    static const char *const ok_head = "# HELP h_seconds d\n# TYPE h_seconds histogram\n";
    static const struct {
        const char *text, *problem;
    } bad[] = {
        {"# HELP a_total d\n# TYPE a_total counter\n# TYPE a_total counter\n", "a second TYPE"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total{x=\"b\"c\"} 1\n", "expected , or }"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total{x=\"b\\q\"} 1\n", "a backslash"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total{x=\"b\",} 1\n", "expected , or }"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total{x=\"b\",x=\"c\"} 1\n", "twice"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total{__x=\"b\"} 1\n", "reserved"},
        {"a_total 1\n", "no family"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1,5\n", "not a float"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1 1700000000\n", "timestamps"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total -1\n", "never negative"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1\na_total 2\n", "the same series"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1", "no newline"},
        {"# HELP a_total d\n# TYPE a_total counter\n\na_total 1\n", "a blank line"},
        {"# HELP a_total d\n# TYPE a_total counter\n# just a comment\n", "other than HELP"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1\n# HELP a_total d\n", "second HELP"},
        {"# HELP a_total d\n# TYPE a_total counter\na_total 1\n# TYPE a_total counter\n",
         "after its samples"},
        {"# HELP a d\n# TYPE a counter\na 1\n", "ends in _total"},
        {"# HELP a_total d\n# TYPE a_total gauge\na_total 1\n", "only a counter"},
        {"# HELP a_ms d\n# TYPE a_ms gauge\na_ms 1\n", "not a base unit"},
        {"# HELP a_kb d\n# TYPE a_kb gauge\na_kb 1\n", "not a base unit"},
        {"# HELP aB d\n# TYPE aB gauge\naB 1\n", "snake_case"},
        {"# TYPE a gauge\na 1\n", "no HELP"},
        {"# HELP a d\n# TYPE a gauge\n# HELP b d\n# TYPE b gauge\na{x=\"1\"} 1\nb 1\na 2\n",
         "not together"},
        {"# HELP a d\n# TYPE a gauge\na{} 1\n", "empty label set"},
        {"# HELP a d\n# TYPE a gauge\na{x=\"1} 1\n", "not closed"},
        {"# HELP a d\n# TYPE a gauge\na 1 \n", "after the value"},
        {"# HELP a d\n# TYPE a kind\n", "unknown type"},
        {"# HELP a d\n# TYPE a gauge\na 0x10\n", "not a float"},
        {"# HELP a d\\x\n# TYPE a gauge\n", "HELP text"},
        {"h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"0.5\"} 1\n"
         "h_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 1\nh_seconds_count 1\n",
         "after a bucket at or above it"},
        {"h_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\n"
         "h_seconds_sum 1\nh_seconds_count 1\n",
         "fewer than the bucket before"},
        {"h_seconds_bucket{le=\"1\"} 1\nh_seconds_sum 1\nh_seconds_count 1\n", "+Inf"},
        {"h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 1\nh_seconds_count 3\n",
         "is not the +Inf bucket's"},
        {"h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_count 2\n", "needs _sum and _count"},
        {"h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum{le=\"1\"} 2\nh_seconds_count 2\n",
         "le on a histogram's"},
        {"h_seconds_bucket 2\nh_seconds_sum 2\nh_seconds_count 2\n", "a bucket needs le"},
        {"h_seconds 2\n", "no family"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        bool histogram = !strncmp(bad[i].text, "h_seconds", 9);
        snprintf(text, sizeof(text), "%s%s", histogram ? ok_head : "", bad[i].text);
        prom_doc doc;
        size_t problems = prom_parse(text, strlen(text), &doc);
        if (problems == 0 || !strstr(doc.problems, bad[i].problem))
            fail_msg("case %zu: expected a problem with '%s', got:\n%s\n--- the text:\n%s", i,
                     bad[i].problem, doc.problems, text);
        prom_free(&doc);
    }

    /* and a good one with labelled histograms, a summary and an untyped family */
    const char *good = "# HELP h_seconds d\n# TYPE h_seconds histogram\n"
                       "h_seconds_bucket{op=\"a\",le=\"0.5\"} 1\n"
                       "h_seconds_bucket{op=\"a\",le=\"+Inf\"} 2\n"
                       "h_seconds_sum{op=\"a\"} 1.5\nh_seconds_count{op=\"a\"} 2\n"
                       "h_seconds_bucket{le=\"1e-3\",op=\"b\"} 0\n"
                       "h_seconds_bucket{op=\"b\",le=\"+Inf\"} 0\n"
                       "h_seconds_sum{op=\"b\"} 0\nh_seconds_count{op=\"b\"} 0\n"
                       "# HELP q_seconds d\n# TYPE q_seconds summary\n"
                       "q_seconds{quantile=\"0.5\"} NaN\nq_seconds_sum 0\nq_seconds_count 0\n"
                       "# HELP u d \\\\ \\n\n# TYPE u untyped\nu{x=\"\\\"\\\\\\n\"} -Inf\n";
    prom_doc doc;
    if (prom_parse(good, strlen(good), &doc) != 0)
        fail_msg("a valid text refused:\n%s", doc.problems);
    assert_string_equal(prom_family_named(&doc, "u")->help, "d \\ \n");
    assert_non_null(prom_find(&doc, "u", "x", "\"\\\n", NULL));
    assert_true(isinf(value_of(prom_find(&doc, "u", "x", "\"\\\n", NULL))));
    prom_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_by_label),
        cmocka_unit_test(test_gauge_set),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_reader_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
