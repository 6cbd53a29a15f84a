/* test_position.c — the resume point of a partition from the positions one Redis holds
 * (position.c), on one node and on a Redis Cluster, and the field each is kept under. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "leakwatch/leakwatch.h"

static void resume_is_the_highest_position(void **state)
{
    (void)state;
    const int64_t recorded[] = {LW_POSITION_NONE, 41, 57, 12};
    const int one_node[] = {0, 0, 0, 0};
    assert_int_equal(lw_position_resume(recorded, one_node, 4), 57);
}

static void no_position_is_none(void **state)
{
    (void)state;
    const int64_t none[] = {LW_POSITION_NONE, LW_POSITION_NONE};
    const int shards[] = {0, 1};
    assert_int_equal(lw_position_resume(none, shards, 2), LW_POSITION_NONE);
    assert_int_equal(lw_position_resume(NULL, NULL, 0), LW_POSITION_NONE);
}

static void one_tenant_is_its_position(void **state)
{
    (void)state;
    const int64_t one[] = {1};
    const int shard[] = {0};
    assert_int_equal(lw_position_resume(one, shard, 1), 1);
}

/* On a Redis Cluster each shard loses a suffix of its own writes: the highest per shard, the
 * lowest across shards (shard 1 lost its last writes: 30 < 57). */
static void cluster_resume_is_the_lowest_shard_highest(void **state)
{
    (void)state;
    const int64_t recorded[] = {57, 30, 41, 12, LW_POSITION_NONE};
    const int shard[] = {0, 1, 0, 1, 2};
    assert_int_equal(lw_position_resume(recorded, shard, 5), 30);
}

static void field_names_group_topic_and_partition(void **state)
{
    (void)state;
    lw_buf b = {0};
    lw_position_field(&b, "leakwatch", "crm.leads", 7);
    assert_string_equal(b.data, "leakwatch:crm.leads:7");
    lw_position_field(&b, "leakwatch-replay-1", "crm.calls", 0);
    assert_string_equal(b.data, "leakwatch-replay-1:crm.calls:0");
    lw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_is_the_highest_position),
        cmocka_unit_test(no_position_is_none),
        cmocka_unit_test(one_tenant_is_its_position),
        cmocka_unit_test(cluster_resume_is_the_lowest_shard_highest),
        cmocka_unit_test(field_names_group_topic_and_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
