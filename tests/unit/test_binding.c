/* test_binding.c — input messages in both content modes of the CloudEvents Kafka binding,
 * and the trace context read from them (processor/binding.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define T0     INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */
#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define OTHER  "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"
#define STATE  "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"

#define H(name, value)                                                                             \
    {                                                                                              \
        name, value, sizeof(value) - 1                                                             \
    }

/* The headers of one binary-mode lead.created, as kcat -H would set them. */
#define BINARY_LEAD                                                                                \
    H("ce_specversion", "1.0"), H("ce_id", "evt-42"), H("ce_type", "lead.created"),                \
        H("ce_source", "forms/site"), H("ce_time", "2026-11-22T09:00:00Z"),                        \
        H("ce_tenant", "acme"), H("ce_subject", "1001"), H("content-type", "application/json")

static const char lead_data[] = "{\"lead_id\":1001,\"phone\":\"+7 701 555 12 34\",\"channel\":"
                                "\"form\",\"manager_id\":17}";

/* The same event in structured mode. */
static const char lead_structured[] =
    "{\"specversion\":\"1.0\",\"id\":\"evt-42\",\"type\":\"lead.created\",\"source\":\"forms/"
    "site\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\",\"subject\":\"1001\","
    "\"datacontenttype\":\"application/json\",\"data\":{\"lead_id\":1001,\"phone\":\"+7 701 555 "
    "12 34\",\"channel\":\"form\",\"manager_id\":17}}";

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool parse(const char *value, const lw_header *h, size_t n, lw_event *ev, lw_reject *why)
{
    return lw_binding_parse(value, strlen(value), h, n, 0, ev, why);
}

static void test_mode(void **state)
{
    const lw_header binary[] = {H("ce_specversion", "1.0")};
    const lw_header structured[] = {H("content-type", "application/cloudevents+json"),
                                    H("ce_specversion", "1.0")};
    const lw_header upper[] = {H("ce_specversion", "1.0"),
                               H("content-type", "Application/CloudEvents+JSON; charset=UTF-8")};
    const lw_header json_data[] = {H("content-type", "application/json"),
                                   H("ce_specversion", "1.0")};
    const lw_header plain[] = {H("content-type", "application/json"), H("trace", "x")};
    const lw_header other_case[] = {H("CE_SPECVERSION", "1.0")};
    assert_int_equal(lw_binding_mode(NULL, 0), LW_MODE_STRUCTURED);
    assert_int_equal(lw_binding_mode(binary, N(binary)), LW_MODE_BINARY);
    assert_int_equal(lw_binding_mode(structured, N(structured)), LW_MODE_STRUCTURED);
    assert_int_equal(lw_binding_mode(upper, N(upper)), LW_MODE_STRUCTURED);
    assert_int_equal(lw_binding_mode(json_data, N(json_data)), LW_MODE_BINARY);
    assert_int_equal(lw_binding_mode(plain, N(plain)), LW_MODE_STRUCTURED); /* as before */
    assert_int_equal(lw_binding_mode(other_case, N(other_case)), LW_MODE_STRUCTURED);
}

/* One validation path: a binary-mode event is the event its structured form is, down to the
 * FCALL it becomes. */
static void test_binary_as_structured(void **state)
{
    const lw_header h[] = {BINARY_LEAD};
    lw_event b, s;
    lw_reject why;
    if (!parse(lead_data, h, N(h), &b, &why))
        fail_msg("binary refused (%s): %s", lw_reject_name(why.reason), why.detail);
    assert_true(parse(lead_structured, NULL, 0, &s, &why));
    assert_true(b.binary);
    assert_false(s.binary);
    assert_string_equal(b.id, "evt-42");
    assert_string_equal(b.type, "lead.created");
    assert_string_equal(b.source, "forms/site");
    assert_string_equal(b.tenant, "acme");
    assert_int_equal(b.time_ms, T0);
    assert_int_equal(b.family, LW_FAMILY_LEAD);
    assert_string_equal(json_string_value(json_object_get(b.root, "subject")), "1001");
    assert_true(json_equal(b.root, s.root));

    /* the time zone: a lead's local day and month go with it (the leak estimate) */
    lw_tenant_settings ts = {
        .currency = (char *)"KZT", .phone_region = (char *)"KZ", .timezone = (char *)"UTC"};
    lw_argv ab = {0}, as = {0};
    lw_transition_argv(&b, &ts, &ab);
    lw_transition_argv(&s, &ts, &as);
    assert_int_equal(ab.bytes.len, as.bytes.len);
    assert_memory_equal(ab.bytes.data, as.bytes.data, as.bytes.len);
    lw_argv_free(&ab);
    lw_argv_free(&as);
    lw_event_free(&b);
    lw_event_free(&s);
}

