/* test_money.c — money as integer minor units (processor/money.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* Each case is a JSON value as text, parsed with jansson exactly as an event's data field. */
typedef struct {
    const char *json;
    bool ok;
    int64_t minor;
} money_case;

static const money_case cases[] = {
    /* integers are whole units */
    {"412560", true, 41256000},
    {"0", true, 0},
    {"-7", true, -700},
    {"5184", true, 518400},
    /* decimal strings */
    {"\"412560\"", true, 41256000},
    {"\"5184.5\"", true, 518450},
    {"\"5184.50\"", true, 518450},
    {"\"5184.00\"", true, 518400},
    {"\"0.01\"", true, 1},
    {"\"0.1\"", true, 10},
    {"\"0\"", true, 0},
    {"\"-12.30\"", true, -1230},
    {"\"-0.05\"", true, -5},
    {"\"111197.35\"", true, 11119735},
    {"\"19.99\"", true, 1999},
    /* reals: exact minor units, no binary noise */
    {"5184.5", true, 518450},
    {"111197.35", true, 11119735},
    {"111197.5", true, 11119750},
    {"19.99", true, 1999},
    {"0.3", true, 30},
    {"0.30000000000000004", true, 30}, /* 0.1 + 0.2 */
    {"1.15", true, 115},
    {"4.35", true, 435},
    {"1.005e3", true, 100500},
    {"-12.3", true, -1230},
    {"5184.0", true, 518400},
    /* refused */
    {"\"12.345\"", false, 0},
    {"12.345", false, 0},
    {"\"1e5\"", false, 0},
    {"\"\"", false, 0},
    {"\"abc\"", false, 0},
    {"\"12.\"", false, 0},
    {"\".5\"", false, 0},
    {"\"-\"", false, 0},
    {"\"+5\"", false, 0},
    {"\" 5\"", false, 0},
    {"\"5 \"", false, 0},
    {"\"1,5\"", false, 0},
    {"\"--5\"", false, 0},
    {"\"99999999999999999999\"", false, 0},
    {"true", false, 0},
    {"false", false, 0},
    {"null", false, 0},
    {"[1]", false, 0},
    {"{\"amount\":1}", false, 0},
};

static void test_money_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &jerr);
        if (!v)
            fail_msg("test case %s is not JSON: %s", cases[i].json, jerr.text);
        int64_t minor = INT64_C(-999999);
        bool ok = lw_money_parse(v, &minor);
        json_decref(v);
        if (ok != cases[i].ok)
            fail_msg("%s: %s, want %s", cases[i].json, ok ? "accepted" : "refused",
                     cases[i].ok ? "accepted" : "refused");
        if (ok && minor != cases[i].minor)
            fail_msg("%s: got %lld minor units, want %lld", cases[i].json, (long long)minor,
                     (long long)cases[i].minor);
    }
}

static void test_money_parse_constructed(void **state)
{
    /* values built in C, not parsed from text */
    int64_t minor = 0;
    json_t *r = json_real(0.1 + 0.2);
    assert_true(lw_money_parse(r, &minor));
    assert_int_equal(minor, 30);
    json_decref(r);

    r = json_real(111197.35);
    assert_true(lw_money_parse(r, &minor));
    assert_int_equal(minor, 11119735);
    json_decref(r);

    json_t *i = json_integer(125000);
    assert_true(lw_money_parse(i, &minor));
    assert_int_equal(minor, 12500000);
    json_decref(i);

    /* an integer that would overflow as minor units */
    i = json_integer(INT64_MAX / 10);
    minor = 7;
    assert_false(lw_money_parse(i, &minor));
    assert_int_equal(minor, 7);
    json_decref(i);

    assert_false(lw_money_parse(NULL, &minor));
}

static void test_money_sum_is_exact(void **state)
{
    /* 111197.35 ten times as reals: a float sum drifts, minor units do not */
    int64_t total = 0;
    for (int k = 0; k < 10; k++) {
        json_t *r = json_real(111197.35);
        int64_t m;
        assert_true(lw_money_parse(r, &m));
        json_decref(r);
        total += m;
    }
    assert_int_equal(total, 111197350);
}

typedef struct {
    int64_t minor;
    const char *text;
} format_case;

static const format_case formats[] = {
    {0, "0.00"},
    {1, "0.01"},
    {10, "0.10"},
    {518450, "5184.50"},
    {41256000, "412560.00"},
    {11119735, "111197.35"},
    {-1, "-0.01"},
    {-5, "-0.05"},
    {-1230, "-12.30"},
    {-41256000, "-412560.00"},
    {INT64_MAX, "92233720368547758.07"},
};

static void test_money_format(void **state)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char out[32];
        memset(out, 'x', sizeof(out));
        lw_money_format(formats[i].minor, out);
        assert_string_equal(out, formats[i].text);
    }
}

static void test_money_round_trip(void **state)
{
    static const int64_t values[] = {0, 1, 99, 100, 518450, -1230, -1, 11119735};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[32];
        lw_money_format(values[i], out);
        json_t *s = json_string(out);
        int64_t back = INT64_MIN;
        if (!lw_money_parse(s, &back))
            fail_msg("%s (formatted from %lld) is refused", out, (long long)values[i]);
        json_decref(s);
        assert_int_equal(back, values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_parse_table),  cmocka_unit_test(test_money_parse_constructed),
        cmocka_unit_test(test_money_sum_is_exact), cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_money_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
