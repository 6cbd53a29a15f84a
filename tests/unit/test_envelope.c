/* test_envelope.c — derived events as CloudEvents (processor/envelope.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define T0 INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */

static lw_outbox_entry entry(const char *type, const char *id, const char *key, const char *data,
                             int64_t time_ms)
{
    lw_outbox_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.stream_id, sizeof(e.stream_id), "1795338000000-0");
    e.tenant = (char *)"acme";
    e.type = (char *)type;
    e.id = (char *)id;
    e.key = (char *)key;
    e.data = (char *)data;
    e.time_ms = time_ms;
    return e;
}

static json_t *build_and_load(const lw_outbox_entry *e)
{
    char *text = lw_envelope_build(e);
    assert_non_null(text);
    json_error_t jerr;
    json_t *ev = json_loads(text, 0, &jerr);
    if (!ev)
        fail_msg("envelope is not JSON: %s: %s", jerr.text, text);
    free(text);
    assert_true(json_is_object(ev));
    return ev;
}

static const char *str(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        fail_msg("attribute %s is missing or not a string", name);
    return json_string_value(v);
}

typedef struct {
    const char *type, *id, *key, *data;
    int64_t time_ms;
    const char *time;
} env_case;

static const env_case cases[] = {
    {"lead.idle", "lead.idle:acme:1001", "1001",
     "{\"lead_id\":\"1001\",\"idle_seconds\":1800,\"threshold_seconds\":1800}", T0 + 30 * 60000,
     "2026-11-22T09:30:00Z"},
    {"task.overdue", "task.overdue:acme:t-9:1795338000000", "t-9",
     "{\"task_id\":\"t-9\",\"deal_id\":\"d-1\"}", T0 + 250, "2026-11-22T09:00:00.250Z"},
    {"loss.totals", "loss.totals:acme:2026-11:7", "acme:2026-11",
     "{\"total\":{\"RUB\":{\"amount\":\"412560.00\",\"count\":170}},\"reasons\":[]}", T0,
     "2026-11-22T09:00:00Z"},
    {"deal.at_risk", "x", "d-1", "{}", 0, "1970-01-01T00:00:00Z"},
};

static void test_envelope_fields(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lw_outbox_entry e =
            entry(cases[i].type, cases[i].id, cases[i].key, cases[i].data, cases[i].time_ms);
        json_t *ev = build_and_load(&e);
        assert_string_equal(str(ev, "specversion"), "1.0");
        assert_string_equal(str(ev, "id"), cases[i].id);
        assert_string_equal(str(ev, "source"), "leakwatch");
        assert_string_equal(str(ev, "type"), cases[i].type);
        assert_string_equal(str(ev, "time"), cases[i].time);
        assert_string_equal(str(ev, "tenant"), "acme");
        assert_string_equal(str(ev, "subject"), cases[i].key);
        assert_string_equal(str(ev, "datacontenttype"), "application/json");

        /* the time attribute parses back to the entry's time */
        int64_t ms;
        assert_true(lw_rfc3339_parse(str(ev, "time"), &ms));
        assert_int_equal(ms, cases[i].time_ms);

        /* data is the entry's JSON object, embedded as an object (not a string) */
        json_t *data = json_object_get(ev, "data");
        assert_true(json_is_object(data));
        json_t *want = json_loads(cases[i].data, 0, NULL);
        assert_non_null(want);
        if (!json_equal(data, want)) {
            char *got = json_dumps(data, JSON_COMPACT);
            fail_msg("%s: data %s, want %s", cases[i].type, got, cases[i].data);
        }
        json_decref(want);
        json_decref(ev);
    }
}

static void test_envelope_data_values(void **state)
{
    lw_outbox_entry e =
        entry("lead.idle", "id-1", "1001",
              "{\"lead_id\":\"1001\",\"idle_seconds\":1800,\"manager_id\":\"17\"}", T0);
    json_t *ev = build_and_load(&e);
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "lead_id")), "1001");
    assert_int_equal(json_integer_value(json_object_get(data, "idle_seconds")), 1800);
    assert_string_equal(json_string_value(json_object_get(data, "manager_id")), "17");
    assert_int_equal(json_object_size(data), 3);
    json_decref(ev);
}

