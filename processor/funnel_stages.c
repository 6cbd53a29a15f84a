/* funnel_stages.c — deal.stages ("pipeline=stage,stage,...;..."), the order of each
 * pipeline's stages in the funnel (funnel.lua). A ',' inside a stage's name is written "\,"
 * ("default=Предложение,Договор\, счёт"). Checked and normalized once, when the config is
 * loaded: items and names trimmed, empty ones left out; every deal event passes the
 * normalized text on (transition.c) and the library reads it in the same syntax. */
#include "leakwatch/leakwatch.h"

#include <ctype.h>
#include <string.h>

/* s[0..n) without the spaces around it: *s moved, the new length returned. */
static size_t trimmed(const char **s, size_t n)
{
    while (n && isspace((unsigned char)**s))
        (*s)++, n--;
    while (n && isspace((unsigned char)(*s)[n - 1]))
        n--;
    return n;
}

/* The end of the name starting at p, within end: the next ',' not written "\,". */
static const char *name_end(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end && p[1] == ',')
            p++;
        else if (*p == ',')
            return p;
    }
    return end;
}

/* Whether the ','-list out[from..] already holds name (as normalized, escapes kept). */
static bool listed(const lw_buf *out, size_t from, const char *name, size_t n)
{
    const char *p = out->data + from, *end = out->data + out->len;
    while (p < end) {
        const char *e = name_end(p, end);
        if ((size_t)(e - p) == n && !memcmp(p, name, n))
            return true;
        p = e + 1;
    }
    return false;
}

/* Appends one "pipeline=stage,..." item normalized; false when it is not one (no '=', no
 * pipeline, no stage, or a stage twice). */
static bool add_pipeline(lw_buf *out, const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len), *end = item + len;
    if (!eq)
        return false;
    const char *pipeline = item;
    size_t plen = trimmed(&pipeline, (size_t)(eq - item));
    if (!plen)
        return false;
    lw_buf_appendf(out, "%s%.*s=", out->len ? ";" : "", (int)plen, pipeline);
    size_t first = out->len, stages = 0;
    for (const char *p = eq + 1; p <= end;) {
        const char *e = name_end(p, end), *name = p;
        size_t n = trimmed(&name, (size_t)(e - p));
        if (n && listed(out, first, name, n))
            return false;
        if (n)
            lw_buf_appendf(out, "%s%.*s", stages++ ? "," : "", (int)n, name);
        p = e + 1;
    }
    return stages > 0;
}

bool lw_funnel_stages_normalize(char **spec, char *err, size_t errlen)
{
    lw_buf out = {0};
    lw_buf_appendf(&out, "%s", ""); /* "" rather than NULL when nothing is listed */
    for (const char *p = *spec; p && *p;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        const char *item = p;
        size_t n = trimmed(&item, len);
        if (n && !add_pipeline(&out, item, n)) {
            snprintf(err, errlen,
                     "deal.stages expects pipeline=stage,stage,...;... (each stage once), got "
                     "'%.*s'",
                     (int)len, p);
            lw_buf_free(&out);
            return false;
        }
        p = semi ? semi + 1 : NULL;
    }
    free(*spec);
    *spec = strdup(out.data);
    lw_buf_free(&out);
    return true;
}
