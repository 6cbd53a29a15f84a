/* envelope.c — a derived event as a CloudEvents 1.0 JSON event, source "leakwatch".
 *
 * The data is the JSON text the library wrote (Redis's cjson). Parsing it into objects and
 * dumping it again was the emitter's largest cost, so it is checked and copied into the
 * envelope in one pass instead: compact, with its escapes written as jansson writes them
 * ("\/" as "/", control characters as \n or \u001F, \u00e9 as UTF-8), so the text is what
 * jansson gave. Numbers are copied as written: the library writes integers only (jansson
 * would have rewritten a fraction such as 2.50 as 2.5). */
#include "leakwatch/leakwatch.h"

#include <string.h>

#define MAX_DEPTH 64 /* deeper data is refused: the library writes two levels */

/* ---------------------------------------------------------------- strings */

/* One character as jansson escapes it inside a string. */
static void put_escaped(lw_buf *out, unsigned char c)
{
    static const char short_escape[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                        ['\t'] = 't', ['"'] = '"',  ['\\'] = '\\'};
    if (c < sizeof(short_escape) && short_escape[c]) {
        char seq[2] = {'\\', short_escape[c]};
        lw_buf_append(out, seq, 2);
    } else if (c < 0x20) {
        lw_buf_appendf(out, "\\u%04X", c);
    } else {
        lw_buf_append(out, &c, 1);
    }
}

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* A C string as a JSON string: runs that need no escape are copied at once. */
static void put_string(lw_buf *out, const char *s)
{
    lw_buf_append(out, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p && !needs_escape(*p))
            p++;
        lw_buf_append(out, run, (size_t)(p - run));
        if (*p)
            put_escaped(out, *p++);
    }
    lw_buf_append(out, "\"", 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The data being checked and copied: the text, where it is, where it goes. */
typedef struct copier {
    const char *p;
    lw_buf *out;
} copier;

static bool read_hex4(const char *p, int *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return false;
        *v = *v * 16 + h;
    }
    return true;
}

static void put_utf8(lw_buf *out, long cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        n = 4;
    }
    b[n - 1] = (unsigned char)(0x80 | (cp & 0x3F));
    lw_buf_append(out, b, n);
}

/* \uXXXX (and its low surrogate) at c->p, after the backslash and 'u': written as jansson
 * writes the character it stands for (raw UTF-8 from 0x80 on). */
static bool copy_unicode_escape(copier *c)
{
    int v;
    if (!read_hex4(c->p, &v))
        return false;
    c->p += 4;
    long cp = v;
    if (v >= 0xD800 && v <= 0xDBFF) { /* a high surrogate: its low one must follow */
        int low;
        if (c->p[0] != '\\' || c->p[1] != 'u' || !read_hex4(c->p + 2, &low) || low < 0xDC00 ||
            low > 0xDFFF)
            return false;
        c->p += 6;
        cp = 0x10000 + ((long)(v - 0xD800) << 10) + (low - 0xDC00);
    } else if ((v >= 0xDC00 && v <= 0xDFFF) || v == 0) {
        return false; /* a lone low surrogate, or NUL: jansson refuses both */
    }
    if (cp < 0x80)
        put_escaped(c->out, (unsigned char)cp);
    else
        put_utf8(c->out, cp);
    return true;
}

static bool copy_string(copier *c)
{
    static const char unescaped[] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                     ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
    lw_buf_append(c->out, "\"", 1);
    for (c->p++;;) {
        const char *run = c->p;
        while (!needs_escape((unsigned char)*c->p))
            c->p++;
        lw_buf_append(c->out, run, (size_t)(c->p - run));
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            break;
        if (ch < 0x20) /* and the end of the text */
            return false;
        if (ch != '\\') {
            lw_buf_append(c->out, &ch, 1);
            continue;
        }
        unsigned char e = (unsigned char)*c->p++;
        if (e == 'u') {
            if (!copy_unicode_escape(c))
                return false;
        } else if (e < sizeof(unescaped) && unescaped[e]) {
            put_escaped(c->out, (unsigned char)unescaped[e]);
        } else {
            return false;
        }
    }
    lw_buf_append(c->out, "\"", 1);
    return true;
}

/* ---------------------------------------------------------------- values */

