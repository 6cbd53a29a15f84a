/* fuzz_timeutil.c — RFC 3339 times and durations (timeutil.c): any text is parsed; an accepted
 * time formatted and read again is the same instant, and so is a duration. */
#include "leakwatch/leakwatch.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms, again;
    char text[32];
    if (lw_rfc3339_parse(s, &ms)) {
        lw_rfc3339_format(ms, text);
        if (!lw_rfc3339_parse(text, &again) || again != ms)
            abort();
    }
    if (lw_duration_parse(s, &ms)) {
        lw_duration_format(ms, text);
        if (!lw_duration_parse(text, &again) || again != ms)
            abort();
    }
    free(s);
    return 0;
}
