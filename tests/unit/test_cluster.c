/* test_cluster.c — processor/cluster.c: the slot of a key (the Redis Cluster
 * specification's CRC16 and hash tags) and the argument each command is routed by. */
#include "leakwatch/leakwatch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int slot(const char *key)
{
    return lw_cluster_slot(key, strlen(key));
}

/* The specification's check value (CRC16/XMODEM of "123456789" is 0x31C3) and slots
 * redis-server's CLUSTER KEYSLOT gives. */
static void test_slots(void **state)
{
    (void)state;
    assert_int_equal(slot("123456789"), 0x31C3 & 16383);
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
}

/* Only the first {...} counts, and only when not empty. */
static void test_hash_tags(void **state)
{
    (void)state;
    assert_int_equal(slot("{user1000}.following"), slot("user1000"));
    assert_int_equal(slot("lw:{acme}:outbox"), slot("acme"));
    assert_int_equal(slot("lw:{acme}:lead:L1"), slot("lw:{acme}:timers"));
    assert_int_not_equal(slot("foo{}{bar}"), slot("bar")); /* empty tag: the whole key */
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));
    assert_int_equal(slot("lw:clock:{g}:time"), slot("lw:clock:{g}:end"));
}

static int key_index(const char *const *words)
{
    lw_argv a = {0};
    for (; *words; words++)
        lw_argv_adds(&a, *words);
    int k = lw_cluster_key_index(&a);
    lw_argv_free(&a);
    return k;
}

static void test_routing_key(void **state)
{
    (void)state;
    assert_int_equal(
        key_index((const char *[]){"FCALL", "lw_event", "1", "lw:{a}:outbox", "a", NULL}), 3);
    assert_int_equal(key_index((const char *[]){"fcall", "f", "0", "x", NULL}), -1);
    assert_int_equal(key_index((const char *[]){"XREADGROUP", "GROUP", "emit", "c", "COUNT", "10",
                                                "STREAMS", "lw:{a}:outbox", ">", NULL}),
                     7);
    assert_int_equal(
        key_index((const char *[]){"XGROUP", "CREATE", "lw:{a}:outbox", "emit", "0", NULL}), 2);
    assert_int_equal(key_index((const char *[]){"HGETALL", "lw:clock:{g}:time", NULL}), 1);
    assert_int_equal(key_index((const char *[]){"FUNCTION", "LOAD", "REPLACE", "code", NULL}), -1);
    assert_int_equal(key_index((const char *[]){"INFO", "server", NULL}), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_routing_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
