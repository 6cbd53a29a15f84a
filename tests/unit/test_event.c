/* test_event.c — input messages as CloudEvents, checked against the type table
 * (processor/event.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define T0 INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */

/* An event as text: the context attributes around a data object. */
static char *event_json(const char *type, const char *tenant_json, const char *data_json)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"specversion\":\"1.0\",\"id\":\"evt-42\",\"type\":\"%s\","
             "\"source\":\"amocrm/webhook\",\"time\":\"2026-11-22T09:00:00Z\"%s%s,"
             "\"data\":%s}",
             type, tenant_json ? ",\"tenant\":" : "", tenant_json ? tenant_json : "", data_json);
    return buf;
}

/* ------------------------------ valid events ------------------------------ */

typedef struct {
    const char *type;
    lw_family family;
    const char *data;
    const char *entity, *entity_value; /* the entity id, read back with lw_event_str */
} valid_case;

static const valid_case valid[] = {
    {"lead.created", LW_FAMILY_LEAD,
     "{\"lead_id\":1001,\"phone\":\"+7 701 555 12 34\",\"phones\":[\"+7 727\",87015551234],"
     "\"email\":\"a@b.kz\",\"emails\":[\"c@d.kz\"],\"name\":\"Aigerim\",\"manager_id\":17,"
     "\"status\":\"new\",\"channel\":\"form\",\"pipeline_id\":3}",
     "lead_id", "1001"},
    {"lead.updated", LW_FAMILY_LEAD, "{\"lead_id\":\"L-1\",\"status\":\"in_progress\"}", "lead_id",
     "L-1"},
    {"lead.status_changed", LW_FAMILY_LEAD, "{\"lead_id\":\"L-1\",\"status\":\"qualified\"}",
     "lead_id", "L-1"},
    {"lead.assigned", LW_FAMILY_LEAD, "{\"lead_id\":\"L-1\",\"manager_id\":\"m-5\"}", "lead_id",
     "L-1"},
    {"lead.closed", LW_FAMILY_LEAD, "{\"lead_id\":7,\"closed_reason\":\"spam\"}", "lead_id", "7"},
    {"call.completed", LW_FAMILY_CALL,
     "{\"call_id\":\"C1\",\"direction\":\"inbound\",\"status\":\"missed\",\"phone\":\"+7 701\","
     "\"duration_s\":0,\"manager_id\":17,\"lead_id\":1001,\"deal_id\":5}",
     "call_id", "C1"},
    {"task.created", LW_FAMILY_TASK,
     "{\"task_id\":501,\"due_at\":\"2026-11-22T09:15:00+03:00\",\"manager_id\":17,"
     "\"title\":\"call back\",\"kind\":\"call\",\"deal_id\":5,\"lead_id\":1001,"
     "\"contact_name\":\"Aigerim\"}",
     "task_id", "501"},
    {"task.updated", LW_FAMILY_TASK, "{\"task_id\":\"T1\",\"due_at\":\"2026-11-23T09:00:00Z\"}",
     "task_id", "T1"},
    {"task.completed", LW_FAMILY_TASK, "{\"task_id\":\"T1\"}", "task_id", "T1"},
    {"task.deleted", LW_FAMILY_TASK, "{\"task_id\":\"T1\"}", "task_id", "T1"},
    {"deal.created", LW_FAMILY_DEAL,
     "{\"deal_id\":5,\"amount\":125000,\"currency\":\"KZT\",\"stage\":\"new\","
     "\"manager_id\":17,\"lead_id\":1001,\"contact_name\":\"Aigerim\"}",
     "deal_id", "5"},
    {"deal.updated", LW_FAMILY_DEAL, "{\"deal_id\":\"D5\",\"amount\":\"5184.00\"}", "deal_id",
     "D5"},
    {"deal.stage_changed", LW_FAMILY_DEAL, "{\"deal_id\":\"D5\",\"stage\":\"proposal\"}", "deal_id",
     "D5"},
    {"deal.won", LW_FAMILY_DEAL, "{\"deal_id\":\"D5\",\"amount\":5184.5}", "deal_id", "D5"},
    {"deal.lost", LW_FAMILY_DEAL,
     "{\"deal_id\":\"D5\",\"loss_reason\":\"no_answer_3_times\",\"amount\":\"111197.35\","
     "\"currency\":\"RUB\"}",
     "deal_id", "D5"},
    {"deal.reopened", LW_FAMILY_DEAL, "{\"deal_id\":\"D5\"}", "deal_id", "D5"},
};

