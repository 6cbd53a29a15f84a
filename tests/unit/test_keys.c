/* test_keys.c — processor/keys.c: the C names of processor/keys.tab's shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "leakwatch/leakwatch.h"

/* The shapes as keys.tab writes them, filled in: the generated names must say the same. */
static void test_key_shapes(void **state)
{
    (void)state;
    lw_buf b = {0};
    lw_buf_appendf(&b, "left over from before");
    lw_key(&b, LW_KEY_OUTBOX, "acme");
    assert_string_equal(b.data, "lw:{acme}:outbox");
    assert_int_equal(b.len, strlen("lw:{acme}:outbox"));
    lw_key(&b, LW_KEY_TIMERS, "default");
    assert_string_equal(b.data, "lw:{default}:timers");
    lw_key(&b, LW_KEY_LEAD, "a.b-c", "1001");
    assert_string_equal(b.data, "lw:{a.b-c}:lead:1001");
    lw_key(&b, LW_KEY_CONTACT, "acme", "phone", "+77011234567");
    assert_string_equal(b.data, "lw:{acme}:contact:phone:+77011234567");
    lw_key(&b, LW_KEY_DEAL_OVERDUE, "acme", "D1");
    assert_string_equal(b.data, "lw:{acme}:deal:D1:overdue");
    lw_key(&b, LW_KEY_LOSS_LATEST, "acme");
    assert_string_equal(b.data, "lw:{acme}:loss:latest");
    lw_buf_free(&b);
}

/* Keys that are not a tenant's carry a hash tag of their own (one slot on a cluster). */
static void test_group_keys(void **state)
{
    (void)state;
    lw_buf b = {0};
    lw_key(&b, LW_KEY_TENANTS);
    assert_string_equal(b.data, "lw:{tenants}");
    lw_key(&b, LW_KEY_CLOCK, "leakwatch", "time");
    assert_string_equal(b.data, "lw:clock:{leakwatch}:time");
    lw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_shapes),
        cmocka_unit_test(test_group_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