static void test_binary_default_tenant(void **state)
{
    const lw_header h[] = {H("ce_specversion", "1.0"), H("ce_id", "e1"),
                           H("ce_type", "task.completed"), H("ce_source", "s"),
                           H("ce_time", "2026-11-22T12:00:00+03:00")};
    lw_event ev;
    lw_reject why;
    assert_true(parse("{\"task_id\":5}", h, N(h), &ev, &why));
    assert_string_equal(ev.tenant, "default");
    assert_int_equal(ev.time_ms, T0);
    assert_null(json_object_get(ev.root, "datacontenttype"));
    lw_event_free(&ev);
}

/* content-type is datacontenttype in binary mode, over a ce_datacontenttype. */
static void test_binary_content_type(void **state)
{
    const lw_header h[] = {H("ce_datacontenttype", "text/plain"),
                           H("content-type", "application/json; charset=utf-8"),
                           H("ce_specversion", "1.0"),
                           H("ce_id", "e1"),
                           H("ce_type", "task.completed"),
                           H("ce_source", "s"),
                           H("ce_time", "2026-11-22T09:00:00Z")};
    lw_event ev;
    lw_reject why;
    assert_true(parse("{\"task_id\":5}", h, N(h), &ev, &why));
    assert_string_equal(json_string_value(json_object_get(ev.root, "datacontenttype")),
                        "application/json; charset=utf-8");
    lw_event_free(&ev);
}

/* A structured-mode message keeps its value's attributes, whatever ce_* headers it has. */
static void test_structured_ignores_ce_headers(void **state)
{
    const lw_header h[] = {H("content-type", "application/cloudevents+json; charset=UTF-8"),
                           H("ce_specversion", "1.0"), H("ce_id", "from-a-header"),
                           H("ce_id", "twice")};
    lw_event ev;
    lw_reject why;
    assert_true(parse(lead_structured, h, N(h), &ev, &why));
    assert_false(ev.binary);
    assert_string_equal(ev.id, "evt-42");
    lw_event_free(&ev);
}

typedef struct {
    const char *name;
    lw_header extra;         /* added to (or, same name, instead of) the good headers */
    const char *value;       /* NULL: lead_data */
    lw_reject_reason reason; /* the same reasons as structured mode */
    const char *detail_has;
} reject_case;

/* The good headers with one changed: c->extra replaces the header of its name, or is added;
 * a name prefixed with '-' removes it. */
static size_t headers_for(const reject_case *c, lw_header out[16])
{
    const lw_header good[] = {BINARY_LEAD};
    size_t n = 0;
    bool replaced = false;
    const char *drop = c->extra.name && c->extra.name[0] == '-' ? c->extra.name + 1 : NULL;
    for (size_t i = 0; i < N(good); i++) {
        if (drop && !strcmp(good[i].name, drop))
            continue;
        if (!drop && c->extra.name && !strcmp(good[i].name, c->extra.name)) {
            out[n++] = c->extra;
            replaced = true;
            continue;
        }
        out[n++] = good[i];
    }
    if (!drop && c->extra.name && !replaced)
        out[n++] = c->extra;
    return n;
}

