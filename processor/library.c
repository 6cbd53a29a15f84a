/* library.c — the Redis Functions library "leakwatch": the Lua sources of processor/lua/,
 * embedded at build time (name, SHA-1 and source per file), loaded at start. */
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
    lw_buf lib = {0};
    lw_buf_appendf(&lib, "#!lua name=leakwatch\n");
    for (size_t i = 0; i < lw_lua_sources_n; i++)
        lw_buf_appendf(&lib, "%s\n", lw_lua_sources[i].source);
    redisReply *rep = lw_redis_command(r, "FUNCTION LOAD REPLACE %b", lib.data, lib.len);
    lw_buf_free(&lib);
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
    long first = 2; /* line 1 is the "#!lua" header */
    for (size_t i = 0; line > 0 && i < lw_lua_sources_n; i++) {
        long lines = 1; /* each source is followed by a newline */
        for (const char *p = lw_lua_sources[i].source; *p; p++)
            lines += *p == '\n';
        if (line < first + lines) {
            snprintf(out, outlen, "%s:%ld", lw_lua_sources[i].name, line - first + 1);
            return;
        }
        first += lines;
    }
    snprintf(out, outlen, "the leakwatch library");
}
