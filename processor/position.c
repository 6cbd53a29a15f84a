/* position.c — where an input partition resumes, from what Redis holds. lw_event records the
 * position after each event ("<group>:<topic>:<partition>" -> next offset) in the hash of
 * the event's tenant, in the very call that applies the event (lw:{tenant}:positions: the
 * tenant's hash slot, so that this holds on a Redis Cluster too).
 *
 * Why the highest position over the tenants is the resume point: the events of a partition
 * are applied in offset order (the merge takes a partition's events in order, batches go
 * one after the other), so their position writes are ordered too. Redis that loses writes
 * it acknowledged (AOF everysec on a host crash, a failover to a lagging replica) loses a
 * suffix of them, in order: if a later write survived, every earlier one did. So the
 * highest position any tenant holds is that of the last event whose effects survived, and
 * every event before it survived as well; the lost ones are read again from there (they
 * are idempotent by id). A tenant missing from lw:{tenants} only makes the resume point
 * earlier: events read twice, never skipped.
 *
 * On a Redis Cluster each shard loses its own suffix: the resume point is then the highest
 * position within each shard, and the lowest of those across the shards that hold one (a
 * shard whose tenants saw nothing of the partition says nothing of it). */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>

void lw_position_field(lw_buf *out, const char *group, const char *topic, int32_t partition)
{
    lw_buf_reset(out);
    lw_buf_appendf(out, "%s:%s:%d", group, topic, (int)partition);
}

/* The highest position the tenants on one shard hold, NONE if none. */
static int64_t highest_on_shard(const int64_t *recorded, const int *shard, size_t n, int which)
{
    int64_t highest = LW_POSITION_NONE;
    for (size_t i = 0; i < n; i++)
        if (shard[i] == which && recorded[i] > highest)
            highest = recorded[i];
    return highest;
}

int64_t lw_position_resume(const int64_t *recorded, const int *shard, size_t n)
{
    int64_t resume = LW_POSITION_NONE;
    for (size_t i = 0; i < n; i++) {
        bool first_of_shard = true;
        for (size_t j = 0; j < i && first_of_shard; j++)
            first_of_shard = shard[j] != shard[i];
        if (!first_of_shard)
            continue;
        int64_t highest = highest_on_shard(recorded, shard, n, shard[i]);
        if (highest != LW_POSITION_NONE && (resume == LW_POSITION_NONE || highest < resume))
            resume = highest;
    }
    return resume;
}

/* An HMGET reply's i-th value as an offset, LW_POSITION_NONE when absent or not one. */
static int64_t recorded_at(const redisReply *rep, size_t i)
{
    if (!rep || rep->type != REDIS_REPLY_ARRAY || i >= rep->elements ||
        rep->element[i]->type != REDIS_REPLY_STRING)
        return LW_POSITION_NONE;
    char *end;
    long long v = strtoll(rep->element[i]->str, &end, 10);
    return *end || v < 0 ? LW_POSITION_NONE : (int64_t)v;
}

/* HMGET lw:{tenant}:positions <field of each partition> */
static void positions_argv(lw_argv *cmd, const char *tenant, const char *group,
                           const lw_partition_ref *parts, size_t n)
{
    lw_buf key = {0}, field = {0};
    lw_key(&key, LW_KEY_POSITIONS, tenant);
    lw_argv_reset(cmd);
    lw_argv_adds(cmd, "HMGET");
    lw_argv_add(cmd, key.data, key.len);
    for (size_t i = 0; i < n; i++) {
        lw_position_field(&field, group, parts[i].topic, parts[i].partition);
        lw_argv_add(cmd, field.data, field.len);
    }
    lw_buf_free(&key);
    lw_buf_free(&field);
}

/* The shard of each tenant's positions key: 0 on one node. */
static void tenant_shards(lw_redis *r, const redisReply *tenants, int *shard)
{
    lw_buf key = {0};
    for (size_t t = 0; t < tenants->elements; t++) {
        shard[t] = 0;
        if (!r->cluster)
            continue;
        lw_key(&key, LW_KEY_POSITIONS, tenants->element[t]->str);
        shard[t] = lw_cluster_shard_of(r->cluster, key.data, key.len);
    }
    lw_buf_free(&key);
}

/* resume[i] for each partition from the tenants' HMGET replies. */
static void resume_points(redisReply **replies, const int *shard, size_t ntenants, size_t n,
                          int64_t *resume)
{
    int64_t *recorded = calloc(ntenants + 1, sizeof(*recorded));
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < ntenants; t++)
            recorded[t] = recorded_at(replies[t], i);
        resume[i] = lw_position_resume(recorded, shard, ntenants);
    }
    free(recorded);
}

bool lw_positions_read(lw_redis *r, const char *group, const lw_partition_ref *parts, size_t n,
                       int64_t *resume)
{
    redisReply *tenants = lw_redis_command(r, "SMEMBERS " LW_KEY_TENANTS);
    if (!tenants || tenants->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(tenants);
        return false;
    }
    size_t nt = tenants->elements;
    lw_argv *cmds = calloc(nt + 1, sizeof(*cmds));
    redisReply **replies = calloc(nt + 1, sizeof(*replies));
    int *shard = calloc(nt + 1, sizeof(*shard));
    tenant_shards(r, tenants, shard);
    for (size_t t = 0; t < nt; t++)
        positions_argv(&cmds[t], tenants->element[t]->str, group, parts, n);
    bool ok = nt == 0 || lw_redis_pipeline(r, cmds, nt, replies);
    if (ok)
        resume_points(replies, shard, nt, n, resume);
    if (ok && nt)
        lw_redis_free_replies(replies, nt);
    for (size_t t = 0; t < nt; t++)
        lw_argv_free(&cmds[t]);
    free(cmds);
    free(replies);
    free(shard);
    freeReplyObject(tenants);
    return ok;
}
