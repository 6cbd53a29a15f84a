/* promtext.c — a strict reader of the Prometheus text exposition format (promtext.h). */
#include "promtext.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_FAMILY SIZE_MAX

typedef struct reader {
    prom_doc *doc;
    size_t problems_len, problems_cap;
    bool *sampled;  /* per family: some sample seen */
    bool *finished; /* per family: samples of another family came after its own */
    size_t flags_cap;
    size_t last_family; /* of the previous sample */
} reader;

static void problem(reader *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(reader *r, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char where[32] = "";
    if (line > 0)
        snprintf(where, sizeof(where), "line %d: ", line);
    size_t n = strlen(where) + strlen(msg) + 1;
    if (r->problems_len + n + 1 > r->problems_cap) {
        r->problems_cap = (r->problems_len + n + 1) * 2;
        r->doc->problems = realloc(r->doc->problems, r->problems_cap);
    }
    r->problems_len += (size_t)sprintf(r->doc->problems + r->problems_len, "%s%s\n", where, msg);
    r->doc->nproblems++;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ------------------------------ families ------------------------------ */

static size_t family_index(const prom_doc *doc, const char *name, size_t len)
{
    for (size_t i = 0; i < doc->nfamilies; i++)
        if (strlen(doc->families[i].name) == len && !strncmp(doc->families[i].name, name, len))
            return i;
    return NO_FAMILY;
}

static size_t family_add(reader *r, const char *name, size_t len)
{
    size_t i = family_index(r->doc, name, len);
    if (i != NO_FAMILY)
        return i;
    prom_doc *doc = r->doc;
    doc->families = realloc(doc->families, (doc->nfamilies + 1) * sizeof(*doc->families));
    doc->families[doc->nfamilies] = (prom_family){.name = dup_n(name, len)};
    if (doc->nfamilies + 1 > r->flags_cap) {
        r->flags_cap = (doc->nfamilies + 1) * 2;
        r->sampled = realloc(r->sampled, r->flags_cap);
        r->finished = realloc(r->finished, r->flags_cap);
    }
    r->sampled[doc->nfamilies] = r->finished[doc->nfamilies] = false;
    return doc->nfamilies++;
}

static bool name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return name_start(c) || isdigit((unsigned char)c);
}

/* The length of the metric name at p (0: none). */
static size_t metric_name(const char *p, const char *end)
{
    size_t n = 0;
    if (p < end && name_start(*p))
        for (n = 1; p + n < end && name_char(p[n]);)
            n++;
    return n;
}

/* The family a sample named so belongs to: the family itself, or a histogram's (summary's)
 * _bucket, _sum and _count. */
static size_t family_of_sample(const prom_doc *doc, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t len = strlen(name), exact = family_index(doc, name, len);
    if (exact != NO_FAMILY && doc->families[exact].type &&
        strcmp(doc->families[exact].type, "histogram"))
        return exact;
    for (size_t s = 0; s < 3; s++) {
        size_t n = strlen(suffixes[s]);
        if (len <= n || strcmp(name + len - n, suffixes[s]))
            continue;
        size_t f = family_index(doc, name, len - n);
        if (f == NO_FAMILY || !doc->families[f].type)
            continue;
        const char *type = doc->families[f].type;
        if (!strcmp(type, "histogram") || (!strcmp(type, "summary") && s > 0))
            return f;
    }
    return NO_FAMILY;
}

/* ------------------------------ one line ------------------------------ */

/* Unescapes the help text of a HELP line (only \\ and \n are escapes there). */
static char *help_text(reader *r, int line, const char *p, const char *end)
{
    char *out = malloc((size_t)(end - p) + 1), *o = out;
    for (; p < end; p++) {
        if (*p != '\\') {
            *o++ = *p;
        } else if (p + 1 < end && (p[1] == '\\' || p[1] == 'n')) {
            *o++ = p[1] == 'n' ? '\n' : '\\';
            p++;
        } else {
            problem(r, line, "HELP text: a backslash escapes only \\ or n");
        }
    }
    *o = '\0';
    return out;
}

static void comment_line(reader *r, int line, const char *p, const char *end)
{
    bool help = end - p >= 7 && !strncmp(p, "# HELP ", 7);
    bool type = end - p >= 7 && !strncmp(p, "# TYPE ", 7);
    if (!help && !type) {
        problem(r, line, "a comment other than HELP or TYPE");
        return;
    }
    p += 7;
    size_t n = metric_name(p, end);
    if (n == 0 || (p + n < end && p[n] != ' ')) {
        problem(r, line, "%s: not a metric name", help ? "HELP" : "TYPE");
        return;
    }
    size_t f = family_add(r, p, n);
    prom_family *fam = &r->doc->families[f];
    const char *rest = p + n < end ? p + n + 1 : end;
    if (r->sampled[f])
        problem(r, line, "%s %s after its samples", help ? "HELP" : "TYPE", fam->name);
    if (help) {
        if (fam->help)
            problem(r, line, "a second HELP for %s", fam->name);
        else
            fam->help = help_text(r, line, rest, end);
        return;
    }
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool known = false;
    for (size_t i = 0; i < 5; i++)
        known |=
            (size_t)(end - rest) == strlen(types[i]) && !strncmp(rest, types[i], strlen(types[i]));
    if (!known)
        problem(r, line, "TYPE %s: unknown type '%.*s'", fam->name, (int)(end - rest), rest);
    else if (fam->type)
        problem(r, line, "a second TYPE for %s", fam->name);
    else {
        fam->type = dup_n(rest, (size_t)(end - rest));
        fam->type_line = line;
    }
}

/* Reads {name="value",...} at *pp into s; false (with a problem) when malformed. */
static bool labels(reader *r, int line, const char **pp, const char *end, prom_sample *s)
{
    const char *p = *pp + 1;
    if (p < end && *p == '}') {
        problem(r, line, "an empty label set {} (leakwatch leaves the braces out)");
        return false;
    }
    for (;;) {
        size_t n = 0;
        if (p < end && (isalpha((unsigned char)*p) || *p == '_'))
            for (n = 1; p + n < end && (isalnum((unsigned char)p[n]) || p[n] == '_');)
                n++;
        if (n == 0 || p + n + 1 >= end || p[n] != '=' || p[n + 1] != '"') {
            problem(r, line, "a label must be name=\"value\"");
            return false;
        }
        if (n >= 2 && p[0] == '_' && p[1] == '_')
            problem(r, line, "label name %.*s: names starting with __ are reserved", (int)n, p);
        char *name = dup_n(p, n);
        p += n + 2;
        char *value = malloc((size_t)(end - p) + 1), *v = value;
        for (; p < end && *p != '"'; p++) {
            if (*p != '\\') {
                *v++ = *p;
                continue;
            }
            if (p + 1 < end && (p[1] == '\\' || p[1] == '"' || p[1] == 'n')) {
                *v++ = p[1] == 'n' ? '\n' : p[1];
                p++;
            } else {
                problem(r, line, "label %s: a backslash escapes only \\, \" or n", name);
            }
        }
        *v = '\0';
        for (size_t i = 0; i < s->nlabels; i++)
            if (!strcmp(s->labels[i].name, name))
                problem(r, line, "label %s twice", name);
        s->labels = realloc(s->labels, (s->nlabels + 1) * sizeof(*s->labels));
        s->labels[s->nlabels++] = (prom_label){name, value};
        if (p >= end) {
            problem(r, line, "label %s: the value is not closed", name);
            return false;
        }
        p++; /* the closing quote */
        if (p < end && *p == '}') {
            *pp = p + 1;
            return true;
        }
        if (p + 1 < end && *p == ',' && p[1] != '}') {
            p++;
            continue;
        }
        problem(r, line, "labels: expected , or } after %s", name);
        return false;
    }
}

static bool parse_value(const char *p, const char *end, double *out)
{
    size_t n = (size_t)(end - p);
    if (n == 3 && !strncmp(p, "NaN", 3))
        return *out = NAN, true;
    if (n == 4 && (!strncmp(p, "+Inf", 4) || !strncmp(p, "-Inf", 4)))
        return *out = *p == '+' ? INFINITY : -INFINITY, true;
    if (n == 0 || n > 63 || strspn(p, "0123456789.eE+-") < n)
        return false;
    char text[64], *stop;
    memcpy(text, p, n);
    text[n] = '\0';
    *out = strtod(text, &stop);
    return *stop == '\0';
}

static void sample_line(reader *r, int line, const char *p, const char *end)
{
    size_t n = metric_name(p, end);
    if (n == 0) {
        problem(r, line, "neither a sample nor a HELP or TYPE line");
        return;
    }
    prom_sample s = {.name = dup_n(p, n), .line = line};
    p += n;
    bool ok = true;
    if (p < end && *p == '{')
        ok = labels(r, line, &p, end, &s);
    const char *space = ok ? memchr(p, ' ', (size_t)(end - p)) : NULL;
    if (ok && (p >= end || *p != ' ')) {
        problem(r, line, "%s: expected a space and the value", s.name);
        ok = false;
    } else if (ok && memchr(p + 1, ' ', (size_t)(end - p - 1))) {
        problem(r, line, "%s: something after the value (leakwatch writes no timestamps)", s.name);
        ok = false;
    } else if (ok && !parse_value(space + 1, end, &s.value)) {
        problem(r, line, "%s: value '%.*s' is not a float", s.name, (int)(end - space - 1),
                space + 1);
        ok = false;
    }
    s.family = family_of_sample(r->doc, s.name);
    if (ok && s.family == NO_FAMILY) {
        problem(r, line, "%s: a sample of no family with a TYPE before it", s.name);
        ok = false;
    }
    if (!ok) {
        for (size_t i = 0; i < s.nlabels; i++) {
            free(s.labels[i].name);
            free(s.labels[i].value);
        }
        free(s.labels);
        free(s.name);
        return;
    }
    if (r->finished[s.family])
        problem(r, line, "%s: the samples of %s are not together", s.name,
                r->doc->families[s.family].name);
    if (r->last_family != NO_FAMILY && r->last_family != s.family)
        r->finished[r->last_family] = true;
    r->last_family = s.family;
    r->sampled[s.family] = true;
    prom_doc *doc = r->doc;
    doc->samples = realloc(doc->samples, (doc->nsamples + 1) * sizeof(*doc->samples));
    doc->samples[doc->nsamples++] = s;
}

/* ------------------------------ the whole text ------------------------------ */

static const char *label_value(const prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (!strcmp(s->labels[i].name, name))
            return s->labels[i].value;
    return NULL;
}

/* Whether a and b have the same labels (le left out when skip_le). */
static bool same_labels(const prom_sample *a, const prom_sample *b, bool skip_le)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->nlabels; i++) {
        if (skip_le && !strcmp(a->labels[i].name, "le"))
            continue;
        na++;
        const char *v = label_value(b, a->labels[i].name);
        if (!v || strcmp(v, a->labels[i].value))
            return false;
    }
    for (size_t i = 0; i < b->nlabels; i++)
        nb += !(skip_le && !strcmp(b->labels[i].name, "le"));
    return na == nb;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* snake_case, _total on counters alone, base units only. */
