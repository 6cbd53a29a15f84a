/* trace.c — W3C Trace Context (traceparent, tracestate) carried from an input event to the
 * events derived from it. leakwatch starts no spans of its own: it passes the context on, so
 * a tracing system links an alert to the CRM request that caused it.
 *
 * Through Redis the context travels as one string, "<traceparent>" or "<traceparent>
 * <tracestate>": a valid traceparent is exactly LW_TRACEPARENT_LEN characters and holds no
 * space, so the split is unambiguous, and the library keeps it as one opaque value. */
#include "leakwatch/leakwatch.h"

#include <string.h>

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

/* version-traceid-parentid-flags: 2, 32, 16 and 2 lower-case hex digits; version ff and the
 * all-zero ids are invalid. A longer value of a later version is refused rather than cut. */
bool lw_traceparent_valid(const char *s, size_t len)
{
    if (len != LW_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (!lower_hex(s, 2) || !lower_hex(s + 3, 32) || !lower_hex(s + 36, 16) ||
        !lower_hex(s + 53, 2))
        return false;
    return memcmp(s, "ff", 2) != 0 && !all_zero(s + 3, 32) && !all_zero(s + 36, 16);
}

/* Printable ASCII and not blank: what goes into a Kafka header and a JSON string as it is.
 * The list grammar is the tracing system's to read; an over-long one is dropped, not cut. */
bool lw_tracestate_valid(const char *s, size_t len)
{
    bool blank = true;
    if (len == 0 || len > LW_TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
        blank = blank && s[i] == ' ';
    }
    return !blank;
}

bool lw_trace_join(const char *parent, size_t parent_len, const char *state, size_t state_len,
                   char out[LW_TRACE_MAX])
{
    out[0] = '\0';
    if (!parent || !lw_traceparent_valid(parent, parent_len))
        return false;
    memcpy(out, parent, LW_TRACEPARENT_LEN);
    out[LW_TRACEPARENT_LEN] = '\0';
    if (state && lw_tracestate_valid(state, state_len)) {
        out[LW_TRACEPARENT_LEN] = ' ';
        memcpy(out + LW_TRACEPARENT_LEN + 1, state, state_len);
        out[LW_TRACEPARENT_LEN + 1 + state_len] = '\0';
    }
    return true;
}

bool lw_trace_split(const char *trace, char parent[LW_TRACEPARENT_LEN + 1], const char **state)
{
    *state = NULL;
    parent[0] = '\0';
    if (!trace || strnlen(trace, LW_TRACEPARENT_LEN) < LW_TRACEPARENT_LEN ||
        !lw_traceparent_valid(trace, LW_TRACEPARENT_LEN))
        return false;
    char after = trace[LW_TRACEPARENT_LEN];
    if (after != '\0' && after != ' ')
        return false;
    memcpy(parent, trace, LW_TRACEPARENT_LEN);
    parent[LW_TRACEPARENT_LEN] = '\0';
    if (after == ' ' && trace[LW_TRACEPARENT_LEN + 1])
        *state = trace + LW_TRACEPARENT_LEN + 1;
    return true;
}
