/* test_tenants.c — processor/tenants.c: the known tenants and what is written to lw:{tenants}. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* The command as one string, its arguments space separated. */
static void assert_cmd(const lw_argv *a, const char *want)
{
    lw_buf text = {0};
    for (size_t i = 0; i < a->n; i++)
        lw_buf_appendf(&text, "%s%.*s", i ? " " : "", (int)a->lens[i], a->ptrs[i]);
    assert_string_equal(text.data, want);
    lw_buf_free(&text);
}

static void test_names_in_order_seen(void **state)
{
    lw_tenants *t = lw_tenants_new();
    assert_int_equal(lw_tenants_count(t), 0);
    assert_true(lw_tenants_add(t, "acme"));
    assert_true(lw_tenants_add(t, "globex"));
    assert_false(lw_tenants_add(t, "acme"));
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        assert_true(lw_tenants_add(t, name));
    }
    assert_int_equal(lw_tenants_count(t), 22);
    assert_string_equal(lw_tenants_name(t, 0), "acme");
    assert_string_equal(lw_tenants_name(t, 1), "globex");
    assert_string_equal(lw_tenants_name(t, 21), "t19");
    lw_tenants_free(t);
    lw_tenants_free(NULL);
}

/* Only the names not yet persisted are written, all of them again after a rewrite. */
static void test_persist(void **state)
{
    lw_tenants *t = lw_tenants_new();
    lw_argv cmd = {0};
    assert_false(lw_tenants_persist_argv(t, &cmd));
    lw_tenants_add(t, "acme");
    lw_tenants_add(t, "globex");
    assert_true(lw_tenants_persist_argv(t, &cmd));
    lw_argv_finish(&cmd);
    assert_cmd(&cmd, "SADD lw:{tenants} acme globex");
    lw_tenants_persisted(t);
    assert_false(lw_tenants_persist_argv(t, &cmd));

    lw_tenants_add(t, "initech");
    assert_true(lw_tenants_persist_argv(t, &cmd));
    lw_argv_finish(&cmd);
    assert_cmd(&cmd, "SADD lw:{tenants} initech");
    lw_tenants_persisted(t);

    lw_tenants_rewrite(t);
    assert_true(lw_tenants_persist_argv(t, &cmd));
    lw_argv_finish(&cmd);
    assert_cmd(&cmd, "SADD lw:{tenants} acme globex initech");
    lw_argv_free(&cmd);
    lw_tenants_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_in_order_seen),
        cmocka_unit_test(test_persist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
