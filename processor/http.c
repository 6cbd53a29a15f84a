/* http.c — the HTTP server (off unless http.listen is set): /healthz, /readyz, /metrics
 * and a read-only JSON API over what the rules last published, from Redis:
 *   /api/loss-totals?tenant=T&period=2026-11[-22]&currency=KZT   (lw:{T}:loss:latest)
 *   /api/risk?tenant=T[&sort=amount|count]                         (lw:{T}:risk summary)
 *   /api/response-stats?tenant=T                                   (lw:{T}:rs:latest)
 *   /api/funnel?tenant=T[&pipeline=P][&period=2026-11]              (lw:{T}:funnel:latest)
 *   /api/managers?tenant=T[&month=2026-11]   the manager.report data of the month (else the
 *                                       latest), by manager, and the months (lw:{T}:mgr:latest)
 *   /api/loss-periods?tenant=T          the "<period>:<currency>" that have totals
 *   /api/leak-estimate?tenant=T[&period=2026-11][&currency=KZT]  the leak.estimate data of
 *                                       every month and currency, or of those asked for
 *                                       (lw:{T}:est:latest), sorted by month and currency
 *   /api/lead-leaks?tenant=T            leads waiting for a first response, untracked contacts
 *                                       and duplicates (lw:{T}:leaks:*, kept by leaks.lua)
 *   /api/tenants                        every tenant seen (lw:{tenants}), sorted
 *   /api/settings?tenant=T              what the dashboard shows them by: time zone, CRM link
 *                                       template, managers' and loss reasons' names
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
#include <strings.h>

struct lw_http {
    struct MHD_Daemon *daemon;
    lw_redis redis;
    const lw_config *cfg; /* outlives the server: the tenants' settings */
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
    /* the dashboard's names, titles and reasons come from input: even a slip into markup
     * could run no script but the page's own, and no reply is read as another type */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; object-src 'none'; "
                            "base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"leakwatch\"");
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

/* Only a tenant whose events are accepted has keys to read. */
static bool tenant_ok(const lw_http *h, const char *t)
{
    return t && lw_tenant_policy_check(h->cfg->tenant_policy, t) == LW_REJECT_NONE;
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
        if (ok) { /* a month 01-12, a day 01-31 */
            int month = atoi(p + 5), day = s == 1 ? atoi(p + 8) : 1;
            return month >= 1 && month <= 12 && day >= 1 && day <= 31;
        }
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
    if (!tenant_ok(h, tenant))
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
    if (!tenant_ok(h, tenant))
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
    if (!tenant_ok(h, tenant))
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

/* Whether the estimate stored under field "<month>:<currency>" is one asked for (NULL: any). */
static bool estimate_wanted(const char *field, const char *period, const char *currency)
{
    const char *sep = strchr(field, ':');
    if (!sep)
        return false;
    bool month_ok = !period || ((size_t)(sep - field) == strlen(period) &&
                                !strncmp(field, period, (size_t)(sep - field)));
    return month_ok && (!currency || !strcmp(sep + 1, currency));
}

static int by_field(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "_field")),
                  json_string_value(json_object_get(*(json_t *const *)b, "_field")));
}

static enum MHD_Result api_leak_estimate(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant"), *period = arg(c, "period"),
               *currency = arg(c, "currency");
    if (!tenant_ok(h, tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (period && (strlen(period) != 7 || !period_ok(period)))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "period: expects YYYY-MM");
    if (currency && !currency_ok(currency))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "currency: expects an ISO 4217 code");
    if (!h->redis.ctx && !lw_redis_connect_once(&h->redis))
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    redisReply *r = lw_redis_command(&h->redis, "HGETALL " LW_KEY_EST_LATEST, tenant);
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    size_t n = 0, cap = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    json_t **items = calloc(cap + 1, sizeof(json_t *));
    for (size_t i = 0; i < cap; i++) {
        const char *field = r->element[2 * i]->str;
        json_t *data = json_loads(r->element[2 * i + 1]->str, 0, NULL);
        if (!data || !estimate_wanted(field, period, currency)) {
            json_decref(data);
            continue;
        }
        json_object_set_new(data, "_field", json_string(field));
        items[n++] = data;
    }
    freeReplyObject(r);
    qsort(items, n, sizeof(json_t *), by_field);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_object_del(items[i], "_field");
        json_array_append_new(list, items[i]);
    }
    free(items);
    json_t *body = json_pack("{s:s,s:o}", "tenant", tenant, "estimates", list);
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, text);
    free(text);
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
    if (!tenant_ok(h, tenant))
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

/* ------------------------------ the funnel ------------------------------ */

