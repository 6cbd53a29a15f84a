/* library.c — the Redis Functions library "leakwatch", assembled at build time from
 * processor/lua/ and processor/keys.tab (cmake/lua_library.cmake), loaded at start. */
#include "leakwatch/leakwatch.h"

#include <hiredis/hiredis.h>
#include <string.h>

#define REDIS_NEEDED 70000 /* Functions came with Redis 7.0 */

int lw_library_load(lw_redis *r)
{
    int version = lw_redis_version(r);
    if (version < 0 && !r->ctx)
        return LW_EXIT_RUNTIME;
    if (version >= 0 && version < REDIS_NEEDED) {
        lw_error("redis %s:%d is version %d.%d.%d; leakwatch needs Redis >= 7.0 (Functions)",
                 r->host, r->port, version / 10000, version / 100 % 100, version % 100);
        return LW_EXIT_DEPENDENCY;
    }
    redisReply *rep = lw_redis_command(r, "FUNCTION LOAD REPLACE %s", lw_library_text);
    if (!rep)
        return LW_EXIT_RUNTIME;
    int rc = LW_EXIT_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* LOADING, READONLY, OOM...: a Redis that will serve us later; retried */
        bool no_functions = strstr(rep->str, "unknown command") != NULL;
        bool broken = strstr(rep->str, "Error registering") || strstr(rep->str, "Error compiling");
        lw_error("redis %s:%d refused the leakwatch library: %s%s", r->host, r->port, rep->str,
                 no_functions ? " (leakwatch needs Redis >= 7.0 with Functions)" : "");
        rc = no_functions ? LW_EXIT_DEPENDENCY : broken ? LW_LIBRARY_BROKEN : LW_EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < lw_lua_sources_n; i++)
            lw_debug("loaded %s sha1=%s", lw_lua_sources[i].name, lw_lua_sources[i].sha1);
        lw_info("redis library leakwatch loaded (%zu sources) on %s:%d", lw_lua_sources_n, r->host,
                r->port);
    }
    freeReplyObject(rep);
    return rc;
}

/* Redis names a line of the whole library ("user_function:412"); this names the file. */
void lw_library_locate(const char *error, char *out, size_t outlen)
{
    const char *at = error ? strstr(error, "user_function:") : NULL;
    long line = at ? strtol(at + 14, NULL, 10) : 0;
    for (size_t i = lw_lua_sources_n; line > 0 && i-- > 0;) {
        if (line >= lw_lua_sources[i].first_line) {
            snprintf(out, outlen, "%s:%ld", lw_lua_sources[i].name,
                     line - lw_lua_sources[i].first_line + 1);
            return;
        }
    }
    snprintf(out, outlen, "the leakwatch library");
}
