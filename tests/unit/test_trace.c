/* test_trace.c — W3C trace context: validation, and the joined form that travels through Redis
 * (processor/trace.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* the examples of the W3C recommendation */
#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define STATE  "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"

static bool parent_ok(const char *s)
{
    return lw_traceparent_valid(s, strlen(s));
}

static void test_traceparent(void **state)
{
    assert_true(parent_ok(PARENT));
    assert_true(parent_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    assert_true(parent_ok("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"));
    static const char *const bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",  /* long */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* a later version's tail */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",   /* upper case */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent id */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",   /* separators */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   /* not hex */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* blank */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parent_ok(bad[i]))
            fail_msg("accepted traceparent '%s'", bad[i]);
    /* lengths count, not NUL: a header value is not a C string */
    assert_false(lw_traceparent_valid(PARENT, LW_TRACEPARENT_LEN - 1));
}

static void test_tracestate(void **state)
{
    assert_true(lw_tracestate_valid(STATE, strlen(STATE)));
    assert_true(lw_tracestate_valid("a=1 , b=2", 9));
    char longest[LW_TRACESTATE_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    assert_true(lw_tracestate_valid(longest, LW_TRACESTATE_MAX));
    assert_false(lw_tracestate_valid(longest, LW_TRACESTATE_MAX + 1)); /* dropped, not cut */
    assert_false(lw_tracestate_valid("", 0));
    assert_false(lw_tracestate_valid("   ", 3));
    assert_false(lw_tracestate_valid("a=1\nb=2", 7));
    assert_false(lw_tracestate_valid("a=\xc3\xa9", 4)); /* not ASCII */
    assert_false(lw_tracestate_valid("a=1\0b", 5));
}

static void test_join(void **state)
{
    char out[LW_TRACE_MAX];
    assert_true(lw_trace_join(PARENT, strlen(PARENT), STATE, strlen(STATE), out));
    assert_string_equal(out, PARENT " " STATE);
    assert_true(lw_trace_join(PARENT, strlen(PARENT), NULL, 0, out));
    assert_string_equal(out, PARENT);
    /* a bad tracestate is left out, the traceparent kept */
    assert_true(lw_trace_join(PARENT, strlen(PARENT), "a=\n", 3, out));
    assert_string_equal(out, PARENT);
    /* a bad traceparent is no context, whatever its tracestate */
    assert_false(lw_trace_join("00-zz", 5, STATE, strlen(STATE), out));
    assert_string_equal(out, "");
    assert_false(lw_trace_join(NULL, 0, STATE, strlen(STATE), out));
    assert_string_equal(out, "");
    /* the longest tracestate fits */
    char longest[LW_TRACESTATE_MAX];
    memset(longest, 'y', sizeof(longest));
    assert_true(lw_trace_join(PARENT, strlen(PARENT), longest, sizeof(longest), out));
    assert_int_equal(strlen(out), LW_TRACE_MAX - 1);
}

static void test_split(void **state)
{
    char parent[LW_TRACEPARENT_LEN + 1];
    const char *st;
    assert_true(lw_trace_split(PARENT " " STATE, parent, &st));
    assert_string_equal(parent, PARENT);
    assert_string_equal(st, STATE);
    assert_true(lw_trace_split(PARENT, parent, &st));
    assert_string_equal(parent, PARENT);
    assert_null(st);
    assert_true(lw_trace_split(PARENT " ", parent, &st)); /* an empty tracestate: none */
    assert_null(st);
    /* what is not a joined form (an outbox entry written otherwise) carries nothing */
    static const char *const bad[] = {"", "00-4bf9", PARENT "x", PARENT "-00",
                                      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lw_trace_split(bad[i], parent, &st))
            fail_msg("split '%s'", bad[i]);
        assert_string_equal(parent, "");
        assert_null(st);
    }
    assert_false(lw_trace_split(NULL, parent, &st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_tracestate),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