static bool month_ok(const char *p)
{
    return p && strlen(p) == 7 && period_ok(p);
}

/* A hash of the data last published (funnel_latest, mgr_latest), split into its fields and
 * values (pointing into the reply, which the caller frees); NULL when Redis is unreachable. */
static redisReply *latest_hash(lw_http *h, const char *key_format, const char *tenant,
                               const char ***fields, const char ***values, size_t *n)
{
    redisReply *r = h->redis.ctx || lw_redis_connect_once(&h->redis)
                        ? lw_redis_command(&h->redis, key_format, tenant)
                        : NULL;
    if (!r)
        return NULL;
    *n = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    *fields = calloc(*n + 1, sizeof(**fields)), *values = calloc(*n + 1, sizeof(**values));
    for (size_t i = 0; i < *n; i++)
        (*fields)[i] = r->element[2 * i]->str, (*values)[i] = r->element[2 * i + 1]->str;
    return r;
}

static enum MHD_Result reply_body(struct MHD_Connection *c, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, text);
    free(text);
    return ret;
}

static enum MHD_Result api_funnel(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant"), *pipeline = arg(c, "pipeline"),
               *period = arg(c, "period");
    if (!tenant_ok(h, tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (pipeline && (!*pipeline || strlen(pipeline) > 200))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "pipeline: expects a pipeline id");
    if (period && !month_ok(period))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "period: expects YYYY-MM");
    const char **fields, **values;
    size_t n;
    redisReply *r = latest_hash(h, "HGETALL " LW_KEY_FUNNEL_LATEST, tenant, &fields, &values, &n);
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    json_t *body =
        lw_funnel_api_body(tenant, pipeline ? pipeline : "default", period, fields, values, n);
    free(fields);
    free(values);
    freeReplyObject(r);
    return reply_body(c, body);
}

/* ------------------------------ the manager report ------------------------------ */

static enum MHD_Result api_managers(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant"), *month = arg(c, "month");
    if (!tenant_ok(h, tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    if (month && !month_ok(month))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "month: expects YYYY-MM");
    const char **fields, **values;
    size_t n;
    redisReply *r = latest_hash(h, "HGETALL " LW_KEY_MGR_LATEST, tenant, &fields, &values, &n);
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    json_t *body = lw_managers_api_body(tenant, month, fields, values, n);
    free(fields);
    free(values);
    freeReplyObject(r);
    return reply_body(c, body);
}

/* ------------------------------ the dashboard's lead leaks ------------------------------ */

/* How many of each list are sent: the card shows the first of them. */
#define LEAKS_MAX 200
/* Untracked contacts and duplicates of this long before the latest event time are sent; the
 * dashboard keeps those of the tenant's local day of it (a local day starts at most 38 h
 * before: 24 h plus the largest zone offset). The HTTP thread never converts time zones
 * itself: that is TZ and tzset, process-wide state the rules thread uses. */
#define LEAKS_SINCE_MS (2 * 86400000LL)

static bool redis_ready(lw_http *h)
{
    return h->redis.ctx || lw_redis_connect_once(&h->redis);
}

static enum MHD_Result reply_value(struct MHD_Connection *c, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    enum MHD_Result ret = reply_json(c, MHD_HTTP_OK, text);
    free(text);
    json_decref(v);
    return ret;
}

/* Sets o[name] to the reply's string element i, when there is one. */
static void set_str(json_t *o, const char *name, const redisReply *r, size_t i)
{
    if (r->type == REDIS_REPLY_ARRAY && i < r->elements &&
        r->element[i]->type == REDIS_REPLY_STRING && r->element[i]->len)
        json_object_set_new(o, name, json_string(r->element[i]->str));
}

/* The first phone among a lead's contact keys (';'-separated lw:{T}:contact:<kind>:<value>). */
static void set_phone(json_t *o, const char *tenant, const char *contacts)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), LW_KEY_CONTACT, tenant, "phone", "");
    const char *p = contacts ? strstr(contacts, prefix) : NULL;
    if (!p)
        return;
    p += strlen(prefix);
    json_object_set_new(o, "phone", json_stringn(p, strcspn(p, ";")));
}

/* One lead of a leaks list: what the card shows of it, from its hash. NULL on I/O error. */
static json_t *leak_lead(lw_http *h, const char *tenant, const char *lead_id)
{
    redisReply *r = lw_redis_command(
        &h->redis, "HMGET " LW_KEY_LEAD " created_ms manager_id channel contacts dup_of", tenant,
        lead_id);
    if (!r)
        return NULL;
    json_t *o = json_pack("{s:s}", "lead_id", lead_id);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            json_object_set_new(o, "created_ms",
                                json_integer(strtoll(r->element[0]->str, NULL, 10)));
        set_str(o, "manager_id", r, 1);
        set_str(o, "channel", r, 2);
        set_phone(o, tenant, r->element[3]->type == REDIS_REPLY_STRING ? r->element[3]->str : NULL);
        set_str(o, "duplicate_of", r, 4);
    }
    freeReplyObject(r);
    return o;
}

