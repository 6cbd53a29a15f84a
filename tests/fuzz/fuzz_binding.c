/* fuzz_binding.c — a Kafka message in either content mode (binding.c, then event.c). The input
 * is the message's headers, one "name=value" per line ("name" alone: a null value), then an
 * empty line, then its value. */
#include "leakwatch/leakwatch.h"

#include <string.h>

#define MAX_HEADERS 16

/* Splits the next line off [*p, end): its length, *p moved past the newline. */
static size_t next_line(const char **p, const char *end, bool *had_newline)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    *had_newline = nl != NULL;
    *p += len + (nl ? 1 : 0);
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* header names are C strings: copied, so each gets its NUL */
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *p = copy, *end = copy + size;
    lw_header h[MAX_HEADERS];
    size_t n = 0;
    bool more = true;
    while (more && p < end && n < MAX_HEADERS) {
        char *line = (char *)p;
        size_t len = next_line(&p, end, &more);
        if (len == 0)
            break;
        line[len] = '\0';
        char *eq = strchr(line, '=');
        if (eq)
            *eq = '\0';
        h[n++] = (lw_header){line, eq ? eq + 1 : NULL, eq ? (size_t)(line + len - eq - 1) : 0};
    }
    lw_event ev;
    lw_reject why;
    if (lw_binding_parse(p, (size_t)(end - p), h, n, 1 << 20, &ev, &why)) {
        if (!ev.id || !ev.type || !ev.source || !ev.tenant || !ev.data ||
            strlen(ev.trace) >= LW_TRACE_MAX)
            abort();
        lw_event_free(&ev);
    } else if (why.reason == LW_REJECT_NONE) {
        abort();
    }
    free(copy);
    return 0;
}
