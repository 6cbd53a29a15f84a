/* test_funnel_api.c — processor/funnel_api.c: the body of /api/funnel from the published
 * summaries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "leakwatch/leakwatch.h"

static const char *const fields[] = {"2026-11|RUB|default", "2026-10|RUB|default",
                                     "2026-11|USD|default", "2026-12|RUB|kitchens", "junk"};
static const char *const values[] = {"{\"currency\":\"RUB\",\"period\":\"2026-11\"}",
                                     "{\"currency\":\"RUB\",\"period\":\"2026-10\"}",
                                     "{\"currency\":\"USD\",\"period\":\"2026-11\"}",
                                     "{\"currency\":\"RUB\",\"period\":\"2026-12\"}", "{}"};

static char *body(const char *pipeline, const char *period)
{
    json_t *b = lw_funnel_api_body("acme", pipeline, period, fields, values, 5);
    char *text = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(b);
    return text;
}

static void test_month_given(void **state)
{
    (void)state;
    char *text = body("default", "2026-11");
    assert_non_null(strstr(text, "\"tenant\":\"acme\",\"pipeline\":\"default\","
                                 "\"period\":\"2026-11\",\"summaries\":[{\"currency\":\"RUB\","
                                 "\"period\":\"2026-11\"},{\"currency\":\"USD\",\"period\":"
                                 "\"2026-11\"}]"));
    /* every scope, by month, currency and pipeline; the junk field left out */
    assert_non_null(strstr(text, "\"available\":[{\"pipeline\":\"default\",\"period\":"
                                 "\"2026-10\",\"currency\":\"RUB\"},{\"pipeline\":\"default\","
                                 "\"period\":\"2026-11\",\"currency\":\"RUB\"},"));
    assert_null(strstr(text, "junk"));
    free(text);
}

static void test_latest_month_of_the_pipeline(void **state)
{
    (void)state;
    char *text = body("default", NULL);
    assert_non_null(strstr(text, "\"period\":\"2026-11\",\"summaries\":[{\"currency\":\"RUB\""));
    free(text);
    text = body("kitchens", NULL);
    assert_non_null(strstr(text, "\"period\":\"2026-12\",\"summaries\":[{\"currency\":\"RUB\","
                                 "\"period\":\"2026-12\"}]"));
    free(text);
    text = body("none", NULL); /* nothing yet: no period, no summary */
    assert_non_null(strstr(text, "\"pipeline\":\"none\",\"period\":null,\"summaries\":[],"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month_given),
        cmocka_unit_test(test_latest_month_of_the_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