static json_t *leak_call(lw_http *h, const char *tenant, const char *call_id)
{
    redisReply *r = lw_redis_command(
        &h->redis, "HMGET " LW_KEY_CALL " phone time_ms manager_id status", tenant, call_id);
    if (!r)
        return NULL;
    json_t *o = json_pack("{s:s}", "call_id", call_id);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        set_str(o, "phone", r, 0);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            json_object_set_new(o, "called_ms",
                                json_integer(strtoll(r->element[1]->str, NULL, 10)));
        set_str(o, "manager_id", r, 2);
        set_str(o, "status", r, 3);
    }
    freeReplyObject(r);
    return o;
}

typedef json_t *(*leak_item_fn)(lw_http *h, const char *tenant, const char *id);

/* The members r of a leaks zset (r is freed), each filled in by item. NULL on I/O error. */
static json_t *leak_list(lw_http *h, const char *tenant, leak_item_fn item, redisReply *r)
{
    if (!r)
        return NULL;
    json_t *list = json_array();
    for (size_t i = 0; list && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        json_t *o = item(h, tenant, r->element[i]->str);
        if (!o) {
            json_decref(list);
            list = NULL;
        } else {
            json_array_append_new(list, o);
        }
    }
    freeReplyObject(r);
    return list;
}

static long long latest_ms(lw_http *h, const char *tenant, bool *io_error)
{
    redisReply *r = lw_redis_command(&h->redis, "ZSCORE " LW_KEY_LATEST " event", tenant);
    *io_error = r == NULL;
    long long ms = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return ms;
}

static long long waiting_total(lw_http *h, const char *tenant)
{
    redisReply *r = lw_redis_command(&h->redis, "ZCARD " LW_KEY_LEAKS_WAITING, tenant);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return n;
}

/* The card's three lists: waiting leads oldest first (all of them, up to LEAKS_MAX), and the
 * untracked contacts and duplicates of LEAKS_SINCE_MS up to the latest event, newest first. */
static json_t *lead_leaks(lw_http *h, const char *tenant)
{
    bool io_error;
    long long latest = latest_ms(h, tenant, &io_error);
    if (io_error)
        return NULL;
    const lw_tenant_settings *ts = lw_config_tenant(h->cfg, tenant);
    long long since = latest - LEAKS_SINCE_MS;
    json_t *waiting = leak_list(
        h, tenant, leak_lead,
        lw_redis_command(&h->redis, "ZRANGE " LW_KEY_LEAKS_WAITING " 0 %d", tenant, LEAKS_MAX - 1));
    json_t *untracked = leak_list(h, tenant, leak_call,
                                  lw_redis_command(&h->redis,
                                                   "ZRANGE " LW_KEY_LEAKS_UNTRACKED
                                                   " +inf %lld BYSCORE REV LIMIT 0 %d",
                                                   tenant, since, LEAKS_MAX));
    json_t *dups = leak_list(
        h, tenant, leak_lead,
        lw_redis_command(&h->redis, "ZRANGE " LW_KEY_LEAKS_DUPS " +inf %lld BYSCORE REV LIMIT 0 %d",
                         tenant, since, LEAKS_MAX));
    if (!waiting || !untracked || !dups) {
        json_decref(waiting), json_decref(untracked), json_decref(dups);
        return NULL;
    }
    json_t *o = json_pack("{s:s,s:s}", "tenant", tenant, "timezone", ts->timezone);
    json_object_set_new(o, "latest_ms", latest < 0 ? json_null() : json_integer(latest));
    json_object_set_new(o, "waiting_total", json_integer(waiting_total(h, tenant)));
    json_object_set_new(o, "waiting", waiting);
    json_object_set_new(o, "untracked", untracked);
    json_object_set_new(o, "duplicates", dups);
    return o;
}

