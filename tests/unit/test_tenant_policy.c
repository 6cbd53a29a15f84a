/* test_tenant_policy.c — processor/tenant_policy.c: which tenant ids are accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define DEFAULT_PATTERN "[A-Za-z0-9._-]{1,64}"

static lw_tenant_policy *policy(const char *pattern, const char *allow)
{
    char err[300] = "";
    lw_tenant_policy *p = lw_tenant_policy_new(pattern, allow, err, sizeof(err));
    if (!p)
        fail_msg("refused %s / %s: %s", pattern, allow, err);
    return p;
}

static void test_default_pattern(void **state)
{
    lw_tenant_policy *p = policy(DEFAULT_PATTERN, "");
    static const char *const ok[] = {"acme", "default", "a", "Acme-KZ_2.eu", "0"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (lw_tenant_policy_check(p, ok[i]) != LW_REJECT_NONE)
            fail_msg("refused '%s'", ok[i]);
    char longest[65];
    memset(longest, 'x', 64);
    longest[64] = '\0';
    assert_int_equal(lw_tenant_policy_check(p, longest), LW_REJECT_NONE);
    static const char *const bad[] = {
        "",       "ac me",   "ac\tme", "acme%",    "acme\x01", "a{b}", "a:b", "a/b",
        "acme\n", "tenant*", "ac\"me", "<script>", "ac\x7fme", "акме", "a,b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lw_tenant_policy_check(p, bad[i]) != LW_REJECT_INVALID_TENANT)
            fail_msg("accepted '%s'", bad[i]);
    char too_long[66];
    memset(too_long, 'x', 65);
    too_long[65] = '\0';
    assert_int_equal(lw_tenant_policy_check(p, too_long), LW_REJECT_INVALID_TENANT);
    lw_tenant_policy_free(p);
}

/* Anchored: a pattern matching part of the id does not accept it. */
static void test_pattern_is_anchored(void **state)
{
    lw_tenant_policy *p = policy("[a-z]+|t[0-9]", "");
    assert_int_equal(lw_tenant_policy_check(p, "acme"), LW_REJECT_NONE);
    assert_int_equal(lw_tenant_policy_check(p, "t1"), LW_REJECT_NONE);
    assert_int_equal(lw_tenant_policy_check(p, "acme1"), LW_REJECT_INVALID_TENANT);
    assert_int_equal(lw_tenant_policy_check(p, "xt1"), LW_REJECT_INVALID_TENANT);
    lw_tenant_policy_free(p);
}

/* However wide the pattern, braces and control characters never pass. */
static void test_wide_pattern_keeps_the_floor(void **state)
{
    lw_tenant_policy *p = policy(".*", "");
    assert_int_equal(lw_tenant_policy_check(p, "any thing %"), LW_REJECT_NONE);
    assert_int_equal(lw_tenant_policy_check(p, "a{b}"), LW_REJECT_INVALID_TENANT);
    assert_int_equal(lw_tenant_policy_check(p, "a\rb"), LW_REJECT_INVALID_TENANT);
    assert_int_equal(lw_tenant_policy_check(p, ""), LW_REJECT_INVALID_TENANT);
    lw_tenant_policy_free(p);
}

static void test_allow_list(void **state)
{
    lw_tenant_policy *p = policy(DEFAULT_PATTERN, "acme,globex");
    assert_int_equal(lw_tenant_policy_check(p, "acme"), LW_REJECT_NONE);
    assert_int_equal(lw_tenant_policy_check(p, "globex"), LW_REJECT_NONE);
    assert_int_equal(lw_tenant_policy_check(p, "acme2"), LW_REJECT_UNKNOWN_TENANT);
    assert_int_equal(lw_tenant_policy_check(p, "acm"), LW_REJECT_UNKNOWN_TENANT);
    assert_int_equal(lw_tenant_policy_check(p, "ac me"), LW_REJECT_INVALID_TENANT);
    lw_reject why = {0};
    assert_false(lw_tenant_policy_admit(p, "initech", &why));
    assert_int_equal(why.reason, LW_REJECT_UNKNOWN_TENANT);
    assert_string_equal(lw_reject_name(why.reason), "unknown_tenant");
    assert_non_null(strstr(why.detail, "tenants.allow"));
    assert_true(lw_tenant_policy_admit(p, "acme", &why));
    lw_tenant_policy_free(p);
}

/* The check remembers its last answer: never another policy's, even one made where a freed
 * one was */
static void test_check_answers_per_policy(void **state)
{
    lw_tenant_policy *wide = policy(".*", ""), *narrow = policy("[a-z]+", "");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lw_tenant_policy_check(wide, "Acme"), LW_REJECT_NONE);
        assert_int_equal(lw_tenant_policy_check(narrow, "Acme"), LW_REJECT_INVALID_TENANT);
    }
    lw_tenant_policy_free(narrow);
    lw_tenant_policy *allow = policy(DEFAULT_PATTERN, "globex");
    assert_int_equal(lw_tenant_policy_check(allow, "acme"), LW_REJECT_UNKNOWN_TENANT);
    assert_int_equal(lw_tenant_policy_check(allow, "acme"), LW_REJECT_UNKNOWN_TENANT);
    lw_tenant_policy_free(allow);
    lw_tenant_policy *again = policy(DEFAULT_PATTERN, "");
    assert_int_equal(lw_tenant_policy_check(again, "acme"), LW_REJECT_NONE);
    lw_tenant_policy_free(again);
    lw_tenant_policy_free(wide);
}

static void assert_refused(const char *pattern, const char *allow, const char *key)
{
    char err[300] = "";
    lw_tenant_policy *p = lw_tenant_policy_new(pattern, allow, err, sizeof(err));
    if (p)
        fail_msg("accepted %s / %s", pattern, allow);
    if (!strstr(err, key))
        fail_msg("'%s' does not name %s", err, key);
}

static void test_bad_settings_refused_naming_the_key(void **state)
{
    assert_refused("[a-z", "", "config: tenants.pattern");
    assert_refused("(", "", "config: tenants.pattern");
    assert_refused("a{1", "", "config: tenants.pattern");
    /* a listed tenant the pattern would refuse could never be seen */
    assert_refused(DEFAULT_PATTERN, "acme,ac me", "config: tenants.allow");
    assert_refused(DEFAULT_PATTERN, ",", "config: tenants.allow");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pattern),
        cmocka_unit_test(test_pattern_is_anchored),
        cmocka_unit_test(test_wide_pattern_keeps_the_floor),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_check_answers_per_policy),
        cmocka_unit_test(test_bad_settings_refused_naming_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
