/* http.c — the HTTP server (off unless http.listen is set): /healthz, /readyz, /metrics
 * and a read-only JSON API over what the rules last published, from Redis:
 *   /api/loss-totals?tenant=T&period=2026-11[-22]&currency=KZT   (lw:{T}:loss:latest)
 *   /api/risk?tenant=T[&sort=amount|count]                         (lw:{T}:risk summary)
 *   /api/response-stats?tenant=T                                   (lw:{T}:rs:latest)
 *   /api/loss-periods?tenant=T          the "<period>:<currency>" that have totals
 *   / and the dashboard's files (processor/dashboard/, embedded at build time)
 * libmicrohttpd serves requests on one internal thread, which has a Redis connection of
 * its own (hiredis contexts are not shared between threads). */
#include "leakwatch/leakwatch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <string.h>

struct lw_http {
    struct MHD_Daemon *daemon;
    lw_redis redis;
};

static atomic_int redis_up, kafka_assigned, producer_ok = 1;

void lw_health_set(lw_health_check check, bool ok)
{
    atomic_int *flag = check == LW_HEALTH_REDIS   ? &redis_up
                       : check == LW_HEALTH_KAFKA ? &kafka_assigned
                                                  : &producer_ok;
    atomic_store(flag, ok);
}

/* ------------------------------ replies ------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    return reply(c, status, "application/json", json, strlen(json));
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    enum MHD_Result ret = reply_json(c, status, text);
    free(text);
    json_decref(o);
    return ret;
}

/* ------------------------------ parameters ------------------------------ */

static bool tenant_ok(const char *t)
{
    return t && *t && strlen(t) < 64 && !strpbrk(t, "{}\r\n");
}

/* YYYY-MM or YYYY-MM-DD */
static bool period_ok(const char *p)
{
    static const char *const shapes[] = {"dddd-dd", "dddd-dd-dd"};
    for (int s = 0; p && s < 2; s++) {
        if (strlen(p) != strlen(shapes[s]))
            continue;
        bool ok = true;
        for (size_t i = 0; ok && p[i]; i++)
            ok = shapes[s][i] == 'd' ? isdigit((unsigned char)p[i]) != 0 : p[i] == '-';
        if (ok)
            return true;
    }
    return false;
}

static bool currency_ok(const char *c)
{
    return c && strlen(c) == 3 && isupper((unsigned char)c[0]) && isupper((unsigned char)c[1]) &&
           isupper((unsigned char)c[2]);
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* ------------------------------ Redis reads ------------------------------ */

/* HGET on the HTTP thread's own connection, connected once per request if needed. */
static char *redis_hget(lw_http *h, const char *key, const char *field, bool *io_error)
{
    *io_error = false;
    if (!h->redis.ctx && !lw_redis_connect_once(&h->redis)) {
        *io_error = true;
        return NULL;
    }
    redisReply *r = lw_redis_command(&h->redis, "HGET %s %s", key, field);
    if (!r) {
        *io_error = true;
        return NULL;
    }
    char *value = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return value;
}

static enum MHD_Result serve_stored(lw_http *h, struct MHD_Connection *c, const char *key,
                                    const char *field, const char *what)
{
    bool io_error;
    char *json = redis_hget(h, key, field, &io_error);
    if (io_error)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    if (!json)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no %s yet", what);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, json);
    free(json);
    return ret;
}

static enum MHD_Result api_loss_totals(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant"), *period = arg(c, "period"),
               *currency = arg(c, "currency");
    if (!tenant_ok(tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (!period_ok(period))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "period: expects YYYY-MM or YYYY-MM-DD");
    if (!currency_ok(currency))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "currency: expects an ISO 4217 code");
    char key[128], field[64];
    snprintf(key, sizeof(key), LW_KEY_LOSS_LATEST, tenant);
    snprintf(field, sizeof(field), "%s:%s", period, currency);
    return serve_stored(h, c, key, field, "loss totals for that period and currency");
}

/* The call-first list sorted by how many overdue tasks the client has, then by amount. */
static int by_count(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_object_get(x, "client_overdue_tasks"));
    json_int_t cy = json_integer_value(json_object_get(y, "client_overdue_tasks"));
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "task_id")) ?: "",
                  json_string_value(json_object_get(y, "task_id")) ?: "");
}