static const reject_case rejects[] = {
    {"no ce_id", {"-ce_id", NULL, 0}, NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_id is missing"},
    {"no ce_type", {"-ce_type", NULL, 0}, NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_type "},
    {"no ce_source", {"-ce_source", NULL, 0}, NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_source "},
    {"no ce_time", {"-ce_time", NULL, 0}, NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_time "},
    {"empty ce_id", H("ce_id", ""), NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_id "},
    {"null ce_id", {"ce_id", NULL, 0}, NULL, LW_REJECT_NOT_CLOUDEVENT, "header ce_id "},
    {"null ce_specversion",
     {"ce_specversion", NULL, 0},
     NULL,
     LW_REJECT_NOT_CLOUDEVENT,
     "header ce_specversion "},
    {"specversion 0.3", H("ce_specversion", "0.3"), NULL, LW_REJECT_NOT_CLOUDEVENT,
     "header ce_specversion must be"},
    {"time not RFC 3339", H("ce_time", "yesterday"), NULL, LW_REJECT_NOT_CLOUDEVENT,
     "header ce_time is not RFC 3339"},
    {"tenant with braces", H("ce_tenant", "a{b}"), NULL, LW_REJECT_NOT_CLOUDEVENT,
     "header ce_tenant"},
    {"an extension", H("ce_partitionkey", "1001"), NULL, LW_REJECT_NONE, NULL},
    {"not UTF-8", H("ce_source", "forms/\xff"), NULL, LW_REJECT_NOT_CLOUDEVENT,
     "header ce_source is not UTF-8"},
    {"a NUL inside", H("ce_source", "forms\0site"), NULL, LW_REJECT_NOT_CLOUDEVENT,
     "header ce_source is not UTF-8"},
    {"value not JSON", {NULL, NULL, 0}, "lead_id=1001", LW_REJECT_NOT_JSON, "message value"},
    {"value duplicate keys",
     {NULL, NULL, 0},
     "{\"lead_id\":1,\"lead_id\":2}",
     LW_REJECT_NOT_JSON,
     NULL},
    {"value empty", {NULL, NULL, 0}, "", LW_REJECT_NOT_CLOUDEVENT, "no value"},
    {"value an array",
     {NULL, NULL, 0},
     "[{\"lead_id\":1}]",
     LW_REJECT_NOT_CLOUDEVENT,
     "not a JSON object"},
    {"value a string", {NULL, NULL, 0}, "\"1001\"", LW_REJECT_NOT_CLOUDEVENT, "not a JSON object"},
    {"value null", {NULL, NULL, 0}, "null", LW_REJECT_NOT_CLOUDEVENT, "not a JSON object"},
    {"unknown type", H("ce_type", "lead.teleported"), NULL, LW_REJECT_UNKNOWN_TYPE,
     "lead.teleported"},
    {"lead_id missing",
     {NULL, NULL, 0},
     "{\"name\":\"no id\"}",
     LW_REJECT_MISSING_FIELD,
     "data.lead_id"},
    {"phones not a list",
     {NULL, NULL, 0},
     "{\"lead_id\":1,\"phones\":\"1,2\"}",
     LW_REJECT_INVALID_FIELD,
     "data.phones"},
};

static void test_binary_rejects(void **state)
{
    for (size_t i = 0; i < N(rejects); i++) {
        const reject_case *c = &rejects[i];
        lw_header h[16];
        size_t n = headers_for(c, h);
        const char *value = c->value ? c->value : lead_data;
        lw_event ev;
        lw_reject why;
        bool ok = lw_binding_parse(value, strlen(value), h, n, 0, &ev, &why);
        if (ok != (c->reason == LW_REJECT_NONE))
            fail_msg("%s: %s (%s: %s)", c->name, ok ? "accepted" : "refused",
                     lw_reject_name(why.reason), why.detail);
        if (ok) {
            lw_event_free(&ev);
            continue;
        }
        assert_null(ev.root);
        if (why.reason != c->reason)
            fail_msg("%s: reason %s, want %s (%s)", c->name, lw_reject_name(why.reason),
                     lw_reject_name(c->reason), why.detail);
        if (c->detail_has && !strstr(why.detail, c->detail_has))
            fail_msg("%s: detail '%s' lacks '%s'", c->name, why.detail, c->detail_has);
    }
}

static void test_binary_header_twice(void **state)
{
    const lw_header h[] = {BINARY_LEAD, H("ce_id", "evt-43")};
    lw_event ev;
    lw_reject why;
    assert_false(parse(lead_data, h, N(h), &ev, &why));
    assert_int_equal(why.reason, LW_REJECT_NOT_CLOUDEVENT);
    assert_string_equal(why.detail, "header ce_id appears more than once");
}

static void test_binary_too_large(void **state)
{
    const lw_header h[] = {BINARY_LEAD};
    lw_event ev;
    lw_reject why;
    size_t len = strlen(lead_data);
    assert_false(lw_binding_parse(lead_data, len, h, N(h), len - 1, &ev, &why));
    assert_int_equal(why.reason, LW_REJECT_TOO_LARGE);
    assert_true(lw_binding_parse(lead_data, len, h, N(h), len, &ev, &why));
    lw_event_free(&ev);
}

/* ------------------------------ the trace context ------------------------------ */

/* The trace context read from a message (binary when it has ce_specversion). */
static void assert_trace(const char *value, const lw_header *h, size_t n, const char *want)
{
    lw_event ev;
    lw_reject why;
    if (!parse(value, h, n, &ev, &why))
        fail_msg("refused (%s): %s", lw_reject_name(why.reason), why.detail);
    assert_string_equal(ev.trace, want);
    lw_event_free(&ev);
}

static const char structured_traced[] =
    "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"task.completed\",\"source\":\"s\","
    "\"time\":\"2026-11-22T09:00:00Z\",\"traceparent\":\"" OTHER "\",\"tracestate\":\"a=1\","
    "\"data\":{\"task_id\":5}}";

static void test_trace_structured(void **state)
{
    const lw_header header[] = {H("traceparent", PARENT), H("tracestate", STATE)};
    const lw_header parent_only[] = {H("traceparent", PARENT)};
    const lw_header bad[] = {H("traceparent", "00-nope"), H("tracestate", STATE)};
    const lw_header state_only[] = {H("tracestate", STATE)};
    /* the extension attributes */
    assert_trace(structured_traced, NULL, 0, OTHER " a=1");
    /* the Kafka headers first, and a tracestate only with its own traceparent */
    assert_trace(structured_traced, header, N(header), PARENT " " STATE);
    assert_trace(structured_traced, parent_only, N(parent_only), PARENT);
    /* an invalid header is passed over */
    assert_trace(structured_traced, bad, N(bad), OTHER " a=1");
    assert_trace(structured_traced, state_only, N(state_only), OTHER " a=1");
    assert_trace(lead_structured, NULL, 0, "");
    assert_trace(lead_structured, state_only, N(state_only), "");
    assert_trace(lead_structured, header, N(header), PARENT " " STATE);
}

static void test_trace_binary(void **state)
{
    const lw_header ce[] = {BINARY_LEAD, H("ce_traceparent", OTHER), H("ce_tracestate", "b=2")};
    const lw_header both[] = {BINARY_LEAD, H("ce_traceparent", OTHER), H("traceparent", PARENT)};
    const lw_header bad[] = {BINARY_LEAD, H("ce_traceparent", "00-0af7"),
                             H("ce_tracestate", "b=2")};
    const lw_header none[] = {BINARY_LEAD};
    assert_trace(lead_data, ce, N(ce), OTHER " b=2");
    assert_trace(lead_data, both, N(both), PARENT);
    assert_trace(lead_data, bad, N(bad), ""); /* an attribute that is not valid: no context */
    assert_trace(lead_data, none, N(none), "");
}

/* A trace context that is not valid is never a reason to refuse the event. */
static void test_trace_never_rejects(void **state)
{
    const lw_header h[] = {H("traceparent", "garbage\xff"), H("tracestate", "\x01")};
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"task.completed\","
                       "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\",\"traceparent\":7,"
                       "\"tracestate\":[1],\"data\":{\"task_id\":5}}";
    assert_trace(json, h, N(h), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_binary_as_structured),
        cmocka_unit_test(test_binary_default_tenant),
        cmocka_unit_test(test_binary_content_type),
        cmocka_unit_test(test_structured_ignores_ce_headers),
        cmocka_unit_test(test_binary_rejects),
        cmocka_unit_test(test_binary_header_twice),
        cmocka_unit_test(test_binary_too_large),
        cmocka_unit_test(test_trace_structured),
        cmocka_unit_test(test_trace_binary),
        cmocka_unit_test(test_trace_never_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
