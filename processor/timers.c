/* timers.c — the timer service: due deadlines of every tenant are claimed and fired by
 * FCALL lw_fire (processor/lua/timers.lua), one call per tenant in one round trip; and
 * FCALL lw_flush, which publishes a tenant's aggregates once per batch. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>

void lw_timers_flush_argv(const char *tenant, lw_argv *out)
{
    lw_buf key = {0};
    lw_key(&key, LW_KEY_OUTBOX, tenant);
    lw_argv_reset(out);
    lw_argv_adds(out, "FCALL");
    lw_argv_adds(out, "lw_flush");
    lw_argv_adds(out, "1");
    lw_argv_add(out, key.data, key.len);
    lw_argv_adds(out, tenant);
    lw_buf_free(&key);
}

int64_t lw_timers_fire(lw_redis *r, const lw_tenants *t, int64_t now_ms, int64_t limit,
                       int64_t *emitted)
{
    *emitted = 0;
    size_t n = lw_tenants_count(t);
    if (n == 0)
        return 0;
    lw_argv *cmds = calloc(n, sizeof(*cmds));
    redisReply **rep = calloc(n, sizeof(*rep));
    lw_buf key = {0};
    for (size_t i = 0; i < n; i++) {
        lw_key(&key, LW_KEY_OUTBOX, lw_tenants_name(t, i));
        lw_argv_adds(&cmds[i], "FCALL");
        lw_argv_adds(&cmds[i], "lw_fire");
        lw_argv_adds(&cmds[i], "1");
        lw_argv_add(&cmds[i], key.data, key.len);
        lw_argv_adds(&cmds[i], lw_tenants_name(t, i));
        lw_argv_addi(&cmds[i], now_ms);
        lw_argv_addi(&cmds[i], limit);
    }
    lw_buf_free(&key);
    int64_t fired = -1;
    if (lw_redis_pipeline(r, cmds, n, rep)) {
        fired = 0;
        for (size_t i = 0; i < n; i++) {
            if (rep[i]->type == REDIS_REPLY_ARRAY && rep[i]->elements == 3) {
                fired += rep[i]->element[0]->integer;
                *emitted += rep[i]->element[1]->integer;
            } else {
                char where[96];
                lw_library_locate(rep[i]->str, where, sizeof(where));
                lw_error("lw_fire (%s) for tenant %s: %s", where, lw_tenants_name(t, i),
                         rep[i]->str ? rep[i]->str : "unexpected reply");
            }
        }
        lw_redis_free_replies(rep, n);
    }
    for (size_t i = 0; i < n; i++)
        lw_argv_free(&cmds[i]);
    free(cmds);
    free(rep);
    return fired;
}
