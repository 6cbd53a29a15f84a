/* test_managers_api.c — processor/managers_api.c: the body of /api/managers from the
 * published manager reports. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "leakwatch/leakwatch.h"

static const char *const fields[] = {"2026-11|m2", "2026-10|m1", "2026-11|m1", "2026-11|", "junk"};
static const char *const values[] = {"{\"manager_id\":\"m2\"}", "{\"manager_id\":\"m1\",\"x\":10}",
                                     "{\"manager_id\":\"m1\"}", "{}", "{}"};

static char *body(const char *month, size_t n)
{
    json_t *b = lw_managers_api_body("acme", month, fields, values, n);
    char *text = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(b);
    return text;
}

static void test_month_given(void **state)
{
    (void)state;
    char *text = body("2026-11", 5);
    /* by manager; the field with no manager and the junk left out */
    assert_string_equal(text, "{\"tenant\":\"acme\",\"period\":\"2026-11\",\"managers\":["
                              "{\"manager_id\":\"m1\"},{\"manager_id\":\"m2\"}],"
                              "\"months\":[\"2026-10\",\"2026-11\"]}");
    free(text);
    text = body("2026-10", 5);
    assert_non_null(strstr(text, "\"managers\":[{\"manager_id\":\"m1\",\"x\":10}]"));
    free(text);
}

static void test_latest_month(void **state)
{
    (void)state;
    char *text = body(NULL, 5);
    assert_non_null(strstr(text, "\"period\":\"2026-11\",\"managers\":[{\"manager_id\":\"m1\"},"));
    free(text);
    text = body(NULL, 0); /* nothing yet: no period, no report */
    assert_string_equal(text, "{\"tenant\":\"acme\",\"period\":null,\"managers\":[],"
                              "\"months\":[]}");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month_given),
        cmocka_unit_test(test_latest_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
