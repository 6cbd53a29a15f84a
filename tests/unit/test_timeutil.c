/* test_timeutil.c — RFC 3339 timestamps and durations (processor/timeutil.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* 2026-11-22T09:00:00Z */
#define T0 INT64_C(1795338000000)

typedef struct {
    const char *text;
    int64_t ms;
} parse_ok_case;

static const parse_ok_case parse_ok[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-11-22T09:00:00Z", T0},
    {"2026-11-22t09:00:00z", T0},
    {"2026-11-22 09:00:00Z", T0},
    {"2026-11-22T14:00:00+05:00", T0},
    {"2026-11-22T05:30:00-03:30", T0},
    {"2026-11-22T09:00:00+00:00", T0},
    {"2026-11-22T09:00:00-00:00", T0},
    {"2026-11-22T09:00:00.5Z", T0 + 500},
    {"2026-11-22T09:00:00.05Z", T0 + 50},
    {"2026-11-22T09:00:00.123Z", T0 + 123},
    {"2026-11-22T09:00:00.123456789Z", T0 + 123},
    {"2026-11-22T09:00:00.999999Z", T0 + 999},
    {"2026-11-22T12:00:00.250+03:00", T0 + 250},
    {"2024-02-29T00:00:00Z", INT64_C(1709164800000)},
    {"2000-02-29T12:00:00Z", INT64_C(951825600000)},
    {"2026-12-31T23:59:59Z", INT64_C(1798761599000)},
    {"1969-12-31T23:59:59Z", -1000},
    {"1969-12-31T23:59:59.500Z", -500},
    {"1960-01-01T00:00:00Z", INT64_C(-315619200000)},
    {"1970-01-01T00:00:00+01:00", -3600000},
    {"2016-12-31T23:59:60Z", INT64_C(1483228800000)}, /* a leap second: the next second */
    {"0000-01-01T00:00:00Z", INT64_C(-62167219200000)},
    {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
    {"9999-12-31T23:59:59-00:00", INT64_C(253402300799000)},
};

static void test_rfc3339_parse_valid(void **state)
{
    for (size_t i = 0; i < sizeof(parse_ok) / sizeof(parse_ok[0]); i++) {
        int64_t ms = INT64_MIN;
        if (!lw_rfc3339_parse(parse_ok[i].text, &ms))
            fail_msg("refused %s", parse_ok[i].text);
        if (ms != parse_ok[i].ms)
            fail_msg("%s: got %lld, want %lld", parse_ok[i].text, (long long)ms,
                     (long long)parse_ok[i].ms);
    }
}

static const char *const parse_bad[] = {
    "",
    "2026-02-29T00:00:00Z", /* not a leap year */
    "2100-02-29T00:00:00Z", /* century, not a leap year */
    "2026-13-01T00:00:00Z", /* month 13 */
    "2026-00-01T00:00:00Z", /* month 0 */
    "2026-04-31T00:00:00Z", /* April has 30 days */
    "2026-01-00T00:00:00Z", /* day 0 */
    "2026-01-32T00:00:00Z",
    "2026-11-22T24:00:00Z", /* hour 24 */
    "2026-11-22T09:60:00Z",
    "2026-11-22T09:00:61Z",
    "2026-11-22T09:00Z",        /* missing seconds */
    "2026-11-22T09:00:00",      /* missing offset */
    "2026-11-22T09:00:00Zjunk", /* trailing garbage */
    "2026-11-22T09:00:00Z ",
    "2026-11-22T09:00:00+05:00x",
    "2026-11-22T09:00:00.Z", /* a dot without digits */
    "2026-11-22T09:00:00+0500",
    "2026-11-22T09:00:00+24:00",
    "2026-11-22T09:00:00+05:60",
    "2026-11-22X09:00:00Z",
    "2026-11-22",
    "26-11-22T09:00:00Z",
    "2026/11/22T09:00:00Z",
    "tomorrow",
    /* instants outside years 0000-9999 could not be written back (fuzz_timeutil) */
    "9999-12-31T23:59:60Z",
    "9999-12-31T23:30:00-01:00",
    "0000-01-01T00:00:00+00:01",
};

static void test_rfc3339_parse_invalid(void **state)
{
    for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
        int64_t ms = 42;
        if (lw_rfc3339_parse(parse_bad[i], &ms))
            fail_msg("accepted '%s' as %lld", parse_bad[i], (long long)ms);
    }
    int64_t ms = 42;
    assert_false(lw_rfc3339_parse(NULL, &ms));
    assert_int_equal(ms, 42);
}

typedef struct {
    int64_t ms;
    const char *text;
} format_case;