static void test_each_type_accepted(void **state)
{
    assert_int_equal(sizeof(valid) / sizeof(valid[0]), 16);
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const valid_case *c = &valid[i];
        for (int with_tenant = 0; with_tenant < 2; with_tenant++) {
            const char *json = event_json(c->type, with_tenant ? "\"acme\"" : NULL, c->data);
            lw_event ev;
            lw_reject why;
            if (!lw_event_parse(json, strlen(json), 0, &ev, &why))
                fail_msg("%s refused (%s): %s", c->type, lw_reject_name(why.reason), why.detail);
            assert_int_equal(why.reason, LW_REJECT_NONE);
            assert_int_equal(ev.family, c->family);
            assert_string_equal(ev.id, "evt-42");
            assert_string_equal(ev.type, c->type);
            assert_string_equal(ev.source, "amocrm/webhook");
            assert_string_equal(ev.tenant, with_tenant ? "acme" : "default");
            assert_int_equal(ev.time_ms, T0);
            assert_true(json_is_object(ev.data));
            char scratch[32];
            const char *v = lw_event_str(&ev, c->entity, scratch);
            if (!v)
                fail_msg("%s: %s not readable", c->type, c->entity);
            assert_string_equal(v, c->entity_value);
            lw_event_free(&ev);
            assert_null(ev.root);
        }
    }
}

static void test_time_offsets_and_fractions(void **state)
{
    static const struct {
        const char *time;
        int64_t ms;
    } times[] = {
        {"2026-11-22T12:00:00+03:00", T0},
        {"2026-11-22T09:00:00.250Z", T0 + 250},
        {"2026-11-22T05:30:00.5-03:30", T0 + 500},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"task.completed\","
                 "\"source\":\"s\",\"time\":\"%s\",\"data\":{\"task_id\":1}}",
                 times[i].time);
        lw_event ev;
        lw_reject why;
        assert_true(lw_event_parse(json, strlen(json), 0, &ev, &why));
        assert_int_equal(ev.time_ms, times[i].ms);
        lw_event_free(&ev);
    }
}

static void test_event_str(void **state)
{
    const char *json = event_json(
        "lead.created", NULL,
        "{\"lead_id\":9007199254740993,\"manager_id\":-17,\"status\":\"new\",\"pipeline_id\":0,"
        "\"name\":null,\"phones\":[\"1\"],\"score\":1.5}");
    lw_event ev;
    lw_reject why;
    assert_true(lw_event_parse(json, strlen(json), 0, &ev, &why));
    char scratch[32];
    assert_string_equal(lw_event_str(&ev, "lead_id", scratch), "9007199254740993");
    assert_string_equal(lw_event_str(&ev, "manager_id", scratch), "-17");
    assert_string_equal(lw_event_str(&ev, "pipeline_id", scratch), "0");
    /* a string comes back as it is, not copied into scratch */
    memset(scratch, 0, sizeof(scratch));
    const char *s = lw_event_str(&ev, "status", scratch);
    assert_string_equal(s, "new");
    assert_ptr_not_equal(s, scratch);
    /* absent, null, arrays and reals are not strings */
    assert_null(lw_event_str(&ev, "email", scratch));
    assert_null(lw_event_str(&ev, "name", scratch));
    assert_null(lw_event_str(&ev, "phones", scratch));
    assert_null(lw_event_str(&ev, "score", scratch));
    lw_event_free(&ev);
}

