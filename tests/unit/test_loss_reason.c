/* test_loss_reason.c — processor/loss_reason.c: classes, canonical names, stage limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "leakwatch/leakwatch.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))
#define DAY_MS     INT64_C(86400000)

/* Loads the defaults, then the flags and a config file given as text (NULL: none). */
static bool load(lw_config *cfg, const char *file_text, int argc, char **argv, char *err,
                 size_t errlen)
{
    char path[] = "/tmp/leakwatch-test-loss-XXXXXX";
    char *envp[] = {NULL};
    if (file_text) {
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, file_text, strlen(file_text)), (ssize_t)strlen(file_text));
        close(fd);
    }
    bool ok = lw_config_load(cfg, file_text ? path : NULL, envp, argc, argv, err, errlen);
    if (file_text)
        unlink(path);
    return ok;
}

static void load_ok(lw_config *cfg, const char *file_text, int argc, char **argv)
{
    char err[512];
    if (!load(cfg, file_text, argc, argv, err, sizeof(err)))
        fail_msg("%s", err);
}

typedef struct {
    const char *reason, *want_class, *want_key;
} reason_case;

static const reason_case reason_cases[] = {
    {"spam", "nontarget", "spam"},
    {"Спам", "nontarget", "spam"},
    {"СПАМ", "nontarget", "spam"},
    {"  Дубль ", "nontarget", "duplicate"},
    {"DUPLICATE", "nontarget", "duplicate"},
    {"no_answer_3_times", "manageable", "no_answer_3_times"},
    {"Не отвечает более 3-х раз", "manageable", "no_answer_3_times"},
    {"не отвечает более 3-х раз", "manageable", "no_answer_3_times"},
    {"Выбрал других", "manageable", "chose_competitor"},
    {"chose_competitor", "manageable", "chose_competitor"},
    {"Хочет, но не сейчас", "objective", "not_now"},
    {"Нет у нас услуги", "objective", "service_not_offered"},
    {"Целевой, но нет потребности", "objective", "no_need"},
    {"Не подходит график", "objective", "schedule_mismatch"},
    {"Больше не звонить", "objective", "do_not_call"},
    {"do_not_call", "objective", "do_not_call"},
    {"Дорого", "unclassified", "Дорого"},
    {"price_too_high", "unclassified", "price_too_high"},
    {" spam-ish ", "unclassified", " spam-ish "},
    {"", "unclassified", ""},
};

/* Each reason's class and key for a tenant. */
static void check_reasons(const lw_tenant_settings *ts, const reason_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char key[256];
        const char *cls = lw_loss_classify(ts, cases[i].reason, key, sizeof(key));
        if (strcmp(cls, cases[i].want_class) || strcmp(key, cases[i].want_key))
            fail_msg("'%s': got %s/'%s', want %s/'%s'", cases[i].reason, cls, key,
                     cases[i].want_class, cases[i].want_key);
    }
}

/* The parsed reason i of a class: its id as listed, and its folded id and name. */
static void check_reason(const lw_tenant_lists *l, lw_loss_class c, size_t i, const char *id,
                         const char *id_folded, const char *name_folded)
{
    assert_true(i < l->loss_n[c]);
    assert_string_equal(l->loss[c][i].id, id);
    assert_string_equal(l->loss[c][i].id_folded, id_folded);
    assert_string_equal(l->loss[c][i].name_folded, name_folded);
}

static void test_parsed_defaults(void **state)
{
    lw_config cfg;
    load_ok(&cfg, NULL, 0, NULL);
    const lw_tenant_lists *l = cfg.tenant_defaults.lists;
    assert_int_equal(l->loss_n[LW_LOSS_NONTARGET], 2);
    check_reason(l, LW_LOSS_NONTARGET, 0, "spam", "spam", "спам");
    check_reason(l, LW_LOSS_NONTARGET, 1, "duplicate", "duplicate", "дубль");
    assert_int_equal(l->loss_n[LW_LOSS_MANAGEABLE], 2);
    check_reason(l, LW_LOSS_MANAGEABLE, 0, "no_answer_3_times", "no_answer_3_times",
                 "не отвечает более 3-х раз");
    assert_int_equal(l->loss_n[LW_LOSS_OBJECTIVE], 5);
    check_reason(l, LW_LOSS_OBJECTIVE, 4, "do_not_call", "do_not_call", "больше не звонить");
    assert_int_equal(l->stages_n, 0);
    lw_config_free(&cfg);
}

static void test_default_classes(void **state)
{
    lw_config cfg;
    load_ok(&cfg, NULL, 0, NULL); /* the product's default lists (PRODUCT.md §3) */
    check_reasons(&cfg.tenant_defaults, reason_cases, ARRAY_N(reason_cases));
    lw_config_free(&cfg);
}