static void skip_space(copier *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static bool copy_digits(copier *c)
{
    const char *start = c->p;
    while (*c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, copied as it is */
static bool copy_number(copier *c)
{
    const char *start = c->p;
    if (*c->p == '-')
        c->p++;
    if (*c->p == '0')
        c->p++;
    else if (!copy_digits(c))
        return false;
    if (*c->p == '.') {
        c->p++;
        if (!copy_digits(c))
            return false;
    }
    if (*c->p == 'e' || *c->p == 'E') {
        c->p++;
        if (*c->p == '+' || *c->p == '-')
            c->p++;
        if (!copy_digits(c))
            return false;
    }
    lw_buf_append(c->out, start, (size_t)(c->p - start));
    return true;
}

static bool copy_word(copier *c, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(c->p, word, n) != 0)
        return false;
    lw_buf_append(c->out, word, n);
    c->p += n;
    return true;
}

static bool copy_value(copier *c, int depth);

/* An object ('{', members, '}') or an array ('[', values, ']'). */
static bool copy_container(copier *c, int depth, char open, char close)
{
    if (depth >= MAX_DEPTH)
        return false;
    lw_buf_append(c->out, &open, 1);
    c->p++;
    skip_space(c);
    for (bool first = true; *c->p != close; first = false) {
        if (!first) {
            if (*c->p != ',')
                return false;
            lw_buf_append(c->out, ",", 1);
            c->p++;
            skip_space(c);
        }
        if (open == '{') {
            if (*c->p != '"' || !copy_string(c))
                return false;
            skip_space(c);
            if (*c->p++ != ':')
                return false;
            lw_buf_append(c->out, ":", 1);
            skip_space(c);
        }
        if (!copy_value(c, depth + 1))
            return false;
        skip_space(c);
    }
    lw_buf_append(c->out, &close, 1);
    c->p++;
    return true;
}

static bool copy_value(copier *c, int depth)
{
    switch (*c->p) {
    case '{':
        return copy_container(c, depth, '{', '}');
    case '[':
        return copy_container(c, depth, '[', ']');
    case '"':
        return copy_string(c);
    case 't':
        return copy_word(c, "true");
    case 'f':
        return copy_word(c, "false");
    case 'n':
        return copy_word(c, "null");
    default:
        return copy_number(c);
    }
}

/* Appends data, a JSON object and nothing else, compact; false if it is not one. */
static bool copy_data(lw_buf *out, const char *data)
{
    if (!data)
        return false;
    copier c = {data, out};
    skip_space(&c);
    if (*c.p != '{' || !copy_value(&c, 0))
        return false;
    skip_space(&c);
    return *c.p == '\0';
}

/* ---------------------------------------------------------------- the envelope */

/* "name":"value", (name: a literal that needs no escape) */
static void put_attribute(lw_buf *out, const char *name, const char *value)
{
    lw_buf_append(out, "\"", 1);
    lw_buf_append(out, name, strlen(name));
    lw_buf_append(out, "\":", 2);
    put_string(out, value);
    lw_buf_append(out, ",", 1);
}

/* The CloudEvents distributed tracing extension: the input event's trace context. */
static void put_trace(lw_buf *out, const char *trace)
{
    char parent[LW_TRACEPARENT_LEN + 1];
    const char *state;
    if (!lw_trace_split(trace, parent, &state))
        return;
    put_attribute(out, "traceparent", parent);
    if (state)
        put_attribute(out, "tracestate", state);
}

char *lw_envelope_build(const lw_outbox_entry *e)
{
    char time[32];
    lw_rfc3339_format(e->time_ms, time);
    lw_buf out = {0};
    lw_buf_reserve(&out, (e->data ? strlen(e->data) : 0) + 256); /* one allocation, mostly */
    lw_buf_append(&out, "{", 1);
    put_attribute(&out, "specversion", "1.0");
    put_attribute(&out, "id", e->id);
    put_attribute(&out, "source", "leakwatch");
    put_attribute(&out, "type", e->type);
    put_attribute(&out, "time", time);
    put_attribute(&out, "tenant", e->tenant);
    put_attribute(&out, "subject", e->key);
    put_attribute(&out, "datacontenttype", "application/json");
    if (e->trace)
        put_trace(&out, e->trace);
    lw_buf_append(&out, "\"data\":", 7);
    if (!copy_data(&out, e->data)) {
        lw_error("outbox entry %s (%s): data is not a JSON object: %.200s", e->stream_id, e->type,
                 e->data);
        lw_buf_free(&out);
        return NULL;
    }
    lw_buf_append(&out, "}", 1);
    return out.data; /* the caller frees it, as jansson's text before */
}
