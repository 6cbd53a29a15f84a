/* loss_reason.c — a loss reason's class and canonical name, from the tenant's lists
 * ("id=Name;id=Name", PRODUCT.md §3), matched on the id or the name, case-insensitively
 * (ASCII and Cyrillic) and ignoring surrounding spaces. */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>

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

/* Finds reason in one class list; on a match writes the canonical name (the id, or the
 * name when the entry has no id). */
static bool in_list(const char *list, const char *folded, char *key, size_t keylen)
{
    for (const char *item = list; item && *item;) {
        const char *end = strchr(item, ';');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        const char *eq = memchr(item, '=', len);
        size_t idlen = eq ? (size_t)(eq - item) : len;
        char a[256], b[256];
        fold(item, idlen, a, sizeof(a));
        fold(eq ? eq + 1 : item, eq ? len - idlen - 1 : len, b, sizeof(b));
        if ((*a && !strcmp(a, folded)) || (*b && !strcmp(b, folded))) {
            fold(item, idlen, a, sizeof(a)); /* the canonical id, as written, trimmed */
            snprintf(key, keylen, "%.*s", (int)idlen, item);
            return true;
        }
        item = end ? end + 1 : NULL;
    }
    return false;
}

const char *lw_loss_classify(const lw_tenant_settings *ts, const char *reason, char *key,
                             size_t keylen)
{
    char folded[256];
    fold(reason, strlen(reason), folded, sizeof(folded));
    static const char *const names[] = {"nontarget", "manageable", "objective"};
    const char *lists[] = {ts->loss_nontarget, ts->loss_manageable, ts->loss_objective};
    for (int i = 0; i < 3; i++)
        if (in_list(lists[i], folded, key, keylen))
            return names[i];
    snprintf(key, keylen, "%s", reason); /* listed as it came */
    return "unclassified";
}

int64_t lw_stage_limit_ms(const lw_tenant_settings *ts, const char *stage)
{
    char folded[256];
    fold(stage, strlen(stage), folded, sizeof(folded));
    for (const char *item = ts->stage_limits; item && *item;) {
        const char *end = strchr(item, ';');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        const char *eq = memchr(item, '=', len);
        char name[256], dur[32];
        int64_t ms;
        if (eq) {
            fold(item, (size_t)(eq - item), name, sizeof(name));
            snprintf(dur, sizeof(dur), "%.*s", (int)(len - (size_t)(eq - item) - 1), eq + 1);
            if (!strcmp(name, folded) && lw_duration_parse(dur, &ms))
                return ms;
        }
        item = end ? end + 1 : NULL;
    }
    return ts->stalled_after_ms;
}
