/* secret.c — which settings are secrets, and how they are shown: wherever settings are
 * printed (`leakwatch config`, --help, logs, error messages) a password, token or private key
 * is "***", and redis.url keeps its user, host, port and db but not its password. */
#include "leakwatch/leakwatch.h"

#include <string.h>

#define MASK "***"

/* The last part of a dotted key: "kafka.sasl.password" -> "password". */
static const char *last_part(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

bool lw_secret_key(const char *key)
{
    static const char *const secret_parts[] = {"password", "token", "secret", "pem"};
    const char *last = last_part(key);
    for (size_t i = 0; i < sizeof(secret_parts) / sizeof(secret_parts[0]); i++)
        if (!strcmp(last, secret_parts[i]))
            return true;
    /* librdkafka's sasl.oauthbearer.config may hold a client secret */
    return strstr(key, "sasl.oauthbearer.config") != NULL;
}

const char *lw_redact_url(const char *url)
{
    static _Thread_local char out[512];
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    size_t authority = strcspn(start, "/");
    const char *at = NULL;
    for (const char *q = start; q < start + authority; q++)
        if (*q == '@')
            at = q;
    if (!at) {
        snprintf(out, sizeof(out), "%s", url);
        return out;
    }
    /* user:password@ keeps the user; :password@ and password@ keep nothing of it */
    const char *colon = memchr(start, ':', (size_t)(at - start));
    int user_len = colon ? (int)(colon - start) : 0;
    snprintf(out, sizeof(out), "%.*s%.*s%s" MASK "%s", (int)(start - url), url, user_len, start,
             user_len ? ":" : "", at);
    return out;
}

const char *lw_redacted(const char *key, const char *value)
{
    if (!value || !*value)
        return value;
    if (lw_secret_key(key))
        return MASK;
    if (!strcmp(key, "redis.url"))
        return lw_redact_url(value);
    return value;
}
