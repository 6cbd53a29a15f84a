/* managers_api.c — the body of /api/managers?tenant=T[&month=YYYY-MM] from the
 * manager.report data manager.lua last published (lw:{T}:mgr:latest, field
 * "<month>|<manager_id>"): the reports of the month, one per manager, sorted by manager, and
 * every month there is, so a dashboard can offer them. Without a month, the latest one. */
#include "leakwatch/leakwatch.h"

#include <string.h>

/* The month of a field "<month>|<manager_id>" into month; false when it is not one. */
static bool month_of(const char *field, char month[8])
{
    if (strlen(field) < 9 || field[7] != '|')
        return false;
    memcpy(month, field, 7), month[7] = '\0';
    return true;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The months among the fields, sorted, once each; the latest into latest ("" when none). */
static json_t *months_of(const char *const *sorted, size_t n, char latest[8])
{
    json_t *months = json_array();
    latest[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char m[8];
        if (!month_of(sorted[i], m) || !strcmp(m, latest))
            continue;
        json_array_append_new(months, json_string(m));
        memcpy(latest, m, 8);
    }
    return months;
}

json_t *lw_managers_api_body(const char *tenant, const char *month, const char *const *fields,
                             const char *const *values, size_t n)
{
    const char **order = calloc(n + 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = fields[i];
    qsort(order, n, sizeof(*order), by_text); /* by month, then manager */
    char want[8];
    json_t *months = months_of(order, n, want);
    if (month)
        snprintf(want, sizeof(want), "%s", month);
    json_t *reports = json_array();
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (fields[i] != order[k])
            i++;
        char m[8];
        json_t *report =
            month_of(fields[i], m) && !strcmp(m, want) ? json_loads(values[i], 0, NULL) : NULL;
        if (report)
            json_array_append_new(reports, report);
    }
    free(order);
    return json_pack("{s:s,s:s?,s:o,s:o}", "tenant", tenant, "period", *want ? want : NULL,
                     "managers", reports, "months", months);
}
