/* test_buf.c — growable buffers and Redis argument vectors (processor/buf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static void test_buf_append_grows_and_terminates(void **state)
{
    lw_buf b = {0};
    char expect[5000];
    size_t n = 0;
    /* chunks of varying size, forcing several reallocations */
    for (int i = 0; i < 100; i++) {
        char chunk[64];
        size_t len = (size_t)(i % 37) + 1;
        for (size_t k = 0; k < len; k++)
            chunk[k] = (char)('a' + (i + (int)k) % 26);
        lw_buf_append(&b, chunk, len);
        memcpy(expect + n, chunk, len);
        n += len;
        assert_int_equal(b.len, n);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
        assert_memory_equal(b.data, expect, n);
    }
    expect[n] = '\0';
    assert_string_equal(b.data, expect);
    assert_int_equal(strlen(b.data), n);
    lw_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_append_binary_and_empty(void **state)
{
    lw_buf b = {0};
    lw_buf_append(&b, "", 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");

    lw_buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4); /* and the terminator after it */

    lw_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    lw_buf_append(&b, "xyz", 3);
    assert_string_equal(b.data, "xyz");
    lw_buf_free(&b);
}

static void test_buf_appendf(void **state)
{
    lw_buf b = {0};
    lw_buf_appendf(&b, "%s=%d", "batch", 1000);
    assert_string_equal(b.data, "batch=1000");
    assert_int_equal(b.len, 10);
    lw_buf_appendf(&b, ";%lld", (long long)-42);
    assert_string_equal(b.data, "batch=1000;-42");
    assert_int_equal(b.len, 14);

    /* one formatted piece larger than the current capacity */
    char big[3001];
    memset(big, 'q', 3000);
    big[3000] = '\0';
    lw_buf_appendf(&b, "[%s]", big);
    assert_int_equal(b.len, 14 + 3002);
    assert_int_equal(strlen(b.data), b.len);
    assert_true(b.cap > b.len);
    assert_memory_equal(b.data, "batch=1000;-42[qqq", 18);
    assert_int_equal(b.data[b.len - 1], ']');

    /* appending nothing changes nothing */
    lw_buf_appendf(&b, "%s", "");
    assert_int_equal(b.len, 14 + 3002);

    /* many small pieces */
    lw_buf_reset(&b);
    for (int i = 0; i < 500; i++)
        lw_buf_appendf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[1000], '\0');
    assert_memory_equal(b.data, "0,1,2,3,4,5,6,7,8,9,0,1", 23);
    lw_buf_free(&b);
}

/* lw_format_int writes what "%lld" writes, INT64_MIN included */
static void test_format_int(void **state)
{
    static const int64_t values[] = {0,          1,         -1,        9,         10,           -10,
                                     1234567890, 999999999, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char want[32], got[24];
        int n = snprintf(want, sizeof(want), "%lld", (long long)values[i]);
        assert_int_equal(lw_format_int(values[i], got), n);
        assert_memory_equal(got, want, (size_t)n);
    }
    lw_argv a = {0};
    lw_argv_addi(&a, -1798761599999);
    lw_argv_finish(&a);
    assert_string_equal(a.ptrs[0], "-1798761599999");
    lw_argv_free(&a);
}

static void test_buf_reserve(void **state)
{
    lw_buf b = {0};
    lw_buf_reserve(&b, 1000);
    assert_true(b.cap >= 1001);
    assert_int_equal(b.len, 0);
    size_t cap = b.cap;
    char *data = b.data;
    lw_buf_append(&b, "0123456789", 10);
    /* reserved room is used without moving */
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    lw_buf_free(&b);
}

static void test_argv_add_and_finish(void **state)
{
    lw_argv a = {0};
    lw_argv_adds(&a, "FCALL");
    lw_argv_add(&a, "lw_event123", 8); /* only the first 8 bytes */
    lw_argv_addi(&a, 1);
    lw_argv_addi(&a, -1);
    lw_argv_addi(&a, INT64_MAX);
    lw_argv_addi(&a, INT64_MIN);
    lw_argv_add(&a, "", 0);
    lw_argv_add(&a, "a\0b", 3);
    lw_argv_finish(&a);

    static const struct {
        const char *s;
        size_t len;
    } want[] = {
        {"FCALL", 5},
        {"lw_event", 8},
        {"1", 1},
        {"-1", 2},
        {"9223372036854775807", 19},
        {"-9223372036854775808", 20},
        {"", 0},
        {"a\0b", 3},
    };
    assert_int_equal(a.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.lens[i], want[i].len);
        assert_memory_equal(a.ptrs[i], want[i].s, want[i].len);
        /* arguments are packed: the next one starts right after this one */
        if (i + 1 < a.n)
            assert_ptr_equal(a.ptrs[i] + a.lens[i], a.ptrs[i + 1]);
    }
    lw_argv_free(&a);
    assert_int_equal(a.n, 0);
    assert_null(a.ptrs);
}

static void test_argv_pointers_valid_after_growth(void **state)
{
    lw_argv a = {0};
    enum { N = 1000 };
    for (int i = 0; i < N; i++) {
        if (i % 2)
            lw_argv_addi(&a, (int64_t)i * 1000003);
        else {
            char s[40];
            snprintf(s, sizeof(s), "arg-%d-%s", i, i % 3 ? "x" : "longer-argument-text");
            lw_argv_adds(&a, s);
        }
    }
    lw_argv_finish(&a);
    assert_int_equal(a.n, N);
    assert_true(a.cap >= N);
    for (int i = 0; i < N; i++) {
        char s[40];
        if (i % 2)
            snprintf(s, sizeof(s), "%lld", (long long)i * 1000003);
        else
            snprintf(s, sizeof(s), "arg-%d-%s", i, i % 3 ? "x" : "longer-argument-text");
        assert_int_equal(a.lens[i], strlen(s));
        assert_memory_equal(a.ptrs[i], s, a.lens[i]);
        /* the pointers point into the final buffer */
        assert_true(a.ptrs[i] >= a.bytes.data &&
                    a.ptrs[i] + a.lens[i] <= a.bytes.data + a.bytes.len);
    }
    assert_int_equal(a.bytes.data[a.bytes.len], '\0');
    lw_argv_free(&a);
}

static void test_argv_reset_reuses(void **state)
{
    lw_argv a = {0};
    for (int i = 0; i < 40; i++)
        lw_argv_addi(&a, i);
    lw_argv_finish(&a);
    assert_int_equal(a.n, 40);
    lw_argv_reset(&a);
    assert_int_equal(a.n, 0);
    assert_int_equal(a.bytes.len, 0);
    lw_argv_adds(&a, "HSET");
    lw_argv_adds(&a, "k");
    lw_argv_finish(&a);
    assert_int_equal(a.n, 2);
    assert_memory_equal(a.ptrs[0], "HSET", 4);
    assert_int_equal(a.lens[0], 4);
    assert_memory_equal(a.ptrs[1], "k", 1);
    assert_int_equal(a.lens[1], 1);
    lw_argv_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_terminates),
        cmocka_unit_test(test_buf_append_binary_and_empty),
        cmocka_unit_test(test_buf_appendf),
        cmocka_unit_test(test_format_int),
        cmocka_unit_test(test_buf_reserve),
        cmocka_unit_test(test_argv_add_and_finish),
        cmocka_unit_test(test_argv_pointers_valid_after_growth),
        cmocka_unit_test(test_argv_reset_reuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
