/* binding.c — the CloudEvents Kafka protocol binding: which content mode an input message is
 * in, and in binary mode its context attributes from the ce_* headers. Both modes end in the
 * same validation (event.c): a binary-mode message becomes the JSON object a structured one
 * would have been, so it is refused for the same reasons, with the header named.
 *
 * The trace context of the input (trace.c) is read here too: the Kafka headers traceparent
 * and tracestate, or the event's own distributed-tracing attributes. */
#include "leakwatch/leakwatch.h"

#include <string.h>
#include <strings.h>

#define CE_PREFIX    "ce_"
#define CE_MEDIA     "application/cloudevents" /* any event format: structured mode */
#define CE_MEDIA_LEN (sizeof(CE_MEDIA) - 1)

/* The last header of that name (Kafka header names are case-sensitive), or NULL. */
static const lw_header *last_header(const lw_header *h, size_t n, const char *name)
{
    const lw_header *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, name))
            found = &h[i];
    return found;
}

lw_content_mode lw_binding_mode(const lw_header *h, size_t n)
{
    const lw_header *ct = last_header(h, n, "content-type");
    if (ct && ct->value && ct->len >= CE_MEDIA_LEN &&
        !strncasecmp(ct->value, CE_MEDIA, CE_MEDIA_LEN))
        return LW_MODE_STRUCTURED;
    /* a message of neither kind is read as structured, as before binary mode was known */
    return last_header(h, n, CE_PREFIX "specversion") ? LW_MODE_BINARY : LW_MODE_STRUCTURED;
}

static bool bad_header(lw_reject *why, const lw_header *h, const char *what)
{
    why->reason = LW_REJECT_NOT_CLOUDEVENT;
    snprintf(why->detail, sizeof(why->detail), "header %.64s %s", h->name, what);
    return false;
}

/* A header value as a JSON string: UTF-8, as the binding requires, and without NUL (the
 * attributes are C strings from here on). NULL when it is not. */
static json_t *header_text(const lw_header *h)
{
    if (memchr(h->value, '\0', h->len))
        return NULL;
    return json_stringn(h->value, h->len);
}

/* Adds a ce_<name> header to attrs as attribute <name>; a header with a null value is as
 * absent as a missing one. */
static bool add_ce_header(json_t *attrs, const lw_header *h, lw_reject *why)
{
    const char *name = h->name + strlen(CE_PREFIX);
    if (!*name || !h->value)
        return true;
    if (json_object_get(attrs, name))
        return bad_header(why, h, "appears more than once");
    json_t *v = header_text(h);
    if (!v)
        return bad_header(why, h, "is not UTF-8 text");
    json_object_set_new(attrs, name, v);
    return true;
}

/* The context attributes of a binary-mode message: each ce_<name> header as attribute
 * <name>, and content-type as datacontenttype (the binding maps it so; it wins over a
 * ce_datacontenttype). NULL, why filled, when a header cannot be one. */
static json_t *binary_attributes(const lw_header *h, size_t n, lw_reject *why)
{
    json_t *attrs = json_object();
    for (size_t i = 0; i < n; i++) {
        if (strncmp(h[i].name, CE_PREFIX, strlen(CE_PREFIX)) != 0)
            continue;
        if (!add_ce_header(attrs, &h[i], why)) {
            json_decref(attrs);
            return NULL;
        }
    }
    const lw_header *ct = last_header(h, n, "content-type");
    json_t *type = ct && ct->value ? header_text(ct) : NULL;
    if (type)
        json_object_set_new(attrs, "datacontenttype", type);
    return attrs;
}

/* The trace context of the input: the Kafka headers traceparent and tracestate (the latest
 * hop's, as tracing clients set them), else the event's distributed-tracing attributes
 * (ce_traceparent in binary mode, the traceparent extension in structured mode). A
 * tracestate goes with the traceparent it came with; a source whose traceparent is not valid
 * is passed over. */
static void read_trace(const lw_header *h, size_t n, lw_event *ev)
{
    const lw_header *parent = last_header(h, n, "traceparent");
    const lw_header *state = last_header(h, n, "tracestate");
    if (parent && lw_trace_join(parent->value, parent->len, state ? state->value : NULL,
                                state ? state->len : 0, ev->trace))
        return;
    json_t *p = json_object_get(ev->root, "traceparent"),
           *s = json_object_get(ev->root, "tracestate");
    lw_trace_join(json_string_value(p), json_string_length(p), json_string_value(s),
                  json_string_length(s), ev->trace);
}

bool lw_binding_parse(const char *value, size_t len, const lw_header *h, size_t n, size_t max_bytes,
                      lw_event *ev, lw_reject *why)
{
    bool ok;
    if (lw_binding_mode(h, n) == LW_MODE_BINARY) {
        json_t *attrs = binary_attributes(h, n, why);
        if (!attrs) {
            memset(ev, 0, sizeof(*ev));
            return false;
        }
        ok = lw_event_parse_binary(value, len, max_bytes, attrs, ev, why);
    } else {
        ok = lw_event_parse(value, len, max_bytes, ev, why);
    }
    if (ok)
        read_trace(h, n, ev);
    return ok;
}
