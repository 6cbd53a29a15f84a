/* test_secret.c — processor/secret.c: which settings are secrets and how they are printed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static void test_secret_keys(void **state)
{
    static const char *const secret[] = {
        "kafka.sasl.password",
        "kafka.ssl.key.password",
        "kafka.ssl.keystore.password",
        "http.token",
        "kafka.sasl.oauthbearer.client.secret",
        "kafka.ssl.key.pem",
        "kafka.sasl.oauthbearer.config",
    };
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (!lw_secret_key(secret[i]))
            fail_msg("%s is not a secret", secret[i]);
    static const char *const plain[] = {
        "kafka.sasl.username",   "http.token_file",       "redis.url",       "kafka.brokers",
        "kafka.ssl.ca.location", "kafka.sasl.mechanisms", "tenants.pattern",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (lw_secret_key(plain[i]))
            fail_msg("%s is a secret", plain[i]);
}

static void test_redact_url(void **state)
{
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"redis://127.0.0.1:6379", "redis://127.0.0.1:6379"},
        {"redis://:s3cret@h:6379/2", "redis://***@h:6379/2"},
        {"redis://s3cret@h", "redis://***@h"},
        {"redis://lw:s3cret@h:6379/0", "redis://lw:***@h:6379/0"},
        {"redis://lw:p@ss@h:1", "redis://lw:***@h:1"}, /* the last @ ends the userinfo */
        {"redis://lw:p%40ss@h/db@x", "redis://lw:***@h/db@x"},
        {"http://x", "http://x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(lw_redact_url(cases[i].url), cases[i].shown);
}

static void test_redacted(void **state)
{
    assert_string_equal(lw_redacted("kafka.sasl.password", "hunter2"), "***");
    assert_string_equal(lw_redacted("http.token", "t0k3n"), "***");
    assert_string_equal(lw_redacted("http.token", ""), ""); /* none set: nothing to hide */
    assert_string_equal(lw_redacted("redis.url", "redis://u:pw@h:1"), "redis://u:***@h:1");
    assert_string_equal(lw_redacted("kafka.brokers", "k:9092"), "k:9092");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test(test_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
