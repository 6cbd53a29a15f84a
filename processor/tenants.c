/* tenants.c — the set of tenants known to this instance, shared through lw:{tenants}. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>

struct lw_tenants {
    char **names; /* in the order first seen */
    size_t n, cap;
    size_t persisted; /* names[0..persisted) are known to be in lw:{tenants} */
};

lw_tenants *lw_tenants_new(void)
{
    return calloc(1, sizeof(lw_tenants));
}

size_t lw_tenants_count(const lw_tenants *t)
{
    return t->n;
}

const char *lw_tenants_name(const lw_tenants *t, size_t i)
{
    return t->names[i];
}

bool lw_tenants_add(lw_tenants *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], name))
            return false;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->names = realloc(t->names, t->cap * sizeof(*t->names));
    }
    t->names[t->n++] = strdup(name);
    return true;
}

bool lw_tenants_persist_argv(lw_tenants *t, lw_argv *out)
{
    if (t->persisted == t->n)
        return false;
    lw_argv_reset(out);
    lw_argv_adds(out, "SADD");
    lw_argv_adds(out, LW_KEY_TENANTS);
    for (size_t i = t->persisted; i < t->n; i++)
        lw_argv_adds(out, t->names[i]);
    return true;
}

void lw_tenants_persisted(lw_tenants *t)
{
    t->persisted = t->n;
}

void lw_tenants_rewrite(lw_tenants *t)
{
    t->persisted = 0;
}

bool lw_tenants_refresh(lw_tenants *t, lw_redis *r)
{
    redisReply *rep = lw_redis_command(r, "SMEMBERS " LW_KEY_TENANTS);
    if (!rep)
        return false;
    bool all_persisted = t->persisted == t->n;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (lw_tenants_add(t, rep->element[i]->str))
            lw_info("tenant %s seen by another instance", rep->element[i]->str);
    if (all_persisted)
        t->persisted = t->n; /* what came from Redis is there already */
    freeReplyObject(rep);
    return true;
}

void lw_tenants_free(lw_tenants *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t);
}
