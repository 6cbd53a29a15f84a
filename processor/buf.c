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

void lw_buf_append(lw_buf *b, const void *p, size_t n)
{
    lw_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lw_buf_vappendf(lw_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n <= 0) {
        lw_buf_reserve(b, 0); /* still NUL-terminated */
        b->data[b->len] = '\0';
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
        a->cap = a->cap ? a->cap * 2 : 16;
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

void lw_argv_addi(lw_argv *a, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    lw_argv_add(a, tmp, (size_t)n);
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
