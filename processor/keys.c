/* keys.c — the Redis keys in C: the shapes of processor/keys.tab, as leakwatch/keys.h
 * (generated with the library) names them, filled in with a tenant and params. */
#include "leakwatch/leakwatch.h"

void lw_key(lw_buf *out, const char *shape, ...)
{
    va_list ap;
    va_start(ap, shape);
    lw_buf_reset(out);
    lw_buf_vappendf(out, shape, ap);
    va_end(ap);
}