static void check_conventions(reader *r, const prom_family *f)
{
    static const char *const units[] = {
        "ms",      "milliseconds", "us",   "microseconds", "ns",        "nanoseconds",
        "minutes", "hours",        "days", "kb",           "kilobytes", "kib",
        "mb",      "megabytes",    "mib",  "gb",           "gigabytes", "percent"};
    for (const char *c = f->name; *c; c++)
        if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_')) {
            problem(r, f->type_line, "%s: not snake_case", f->name);
            break;
        }
    char *copy = strdup(f->name), *save = NULL;
    for (char *t = strtok_r(copy, "_", &save); t; t = strtok_r(NULL, "_", &save))
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (!strcmp(t, units[i]))
                problem(r, f->type_line, "%s: '%s' is not a base unit (seconds, bytes, ratio)",
                        f->name, t);
    free(copy);
    bool counter = !strcmp(f->type, "counter");
    if (counter != ends_with(f->name, "_total"))
        problem(r, f->type_line, "%s: %s", f->name,
                counter ? "a counter's name ends in _total"
                        : "only a counter's name ends in _total");
    if (!f->help)
        problem(r, f->type_line, "%s: no HELP", f->name);
}

/* The buckets, _sum and _count of each label set of histogram f. */
static void check_histogram(reader *r, size_t f)
{
    const prom_doc *doc = r->doc;
    const char *name = doc->families[f].name;
    size_t len = strlen(name);
    for (size_t i = 0; i < doc->nsamples; i++) {
        const prom_sample *first = &doc->samples[i];
        bool seen = false; /* this label set was checked at an earlier sample */
        for (size_t k = 0; k < i && !seen; k++)
            seen = doc->samples[k].family == f && same_labels(&doc->samples[k], first, true);
        if (first->family != f || seen)
            continue;
        double last_le = -INFINITY, last_count = 0, inf_count = NAN, count = NAN;
        size_t buckets = 0, sums = 0;
        for (size_t k = i; k < doc->nsamples; k++) {
            const prom_sample *s = &doc->samples[k];
            if (s->family != f || !same_labels(s, first, true))
                continue;
            const char *suffix = s->name + len, *le = label_value(s, "le");
            if (strcmp(suffix, "_bucket")) {
                if (le)
                    problem(r, s->line, "%s: le on a histogram's %s", s->name, suffix);
                if (!strcmp(suffix, "_sum"))
                    sums++;
                else
                    count = s->value;
                continue;
            }
            double bound;
            if (!le || !parse_value(le, le + strlen(le), &bound) || isnan(bound)) {
                problem(r, s->line, "%s: a bucket needs le=\"<float>\"", s->name);
                continue;
            }
            if (buckets && bound <= last_le)
                problem(r, s->line, "%s: le=\"%s\" after a bucket at or above it", s->name, le);
            if (s->value < last_count)
                problem(r, s->line, "%s{le=\"%s\"}: fewer than the bucket before it", s->name, le);
            if (s->value != floor(s->value) || s->value < 0)
                problem(r, s->line, "%s: a bucket counts observations", s->name);
            last_le = bound;
            last_count = s->value;
            inf_count = isinf(bound) ? s->value : inf_count;
            buckets++;
        }
        if (buckets == 0 || !isinf(last_le))
            problem(r, first->line, "%s: the buckets do not end at le=\"+Inf\"", name);
        if (sums == 0 || isnan(count))
            problem(r, first->line, "%s: a histogram needs _sum and _count", name);
        else if (count != inf_count)
            problem(r, first->line, "%s: _count %.17g is not the +Inf bucket's %.17g", name, count,
                    inf_count);
    }
}

