/* test_transition.c — a valid event as one FCALL of the Redis library (transition.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

#define T0 INT64_C(1795338000000) /* 2026-11-22T09:00:00Z */
/* fire_before_ms as lw_transition_argv leaves it: nothing fires until the merge sets it */
#define NO_BOUND "-9223372036854775808"

/* Its lists are parsed once (as the config does at load) and kept for the whole run. */
static lw_tenant_settings acme(void)
{
    static lw_tenant_settings ts;
    if (ts.lists)
        return ts;
    snprintf(ts.name, sizeof(ts.name), "acme");
    ts.lead_idle_ms = 10 * 60000;    /* 10m */
    ts.lead_callback_ms = 5 * 60000; /* 5m */
    ts.currency = (char *)"KZT";
    ts.timezone = (char *)"Asia/Almaty"; /* UTC+5: 09:00Z is 14:00 local */
    ts.stalled_after_ms = 7 * 86400000LL;
    ts.stage_limits = (char *)"Proposal=3d;contract=14d";
    ts.deal_stages = (char *)"default=lead,proposal"; /* normalized, as config.c leaves it */
    ts.no_next_step_ms = 86400000LL;
    ts.loss_nontarget = (char *)"spam=Спам";
    ts.loss_manageable = (char *)"no_answer_3_times=Не отвечает более 3-х раз";
    ts.loss_objective = (char *)"not_now=Хочет, но не сейчас";
    ts.phone_region = (char *)"KZ";
    ts.dedup_window_ms = 90 * 86400000LL;
    ts.untracked_after_ms = 15 * 60000;
    ts.leak_margin_e4 = 4000;    /* 0.4 */
    ts.leak_lifetime_e4 = 10000; /* 1 */
    ts.leak_unanswered_ms = 86400000LL;
    ts.leak_window_ms = 90 * 86400000LL;
    char err[256];
    if (!lw_tenant_lists_parse(&ts, err, sizeof(err)))
        fail_msg("%s", err);
    return ts;
}

/* What the leak estimate is counted with (acme's, at 09:00Z on 2026-11-22: 14:00 in Almaty):
 * the local day and month, then the leak.* settings. */
#define LEAK_PAIRS                                                                                 \
    "day", "2026-11-22", "month", "2026-11", "leak_margin", "4000", "leak_lifetime", "10000",      \
        "leak_window_ms", "7776000000", "leak_currency", "KZT"

static void parse(const char *json, lw_event *ev)
{
    lw_reject why;
    if (!lw_event_parse(json, strlen(json), 0, ev, &why))
        fail_msg("test event refused (%s): %s", lw_reject_name(why.reason), why.detail);
}

/* Compares the whole argv with want (NULL-terminated). */
static void assert_argv(const lw_argv *a, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    for (size_t i = 0; i < a->n && i < n; i++) {
        if (a->lens[i] != strlen(want[i]) || memcmp(a->ptrs[i], want[i], a->lens[i]) != 0)
            fail_msg("argv[%zu] is '%.*s', want '%s'", i, (int)a->lens[i], a->ptrs[i], want[i]);
    }
    if (a->n != n)
        fail_msg("argv has %zu arguments, want %zu", a->n, n);
}

/* The value following name among the pairs after the 9 fixed arguments, or NULL. */
static const char *pair(const lw_argv *a, const char *name, char *out, size_t outlen)
{
    for (size_t i = 9; i + 1 < a->n; i += 2) {
        if (a->lens[i] == strlen(name) && !memcmp(a->ptrs[i], name, a->lens[i])) {
            snprintf(out, outlen, "%.*s", (int)a->lens[i + 1], a->ptrs[i + 1]);
            return out;
        }
    }
    return NULL;
}

