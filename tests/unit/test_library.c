/* test_library.c — processor/library.c: the library as cmake/lua_library.cmake assembled it,
 * and errors named by file and line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* The text from line n of the library (1: the "#!lua" header). */
static const char *line_of(long n)
{
    const char *p = lw_library_text;
    for (long i = 1; i < n && p; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return p;
}

/* common.lua first, as it is; every other file inside a do ... end of its own, starting at
 * the line the table gives. */
static void test_layout(void **state)
{
    (void)state;
    assert_true(!strncmp(lw_library_text, "#!lua name=leakwatch\n", 21));
    assert_true(lw_lua_sources_n >= 3);
    assert_string_equal(lw_lua_sources[0].name, "common.lua");
    assert_string_equal(lw_lua_sources[1].name, "keys.lua");
    for (size_t i = 0; i < lw_lua_sources_n; i++) {
        const lw_lua_source *s = &lw_lua_sources[i];
        char want[64];
        snprintf(want, sizeof(want), "-- %s", s->name);
        const char *first = line_of(s->first_line);
        assert_non_null(first);
        assert_true(!strncmp(first, want, strlen(want)));
        if (i > 0)
            assert_true(!strncmp(line_of(s->first_line - 1), "do\n", 3));
        assert_int_equal(strlen(s->sha1), 40);
    }
}

static void test_locate(void **state)
{
    (void)state;
    char where[128], error[128];
    for (size_t i = 0; i < lw_lua_sources_n; i++) {
        const lw_lua_source *s = &lw_lua_sources[i];
        snprintf(error, sizeof(error),
                 "ERR user_function:%ld: Script attempted to access nonexistent global",
                 s->first_line + 4);
        lw_library_locate(error, where, sizeof(where));
        char want[64];
        snprintf(want, sizeof(want), "%s:5", s->name);
        assert_string_equal(where, want);
    }
    lw_library_locate("ERR user_function:1: bad header", where, sizeof(where));
    assert_string_equal(where, "the leakwatch library");
    lw_library_locate("OOM command not allowed", where, sizeof(where));
    assert_string_equal(where, "the leakwatch library");
    lw_library_locate(NULL, where, sizeof(where));
    assert_string_equal(where, "the leakwatch library");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_locate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
