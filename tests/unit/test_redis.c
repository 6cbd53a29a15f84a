/* test_redis.c — processor/redis.c: what redis.url says (no server needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

typedef struct {
    const char *url, *host, *user, *password;
    int port, db;
} url_case;

static const url_case urls[] = {
    {"redis://127.0.0.1", "127.0.0.1", NULL, NULL, 6379, 0},
    {"redis://h:6380/3", "h", NULL, NULL, 6380, 3},
    {"redis://:s3cret@h:6380", "h", NULL, "s3cret", 6380, 0},
    {"redis://s3cret@h", "h", NULL, "s3cret", 6379, 0}, /* no ':': a password, as before */
    /* an ACL user: AUTH user password (before, the user was dropped) */
    {"redis://lw:s3cret@h:6380/2", "h", "lw", "s3cret", 6380, 2},
    {"redis://lw:p%40ss%3Aw%2Frd@h:1", "h", "lw", "p@ss:w/rd", 1, 0},
    {"redis://lw:p@ss@h:1", "h", "lw", "p@ss", 1, 0}, /* the last '@' ends the userinfo */
    {"redis://l%77:@h", "h", "lw", "", 6379, 0},
};

static void test_parse_url(void **state)
{
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const url_case *c = &urls[i];
        lw_redis r;
        char err[300] = "";
        if (!lw_redis_parse_url(c->url, &r, err, sizeof(err)))
            fail_msg("%s refused: %s", c->url, err);
        assert_string_equal(r.host, c->host);
        assert_int_equal(r.port, c->port);
        assert_int_equal(r.db, c->db);
        if (c->user)
            assert_string_equal(r.user, c->user);
        else
            assert_null(r.user);
        if (c->password)
            assert_string_equal(r.password, c->password);
        else
            assert_null(r.password);
        lw_redis_free_url(&r);
    }
}

/* A refused URL names the setting and never shows its password. */
static void test_refused_urls_hide_the_password(void **state)
{
    static const char *const bad[] = {
        "http://lw:s3cret@h", "redis://lw:s3cret@h:0",     "redis://lw:s3cret@",
        "redis://lw:s3%4@h",  "redis://lw:s3cret@h:99999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lw_redis r;
        char err[300] = "";
        if (lw_redis_parse_url(bad[i], &r, err, sizeof(err)))
            fail_msg("%s accepted", bad[i]);
        assert_non_null(strstr(err, "redis.url"));
        if (strstr(err, "s3"))
            fail_msg("'%s' shows the password", err);
        assert_null(r.user);
        assert_null(r.password);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_refused_urls_hide_the_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