static const format_case formats[] = {
    {0, "1970-01-01T00:00:00Z"},
    {T0, "2026-11-22T09:00:00Z"},
    {T0 + 500, "2026-11-22T09:00:00.500Z"},
    {T0 + 1, "2026-11-22T09:00:00.001Z"},
    {T0 + 123, "2026-11-22T09:00:00.123Z"},
    {INT64_C(1709164800000), "2024-02-29T00:00:00Z"},
    {INT64_C(1798761599999), "2026-12-31T23:59:59.999Z"},
    {-1, "1969-12-31T23:59:59.999Z"},
    {-500, "1969-12-31T23:59:59.500Z"},
    {-1000, "1969-12-31T23:59:59Z"},
    {INT64_C(-315619200000), "1960-01-01T00:00:00Z"},
    {INT64_C(-315619199877), "1960-01-01T00:00:00.123Z"},
    /* the first and last instants of years 0 and 9999: written digit by digit */
    {INT64_C(-62167219200000), "0000-01-01T00:00:00Z"},
    {INT64_C(253402300799999), "9999-12-31T23:59:59.999Z"},
    {INT64_C(951825600010), "2000-02-29T12:00:00.010Z"},
};

static void test_rfc3339_format(void **state)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char out[32];
        memset(out, 'x', sizeof(out));
        lw_rfc3339_format(formats[i].ms, out);
        assert_string_equal(out, formats[i].text);
    }
}

static void test_rfc3339_round_trip(void **state)
{
    /* ms -> text -> ms */
    static const int64_t values[] = {0,
                                     1,
                                     999,
                                     1000,
                                     T0,
                                     T0 + 7,
                                     -1,
                                     -999,
                                     -1001,
                                     INT64_C(951825600123),
                                     INT64_C(253402300799000)};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[32];
        int64_t back = INT64_MIN;
        lw_rfc3339_format(values[i], out);
        if (!lw_rfc3339_parse(out, &back))
            fail_msg("%lld formatted as '%s' is not parsed back", (long long)values[i], out);
        assert_int_equal(back, values[i]);
    }
    /* text (already canonical) -> ms -> same text */
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        int64_t ms;
        char out[32];
        assert_true(lw_rfc3339_parse(formats[i].text, &ms));
        lw_rfc3339_format(ms, out);
        assert_string_equal(out, formats[i].text);
    }
    /* an offset comes back in UTC */
    int64_t ms;
    char out[32];
    assert_true(lw_rfc3339_parse("2026-11-22T12:00:00.250+03:00", &ms));
    lw_rfc3339_format(ms, out);
    assert_string_equal(out, "2026-11-22T09:00:00.250Z");
}

typedef struct {
    const char *text;
    int64_t ms;
} duration_case;

static const duration_case durations_ok[] = {
    {"0", 0},          {"250ms", 250},
    {"0ms", 0},        {"15s", 15000},
    {"30m", 1800000},  {"15m", 900000},
    {"24h", 86400000}, {"90d", INT64_C(7776000000)},
    {"7d", 604800000}, {"1000000000ms", 1000000000},
};

static void test_duration_parse_valid(void **state)
{
    for (size_t i = 0; i < sizeof(durations_ok) / sizeof(durations_ok[0]); i++) {
        int64_t ms = -42;
        if (!lw_duration_parse(durations_ok[i].text, &ms))
            fail_msg("refused '%s'", durations_ok[i].text);
        assert_int_equal(ms, durations_ok[i].ms);
    }
}

static const char *const durations_bad[] = {
    "",   "15",   "m",  "-5s",  "5x", "1.5h", "5 s",  " 5s", "+5s",
    "5S", "5sec", "s5", "5ms ", "0x", "1",    "5mss", "h",
};

static void test_duration_parse_invalid(void **state)
{
    for (size_t i = 0; i < sizeof(durations_bad) / sizeof(durations_bad[0]); i++) {
        int64_t ms = -42;
        if (lw_duration_parse(durations_bad[i], &ms))
            fail_msg("accepted '%s' as %lld", durations_bad[i], (long long)ms);
    }
    int64_t ms;
    assert_false(lw_duration_parse(NULL, &ms));
}

static const duration_case formats_d[] = {
    {"0", 0},          {"250ms", 250},         {"1s", 1000},      {"15s", 15000},
    {"90s", 90000},    {"1500ms", 1500},       {"30m", 1800000},  {"15m", 900000},
    {"24h", 86400000}, {"1d", 86400000 * 1LL}, {"25h", 90000000}, {"90d", INT64_C(7776000000)},
};

static void test_duration_format(void **state)
{
    for (size_t i = 0; i < sizeof(formats_d) / sizeof(formats_d[0]); i++) {
        char out[32];
        lw_duration_format(formats_d[i].ms, out);
        if (!strcmp(formats_d[i].text, "24h")) {
            /* 24h and 1d are the same duration: the largest unit wins */
            assert_string_equal(out, "1d");
            continue;
        }
        assert_string_equal(out, formats_d[i].text);
        /* what is formatted parses back */
        int64_t back = -1;
        assert_true(lw_duration_parse(out, &back));
        assert_int_equal(back, formats_d[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_parse_valid),  cmocka_unit_test(test_rfc3339_parse_invalid),
        cmocka_unit_test(test_rfc3339_format),       cmocka_unit_test(test_rfc3339_round_trip),
        cmocka_unit_test(test_duration_parse_valid), cmocka_unit_test(test_duration_parse_invalid),
        cmocka_unit_test(test_duration_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
