/* promtext.h — a strict reader of the Prometheus text exposition format (version 0.0.4),
 * for the tests: test_metrics parses what lw_metrics_render writes, and prom_check what a
 * running leakwatch serves on /metrics, the same way.
 *
 * Every line must be a "# HELP name text", a "# TYPE name type" or a sample
 * "name{label="value",...} value": names and label names well formed, label values and
 * help text escaped (\\, \", \n), values floats (or NaN, +Inf, -Inf), each family's TYPE
 * once and before its samples, a family's samples together, no series twice. A histogram's
 * buckets are checked per label set: le ascending and ending at +Inf, counts not
 * decreasing, _count equal to the +Inf bucket, _sum and _count present. Stricter than the
 * format where leakwatch never writes what it allows (blank lines, other comments,
 * timestamps, a sample of no TYPEd family), and leakwatch's naming conventions are checked
 * too: snake_case, a counter's name ends in _total and nothing else's does, no unit but a
 * base one (no _ms, _kb, ...), every family has a HELP. */
#ifndef PROMTEXT_H
#define PROMTEXT_H

#include <stddef.h>

typedef struct prom_label {
    char *name, *value; /* value unescaped */
} prom_label;

typedef struct prom_sample {
    char *name;         /* as written: leakwatch_batch_size_bucket */
    size_t family;      /* index in prom_doc.families */
    prom_label *labels; /* in the order written */
    size_t nlabels;
    double value;
    int line;
} prom_sample;

typedef struct prom_family {
    char *name, *type, *help; /* help unescaped; NULL when absent */
    int type_line;
} prom_family;

typedef struct prom_doc {
    prom_family *families;
    size_t nfamilies;
    prom_sample *samples;
    size_t nsamples;
    char *problems; /* "line N: what\n" each, NUL-terminated ("" when none) */
    size_t nproblems;
} prom_doc;

/* Parses text into doc; returns the number of problems found. */
size_t prom_parse(const char *text, size_t len, prom_doc *doc);
/* The sample of that name whose labels are exactly these NULL-terminated name, value pairs
 * (in any order); NULL when there is none. */
const prom_sample *prom_find(const prom_doc *doc, const char *name, ...) __attribute__((sentinel));
/* The family of that name, NULL when it has no TYPE line. */
const prom_family *prom_family_named(const prom_doc *doc, const char *name);
void prom_free(prom_doc *doc);

#endif