static void test_lead_created(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"evt-1\",\"type\":\"lead.created\","
          "\"source\":\"forms/site\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\","
          "\"data\":{\"lead_id\":1001,\"manager_id\":\"17\",\"channel\":\"form\","
          "\"phone\":\"+7 701 555 12 34\",\"name\":\"Aigerim\",\"pipeline_id\":3,"
          "\"extra\":{\"x\":1}}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{acme}:outbox",
                                       "acme",
                                       "evt-1",
                                       "lead.created",
                                       "1795338000000",
                                       NO_BOUND,
                                       "lead_id",
                                       "1001",
                                       "manager_id",
                                       "17",
                                       "channel",
                                       "form",
                                       "pipeline_id",
                                       "3",
                                       "phones", /* normalized to E.164 */
                                       "+77015551234",
                                       "dedup_window_ms",
                                       "7776000000",
                                       "idle_after_ms",
                                       "600000",
                                       "callback_after_ms",
                                       "300000",
                                       "unanswered_after_ms",
                                       "86400000",
                                       LEAK_PAIRS,
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

static void test_lead_created_default_tenant(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"e2\",\"type\":\"lead.created\","
          "\"source\":\"s\",\"time\":\"2026-11-22T12:00:00+03:00\","
          "\"data\":{\"lead_id\":\"L-7\"}}",
          &ev);
    lw_tenant_settings ts = acme();
    ts.lead_idle_ms = 1800000;
    ts.lead_callback_ms = 900000;
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{default}:outbox",
                                       "default",
                                       "e2",
                                       "lead.created",
                                       "1795338000000",
                                       NO_BOUND,
                                       "lead_id",
                                       "L-7",
                                       "dedup_window_ms",
                                       "7776000000",
                                       "idle_after_ms",
                                       "1800000",
                                       "callback_after_ms",
                                       "900000",
                                       "unanswered_after_ms",
                                       "86400000",
                                       LEAK_PAIRS,
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

static void test_lead_updated_has_no_thresholds(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"e3\",\"type\":\"lead.updated\","
          "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\","
          "\"data\":{\"lead_id\":\"L-7\",\"status\":\"in_progress\"}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{acme}:outbox",
                                       "acme",
                                       "e3",
                                       "lead.updated",
                                       "1795338000000",
                                       NO_BOUND,
                                       "lead_id",
                                       "L-7",
                                       "status",
                                       "in_progress",
                                       "dedup_window_ms",
                                       "7776000000",
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

typedef struct {
    const char *amount_json;   /* the JSON text of data.amount */
    const char *currency_json; /* NULL: absent */
    const char *want_minor, *want_currency;
} money_case;

static const money_case money_cases[] = {
    {"\"5184.50\"", NULL, "518450", "KZT"}, {"\"5184.50\"", "\"USD\"", "518450", "USD"},
    {"5184.5", NULL, "518450", "KZT"},      {"111197.35", "\"RUB\"", "11119735", "RUB"},
    {"412560", NULL, "41256000", "KZT"},    {"\"-12.30\"", NULL, "-1230", "KZT"},
};

static void test_deal_lost_money(void **state)
{
    for (size_t i = 0; i < sizeof(money_cases) / sizeof(money_cases[0]); i++) {
        const money_case *c = &money_cases[i];
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"specversion\":\"1.0\",\"id\":\"d-%zu\",\"type\":\"deal.lost\","
                 "\"source\":\"amocrm/webhook\",\"time\":\"2026-11-22T09:00:00.250Z\","
                 "\"tenant\":\"acme\",\"data\":{\"deal_id\":77,\"loss_reason\":"
                 "\"no_answer_3_times\",\"amount\":%s%s%s}}",
                 i, c->amount_json, c->currency_json ? ",\"currency\":" : "",
                 c->currency_json ? c->currency_json : "");
        lw_event ev;
        parse(json, &ev);
        lw_tenant_settings ts = acme();
        lw_argv a = {0};
        lw_transition_argv(&ev, &ts, &a);
        char id[16];
        snprintf(id, sizeof(id), "d-%zu", i);
        static const char *fixed[9] = {"FCALL", "lw_event", "1",         "lw:{acme}:outbox",
                                       "acme",  NULL,       "deal.lost", "1795338000250",
                                       NO_BOUND};
        for (size_t k = 0; k < 9; k++) {
            const char *w = k == 5 ? id : fixed[k];
            assert_int_equal(a.lens[k], strlen(w));
            assert_memory_equal(a.ptrs[k], w, a.lens[k]);
        }
        char v[64];
        assert_non_null(pair(&a, "deal_id", v, sizeof(v)));
        assert_string_equal(v, "77");
        assert_non_null(pair(&a, "loss_reason", v, sizeof(v)));
        assert_string_equal(v, "no_answer_3_times");
        if (!pair(&a, "amount_minor", v, sizeof(v)))
            fail_msg("%s: no amount_minor", c->amount_json);
        assert_string_equal(v, c->want_minor);
        assert_non_null(pair(&a, "currency", v, sizeof(v)));
        assert_string_equal(v, c->want_currency);
        /* the raw amount is never passed on, and deals get no lead thresholds */
        assert_null(pair(&a, "amount", v, sizeof(v)));
        assert_null(pair(&a, "idle_after_ms", v, sizeof(v)));
        /* the reason classified, in the tenant's local day and month */
        assert_non_null(pair(&a, "loss_class", v, sizeof(v)));
        assert_string_equal(v, "manageable");
        assert_non_null(pair(&a, "loss_key", v, sizeof(v)));
        assert_string_equal(v, "no_answer_3_times");
        assert_non_null(pair(&a, "day", v, sizeof(v)));
        assert_string_equal(v, "2026-11-22");
        assert_non_null(pair(&a, "month", v, sizeof(v)));
        assert_string_equal(v, "2026-11");
        /* fixed arguments plus name/value pairs */
        assert_int_equal((a.n - 9) % 2, 0);
        assert_int_equal(a.n, 9 + 2 * 10); /* with deal_stages */
        lw_argv_free(&a);
        lw_event_free(&ev);
    }
}

static void test_deal_without_amount(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"e5\",\"type\":\"deal.stage_changed\","
          "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\","
          "\"data\":{\"deal_id\":\"D1\",\"stage\":\"proposal\",\"currency\":\"USD\"}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{acme}:outbox",
                                       "acme",
                                       "e5",
                                       "deal.stage_changed",
                                       "1795338000000",
                                       NO_BOUND,
                                       "deal_id",
                                       "D1",
                                       "stage",
                                       "proposal",
                                       "stalled_after_ms", /* the stage's own limit, 3d */
                                       "259200000",
                                       "deal_stages", /* the funnel's order, passed on */
                                       "default=lead,proposal",
                                       "no_next_step_ms",
                                       "86400000",
                                       "month", /* the funnel's: 14:00 in Almaty */
                                       "2026-11",
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

/* A stage deal.stage_limits does not list may have its stall limit learned (funnel.lua); a
 * listed one never (test_deal_without_amount). */
static void test_deal_stage_without_limit(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"e6\",\"type\":\"deal.stage_changed\","
          "\"source\":\"s\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\","
          "\"data\":{\"deal_id\":\"D1\",\"stage\":\"measure\"}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    char v[64];
    assert_non_null(pair(&a, "stalled_after_ms", v, sizeof(v)));
    assert_string_equal(v, "604800000"); /* deal.stalled_after */
    assert_non_null(pair(&a, "stalled_learn", v, sizeof(v)));
    assert_string_equal(v, "1");
    lw_argv_free(&a);
    lw_event_free(&ev);
}

static void test_task_created_due(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"t-1\",\"type\":\"task.created\","
          "\"source\":\"amocrm/webhook\",\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\","
          "\"data\":{\"task_id\":501,\"due_at\":\"2026-11-22T12:30:00+03:00\","
          "\"manager_id\":17,\"kind\":\"call\",\"deal_id\":\"D1\",\"lead_id\":1001,"
          "\"contact_name\":\"Aigerim\",\"title\":\"call back\"}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{acme}:outbox",
                                       "acme",
                                       "t-1",
                                       "task.created",
                                       "1795338000000",
                                       NO_BOUND,
                                       "lead_id",
                                       "1001",
                                       "task_id",
                                       "501",
                                       "deal_id",
                                       "D1",
                                       "manager_id",
                                       "17",
                                       "kind",
                                       "call",
                                       "contact_name",
                                       "Aigerim",
                                       "title",
                                       "call back",
                                       "due_ms",
                                       "1795339800000",
                                       "due_month", /* the local month it is due in */
                                       "2026-11",
                                       "no_next_step_ms",
                                       "86400000",
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

static void test_call_completed(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"c-1\",\"type\":\"call.completed\","
          "\"source\":\"telephony/asterisk\",\"time\":\"2026-11-22T09:05:00Z\","
          "\"tenant\":\"acme\",\"data\":{\"call_id\":\"C9\",\"direction\":\"outbound\","
          "\"status\":\"answered\",\"duration_s\":65,\"lead_id\":1001}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{acme}:outbox",
                                       "acme",
                                       "c-1",
                                       "call.completed",
                                       "1795338300000",
                                       NO_BOUND,
                                       "lead_id",
                                       "1001",
                                       "call_id",
                                       "C9",
                                       "status",
                                       "answered",
                                       "direction",
                                       "outbound",
                                       "dedup_window_ms",
                                       "7776000000",
                                       "untracked_after_ms",
                                       "900000",
                                       LEAK_PAIRS,
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

/* An argv reused from one event to the next holds only the second. */
static void test_argv_reused(void **state)
{
    lw_event ev;
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    parse("{\"specversion\":\"1.0\",\"id\":\"x1\",\"type\":\"lead.created\",\"source\":\"s\","
          "\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\",\"data\":{\"lead_id\":1}}",
          &ev);
    lw_transition_argv(&ev, &ts, &a);
    assert_int_equal(a.n, 31);
    lw_event_free(&ev);
    parse("{\"specversion\":\"1.0\",\"id\":\"x2\",\"type\":\"task.completed\",\"source\":\"s\","
          "\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"globex\",\"data\":{\"task_id\":2}}",
          &ev);
    lw_transition_argv(&ev, &ts, &a);
    static const char *const want[] = {"FCALL",
                                       "lw_event",
                                       "1",
                                       "lw:{globex}:outbox",
                                       "globex",
                                       "x2",
                                       "task.completed",
                                       "1795338000000",
                                       NO_BOUND,
                                       "task_id",
                                       "2",
                                       "no_next_step_ms",
                                       "86400000",
                                       NULL};
    assert_argv(&a, want);
    lw_argv_free(&a);
    lw_event_free(&ev);
}

/* fire_before_ms is set in place when the merge releases the event, as often as need be,
 * and nothing else of the argv moves. */
static void test_set_bound(void **state)
{
    lw_event ev;
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    parse("{\"specversion\":\"1.0\",\"id\":\"b1\",\"type\":\"task.completed\",\"source\":\"s\","
          "\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\",\"data\":{\"task_id\":2}}",
          &ev);
    lw_transition_argv(&ev, &ts, &a);
    static const int64_t bounds[] = {T0, 0, -1, INT64_MAX, INT64_MIN, T0 - 1};
    static const char *const texts[] = {"00000001795338000000", "00000000000000000000",
                                        "-0000000000000000001", "09223372036854775807",
                                        "-9223372036854775808", "00000001795337999999"};
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        lw_transition_set_bound(&a, bounds[i]);
        lw_argv_finish(&a);
        const char *const want[] = {"FCALL",
                                    "lw_event",
                                    "1",
                                    "lw:{acme}:outbox",
                                    "acme",
                                    "b1",
                                    "task.completed",
                                    "1795338000000",
                                    texts[i],
                                    "task_id",
                                    "2",
                                    "no_next_step_ms",
                                    "86400000",
                                    NULL};
        assert_argv(&a, want);
        assert_int_equal(strtoll(a.ptrs[8], NULL, 10), bounds[i]); /* as Lua's tonumber reads it */
    }
    lw_argv_free(&a);
    lw_event_free(&ev);
}

/* The input's trace context is the last pair, "trace", when it has one; fire_before_ms stays
 * where lw_transition_set_bound writes it. */
static void test_trace(void **state)
{
    static const char json[] =
        "{\"specversion\":\"1.0\",\"id\":\"t1\",\"type\":\"deal.won\",\"source\":\"s\","
        "\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\",\"data\":{\"deal_id\":2}}";
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    for (int traced = 0; traced < 2; traced++) {
        lw_event ev;
        parse(json, &ev);
        if (traced)
            snprintf(ev.trace, sizeof(ev.trace), "%s congo=t61rcWkgMzE",
                     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        lw_transition_argv(&ev, &ts, &a);
        lw_transition_set_bound(&a, T0);
        lw_argv_finish(&a);
        char v[LW_TRACE_MAX];
        if (traced) {
            assert_non_null(pair(&a, "trace", v, sizeof(v)));
            assert_string_equal(v, ev.trace);
            assert_int_equal(a.lens[a.n - 1], strlen(ev.trace)); /* the last argument */
        } else {
            assert_null(pair(&a, "trace", v, sizeof(v)));
        }
        assert_int_equal(strtoll(a.ptrs[8], NULL, 10), T0);
        lw_event_free(&ev);
    }
    lw_argv_free(&a);
}

/* phone + phones[] and email + emails[]: normalized, repeats and garbage left out */
static void test_lead_contacts(void **state)
{
    lw_event ev;
    parse("{\"specversion\":\"1.0\",\"id\":\"c1\",\"type\":\"lead.updated\",\"source\":\"s\","
          "\"time\":\"2026-11-22T09:00:00Z\",\"tenant\":\"acme\",\"data\":{\"lead_id\":\"L\","
          "\"phone\":\"8 (701) 123-45-67\",\"phones\":[\"+7 701 1234567\",\"abc\",77051234567],"
          "\"email\":\" Ivan.Petrov+x@Gmail.com\",\"emails\":[\"no-at-sign\",\"a@b.kz\"]}}",
          &ev);
    lw_tenant_settings ts = acme();
    lw_argv a = {0};
    lw_transition_argv(&ev, &ts, &a);
    char v[128];
    assert_non_null(pair(&a, "phones", v, sizeof(v)));
    assert_string_equal(v, "+77011234567;+77051234567");
    assert_non_null(pair(&a, "emails", v, sizeof(v)));
    assert_string_equal(v, "ivanpetrov@gmail.com;a@b.kz");
    lw_argv_free(&a);
    lw_event_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lead_contacts),
        cmocka_unit_test(test_lead_created),
        cmocka_unit_test(test_lead_created_default_tenant),
        cmocka_unit_test(test_lead_updated_has_no_thresholds),
        cmocka_unit_test(test_deal_lost_money),
        cmocka_unit_test(test_deal_without_amount),
        cmocka_unit_test(test_deal_stage_without_limit),
        cmocka_unit_test(test_task_created_due),
        cmocka_unit_test(test_call_completed),
        cmocka_unit_test(test_argv_reused),
        cmocka_unit_test(test_set_bound),
        cmocka_unit_test(test_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
