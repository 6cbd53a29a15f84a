/* test_loss_reason.c — processor/loss_reason.c: classes, canonical names, stage limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static lw_tenant_settings defaults(void)
{
    char err[256];
    static lw_config cfg;
    static bool loaded;
    char *envp[] = {NULL};
    if (!loaded && !lw_config_load(&cfg, NULL, envp, 0, NULL, err, sizeof(err)))
        fail_msg("%s", err);
    loaded = true;
    return cfg.tenant_defaults; /* the product's default lists (PRODUCT.md §3) */
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
    {"", "unclassified", ""},
};

static void test_default_classes(void **state)
{
    lw_tenant_settings ts = defaults();
    for (size_t i = 0; i < sizeof(reason_cases) / sizeof(reason_cases[0]); i++) {
        char key[256];
        const char *cls = lw_loss_classify(&ts, reason_cases[i].reason, key, sizeof(key));
        if (strcmp(cls, reason_cases[i].want_class) || strcmp(key, reason_cases[i].want_key))
            fail_msg("'%s': got %s/%s, want %s/%s", reason_cases[i].reason, cls, key,
                     reason_cases[i].want_class, reason_cases[i].want_key);
    }
}

static void test_tenant_lists(void **state)
{
    lw_tenant_settings ts = defaults();
    ts.loss_manageable = (char *)"slow=Долго отвечали;no_id_only";
    ts.loss_objective = (char *)"";
    char key[256];
    assert_string_equal(lw_loss_classify(&ts, "долго ОТВЕЧАЛИ", key, sizeof(key)), "manageable");
    assert_string_equal(key, "slow");
    assert_string_equal(lw_loss_classify(&ts, "NO_ID_ONLY", key, sizeof(key)), "manageable");
    assert_string_equal(key, "no_id_only");
    /* no longer listed as objective for this tenant */
    assert_string_equal(lw_loss_classify(&ts, "not_now", key, sizeof(key)), "unclassified");
}

static void test_stage_limits(void **state)
{
    lw_tenant_settings ts = defaults();
    assert_int_equal(lw_stage_limit_ms(&ts, "proposal"), 7 * 86400000LL);
    ts.stage_limits = (char *)"Proposal=3d; contract = 14d;bad=x";
    assert_int_equal(lw_stage_limit_ms(&ts, "proposal"), 3 * 86400000LL);
    assert_int_equal(lw_stage_limit_ms(&ts, "PROPOSAL"), 3 * 86400000LL);
    assert_int_equal(lw_stage_limit_ms(&ts, "negotiation"), 7 * 86400000LL);
    assert_int_equal(lw_stage_limit_ms(&ts, "bad"), 7 * 86400000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_classes),
        cmocka_unit_test(test_tenant_lists),
        cmocka_unit_test(test_stage_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