static void test_unknown_fields_ignored(void **state)
{
    const char *json =
        "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"deal.won\",\"source\":\"s\","
        "\"time\":\"2026-11-22T09:00:00Z\",\"subject\":\"x\",\"dataschema\":\"urn:x\","
        "\"datacontenttype\":\"application/json\",\"x-custom\":{\"a\":[1,2]},"
        "\"data\":{\"deal_id\":1,\"utm\":{\"source\":\"ads\"},\"tags\":[1,\"a\",null],"
        "\"amount_text\":\"lots\",\"confidence\":0.75,\"flag\":true,\"nothing\":null}}";
    lw_event ev;
    lw_reject why;
    if (!lw_event_parse(json, strlen(json), 0, &ev, &why))
        fail_msg("refused (%s): %s", lw_reject_name(why.reason), why.detail);
    assert_string_equal(ev.type, "deal.won");
    assert_int_equal(ev.family, LW_FAMILY_DEAL);
    lw_event_free(&ev);
}

/* Optional known fields set to null count as absent. */
static void test_null_optional_fields(void **state)
{
    const char *json = event_json("deal.updated", NULL,
                                  "{\"deal_id\":1,\"amount\":null,\"currency\":null,"
                                  "\"manager_id\":null}");
    lw_event ev;
    lw_reject why;
    assert_true(lw_event_parse(json, strlen(json), 0, &ev, &why));
    lw_event_free(&ev);
}

/* ------------------------------ rejects ------------------------------ */

typedef struct {
    const char *name;
    const char *json;        /* NULL: built from type/data below */
    const char *type, *data; /* with event_json() when json is NULL */
    size_t max_bytes;
    lw_reject_reason reason;
    const char *detail_has; /* a substring of why.detail, or NULL */
} reject_case;

#define ATTRS_BUT(omit) "{" omit "\"data\":{\"lead_id\":1}}"