static void check_document(reader *r)
{
    prom_doc *doc = r->doc;
    for (size_t f = 0; f < doc->nfamilies; f++) {
        const prom_family *fam = &doc->families[f];
        if (!fam->type) {
            problem(r, 0, "%s: a HELP without a TYPE", fam->name);
            continue;
        }
        check_conventions(r, fam);
        if (!strcmp(fam->type, "histogram"))
            check_histogram(r, f);
    }
    for (size_t i = 0; i < doc->nsamples; i++) {
        const prom_sample *s = &doc->samples[i];
        if (!strcmp(doc->families[s->family].type, "counter") && !(s->value >= 0))
            problem(r, s->line, "%s: a counter is never negative or NaN", s->name);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(doc->samples[k].name, s->name) && same_labels(&doc->samples[k], s, false))
                problem(r, s->line, "%s: the same series as line %d", s->name,
                        doc->samples[k].line);
    }
}

size_t prom_parse(const char *text, size_t len, prom_doc *doc)
{
    memset(doc, 0, sizeof(*doc));
    reader r = {.doc = doc, .last_family = NO_FAMILY, .problems_cap = 256};
    doc->problems = calloc(1, r.problems_cap);
    const char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            problem(&r, line, "the last line has no newline");
        const char *eol = nl ? nl : end;
        if (memchr(p, '\0', (size_t)(eol - p)) || memchr(p, '\r', (size_t)(eol - p)))
            problem(&r, line, "a NUL or carriage return");
        else if (eol == p)
            problem(&r, line, "a blank line");
        else if (*p == '#')
            comment_line(&r, line, p, eol);
        else
            sample_line(&r, line, p, eol);
        p = eol + 1;
    }
    check_document(&r);
    free(r.sampled);
    free(r.finished);
    return doc->nproblems;
}

