/* test_funnel_stages.c — processor/funnel_stages.c: deal.stages checked, normalized, and
 * refused naming the key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "leakwatch/leakwatch.h"

/* The normalized text of spec, or NULL when refused (err then holds why). */
static char *normalized(const char *spec, char *err, size_t errlen)
{
    char *s = strdup(spec);
    if (lw_funnel_stages_normalize(&s, err, errlen))
        return s;
    free(s);
    return NULL;
}

static void assert_normalized(const char *spec, const char *want)
{
    char err[256] = "";
    char *got = normalized(spec, err, sizeof(err));
    if (!got)
        fail_msg("refused '%s': %s", spec, err);
    assert_string_equal(got, want);
    free(got);
}

static void test_normalized(void **state)
{
    (void)state;
    assert_normalized("", "");
    assert_normalized(" ; ;", "");
    assert_normalized("default=a,b,c", "default=a,b,c");
    assert_normalized(" Sales = Предложение , Переговоры ,, Договор\\, счёт ;kitchens=measure",
                      "Sales=Предложение,Переговоры,Договор\\, счёт;kitchens=measure");
    assert_normalized("p=a=b,c", "p=a=b,c"); /* the pipeline ends at the first '=' */
}

static void assert_refused(const char *spec, const char *item)
{
    char err[256] = "", want[128];
    char *got = normalized(spec, err, sizeof(err));
    if (got)
        fail_msg("'%s' accepted as '%s'", spec, got);
    assert_non_null(strstr(err, "deal.stages expects pipeline=stage,stage,...;..."));
    snprintf(want, sizeof(want), "got '%s'", item);
    assert_non_null(strstr(err, want));
}

static void test_refused(void **state)
{
    (void)state;
    assert_refused("default=a,b;proposal", "proposal"); /* no '=' */
    assert_refused("=a,b", "=a,b");                     /* no pipeline */
    assert_refused("p= , ,", "p= , ,");                 /* no stage */
    assert_refused("p=a,b,a", "p=a,b,a");               /* a stage twice */
}

/* Through the config loader: the key is named with its tenant, and what run gets is the
 * normalized text. */
static void test_config(void **state)
{
    (void)state;
    lw_config cfg;
    char err[512], *envp[] = {NULL};
    char *bad[] = {"--deal.stages=default=a,a"};
    assert_false(lw_config_load(&cfg, NULL, envp, 1, bad, err, sizeof(err)));
    assert_non_null(strstr(err, "deal.stages expects"));
    char *good[] = {"--deal.stages= default = a , b "};
    assert_true(lw_config_load(&cfg, NULL, envp, 1, good, err, sizeof(err)));
    assert_string_equal(cfg.tenant_defaults.deal_stages, "default=a,b");
    lw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalized),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