static char *sort_call_first_by_count(const char *summary)
{
    json_t *root = json_loads(summary, 0, NULL);
    json_t *list = json_object_get(root, "call_first");
    json_t *clients = json_object_get(root, "clients");
    size_t n = json_array_size(list), i;
    json_t **items = calloc(n + 1, sizeof(*items)), *item;
    json_array_foreach(list, i, item)
    {
        json_int_t count = 0;
        size_t k;
        json_t *cl;
        json_array_foreach(clients, k, cl)
        {
            if (json_equal(json_object_get(cl, "client"), json_object_get(item, "client")))
                count = json_integer_value(json_object_get(cl, "overdue_tasks"));
        }
        json_object_set_new(item, "client_overdue_tasks", json_integer(count));
        items[i] = json_incref(item);
    }
    qsort(items, n, sizeof(*items), by_count);
    json_array_clear(list);
    for (i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    json_object_set_new(root, "sorted_by", json_string("count"));
    free(items);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

static enum MHD_Result api_risk(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant"), *sort = arg(c, "sort");
    if (!tenant_ok(tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (sort && strcmp(sort, "amount") && strcmp(sort, "count"))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "sort: expects amount or count");
    char key[128];
    snprintf(key, sizeof(key), LW_KEY_RISK, tenant);
    if (!sort || !strcmp(sort, "amount"))
        return serve_stored(h, c, key, "summary", "risk summary");
    bool io_error;
    char *json = redis_hget(h, key, "summary", &io_error);
    if (io_error || !json) {
        free(json);
        return io_error ? reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable")
                        : reply_error(c, MHD_HTTP_NOT_FOUND, "no risk summary yet");
    }
    char *sorted = sort_call_first_by_count(json);
    enum MHD_Result ret = sorted ? reply_json(c, MHD_HTTP_OK, sorted)
                                 : reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "bad summary");
    free(sorted);
    free(json);
    return ret;
}

static enum MHD_Result api_response_stats(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant");
    if (!tenant_ok(tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (!h->redis.ctx && !lw_redis_connect_once(&h->redis))
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    redisReply *r = lw_redis_command(&h->redis, "HGETALL " LW_KEY_RS_LATEST, tenant);
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    lw_buf body = {0};
    lw_buf_appendf(&body, "{\"tenant\":");
    json_t *t = json_string(tenant);
    char *tj = json_dumps(t, JSON_ENCODE_ANY);
    lw_buf_appendf(&body, "%s,\"scopes\":{", tj);
    free(tj);
    json_decref(t);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        json_t *name = json_string(r->element[i]->str);
        char *nj = json_dumps(name, JSON_ENCODE_ANY);
        lw_buf_appendf(&body, "%s%s:%s", i ? "," : "", nj, r->element[i + 1]->str);
        free(nj);
        json_decref(name);
    }
    lw_buf_appendf(&body, "}}");
    freeReplyObject(r);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, body.data);
    lw_buf_free(&body);
    return ret;
}

/* ------------------------------ routing ------------------------------ */

static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    lw_buf out = {0};
    lw_metrics_render(&out);
    enum MHD_Result ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                out.data ? out.data : "", out.len);
    lw_buf_free(&out);
    return ret;
}

static enum MHD_Result serve_readyz(struct MHD_Connection *c)
{
    bool redis = atomic_load(&redis_up), kafka = atomic_load(&kafka_assigned),
         producer = atomic_load(&producer_ok);
    char body[160];
    snprintf(body, sizeof(body),
             "{\"ready\":%s,\"redis\":%s,\"kafka_assigned\":%s,\"producer\":%s}",
             redis && kafka && producer ? "true" : "false", redis ? "true" : "false",
             kafka ? "true" : "false", producer ? "true" : "false");
    return reply_json(c, redis && kafka && producer ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                      body);
}

static enum MHD_Result api_loss_periods(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant");
    if (!tenant_ok(tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (!h->redis.ctx && !lw_redis_connect_once(&h->redis))
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    redisReply *r = lw_redis_command(&h->redis, "SMEMBERS " LW_KEY_LOSS_PERIODS, tenant);
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    json_t *list = json_array();
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        json_array_append_new(list, json_string(r->element[i]->str)); /* "2026-11:KZT" */
    freeReplyObject(r);
    char *text = json_dumps(list, JSON_COMPACT);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, text);
    free(text);
    json_decref(list);
    return ret;
}

static enum MHD_Result serve_asset(struct MHD_Connection *c, const char *url)
{
    for (size_t i = 0; i < lw_assets_n; i++)
        if (!strcmp(lw_assets[i].path, url))
            return reply(c, MHD_HTTP_OK, lw_assets[i].content_type, lw_assets[i].bytes,
                         lw_assets[i].size);
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such path: %.100s", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    lw_http *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET");
    if (!strcmp(url, "/healthz"))
        return reply_json(c, MHD_HTTP_OK, "{\"status\":\"ok\"}");
    if (!strcmp(url, "/readyz"))
        return serve_readyz(c);
    if (!strcmp(url, "/metrics"))
        return serve_metrics(c);
    if (!strcmp(url, "/api/loss-totals"))
        return api_loss_totals(h, c);
    if (!strcmp(url, "/api/risk"))
        return api_risk(h, c);
    if (!strcmp(url, "/api/response-stats"))
        return api_response_stats(h, c);
    if (!strcmp(url, "/api/loss-periods"))
        return api_loss_periods(h, c);
    return serve_asset(c, url);
}

/* ------------------------------ start and stop ------------------------------ */

static bool parse_listen(const char *listen, struct sockaddr_in *sa)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return false;
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return *end == '\0' && port > 0 && port < 65536 && inet_pton(AF_INET, host, &sa->sin_addr);
}

bool lw_http_listen_valid(const char *listen)
{
    struct sockaddr_in sa;
    return parse_listen(listen, &sa);
}

lw_http *lw_http_start(const lw_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    if (!parse_listen(cfg->http_listen, &sa)) {
        snprintf(err, errlen, "config: http.listen expects ipv4:port, got '%s'", cfg->http_listen);
        return NULL;
    }
    lw_http *h = calloc(1, sizeof(*h));
    char uerr[256];
    if (!lw_redis_parse_url(cfg->redis_url, &h->redis, uerr, sizeof(uerr))) {
        snprintf(err, errlen, "config: %s", uerr);
        free(h);
        return NULL;
    }
    h->redis.timeout_ms = cfg->redis_timeout_ms;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "http.listen: cannot listen on %s", cfg->http_listen);
        free(h->redis.password);
        free(h);
        return NULL;
    }
    lw_info("http server on %s: /healthz /readyz /metrics /api/*", cfg->http_listen);
    return h;
}

void lw_http_stop(lw_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    lw_redis_close(&h->redis);
    free(h->redis.password);
    free(h);
}