/* A list as written: spaces around ids and names, empty items, items without an id or
 * without a name; the first class that lists a reason wins. */
static void test_list_forms(void **state)
{
    static const reason_case cases[] = {
        {"долго ОТВЕЧАЛИ", "manageable", " slow "}, /* the key is the id as listed, spaces too */
        {"SLOW", "manageable", " slow "},
        {"NO_ID_ONLY", "manageable", "no_id_only"},
        {"только имя", "manageable", ""}, /* listed without an id: its key is empty */
        {"", "unclassified", ""},         /* "=" and ";;" match nothing */
        {"Ёжик", "manageable", "hedgehog"},
        {"ёЖИК", "manageable", "hedgehog"},
        {"spam", "nontarget", "spam"},          /* also manageable here: the first class wins */
        {"not_now", "unclassified", "not_now"}, /* no longer objective */
    };
    lw_config cfg;
    char *argv[] = {"--loss.manageable= slow = Долго отвечали ;;no_id_only;=;=Только имя;"
                    "hedgehog=ЁЖИК;spam",
                    "--loss.objective="};
    load_ok(&cfg, NULL, 2, argv);
    check_reasons(&cfg.tenant_defaults, cases, ARRAY_N(cases));
    const lw_tenant_lists *l = cfg.tenant_defaults.lists;
    assert_int_equal(l->loss_n[LW_LOSS_MANAGEABLE], 5); /* the empty items and "=" left out */
    check_reason(l, LW_LOSS_MANAGEABLE, 0, " slow ", "slow", "долго отвечали");
    check_reason(l, LW_LOSS_MANAGEABLE, 1, "no_id_only", "no_id_only", "no_id_only");
    check_reason(l, LW_LOSS_MANAGEABLE, 2, "", "", "только имя");
    check_reason(l, LW_LOSS_MANAGEABLE, 3, "hedgehog", "hedgehog", "ёжик");
    check_reason(l, LW_LOSS_MANAGEABLE, 4, "spam", "spam", "spam");
    assert_int_equal(l->loss_n[LW_LOSS_OBJECTIVE], 0);
    lw_config_free(&cfg);
}

/* A tenant's lists replace the defaults for it alone. */
static void test_tenant_lists(void **state)
{
    static const reason_case acme_cases[] = {
        {"Долго отвечали", "objective", "slow"},
        {"not_now", "unclassified", "not_now"},
        {"spam", "nontarget", "spam"},
    };
    static const reason_case default_cases[] = {
        {"Долго отвечали", "unclassified", "Долго отвечали"},
        {"not_now", "objective", "not_now"},
    };
    lw_config cfg;
    load_ok(&cfg, "{\"tenants\":{\"acme\":{\"loss.objective\":\"slow=Долго отвечали\"}}}", 0, NULL);
    check_reasons(lw_config_tenant(&cfg, "acme"), acme_cases, ARRAY_N(acme_cases));
    check_reasons(&cfg.tenant_defaults, default_cases, ARRAY_N(default_cases));
    lw_config_free(&cfg);
}

/* The managers' names and the loss reasons' names as listed, for the dashboard. */
static void test_names(void **state)
{
    lw_config cfg;
    char *argv[] = {"--managers= m-anna = Anna Kim ;;=Nobody;m-boris",
                    "--loss.manageable=slow=Долго Отвечали;fast"};
    load_ok(&cfg, NULL, 2, argv);
    const lw_tenant_lists *l = cfg.tenant_defaults.lists;
    assert_int_equal(l->managers_n, 2); /* the empty item and the one with no id left out */
    assert_string_equal(l->managers[0].key, "m-anna");
    assert_string_equal(l->managers[0].value, "Anna Kim");
    assert_string_equal(l->managers[1].key, "m-boris");
    assert_string_equal(l->managers[1].value, "m-boris"); /* no name: its id */
    assert_string_equal(l->loss[LW_LOSS_MANAGEABLE][0].name, "Долго Отвечали");
    assert_string_equal(l->loss[LW_LOSS_MANAGEABLE][1].name, "fast");
    lw_config_free(&cfg);
}