static enum MHD_Result api_lead_leaks(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant");
    if (!tenant_ok(h, tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    json_t *o = redis_ready(h) ? lead_leaks(h, tenant) : NULL;
    if (!o)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    return reply_value(c, o);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static enum MHD_Result api_tenants(lw_http *h, struct MHD_Connection *c)
{
    redisReply *r = redis_ready(h) ? lw_redis_command(&h->redis, "SMEMBERS " LW_KEY_TENANTS) : NULL;
    if (!r)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "redis is unreachable");
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    const char **names = calloc(n + 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->element[i]->str;
    qsort(names, n, sizeof(*names), by_name);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(names[i]));
    free(names);
    freeReplyObject(r);
    return reply_value(c, list);
}

/* id -> name of the tenant's managers and loss reasons, as parsed at load. */
static json_t *names_of(const lw_tenant_settings *ts)
{
    json_t *managers = json_object(), *reasons = json_object();
    for (size_t i = 0; i < ts->lists->managers_n; i++)
        json_object_set_new(managers, ts->lists->managers[i].key,
                            json_string(ts->lists->managers[i].value));
    for (lw_loss_class k = 0; k < LW_LOSS__COUNT; k++)
        for (size_t i = 0; i < ts->lists->loss_n[k]; i++)
            json_object_set_new(reasons, ts->lists->loss[k][i].id,
                                json_string(ts->lists->loss[k][i].name));
    return json_pack("{s:o,s:o}", "managers", managers, "loss_reasons", reasons);
}

static enum MHD_Result api_settings(lw_http *h, struct MHD_Connection *c)
{
    const char *tenant = arg(c, "tenant");
    if (!tenant_ok(h, tenant))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "tenant: expects a tenant name");
    const lw_tenant_settings *ts = lw_config_tenant(h->cfg, tenant);
    json_t *o = json_pack("{s:s,s:s}", "tenant", tenant, "timezone", ts->timezone);
    json_object_set_new(o, "crm_url_template",
                        *ts->crm_url_template ? json_string(ts->crm_url_template) : json_null());
    json_t *names = names_of(ts);
    json_object_update(o, names);
    json_decref(names);
    return reply_value(c, o);
}

static enum MHD_Result serve_asset(struct MHD_Connection *c, const char *url)
{
    for (size_t i = 0; i < lw_assets_n; i++)
        if (!strcmp(lw_assets[i].path, url))
            return reply(c, MHD_HTTP_OK, lw_assets[i].content_type, lw_assets[i].bytes,
                         lw_assets[i].size);
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such path: %.100s", url);
}

/* The JSON API: one row a path. */
static const struct {
    const char *path;
    enum MHD_Result (*serve)(lw_http *h, struct MHD_Connection *c);
} api_routes[] = {
    {"/api/loss-totals", api_loss_totals},
    {"/api/risk", api_risk},
    {"/api/response-stats", api_response_stats},
    {"/api/funnel", api_funnel},
    {"/api/managers", api_managers},
    {"/api/loss-periods", api_loss_periods},
    {"/api/leak-estimate", api_leak_estimate},
    {"/api/lead-leaks", api_lead_leaks},
    {"/api/tenants", api_tenants},
    {"/api/settings", api_settings},
};

/* Equal in a time that depends only on the token's length, not on where they differ. */
static bool token_equal(const char *given, const char *token)
{
    size_t given_len = strlen(given), len = strlen(token);
    unsigned char diff = given_len != len;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(token[i] ^ given[i < given_len ? i : 0]);
    return diff == 0;
}

/* With http.token set, "Authorization: Bearer <http.token>". */
static bool authorized(const lw_http *h, struct MHD_Connection *c)
{
    const char *token = h->cfg->http_token;
    if (!*token)
        return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    static const char scheme[] = "Bearer ";
    if (!auth || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
        return false;
    return token_equal(auth + sizeof(scheme) - 1, token);
}

/* Whether a path serves data (tenants' money, metrics): the files of the dashboard page hold
 * none, and the page must load to ask for the token. */
static bool guarded(const char *url)
{
    for (size_t i = 0; i < lw_assets_n; i++)
        if (!strcmp(lw_assets[i].path, url))
            return false;
    return true;
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
    if (guarded(url) && !authorized(h, c))
        return reply_error(c, MHD_HTTP_UNAUTHORIZED, "a bearer token (http.token) is required");
    if (!strcmp(url, "/metrics"))
        return serve_metrics(c);
    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
        if (!strcmp(url, api_routes[i].path))
            return api_routes[i].serve(h, c);
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
    h->redis.cluster_mode = cfg->redis_cluster;
    h->cfg = cfg;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "http.listen: cannot listen on %s", cfg->http_listen);
        lw_redis_free_url(&h->redis);
        free(h);
        return NULL;
    }
    lw_info("http server on %s: /healthz /readyz /metrics /api/*%s", cfg->http_listen,
            *cfg->http_token
                ? " (all but /healthz /readyz and the dashboard's files need the token)"
                : "");
    return h;
}

void lw_http_stop(lw_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    lw_redis_close(&h->redis);
    lw_redis_free_url(&h->redis);
    free(h);
}