static const reject_case rejects[] = {
    /* too large */
    {"over max_bytes", NULL, "lead.created", "{\"lead_id\":1}", 50, LW_REJECT_TOO_LARGE, "over"},
    /* not JSON */
    {"garbage", "not json at all", NULL, NULL, 0, LW_REJECT_NOT_JSON, NULL},
    {"empty", "", NULL, NULL, 0, LW_REJECT_NOT_JSON, NULL},
    {"truncated", "{\"specversion\":\"1.0\",", NULL, NULL, 0, LW_REJECT_NOT_JSON, NULL},
    {"duplicate keys",
     "{\"specversion\":\"1.0\",\"id\":\"a\",\"id\":\"b\",\"type\":\"lead.created\","
     "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\",\"data\":{\"lead_id\":1}}",
     NULL, NULL, 0, LW_REJECT_NOT_JSON, NULL},
    /* not a CloudEvent */
    {"an array", "[1,2,3]", NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, NULL},
    {"no specversion",
     ATTRS_BUT("\"id\":\"e\",\"type\":\"lead.created\",\"source\":\"s\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "specversion"},
    {"no id",
     ATTRS_BUT("\"specversion\":\"1.0\",\"type\":\"lead.created\",\"source\":\"s\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute id "},
    {"no type",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"source\":\"s\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute type "},
    {"no source",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute source "},
    {"no time",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute time "},
    {"id is a number",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":42,\"type\":\"lead.created\",\"source\":\"s\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute id "},
    {"id is empty",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"\",\"type\":\"lead.created\",\"source\":\"s\","
               "\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "attribute id "},
    {"specversion 0.3",
     ATTRS_BUT("\"specversion\":\"0.3\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "specversion"},
    {"specversion 1.0 as a number",
     ATTRS_BUT("\"specversion\":1.0,\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "specversion"},
    {"time not RFC 3339",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\",\"time\":\"22.11.2026 09:00\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "time"},
    {"time without offset",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00\","),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "time"},
    {"time as epoch number",
     ATTRS_BUT("\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\","
               "\"source\":\"s\",\"time\":1795338000,"),
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "time"},
    {"no data",
     "{\"specversion\":\"1.0\",\"id\":\"e\",\"type\":\"lead.created\",\"source\":\"s\","
     "\"time\":\"2026-11-22T09:00:00Z\"}",
     NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "data"},
    {"data a string", NULL, "lead.created", "\"{\\\"lead_id\\\":1}\"", 0, LW_REJECT_NOT_CLOUDEVENT,
     "data"},
    {"data an array", NULL, "lead.created", "[{\"lead_id\":1}]", 0, LW_REJECT_NOT_CLOUDEVENT,
     "data"},
    {"data null", NULL, "lead.created", "null", 0, LW_REJECT_NOT_CLOUDEVENT, "data"},
    {"tenant with braces", NULL, NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "tenant"},
    {"tenant empty", NULL, NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "tenant"},
    {"tenant a number", NULL, NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "tenant"},
    {"tenant 65 characters", NULL, NULL, NULL, 0, LW_REJECT_NOT_CLOUDEVENT, "tenant"},
    /* unknown type */
    {"unknown type", NULL, "lead.deleted", "{\"lead_id\":1}", 0, LW_REJECT_UNKNOWN_TYPE,
     "lead.deleted"},
    {"type case differs", NULL, "Lead.Created", "{\"lead_id\":1}", 0, LW_REJECT_UNKNOWN_TYPE, NULL},
    /* missing fields */
    {"lead_id missing", NULL, "lead.created", "{\"phone\":\"+7 701\"}", 0, LW_REJECT_MISSING_FIELD,
     "data.lead_id"},
    {"lead_id missing on lead.closed", NULL, "lead.closed", "{}", 0, LW_REJECT_MISSING_FIELD,
     "data.lead_id"},
    {"call_id missing", NULL, "call.completed", "{\"direction\":\"inbound\",\"status\":\"missed\"}",
     0, LW_REJECT_MISSING_FIELD, "data.call_id"},
    {"direction missing", NULL, "call.completed", "{\"call_id\":1,\"status\":\"missed\"}", 0,
     LW_REJECT_MISSING_FIELD, "data.direction"},
    {"call status missing", NULL, "call.completed", "{\"call_id\":1,\"direction\":\"inbound\"}", 0,
     LW_REJECT_MISSING_FIELD, "data.status"},
    {"due_at missing", NULL, "task.created", "{\"task_id\":1}", 0, LW_REJECT_MISSING_FIELD,
     "data.due_at"},
    {"task_id missing", NULL, "task.completed", "{\"due_at\":\"2026-11-22T09:00:00Z\"}", 0,
     LW_REJECT_MISSING_FIELD, "data.task_id"},
    {"loss_reason missing", NULL, "deal.lost", "{\"deal_id\":1,\"amount\":100}", 0,
     LW_REJECT_MISSING_FIELD, "data.loss_reason"},
    {"deal_id missing", NULL, "deal.won", "{\"amount\":100}", 0, LW_REJECT_MISSING_FIELD,
     "data.deal_id"},
    /* invalid fields */
    {"direction sideways", NULL, "call.completed",
     "{\"call_id\":1,\"direction\":\"sideways\",\"status\":\"missed\"}", 0, LW_REJECT_INVALID_FIELD,
     "data.direction"},
    {"call status unknown", NULL, "call.completed",
     "{\"call_id\":1,\"direction\":\"inbound\",\"status\":\"voicemail\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.status"},
    {"amount 3 decimals", NULL, "deal.updated", "{\"deal_id\":1,\"amount\":\"12.345\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.amount"},
    {"amount a word", NULL, "deal.updated", "{\"deal_id\":1,\"amount\":\"a lot\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.amount"},
    {"currency lower case", NULL, "deal.updated",
     "{\"deal_id\":1,\"amount\":10,\"currency\":\"usd\"}", 0, LW_REJECT_INVALID_FIELD,
     "data.currency"},
    {"currency 4 letters", NULL, "deal.updated", "{\"deal_id\":1,\"currency\":\"RUBL\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.currency"},
    {"due_at tomorrow", NULL, "task.created", "{\"task_id\":1,\"due_at\":\"tomorrow\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.due_at"},
    {"due_at a number", NULL, "task.updated", "{\"task_id\":1,\"due_at\":1795338000}", 0,
     LW_REJECT_INVALID_FIELD, "data.due_at"},
    {"duration_s -1", NULL, "call.completed",
     "{\"call_id\":1,\"direction\":\"inbound\",\"status\":\"missed\",\"duration_s\":-1}", 0,
     LW_REJECT_INVALID_FIELD, "data.duration_s"},
    {"duration_s a string", NULL, "call.completed",
     "{\"call_id\":1,\"direction\":\"inbound\",\"status\":\"missed\",\"duration_s\":\"65\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.duration_s"},
    {"phones not an array", NULL, "lead.created", "{\"lead_id\":1,\"phones\":\"+7 701\"}", 0,
     LW_REJECT_INVALID_FIELD, "data.phones"},
    {"phones with an object", NULL, "lead.created", "{\"lead_id\":1,\"phones\":[{\"n\":1}]}", 0,
     LW_REJECT_INVALID_FIELD, "data.phones"},
    {"lead_id empty string", NULL, "lead.created", "{\"lead_id\":\"\"}", 0, LW_REJECT_INVALID_FIELD,
     "data.lead_id"},
    {"lead_id a real", NULL, "lead.updated", "{\"lead_id\":1.5}", 0, LW_REJECT_INVALID_FIELD,
     "data.lead_id"},
    {"lead_id an object", NULL, "lead.updated", "{\"lead_id\":{\"id\":1}}", 0,
     LW_REJECT_INVALID_FIELD, "data.lead_id"},
    {"status a number", NULL, "lead.updated", "{\"lead_id\":1,\"status\":3}", 0,
     LW_REJECT_INVALID_FIELD, "data.status"},
};

static const char *tenant_case(const char *name)
{
    if (!strcmp(name, "tenant with braces"))
        return "\"ac{me}\"";
    if (!strcmp(name, "tenant empty"))
        return "\"\"";
    if (!strcmp(name, "tenant a number"))
        return "42";
    if (!strcmp(name, "tenant 65 characters")) {
        static char t[68];
        t[0] = '"';
        memset(t + 1, 'a', 65);
        t[66] = '"';
        t[67] = '\0';
        return t;
    }
    return NULL;
}

static void test_rejects(void **state)
{
    for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        const reject_case *c = &rejects[i];
        const char *json = c->json;
        const char *tenant = tenant_case(c->name);
        if (tenant)
            json = event_json("lead.created", tenant, "{\"lead_id\":1}");
        else if (!json)
            json = event_json(c->type, NULL, c->data);
        lw_event ev;
        lw_reject why;
        memset(&why, 0x55, sizeof(why));
        if (lw_event_parse(json, strlen(json), c->max_bytes, &ev, &why)) {
            lw_event_free(&ev);
            fail_msg("%s: accepted %s", c->name, json);
        }
        if (why.reason != c->reason)
            fail_msg("%s: reason %s, want %s (%s)", c->name, lw_reject_name(why.reason),
                     lw_reject_name(c->reason), why.detail);
        assert_true(strlen(why.detail) > 0);
        if (c->detail_has && !strstr(why.detail, c->detail_has))
            fail_msg("%s: detail '%s' does not name '%s'", c->name, why.detail, c->detail_has);
        /* a refused event owns nothing */
        assert_null(ev.root);
    }
}

/* A required field given as null is as good as absent: the event must not reach the Redis
 * library without its entity id (the input schemas allow only a string or an integer). */
typedef struct {
    const char *type, *data, *field;
} null_case;

static const null_case null_required[] = {
    {"lead.created", "{\"lead_id\":null,\"phone\":\"+7 701\"}", "data.lead_id"},
    {"deal.won", "{\"deal_id\":null}", "data.deal_id"},
    {"call.completed", "{\"call_id\":1,\"direction\":null,\"status\":\"missed\"}",
     "data.direction"},
    {"task.created", "{\"task_id\":1,\"due_at\":null}", "data.due_at"},
    {"deal.lost", "{\"deal_id\":1,\"loss_reason\":null}", "data.loss_reason"},
};

static void test_required_field_null(void **state)
{
    char bugs[1024] = "";
    size_t nb = 0;
    for (size_t i = 0; i < sizeof(null_required) / sizeof(null_required[0]); i++) {
        const null_case *c = &null_required[i];
        const char *json = event_json(c->type, NULL, c->data);
        lw_event ev;
        lw_reject why;
        if (lw_event_parse(json, strlen(json), 0, &ev, &why)) {
            lw_event_free(&ev);
            nb += (size_t)snprintf(bugs + nb, sizeof(bugs) - nb, "\n  %s with %s: null accepted",
                                   c->type, c->field);
            continue;
        }
        if (why.reason != LW_REJECT_MISSING_FIELD && why.reason != LW_REJECT_INVALID_FIELD)
            fail_msg("%s: reason %s (%s)", c->type, lw_reject_name(why.reason), why.detail);
        if (!strstr(why.detail, c->field))
            fail_msg("%s: detail '%s' does not name %s", c->type, why.detail, c->field);
    }
    if (nb)
        fail_msg("BUG processor/event.c check_data: a required field that is null passes "
                 "(want missing_field):%s",
                 bugs);
}

static void test_max_bytes_boundary(void **state)
{
    const char *json = event_json("task.deleted", NULL, "{\"task_id\":1}");
    size_t len = strlen(json);
    lw_event ev;
    lw_reject why;
    assert_true(lw_event_parse(json, len, len, &ev, &why)); /* exactly the limit */
    lw_event_free(&ev);
    assert_false(lw_event_parse(json, len, len - 1, &ev, &why));
    assert_int_equal(why.reason, LW_REJECT_TOO_LARGE);
    assert_true(lw_event_parse(json, len, 0, &ev, &why)); /* 0: no limit */
    lw_event_free(&ev);
}

/* The message value is not NUL-terminated: only len bytes are read. */
static void test_not_nul_terminated(void **state)
{
    const char *src = event_json("task.deleted", NULL, "{\"task_id\":1}");
    size_t len = strlen(src);
    char *buf = malloc(len + 5);
    memcpy(buf, src, len);
    memcpy(buf + len, "xxxx", 5); /* garbage after the message */
    lw_event ev;
    lw_reject why;
    if (!lw_event_parse(buf, len, 0, &ev, &why))
        fail_msg("refused (%s): %s", lw_reject_name(why.reason), why.detail);
    assert_string_equal(ev.type, "task.deleted");
    lw_event_free(&ev);
    free(buf);
}

/* ------------------------------ binary mode ------------------------------ */

static json_t *attributes(const char *type)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "specversion", "1.0", "id", "evt-42", "type",
                     type, "source", "s", "time", "2026-11-22T09:00:00Z");
}

/* The value is the data; the attributes, taken over, are its root. */
static void test_binary_accepted(void **state)
{
    const char *data = "{\"task_id\":1}";
    lw_event ev;
    lw_reject why;
    assert_true(
        lw_event_parse_binary(data, strlen(data), 0, attributes("task.deleted"), &ev, &why));
    assert_true(ev.binary);
    assert_string_equal(ev.id, "evt-42");
    assert_string_equal(ev.tenant, "default");
    assert_int_equal(ev.time_ms, T0);
    assert_ptr_equal(ev.data, json_object_get(ev.root, "data"));
    char scratch[32];
    assert_string_equal(lw_event_str(&ev, "task_id", scratch), "1");
    lw_event_free(&ev);
}

/* The same checks as structured mode, an attribute named by its header; the attributes are
 * freed whatever the outcome (the sanitizer build checks that). */
static void test_binary_rejects(void **state)
{
    static const struct {
        const char *drop, *data;
        size_t max_bytes;
        lw_reject_reason reason;
        const char *detail;
    } cases[] = {
        {"id", "{\"task_id\":1}", 0, LW_REJECT_NOT_CLOUDEVENT,
         "header ce_id is missing or not a string"},
        {"time", "{\"task_id\":1}", 0, LW_REJECT_NOT_CLOUDEVENT,
         "header ce_time is missing or not a string"},
        {NULL, "{\"task_id\":1}", 5, LW_REJECT_TOO_LARGE, "13 bytes, over the limit of 5"},
        {NULL, "{\"task_id\":", 0, LW_REJECT_NOT_JSON, "the message value (data): "},
        {NULL, "", 0, LW_REJECT_NOT_CLOUDEVENT, "the message has no value (data)"},
        {NULL, "42", 0, LW_REJECT_NOT_CLOUDEVENT, "the message value (data) is not a JSON object"},
        {NULL, "{}", 0, LW_REJECT_MISSING_FIELD, "data.task_id is required by task.deleted"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *attrs = attributes("task.deleted");
        if (cases[i].drop)
            json_object_del(attrs, cases[i].drop);
        lw_event ev;
        lw_reject why;
        const char *data = cases[i].data;
        assert_false(
            lw_event_parse_binary(data, strlen(data), cases[i].max_bytes, attrs, &ev, &why));
        assert_int_equal(why.reason, cases[i].reason);
        if (!strstr(why.detail, cases[i].detail))
            fail_msg("case %zu: detail '%s' lacks '%s'", i, why.detail, cases[i].detail);
        assert_null(ev.root);
    }
    /* a bad tenant and specversion are named by their headers too */
    json_t *attrs = attributes("task.deleted");
    json_object_set_new(attrs, "tenant", json_string("a{b}"));
    lw_event ev;
    lw_reject why;
    assert_false(lw_event_parse_binary("{\"task_id\":1}", 13, 0, attrs, &ev, &why));
    assert_non_null(strstr(why.detail, "header ce_tenant must be"));
    attrs = attributes("task.deleted");
    json_object_set_new(attrs, "specversion", json_string("0.3"));
    assert_false(lw_event_parse_binary("{\"task_id\":1}", 13, 0, attrs, &ev, &why));
    assert_string_equal(why.detail, "header ce_specversion must be \"1.0\"");
}

static void test_reject_names(void **state)
{
    static const struct {
        lw_reject_reason r;
        const char *name;
    } names[] = {
        {LW_REJECT_NONE, "none"},
        {LW_REJECT_TOO_LARGE, "too_large"},
        {LW_REJECT_NOT_JSON, "not_json"},
        {LW_REJECT_NOT_CLOUDEVENT, "not_cloudevent"},
        {LW_REJECT_UNKNOWN_TYPE, "unknown_type"},
        {LW_REJECT_MISSING_FIELD, "missing_field"},
        {LW_REJECT_INVALID_FIELD, "invalid_field"},
        {LW_REJECT_STATE_ERROR, "state_error"},
        {LW_REJECT__COUNT, "unknown"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(lw_reject_name(names[i].r), names[i].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_type_accepted),
        cmocka_unit_test(test_time_offsets_and_fractions),
        cmocka_unit_test(test_event_str),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_null_optional_fields),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_required_field_null),
        cmocka_unit_test(test_max_bytes_boundary),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_binary_accepted),
        cmocka_unit_test(test_binary_rejects),
        cmocka_unit_test(test_reject_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
