/* epoch.c — noticing a Redis that came back empty. The first start against an empty Redis
 * writes lw:{:epoch} (a random id) before anything else; Redis loses a suffix of its writes,
 * so a Redis that holds any state of leakwatch's holds the epoch too. No epoch while the
 * group ran before (it committed offsets in Kafka), or another id than the one this
 * instance saw (a reconnect to a server wiped since), means the state is gone: leakwatch
 * must not go on as if it were there (run.c stops, or rebuilds under state.rebuild=replay).
 * Positions (position.c) are written since the epoch: a partition Redis holds no position of
 * starts at the beginning then, since "never seen" cannot be told from "seen, and the suffix
 * with its first position lost". Only for the state of a leakwatch older than epochs and
 * positions (adopted: field "fallback" = "committed") is Kafka's committed offset where a
 * partition resumes until its first batch. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Whether Redis holds the state of a leakwatch older than epochs: tenants, and no positions
 * (this version writes both; a Redis wiped under a running instance may hold some of its
 * later writes, positions among them: that is no state to adopt). 1, 0, -1 on an error. */
static int pre_epoch_state(lw_redis *r)
{
    redisReply *tenants = lw_redis_command(r, "SMEMBERS " LW_KEY_TENANTS);
    int found = !tenants || tenants->type != REDIS_REPLY_ARRAY ? -1 : tenants->elements > 0;
    lw_buf key = {0};
    for (size_t i = 0; found == 1 && i < tenants->elements; i++) {
        lw_key(&key, LW_KEY_POSITIONS, tenants->element[i]->str);
        redisReply *rep = lw_redis_command(r, "EXISTS %s", key.data);
        found = !rep || rep->type != REDIS_REPLY_INTEGER ? -1 : rep->integer == 0;
        freeReplyObject(rep);
    }
    lw_buf_free(&key);
    freeReplyObject(tenants);
    return found;
}

lw_epoch_found lw_epoch_read(lw_redis *r, lw_epoch *e)
{
    redisReply *rep = lw_redis_command(r, "HMGET " LW_KEY_EPOCH " id fallback");
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        freeReplyObject(rep);
        return LW_EPOCH_ERROR;
    }
    const redisReply *id = rep->element[0];
    bool found = id->type == REDIS_REPLY_STRING;
    snprintf(e->id, sizeof(e->id), "%s", found ? id->str : "");
    e->committed_fallback = rep->element[1]->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    if (found)
        return LW_EPOCH_FOUND;
    int older = pre_epoch_state(r);
    return older < 0 ? LW_EPOCH_ERROR : older ? LW_EPOCH_NONE_WITH_STATE : LW_EPOCH_NONE;
}

/* 16 random hex digits (the time and the pid when /dev/urandom cannot be read). */
static void new_id(char out[LW_EPOCH_ID_LEN])
{
    unsigned char b[8];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof(b), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(b)) {
        snprintf(out, LW_EPOCH_ID_LEN, "%llx%x", (long long)lw_now_ms(), (unsigned)getpid());
        return;
    }
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

bool lw_epoch_write(lw_redis *r, bool adopted, lw_epoch *e)
{
    char id[LW_EPOCH_ID_LEN];
    new_id(id);
    /* HSETNX: of instances starting together on an empty Redis, the first id stays */
    redisReply *set = lw_redis_command(r, "HSETNX " LW_KEY_EPOCH " id %s", id);
    freeReplyObject(set);
    redisReply *since =
        set ? lw_redis_command(r, "HSETNX " LW_KEY_EPOCH " since_ms %lld", (long long)lw_now_ms())
            : NULL;
    freeReplyObject(since);
    redisReply *fallback =
        since && adopted ? lw_redis_command(r, "HSETNX " LW_KEY_EPOCH " fallback committed") : NULL;
    freeReplyObject(fallback);
    if (!since || (adopted && !fallback))
        return false;
    return lw_epoch_read(r, e) == LW_EPOCH_FOUND;
}
