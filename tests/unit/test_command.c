/* test_command.c — a subcommand's own flags, its operand and the settings beside them, and
 * its --help from the same table (processor/command.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

static const lw_flag flags[] = {
    {"--port", "N", "the port"},
    {"--port-file", "FILE", "the port's file"},
    {"--dry", NULL, "a flag without a value"},
};

static const lw_command cmd = {"demo", "FILE|-", "a demo command", flags, 3, true};
static const lw_command bare = {"bare", NULL, "no settings", flags, 3, false};

static void test_own_flags_and_settings(void **state)
{
    char *argv[] = {"-",     "--port", "9",          "--batch.size", "7", "--port-file=p",
                    "--dry", "-X",     "linger.ms=3"};
    const char *v[3], *operand = NULL;
    lw_config cfg;
    assert_int_equal(lw_command_parse(&cmd, 9, argv, v, &operand, &cfg), LW_EXIT_OK);
    assert_string_equal(operand, "-");
    assert_string_equal(v[0], "9");
    assert_string_equal(v[1], "p"); /* "--port-file" is not "--port" */
    assert_string_equal(v[2], "");
    assert_int_equal(cfg.batch_size, 7);
    assert_int_equal(cfg.kafka_props_n, 1);
    lw_config_free(&cfg);
}

static void test_refusals(void **state)
{
    const char *v[3], *operand = NULL;
    lw_config cfg;
    char *no_operand[] = {"--port", "9"};
    assert_int_equal(lw_command_parse(&cmd, 2, no_operand, v, &operand, &cfg), LW_EXIT_CONFIG);
    char *no_value[] = {"f", "--port"};
    assert_int_equal(lw_command_parse(&cmd, 2, no_value, v, &operand, &cfg), LW_EXIT_CONFIG);
    char *bad_setting[] = {"f", "--kafka.brokrs", "x:1"};
    assert_int_equal(lw_command_parse(&cmd, 3, bad_setting, v, &operand, &cfg), LW_EXIT_CONFIG);
    char *setting[] = {"--batch.size", "7"}; /* a command without settings takes none */
    assert_int_equal(lw_command_parse(&bare, 2, setting, v, &operand, &cfg), LW_EXIT_CONFIG);
}

static void test_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    lw_command_help(&cmd, out);
    fclose(out);
    for (size_t i = 0; i < 3; i++)
        if (!strstr(text, flags[i].name) || !strstr(text, flags[i].desc))
            fail_msg("--help does not document %s:\n%s", flags[i].name, text);
    assert_non_null(strstr(text, "leakwatch demo FILE|- [--port N]"));
    assert_non_null(strstr(text, "LEAKWATCH_REDIS_URL")); /* the settings, from config.c */
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_flags_and_settings),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
