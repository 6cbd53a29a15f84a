/* timeutil.c — RFC 3339 timestamps, durations and clocks, all in Unix milliseconds. */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Fractional seconds: keeps milliseconds, ignores finer digits. */
static bool fraction_ms(const char **p, int *ms)
{
    *ms = 0;
    if (**p != '.')
        return true;
    (*p)++;
    if (!isdigit((unsigned char)**p))
        return false;
    int scale = 100;
    while (isdigit((unsigned char)**p)) {
        *ms += (**p - '0') * scale;
        scale /= 10;
        (*p)++;
    }
    return true;
}

static bool offset_minutes(const char **p, int *minutes)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *minutes = 0;
        return true;
    }
    if (**p != '+' && **p != '-')
        return false;
    int sign = **p == '-' ? -1 : 1;
    (*p)++;
    int hh, mm;
    if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *minutes = sign * (hh * 60 + mm);
    return true;
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in Unix seconds. */
#define RFC3339_FIRST_S (-62167219200LL)
#define RFC3339_LAST_S  253402300799LL

bool lw_rfc3339_parse(const char *s, int64_t *out_ms)
{
    if (!s)
        return false;
    const char *p = s;
    int y, mo, d, h, mi, sec, ms, off;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &sec) || !fraction_ms(&p, &ms) || !offset_minutes(&p, &off) || *p)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    /* An offset or a leap second can carry the instant out of years 0000-9999, which
     * lw_rfc3339_format could not write back as RFC 3339 (found by fuzz_timeutil). */
    if (secs < RFC3339_FIRST_S || secs > RFC3339_LAST_S)
        return false;
    *out_ms = secs * 1000 + ms;
    return true;
}

/* The width lowest decimal digits of v (>= 0), zero-padded. */
static void put_digits(char *out, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

void lw_rfc3339_format(int64_t ms, char out[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int frac = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int h = (int)(rem / 3600), mi = (int)(rem / 60 % 60), s = (int)(rem % 60);
    if (y >= 0 && y <= 9999) { /* every year RFC 3339 can write; snprintf took 2 900 instructions */
        put_digits(out, y, 4);
        out[4] = '-';
        put_digits(out + 5, m, 2);
        out[7] = '-';
        put_digits(out + 8, d, 2);
        out[10] = 'T';
        put_digits(out + 11, h, 2);
        out[13] = ':';
        put_digits(out + 14, mi, 2);
        out[16] = ':';
        put_digits(out + 17, s, 2);
        size_t end = 19;
        if (frac) {
            out[end++] = '.';
            put_digits(out + end, frac, 3);
            end += 3;
        }
        out[end++] = 'Z';
        out[end] = '\0';
        return;
    }
    char text[96]; /* roomy for any int year; real ones fit in 32 */
    if (frac)
        snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, h, mi, s,
                 frac);
    else
        snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, h, mi, s);
    memcpy(out, text, 31);
    out[31] = '\0';
}

static const struct {
    const char *suffix;
    int64_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

bool lw_duration_parse(const char *s, int64_t *out_ms)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (v < 0 || v > 1000000000LL)
        return false;
    if (!*end) {
        *out_ms = 0;
        return v == 0; /* a bare number is ambiguous, except 0 */
    }
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (!strcmp(end, duration_units[i].suffix)) {
            *out_ms = v * duration_units[i].ms;
            return true;
        }
    }
    return false;
}

void lw_duration_format(int64_t ms, char out[32])
{
    for (int i = 4; i >= 0; i--) {
        if (ms != 0 && ms % duration_units[i].ms == 0) {
            snprintf(out, 32, "%lld%s", (long long)(ms / duration_units[i].ms),
                     duration_units[i].suffix);
            return;
        }
    }
    snprintf(out, 32, "0");
}

void lw_local_period(int64_t ms, const char *timezone, char day[11], char month[8])
{
    /* glibc reads a zone once per change of TZ: switching only when it differs keeps this
     * cheap while one zone dominates. The loop calling it is single-threaded. */
    static char current[128];
    if (strcmp(current, timezone) != 0) {
        snprintf(current, sizeof(current), "%s", timezone);
        setenv("TZ", timezone, 1);
        tzset();
    }
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
    strftime(month, 8, "%Y-%m", &tm);
}

int64_t lw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lw_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t lw_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
