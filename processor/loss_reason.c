/* loss_reason.c — a loss reason's class and canonical name, from the tenant's lists
 * ("id=Name;id=Name", PRODUCT.md §3), matched on the id or the name, case-insensitively
 * (ASCII and Cyrillic) and ignoring surrounding spaces; and how long a deal may stay in a
 * stage (deal.stage_limits: "proposal=3d;contract=14d"). The lists are parsed once, when the
 * config is loaded; each deal event only looks up. */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>

/* A copy of s[0..n) without the spaces around it. */
static char *trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* Folded text is cut at this size, the event's as the list's, so that they compare alike. */
#define FOLDED_MAX 256

/* Case-folds UTF-8 text for comparison: ASCII and the Russian alphabet. */
static void fold(const char *s, size_t n, char *out, size_t outlen)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < outlen; i++) {
        unsigned char c = (unsigned char)s[i], next = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        if (c == 0xD0 && next >= 0x90 && next <= 0x9F) { /* А..П -> а..п */
            out[o++] = (char)0xD0, out[o++] = (char)(next + 0x20), i++;
        } else if (c == 0xD0 && next >= 0xA0 && next <= 0xAF) { /* Р..Я -> р..я */
            out[o++] = (char)0xD1, out[o++] = (char)(next - 0x20), i++;
        } else if (c == 0xD0 && next == 0x81) { /* Ё -> ё */
            out[o++] = (char)0xD1, out[o++] = (char)0x91, i++;
        } else {
            out[o++] = (char)tolower(c);
        }
    }
    out[o] = '\0';
}

static char *fold_dup(const char *s, size_t n)
{
    char out[FOLDED_MAX];
    fold(s, n, out, sizeof(out));
    return strdup(out);
}

/* The next ';'-separated item of *p, empty ones included; false at the end. */
static bool next_item(const char **p, const char **item, size_t *len)
{
    if (!*p || !**p)
        return false;
    const char *end = strchr(*p, ';');
    *item = *p;
    *len = end ? (size_t)(end - *p) : strlen(*p);
    *p = end ? end + 1 : NULL;
    return true;
}

/* ------------------------------ parsing, at load ------------------------------ */

/* "id=Name", or "id" alone as its own name; an item with neither matches nothing and is
 * left out. */
static void add_reason(lw_tenant_lists *l, lw_loss_class c, const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    size_t idlen = eq ? (size_t)(eq - item) : len;
    lw_loss_reason r = {
        .id_folded = fold_dup(item, idlen),
        .name_folded = eq ? fold_dup(eq + 1, len - idlen - 1) : fold_dup(item, len),
    };
    if (!*r.id_folded && !*r.name_folded) {
        free(r.id_folded);
        free(r.name_folded);
        return;
    }
    r.id = strndup(item, idlen);
    r.name = eq ? strndup(eq + 1, len - idlen - 1) : strndup(item, len);
    l->loss[c] = realloc(l->loss[c], (l->loss_n[c] + 1) * sizeof(r));
    l->loss[c][l->loss_n[c]++] = r;
}

/* "stage=duration": false unless a duration follows the last '=' and something precedes it.
 * The stage is what precedes the first '=', so an item with several names no stage (its
 * duration would hold a '='): it is accepted and left out. */
static bool add_stage_limit(lw_tenant_lists *l, const char *item, size_t len)
{
    char *text = strndup(item, len), *eq = strrchr(text, '=');
    int64_t ms;
    bool ok = eq && eq != text && lw_duration_parse(eq + 1, &ms);
    if (ok && !memchr(text, '=', (size_t)(eq - text))) {
        l->stages = realloc(l->stages, (l->stages_n + 1) * sizeof(*l->stages));
        l->stages[l->stages_n++] = (lw_stage_limit){fold_dup(text, (size_t)(eq - text)), ms};
    }
    free(text);
    return ok;
}

static bool parse_stage_limits(lw_tenant_lists *l, const char *spec, char *err, size_t errlen)
{
    const char *item;
    size_t len;
    while (next_item(&spec, &item, &len)) {
        if (len && !add_stage_limit(l, item, len)) {
            snprintf(err, errlen, "deal.stage_limits expects stage=duration;..., got '%.*s'",
                     (int)len, item);
            return false;
        }
    }
    return true;
}

