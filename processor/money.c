/* money.c — amounts as integer minor units; no sum ever goes through floating point. */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>

/* Parses "-123", "123.4", "123.45" (at most 2 fractional digits) from text. */
static bool parse_decimal(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    if (neg)
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    int64_t units = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (units > (INT64_MAX / 100 - 9) / 10)
            return false;
        units = units * 10 + (*s - '0');
    }
    int64_t minor = 0;
    if (*s == '.') {
        s++;
        int n = 0;
        for (; isdigit((unsigned char)*s); s++, n++) {
            if (n >= 2)
                return false;
            minor = minor * 10 + (*s - '0');
        }
        if (n == 0)
            return false;
        if (n == 1)
            minor *= 10;
    }
    if (*s)
        return false;
    *out = (units * 100 + minor) * (neg ? -1 : 1);
    return true;
}

bool lw_money_parse(const json_t *v, int64_t *out_minor)
{
    if (json_is_string(v))
        return parse_decimal(json_string_value(v), out_minor);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > INT64_MAX / 100 || i < -INT64_MAX / 100)
            return false;
        *out_minor = (int64_t)i * 100;
        return true;
    }
    if (json_is_real(v)) {
        /* A JSON number like 5184.5: print it back with the shortest round-trip form and read
         * the decimal text, so 0.1-style binary noise never reaches a total. */
        char text[64];
        snprintf(text, sizeof(text), "%.15g", json_real_value(v));
        if (strchr(text, 'e') || strchr(text, 'E'))
            return false;
        return parse_decimal(text, out_minor);
    }
    return false;
}

void lw_money_format(int64_t minor, char out[32])
{
    uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(out, 32, "%s%llu.%02llu", minor < 0 ? "-" : "", (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
}
