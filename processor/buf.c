/* buf.c — growable byte buffers and Redis argument vectors. */
#include "leakwatch/leakwatch.h"

#include <string.h>

void lw_buf_reserve(lw_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        abort();
    b->data = p;
    b->cap = cap;
}

/* Formats into the room the buffer has first: a second vsnprintf only when it did not fit. */
void lw_buf_vappendf(lw_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    lw_buf_reserve(b, 0); /* data exists and stays NUL-terminated */
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    if (n < 0) {
        b->data[b->len] = '\0';
    } else if ((size_t)n < room) {
        b->len += (size_t)n;
    } else {
        lw_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void lw_buf_appendf(lw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lw_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void lw_buf_reset(lw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void lw_buf_free(lw_buf *b)
{
    free(b->data);
    *b = (lw_buf){0};
}

void lw_argv_add(lw_argv *a, const char *s, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64; /* an lw_event call has about 40 */
        a->offsets = realloc(a->offsets, a->cap * sizeof(*a->offsets));
        a->lens = realloc(a->lens, a->cap * sizeof(*a->lens));
        a->ptrs = realloc(a->ptrs, a->cap * sizeof(*a->ptrs));
        if (!a->offsets || !a->lens || !a->ptrs)
            abort();
    }
    a->offsets[a->n] = a->bytes.len;
    a->lens[a->n] = len;
    lw_buf_append(&a->bytes, s, len);
    a->n++;
}

void lw_argv_adds(lw_argv *a, const char *s)
{
    lw_argv_add(a, s, strlen(s));
}

size_t lw_format_int(int64_t v, char *out)
{
    char digits[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = digits[--n];
    return len;
}

void lw_argv_addi(lw_argv *a, int64_t v)
{
    char tmp[24];
    lw_argv_add(a, tmp, lw_format_int(v, tmp));
}

/* Pointers are taken last: the buffer may move while arguments are added. */
void lw_argv_finish(lw_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        a->ptrs[i] = a->bytes.data + a->offsets[i];
}

void lw_argv_reset(lw_argv *a)
{
    a->n = 0;
    lw_buf_reset(&a->bytes);
}

void lw_argv_free(lw_argv *a)
{
    lw_buf_free(&a->bytes);
    free(a->offsets);
    free(a->lens);
    free(a->ptrs);
    *a = (lw_argv){0};
}