/* "id=Name": both trimmed; an item with no id is left out, one with no name is its own. */
static void add_manager(lw_tenant_lists *l, const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    size_t idlen = eq ? (size_t)(eq - item) : len;
    char *id = trim_dup(item, idlen);
    if (!*id) {
        free(id);
        return;
    }
    char *name = eq ? trim_dup(eq + 1, len - idlen - 1) : strdup(id);
    l->managers = realloc(l->managers, (l->managers_n + 1) * sizeof(*l->managers));
    l->managers[l->managers_n++] = (lw_kv){id, name};
}

bool lw_tenant_lists_parse(lw_tenant_settings *ts, char *err, size_t errlen)
{
    const char *const loss[LW_LOSS__COUNT] = {ts->loss_nontarget, ts->loss_manageable,
                                              ts->loss_objective};
    ts->lists = calloc(1, sizeof(*ts->lists));
    for (lw_loss_class c = 0; c < LW_LOSS__COUNT; c++) {
        const char *p = loss[c], *item;
        size_t len;
        while (next_item(&p, &item, &len))
            add_reason(ts->lists, c, item, len);
    }
    const char *p = ts->managers, *item;
    size_t len;
    while (next_item(&p, &item, &len))
        add_manager(ts->lists, item, len);
    return parse_stage_limits(ts->lists, ts->stage_limits, err, errlen);
}

void lw_tenant_lists_free(lw_tenant_settings *ts)
{
    lw_tenant_lists *l = ts->lists;
    if (!l)
        return;
    for (lw_loss_class c = 0; c < LW_LOSS__COUNT; c++) {
        for (size_t i = 0; i < l->loss_n[c]; i++) {
            free(l->loss[c][i].id);
            free(l->loss[c][i].name);
            free(l->loss[c][i].id_folded);
            free(l->loss[c][i].name_folded);
        }
        free(l->loss[c]);
    }
    for (size_t i = 0; i < l->stages_n; i++)
        free(l->stages[i].stage_folded);
    free(l->stages);
    for (size_t i = 0; i < l->managers_n; i++) {
        free(l->managers[i].key);
        free(l->managers[i].value);
    }
    free(l->managers);
    free(l);
    ts->lists = NULL;
}

/* ------------------------------ looking up, per event ------------------------------ */

static const lw_loss_reason *find_reason(const lw_tenant_lists *l, lw_loss_class c,
                                         const char *folded)
{
    for (size_t i = 0; i < l->loss_n[c]; i++) {
        const lw_loss_reason *r = &l->loss[c][i];
        if ((*r->id_folded && !strcmp(r->id_folded, folded)) ||
            (*r->name_folded && !strcmp(r->name_folded, folded)))
            return r;
    }
    return NULL;
}

const char *lw_loss_classify(const lw_tenant_settings *ts, const char *reason, char *key,
                             size_t keylen)
{
    static const char *const names[LW_LOSS__COUNT] = {"nontarget", "manageable", "objective"};
    char folded[FOLDED_MAX];
    fold(reason, strlen(reason), folded, sizeof(folded));
    for (lw_loss_class c = 0; c < LW_LOSS__COUNT; c++) {
        const lw_loss_reason *r = find_reason(ts->lists, c, folded);
        if (r) {
            snprintf(key, keylen, "%s", r->id);
            return names[c];
        }
    }
    snprintf(key, keylen, "%s", reason); /* listed as it came */
    return "unclassified";
}

/* The stage's entry in deal.stage_limits (the first listed), or NULL. */
static const lw_stage_limit *find_stage_limit(const lw_tenant_settings *ts, const char *stage)
{
    char folded[FOLDED_MAX];
    fold(stage, strlen(stage), folded, sizeof(folded));
    for (size_t i = 0; i < ts->lists->stages_n; i++)
        if (!strcmp(ts->lists->stages[i].stage_folded, folded))
            return &ts->lists->stages[i];
    return NULL;
}

int64_t lw_stage_limit_ms(const lw_tenant_settings *ts, const char *stage)
{
    const lw_stage_limit *limit = find_stage_limit(ts, stage);
    return limit ? limit->ms : ts->stalled_after_ms;
}

bool lw_stage_limit_listed(const lw_tenant_settings *ts, const char *stage)
{
    return find_stage_limit(ts, stage) != NULL;
}