static void test_envelope_bad_data(void **state)
{
    static const char *const bad[] = {"",
                                      "{",
                                      "{\"a\":}",
                                      "not json",
                                      "{\"a\":1} trailing",
                                      "[1]",
                                      "{\"a\":01}",
                                      "{\"a\":\"x}",
                                      "{\"a\":\"\\q\"}",
                                      "{\"a\":\"\\u12G4\"}",
                                      "{\"a\":tru}",
                                      "{\"a\":1,}",
                                      "{\"a\" 1}",
                                      "{1:2}",
                                      "{\"a\":[1 2]}",
                                      "{\"a\":\"tab\there\"}",
                                      "{\"a\":-}",
                                      "{\"a\":1.}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lw_outbox_entry e = entry("lead.idle", "id-1", "1001", bad[i], T0);
        char *text = lw_envelope_build(&e);
        if (text) {
            fail_msg("data '%s' gave an envelope: %s", bad[i], text);
        }
    }
}

/* The data as jansson would have written it (parsed and dumped compact, in order). */
static char *jansson_text(const char *data)
{
    json_error_t jerr;
    json_t *v = json_loads(data, 0, &jerr);
    assert_non_null(v);
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    return text;
}

/* The data is copied, not re-encoded: the text must still be jansson's, escapes included. */
static void test_envelope_data_text(void **state)
{
    static const char *const data[] = {
        "{\"a\":1,\"b\":\"x\"}",
        "{ \"spaced\" : [ 1 , 2 ] , \"e\" : { } , \"l\" : [ ] }",
        "{\"url\":\"http:\\/\\/x\\/y\",\"back\":\"a\\\\/b\"}",
        "{\"c\":\"\\u0001\\u001f\\n\\t\\b\\f\\r\\u007f\\\"\"}",
        "{\"u\":\"\\u00e9\\u2028 Не "
        "отвечает\",\"n\":-125,\"s\":\"\\ud83d\\ude00\",\"z\":0,\"t\":true,"
        "\"f\":false,\"nil\":null}",
        "{\"reasons\":[{\"reason\":\"x\",\"count\":3}],\"deep\":[[[{\"k\":[]}]]]}",
    };
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        lw_outbox_entry e = entry("loss.totals", "id-1", "k", data[i], T0);
        char *text = lw_envelope_build(&e);
        assert_non_null(text);
        char *want = jansson_text(data[i]);
        const char *got = strstr(text, "\"data\":");
        assert_non_null(got);
        got += 7;
        if (strncmp(got, want, strlen(want)) != 0 || strcmp(got + strlen(want), "}") != 0)
            fail_msg("data %s: got %s, jansson writes %s", data[i], got, want);
        free(want);
        free(text);
    }
}

/* An entry with a trace carries the distributed tracing extension attributes; a trace that is
 * not the joined form (trace.c) is left out, never a reason to drop the event. */
static void test_envelope_trace_context(void **state)
{
#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    static const struct {
        const char *trace, *parent, *state;
    } traces[] = {
        {PARENT " rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", PARENT,
         "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
        {PARENT, PARENT, NULL},
        {PARENT " a=\"q\"\\", PARENT, "a=\"q\"\\"}, /* escaped in JSON */
        {"not a trace", NULL, NULL},
        {NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(traces) / sizeof(traces[0]); i++) {
        lw_outbox_entry e = entry("lead.responded", "id-1", "1001", "{\"lead_id\":\"1001\"}", T0);
        e.trace = (char *)traces[i].trace;
        json_t *ev = build_and_load(&e);
        json_t *parent = json_object_get(ev, "traceparent"),
               *st = json_object_get(ev, "tracestate");
        if (traces[i].parent)
            assert_string_equal(json_string_value(parent), traces[i].parent);
        else
            assert_null(parent);
        if (traces[i].state)
            assert_string_equal(json_string_value(st), traces[i].state);
        else
            assert_null(st);
        assert_string_equal(str(ev, "id"), "id-1");
        json_decref(ev);
    }
#undef PARENT
}

int main(void)
{
    lw_log_setup(LW_LOG_FATAL, LW_LOG_LOGFMT); /* the bad-data cases log an error */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_fields),        cmocka_unit_test(test_envelope_data_values),
        cmocka_unit_test(test_envelope_bad_data),      cmocka_unit_test(test_envelope_data_text),
        cmocka_unit_test(test_envelope_trace_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
