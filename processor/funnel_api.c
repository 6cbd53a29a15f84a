/* funnel_api.c — the body of /api/funnel?tenant=T[&pipeline=P][&period=YYYY-MM] from the
 * funnel.summary data funnel.lua last published (lw:{T}:funnel:latest, field
 * "<month>|<currency>|<pipeline>"): the pipeline's summaries of the month, one per currency,
 * and every (pipeline, period, currency) there is, so a dashboard can offer them. Without a
 * period, the latest month the pipeline has. */
#include "leakwatch/leakwatch.h"

#include <string.h>

/* Splits a field "<month>|<currency>|<pipeline>"; false when it is not one. */
static bool split_scope(const char *field, char month[8], char currency[16], const char **pipeline)
{
    const char *a = strchr(field, '|'), *b = a ? strchr(a + 1, '|') : NULL;
    if (!b || a - field != 7 || b - a - 1 >= 16)
        return false;
    memcpy(month, field, 7), month[7] = '\0';
    memcpy(currency, a + 1, (size_t)(b - a - 1)), currency[b - a - 1] = '\0';
    *pipeline = b + 1;
    return true;
}

/* The latest month of the pipeline among the fields, into month ("" when none). */
static void latest_month(const char *const *fields, size_t n, const char *pipeline, char month[8])
{
    month[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char m[8], cur[16];
        const char *p;
        if (split_scope(fields[i], m, cur, &p) && !strcmp(p, pipeline) && strcmp(m, month) > 0)
            memcpy(month, m, 8);
    }
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *lw_funnel_api_body(const char *tenant, const char *pipeline, const char *period,
                           const char *const *fields, const char *const *values, size_t n)
{
    char month[8];
    if (period)
        snprintf(month, sizeof(month), "%s", period);
    else
        latest_month(fields, n, pipeline, month);
    const char **order = calloc(n + 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = fields[i];
    qsort(order, n, sizeof(*order), by_text); /* by month, currency, pipeline */
    json_t *summaries = json_array(), *available = json_array();
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (fields[i] != order[k])
            i++;
        char m[8], cur[16];
        const char *p;
        if (!split_scope(fields[i], m, cur, &p))
            continue;
        json_array_append_new(
            available, json_pack("{s:s,s:s,s:s}", "pipeline", p, "period", m, "currency", cur));
        json_t *summary =
            strcmp(p, pipeline) || strcmp(m, month) ? NULL : json_loads(values[i], 0, NULL);
        if (summary)
            json_array_append_new(summaries, summary);
    }
    free(order);
    return json_pack("{s:s,s:s,s:s?,s:o,s:o}", "tenant", tenant, "pipeline", pipeline, "period",
                     *month ? month : NULL, "summaries", summaries, "available", available);
}