static void test_stage_limits(void **state)
{
    lw_config cfg;
    load_ok(&cfg, NULL, 0, NULL);
    assert_int_equal(lw_stage_limit_ms(&cfg.tenant_defaults, "proposal"), 7 * DAY_MS);
    lw_config_free(&cfg);

    /* "a=b=1d" is accepted, but names no stage: its duration would be "b=1d" */
    char *argv[] = {"--deal.stage_limits=Proposal=3d;;contract =14d;proposal=1d;a=b=1d;"
                    "negotiation=0",
                    "--deal.stalled_after=5d"};
    load_ok(&cfg, NULL, 2, argv);
    const lw_tenant_settings *ts = &cfg.tenant_defaults;
    static const lw_stage_limit want[] = {{"proposal", 3 * DAY_MS},
                                          {"contract", 14 * DAY_MS},
                                          {"proposal", DAY_MS},
                                          {"negotiation", 0}};
    assert_int_equal(ts->lists->stages_n, ARRAY_N(want));
    for (size_t i = 0; i < ARRAY_N(want); i++) {
        assert_string_equal(ts->lists->stages[i].stage_folded, want[i].stage_folded);
        assert_int_equal(ts->lists->stages[i].ms, want[i].ms);
    }
    assert_int_equal(lw_stage_limit_ms(ts, "proposal"), 3 * DAY_MS); /* the first one listed */
    assert_int_equal(lw_stage_limit_ms(ts, " PROPOSAL "), 3 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(ts, "Contract"), 14 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(ts, "negotiation"), 0);
    assert_int_equal(lw_stage_limit_ms(ts, "won"), 5 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(ts, "a"), 5 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(ts, "a=b"), 5 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(ts, ""), 5 * DAY_MS);
    /* listed or not: a stage not listed may have its limit learned (funnel.lua) */
    assert_true(lw_stage_limit_listed(ts, " PROPOSAL "));
    assert_true(lw_stage_limit_listed(ts, "negotiation"));
    assert_false(lw_stage_limit_listed(ts, "won"));
    assert_false(lw_stage_limit_listed(ts, "a"));
    lw_config_free(&cfg);
}

static void test_tenant_stage_limits(void **state)
{
    lw_config cfg;
    load_ok(&cfg,
            "{\"deal.stage_limits\":\"proposal=3d\","
            "\"tenants\":{\"acme\":{\"deal.stage_limits\":\"contract=2d\"},"
            "\"globex\":{\"deal.stalled_after\":\"1d\"}}}",
            0, NULL);
    const lw_tenant_settings *acme = lw_config_tenant(&cfg, "acme");
    const lw_tenant_settings *globex = lw_config_tenant(&cfg, "globex");
    assert_int_equal(lw_stage_limit_ms(acme, "contract"), 2 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(acme, "proposal"), 7 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(globex, "proposal"), 3 * DAY_MS); /* inherited */
    assert_int_equal(lw_stage_limit_ms(globex, "contract"), 1 * DAY_MS);
    assert_int_equal(lw_stage_limit_ms(&cfg.tenant_defaults, "contract"), 7 * DAY_MS);
    /* each tenant has lists of its own, freed with the config */
    assert_ptr_not_equal(acme->lists, cfg.tenant_defaults.lists);
    assert_ptr_not_equal(globex->lists, cfg.tenant_defaults.lists);
    assert_int_equal(globex->lists->stages_n, 1);
    lw_config_free(&cfg);
}

/* A bad item is refused at load, the key and the tenant named. */
static void test_stage_limits_refused(void **state)
{
    static const struct {
        const char *file, *flag, *err;
    } cases[] = {
        {NULL, "--deal.stage_limits=proposal=3d;contract=soon",
         "config: deal.stage_limits expects stage=duration;..., got 'contract=soon'"},
        {NULL, "--deal.stage_limits=proposal",
         "config: deal.stage_limits expects stage=duration;..., got 'proposal'"},
        {NULL, "--deal.stage_limits==3d",
         "config: deal.stage_limits expects stage=duration;..., got '=3d'"},
        {NULL, "--deal.stage_limits=proposal= 3d",
         "config: deal.stage_limits expects stage=duration;..., got 'proposal= 3d'"},
        {"{\"tenants\":{\"acme\":{\"deal.stage_limits\":\"x=1d;y=2\"}}}", "--batch.size=1",
         "config: tenants.acme.deal.stage_limits expects stage=duration;..., got 'y=2'"},
    };
    for (size_t i = 0; i < ARRAY_N(cases); i++) {
        lw_config cfg;
        char err[512] = "";
        char *argv[] = {(char *)cases[i].flag};
        if (load(&cfg, cases[i].file, 1, argv, err, sizeof(err)))
            fail_msg("%s: accepted", cases[i].flag);
        assert_string_equal(err, cases[i].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsed_defaults),      cmocka_unit_test(test_default_classes),
        cmocka_unit_test(test_list_forms),           cmocka_unit_test(test_tenant_lists),
        cmocka_unit_test(test_stage_limits),         cmocka_unit_test(test_tenant_stage_limits),
        cmocka_unit_test(test_stage_limits_refused), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
