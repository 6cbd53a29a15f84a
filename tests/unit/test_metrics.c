/* test_metrics.c — processor/metrics.c: series, labels, histograms, the text format. What
 * lw_metrics_render writes is parsed by tests/support/promtext.c, the reader prom_check
 * uses on a live /metrics, and each line must be valid text exposition format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leakwatch/leakwatch.h"
#include "promtext.h"

static char *render(void)
{
    lw_buf out = {0};
    lw_metrics_render(&out);
    return out.data;
}

/* Renders and parses; fails the test on any problem of the format. */
static void render_parsed(prom_doc *doc, char **text)
{
    *text = render();
    if (prom_parse(*text, strlen(*text), doc) > 0)
        fail_msg("lw_metrics_render wrote invalid text:\n%s\n--- the text:\n%s", doc->problems,
                 *text);
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
    lw_metrics_set("leakwatch_timers_pending", NULL, 120);
    lw_metrics_set("leakwatch_timers_pending", NULL, 7);
    lw_metrics_set("leakwatch_event_clock_timestamp_seconds", NULL, 1763800000123 / 1000.0);
    char *text = render();
    assert_non_null(
        strstr(text, "# TYPE leakwatch_timers_pending gauge\nleakwatch_timers_pending 7\n"));
    assert_non_null(strstr(text, "leakwatch_event_clock_timestamp_seconds 1763800000.123\n"));
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

/* A value with a quote, a backslash and a newline is written escaped and reads back. */
static void test_labels_escaped(void **state)
{
    lw_metrics_reset();
    const char *odd = "crm.\"leads\"\\x\ny";
    char labels[200];
    lw_metrics_labels(labels, sizeof(labels), "type", "lead.created", "topic", odd, NULL);
    assert_string_equal(labels, "type=\"lead.created\",topic=\"crm.\\\"leads\\\"\\\\x\\ny\"");
    lw_metrics_add("leakwatch_events_in_total", labels, 2);
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    assert_true(value_of(prom_find(&doc, "leakwatch_events_in_total", "type", "lead.created",
                                   "topic", odd, NULL)) == 2);
    prom_free(&doc);
    free(text);

    /* too long for the buffer: cut, still quoted, never half an escape */
    char small[24];
    lw_metrics_labels(small, sizeof(small), "topic", "\"\"\"\"\"\"\"\"\"\"\"\"\"\"", NULL);
    assert_string_equal(small, "topic=\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\"");
}

/* lw_metrics_set_all: the series not set again are no longer shown. */
static void test_set_all_replaces(void **state)
{
    lw_metrics_reset();
    const char *two[] = {"topic=\"crm.leads\",partition=\"0\"",
                         "topic=\"crm.leads\",partition=\"1\""};
    lw_metrics_set_all("leakwatch_consumer_lag", two, (const double[]){5, 9}, 2);
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    assert_true(value_of(prom_find(&doc, "leakwatch_consumer_lag", "topic", "crm.leads",
                                   "partition", "1", NULL)) == 9);
    prom_free(&doc);
    free(text);

    lw_metrics_set_all("leakwatch_consumer_lag", two, (const double[]){4}, 1);
    render_parsed(&doc, &text);
    assert_true(value_of(prom_find(&doc, "leakwatch_consumer_lag", "topic", "crm.leads",
                                   "partition", "0", NULL)) == 4);
    assert_null(
        prom_find(&doc, "leakwatch_consumer_lag", "topic", "crm.leads", "partition", "1", NULL));
    prom_free(&doc);
    free(text);
}

/* Counters whose label sets are known are shown at 0 before anything is counted. */
static void test_counters_start_at_zero(void **state)
{
    lw_metrics_reset();
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    static const char *const unlabeled[] = {
        "leakwatch_events_duplicate_total", "leakwatch_events_late_total",
        "leakwatch_timers_fired_total", "leakwatch_redis_reconnects_total",
        "leakwatch_delivery_failures_total"};
    for (size_t i = 0; i < sizeof(unlabeled) / sizeof(unlabeled[0]); i++)
        assert_true(value_of(prom_find(&doc, unlabeled[i], NULL)) == 0);
    assert_true(value_of(prom_find(&doc, "leakwatch_rebalances_total", "kind", "assign", NULL)) ==
                0);
    assert_true(value_of(prom_find(&doc, "leakwatch_rebalances_total", "kind", "revoke", NULL)) ==
                0);
    prom_free(&doc);
    free(text);

    lw_metrics_add("leakwatch_rebalances_total", "kind=\"assign\"", 1);
    render_parsed(&doc, &text);
    assert_true(value_of(prom_find(&doc, "leakwatch_rebalances_total", "kind", "assign", NULL)) ==
                1);
    prom_free(&doc);
    free(text);
}

static double process_value(const char *name)
{
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    double v = value_of(prom_find(&doc, name, NULL));
    prom_free(&doc);
    free(text);
    return v;
}

/* build info and the process collector, read from /proc/self at each scrape */
static void test_process_and_build_info(void **state)
{
    lw_metrics_reset();
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    char hiredis[32];
    snprintf(hiredis, sizeof(hiredis), "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    assert_true(
        value_of(prom_find(&doc, "leakwatch_build_info", "version", LW_VERSION, "librdkafka",
                           rd_kafka_version_str(), "hiredis", hiredis, NULL)) == 1);
    double start = value_of(prom_find(&doc, "process_start_time_seconds", NULL));
    double now = (double)time(NULL);
    assert_true(start <= now + 1 && start > now - 3600); /* since the epoch, this process's */
    assert_true(value_of(prom_find(&doc, "process_resident_memory_bytes", NULL)) > 1e6);
    assert_true(value_of(prom_find(&doc, "process_virtual_memory_bytes", NULL)) > 1e6);
    assert_true(value_of(prom_find(&doc, "process_cpu_seconds_total", NULL)) >= 0);
    assert_true(value_of(prom_find(&doc, "process_max_fds", NULL)) >= 3);
    assert_string_equal(prom_family_named(&doc, "process_cpu_seconds_total")->type, "counter");
    prom_free(&doc);
    free(text);

    double fds = process_value("process_open_fds");
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(process_value("process_open_fds") == fds + 1);
    close(fd);
    assert_true(process_value("process_open_fds") == fds);
}

/* Every family, each with series, renders as valid text: HELP and TYPE once each, and the
 * names by the conventions (promtext.c checks both). */
static void test_every_family_valid(void **state)
{
    lw_metrics_reset();
    char labels[200];
    lw_metrics_add("leakwatch_events_in_total",
                   lw_metrics_labels(labels, sizeof(labels), "type", "lead.created", "topic",
                                     "crm.leads", NULL),
                   3);
    lw_metrics_add("leakwatch_events_duplicate_total", NULL, 1);
    lw_metrics_add("leakwatch_events_late_total", NULL, 2);
    lw_metrics_add("leakwatch_dead_letters_total", "reason=\"not_json\"", 1);
    lw_metrics_add("leakwatch_derived_events_total", "type=\"lead.idle\"", 2);
    lw_metrics_add("leakwatch_delivery_failures_total", NULL, 1);
    lw_metrics_add("leakwatch_timers_fired_total", NULL, 4);
    lw_metrics_add("leakwatch_redis_reconnects_total", NULL, 1);
    lw_metrics_add("leakwatch_rebalances_total", "kind=\"revoke\"", 1);
    for (double v = 0.0001; v < 3; v *= 1.7) {
        lw_metrics_observe("leakwatch_redis_round_trip_seconds", v);
        lw_metrics_observe("leakwatch_batch_size", v * 3000);
    }
    const char *lag[] = {"topic=\"crm.leads\",partition=\"0\""};
    lw_metrics_set_all("leakwatch_consumer_lag", lag, (const double[]){12}, 1);
    lw_metrics_set("leakwatch_timers_pending", NULL, 3);
    lw_metrics_set("leakwatch_outbox_depth", NULL, 0);
    lw_metrics_set("leakwatch_event_clock_timestamp_seconds", NULL, 1763800000.5);
    lw_metrics_set("leakwatch_input_buffered_bytes", NULL, 65536);
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    static const char *const expected[] = {
        "leakwatch_build_info",
        "leakwatch_events_in_total",
        "leakwatch_events_duplicate_total",
        "leakwatch_events_late_total",
        "leakwatch_dead_letters_total",
        "leakwatch_derived_events_total",
        "leakwatch_delivery_failures_total",
        "leakwatch_timers_fired_total",
        "leakwatch_redis_reconnects_total",
        "leakwatch_rebalances_total",
        "leakwatch_batch_size",
        "leakwatch_redis_round_trip_seconds",
        "leakwatch_consumer_lag",
        "leakwatch_timers_pending",
        "leakwatch_outbox_depth",
        "leakwatch_event_clock_timestamp_seconds",
        "leakwatch_input_buffered_bytes",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    };
    size_t n = sizeof(expected) / sizeof(expected[0]);
    assert_int_equal(doc.nfamilies, n); /* the README's table lists these */
    for (size_t i = 0; i < n; i++) {
        const prom_family *f = prom_family_named(&doc, expected[i]);
        if (!f)
            fail_msg("no family %s", expected[i]);
        bool sampled = false;
        for (size_t k = 0; k < doc.nsamples; k++)
            sampled |= doc.samples[k].family == (size_t)(f - doc.families);
        if (!sampled)
            fail_msg("%s has no sample", expected[i]);
    }
    assert_null(strstr(text, "_ms"));
    assert_true(value_of(prom_find(&doc, "leakwatch_redis_round_trip_seconds_bucket", "le", "+Inf",
                                   NULL)) ==
                value_of(prom_find(&doc, "leakwatch_redis_round_trip_seconds_count", NULL)));
    prom_free(&doc);
    free(text);
}

/* Values as the format spells them: shortest round trip, NaN, +Inf. */
static void test_special_values(void **state)
{
    lw_metrics_reset();
    lw_metrics_set("leakwatch_timers_pending", NULL, NAN);
    lw_metrics_set("leakwatch_outbox_depth", NULL, INFINITY);
    lw_metrics_set("leakwatch_input_buffered_bytes", NULL, 0.1);
    prom_doc doc;
    char *text;
    render_parsed(&doc, &text);
    assert_non_null(strstr(text, "leakwatch_timers_pending NaN\n"));
    assert_non_null(strstr(text, "leakwatch_outbox_depth +Inf\n"));
    assert_non_null(strstr(text, "leakwatch_input_buffered_bytes 0.1\n"));
    prom_free(&doc);
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
        cmocka_unit_test(test_labels_escaped),
        cmocka_unit_test(test_set_all_replaces),
        cmocka_unit_test(test_counters_start_at_zero),
        cmocka_unit_test(test_process_and_build_info),
        cmocka_unit_test(test_every_family_valid),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_reader_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