const prom_sample *prom_find(const prom_doc *doc, const char *name, ...)
{
    for (size_t i = 0; i < doc->nsamples; i++) {
        const prom_sample *s = &doc->samples[i];
        if (strcmp(s->name, name))
            continue;
        va_list ap;
        va_start(ap, name);
        size_t n = 0;
        bool match = true;
        for (const char *k; match && (k = va_arg(ap, const char *)); n++) {
            const char *v = va_arg(ap, const char *), *got = label_value(s, k);
            match = got && !strcmp(got, v);
        }
        va_end(ap);
        if (match && n == s->nlabels)
            return s;
    }
    return NULL;
}

const prom_family *prom_family_named(const prom_doc *doc, const char *name)
{
    size_t f = family_index(doc, name, strlen(name));
    return f == NO_FAMILY || !doc->families[f].type ? NULL : &doc->families[f];
}

void prom_free(prom_doc *doc)
{
    for (size_t i = 0; i < doc->nfamilies; i++) {
        free(doc->families[i].name);
        free(doc->families[i].type);
        free(doc->families[i].help);
    }
    for (size_t i = 0; i < doc->nsamples; i++) {
        for (size_t k = 0; k < doc->samples[i].nlabels; k++) {
            free(doc->samples[i].labels[k].name);
            free(doc->samples[i].labels[k].value);
        }
        free(doc->samples[i].labels);
        free(doc->samples[i].name);
    }
    free(doc->families);
    free(doc->samples);
    free(doc->problems);
    memset(doc, 0, sizeof(*doc));
}
