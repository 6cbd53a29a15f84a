/* config.c — every setting in one declarative table: defaults, validation, the JSON file,
 * LEAKWATCH_* environment variables, flags, --help and the dump all come from it. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

typedef enum { CFG_STRING, CFG_INT, CFG_BOOL, CFG_DURATION, CFG_ENUM } cfg_type;

typedef struct cfg_entry {
    const char *key;
    cfg_type type;
    const char *def;
    const char *desc;
    size_t offset;              /* into lw_config, or lw_tenant_settings when per_tenant */
    bool per_tenant;            /* may be overridden under "tenants": {"<name>": {...}} */
    int64_t min, max;           /* CFG_INT */
    const char *const *choices; /* CFG_ENUM: NULL-terminated, stored as the index */
} cfg_entry;

static const char *const clock_choices[] = {"wall", "event", NULL};
static const char *const cluster_choices[] = {"auto", "on", "off", NULL}; /* lw_cluster_mode */
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_choices[] = {"logfmt", "json", NULL};

#define G(field) offsetof(lw_config, field), false
#define T(field) offsetof(lw_tenant_settings, field), true
/* A TOPIC row of LW_DERIVED_TYPES as the entry of its setting. */
#define TOPIC_ENTRY(id, key, def, cleanup, what)                                                   \
    {key, CFG_STRING, def, "output topic of " what, G(topic_of[LW_TOPIC_##id]), 0, 0, NULL},

static const cfg_entry table[] = {
    {"kafka.brokers", CFG_STRING, "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)",
     G(kafka_brokers), 0, 0, NULL},
    {"group.id", CFG_STRING, "leakwatch", "consumer group shared by all instances", G(group_id), 0,
     0, NULL},
    {"topics.input", CFG_STRING, "crm.leads,crm.calls,crm.tasks,crm.deals",
     "input topics, comma separated (events are routed by type, not by topic)", G(topics_input), 0,
     0, NULL},
    {"topics.dlq", CFG_STRING, "crm.dlq", "dead-letter topic for input that cannot be processed",
     G(topic_dlq), 0, 0, NULL},
    /* clang-format off */
    LW_DERIVED_TYPES(TOPIC_ENTRY, LW_DERIVED_SKIP)
    /* clang-format on */
    {"redis.url", CFG_STRING, "redis://127.0.0.1:6379",
     "Redis 7: redis://[:password@]host:port[/db]", G(redis_url), 0, 0, NULL},
    {"redis.timeout", CFG_DURATION, "5s", "Redis connect and command timeout", G(redis_timeout_ms),
     0, 0, NULL},
    {"redis.cluster", CFG_ENUM, "auto",
     "Redis Cluster: auto (the server's INFO cluster decides), on (required) or off",
     G(redis_cluster), 0, 0, cluster_choices},
    {"clock", CFG_ENUM, "wall",
     "what 'now' is for deadlines: wall (live) or event (watermark; replay, backfill, tests)",
     G(clock), 0, 0, clock_choices},
    {"clock.lateness", CFG_DURATION, "0", "allowed lateness subtracted from the event clock",
     G(clock_lateness_ms), 0, 0, NULL},
    {"batch.size", CFG_INT, "1000", "most messages applied in one Redis round trip", G(batch_size),
     1, 100000, NULL},
    {"batch.timeout", CFG_DURATION, "50ms", "longest wait to fill a batch", G(batch_timeout_ms), 0,
     0, NULL},
    {"input.max_bytes", CFG_INT, "1048576", "larger input messages go to the dead-letter topic",
     G(input_max_bytes), 1, 100000000, NULL},
    {"input.buffer_bytes", CFG_INT, "8388608",
     "input buffered for the event-time merge, all partitions together (a partition is "
     "paused over its share)",
     G(input.buffer_bytes), 65536, INT64_C(1) << 40, NULL},
    {"input.max_idle", CFG_DURATION, "1s",
     "clock=wall: how long a partition with nothing buffered holds the event-time merge; "
     "an older event read later is late (clock=event: until it delivers)",
     G(input.max_idle_ms), 0, 0, NULL},
    {"input.max_lead", CFG_DURATION, "0",
     "how far this instance may apply events ahead of the partitions other instances own "
     "(0: in lockstep, exact across instances)",
     G(input.max_lead_ms), 0, 0, NULL},
    {"timers.interval", CFG_DURATION, "250ms", "how often due deadlines are checked",
     G(timers_interval_ms), 0, 0, NULL},
    {"timers.batch", CFG_INT, "1000", "most deadlines fired per tenant per check", G(timers_batch),
     1, 100000, NULL},
    {"outbox.batch", CFG_INT, "500", "most derived events read from the outbox at once",
     G(outbox_batch), 1, 100000, NULL},
    {"outbox.claim_idle", CFG_DURATION, "30s",
     "derived events left unacknowledged this long by a dead instance are taken over",
     G(outbox_claim_idle_ms), 0, 0, NULL},
    {"instance.id", CFG_STRING, "", "this instance's name in the outbox group (default: hostname)",
     G(instance_id), 0, 0, NULL},
    {"log.level", CFG_ENUM, "info", "debug, info, warn or error", G(log_level), 0, 0,
     level_choices},
    {"log.format", CFG_ENUM, "logfmt", "logfmt or json", G(log_format), 0, 0, format_choices},
    {"stats.interval", CFG_DURATION, "30s", "how often a stats line is logged (0: never)",
     G(stats_interval_ms), 0, 0, NULL},
    {"http.listen", CFG_STRING, "",
     "serve /healthz /readyz /metrics and the JSON API on ipv4:port (empty: off)", G(http_listen),
     0, 0, NULL},
    {"replay.from", CFG_STRING, "",
     "start newly assigned partitions at this time (RFC 3339), e.g. for a backfill", G(replay_from),
     0, 0, NULL},
    {"replay.output", CFG_STRING, "topics",
     "where a replay's derived events and dead letters go: topics (the configured ones), none "
     "(state only: the outbox is drained, nothing produced) or a prefix of every output topic "
     "(replay.)",
     G(replay_output), 0, 0, NULL},
    {"replay.keep_group", CFG_BOOL, "false",
     "keep a replay's consumer group when it ends (default: deleted, best-effort)",
     G(replay_keep_group), 0, 0, NULL},
    {"until_end", CFG_BOOL, "false",
     "exit once every input partition is read to its end and the outbox is drained (replay)",
     G(until_end), 0, 0, NULL},
    {"shutdown.timeout", CFG_DURATION, "5s",
     "after SIGTERM, longest wait for the group to be left and derived events delivered (what "
     "is not, is redone after the restart)",
     G(shutdown_timeout_ms), 0, 0, NULL},
    {"lead.idle_after", CFG_DURATION, "30m", "a new lead with no response this long is idle",
     T(lead_idle_ms), 0, 0, NULL},
    {"lead.callback_after", CFG_DURATION, "15m",
     "a lead with no response this long gets a call-back request", T(lead_callback_ms), 0, 0, NULL},
    {"currency", CFG_STRING, "RUB", "currency of amounts that name none (ISO 4217)", T(currency), 0,
     0, NULL},
    {"phone.region", CFG_STRING, "RU",
     "region of phone numbers written without + (ISO 3166: KZ, RU, IN...)", T(phone_region), 0, 0,
     NULL},
    {"dedup.window", CFG_DURATION, "90d",
     "a lead matching an earlier one's phone or e-mail this recent is a duplicate",
     T(dedup_window_ms), 0, 0, NULL},
    {"lead.untracked_after", CFG_DURATION, "15m",
     "an inbound call from an unknown phone with no lead this long after is untracked",
     T(untracked_after_ms), 0, 0, NULL},
    {"timezone", CFG_STRING, "UTC", "IANA time zone of the loss totals' days and months",
     T(timezone), 0, 0, NULL},
    {"deal.stalled_after", CFG_DURATION, "7d", "an open deal this long in one stage is stalled",
     T(stalled_after_ms), 0, 0, NULL},
    {"deal.stage_limits", CFG_STRING, "", "per-stage limits: \"proposal=3d;contract=14d\"",
     T(stage_limits), 0, 0, NULL},
    {"deal.no_next_step_after", CFG_DURATION, "24h",
     "an open deal with no open task this long has no next step", T(no_next_step_ms), 0, 0, NULL},
    {"loss.nontarget", CFG_STRING, "spam=Спам;duplicate=Дубль",
     "loss reasons excluded from every total (\"id=Name;...\", case-insensitive)",
     T(loss_nontarget), 0, 0, NULL},
    {"loss.manageable", CFG_STRING,
     "no_answer_3_times=Не отвечает более 3-х раз;chose_competitor=Выбрал других",
     "loss reasons the sales team could have prevented", T(loss_manageable), 0, 0, NULL},
    {"loss.objective", CFG_STRING,
     "not_now=Хочет, но не сейчас;service_not_offered=Нет у нас услуги;"
     "no_need=Целевой, но нет потребности;schedule_mismatch=Не подходит график;"
     "do_not_call=Больше не звонить",
     "loss reasons nobody could have prevented", T(loss_objective), 0, 0, NULL},
    {"managers", CFG_STRING, "", "managers' names on the dashboard: \"id=Name;...\"", T(managers),
     0, 0, NULL},
    {"crm.url_template", CFG_STRING, "",
     "a deal's page in the CRM, linked from the dashboard: \"https://crm/deals/{deal_id}\"",
     T(crm_url_template), 0, 0, NULL},
};

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))
#define TABLE_N    ARRAY_N(table)

static const cfg_entry *find_entry(const char *key)
{
    for (size_t i = 0; i < TABLE_N; i++)
        if (!strcmp(table[i].key, key))
            return &table[i];
    return NULL;
}

static void *field_ptr(const cfg_entry *e, lw_config *cfg, lw_tenant_settings *ts)
{
    return e->per_tenant ? (char *)ts + e->offset : (char *)cfg + e->offset;
}

/* "LEAKWATCH_" + key upper-cased, dots as underscores. */
static void env_name(const char *key, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "LEAKWATCH_");
    for (; *key && n + 1 < outlen; key++)
        out[n++] = *key == '.' ? '_' : (char)toupper((unsigned char)*key);
    out[n] = '\0';
}

static void describe_expected(const cfg_entry *e, char *out, size_t outlen)
{
    switch (e->type) {
    case CFG_STRING:
        snprintf(out, outlen, "a string");
        break;
    case CFG_INT:
        snprintf(out, outlen, "an integer in %lld..%lld", (long long)e->min, (long long)e->max);
        break;
    case CFG_BOOL:
        snprintf(out, outlen, "true or false");
        break;
    case CFG_DURATION:
        snprintf(out, outlen, "a duration like 250ms, 15s, 30m, 24h, 90d or 0");
        break;
    case CFG_ENUM: {
        size_t n = (size_t)snprintf(out, outlen, "one of");
        for (const char *const *c = e->choices; *c && n < outlen; c++)
            n += (size_t)snprintf(out + n, outlen - n, "%s %s", c == e->choices ? "" : ",", *c);
        break;
    }
    }
}

static bool parse_enum(const cfg_entry *e, const char *v, int64_t *out)
{
    for (int64_t i = 0; e->choices[i]; i++) {
        if (!strcasecmp(e->choices[i], v)) {
            *out = i;
            return true;
        }
    }
    return false;
}

static bool parse_int(const cfg_entry *e, const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < e->min || x > e->max)
        return false;
    *out = x;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
        *out = false;
    else
        return false;
    return true;
}

/* Sets one value given as text. origin says where it came from, for the error. */
static bool set_value(const cfg_entry *e, void *field, const char *v, const char *origin, char *err,
                      size_t errlen)
{
    bool ok = true;
    switch (e->type) {
    case CFG_STRING:
        free(*(char **)field);
        *(char **)field = strdup(v);
        break;
    case CFG_INT:
        ok = parse_int(e, v, (int64_t *)field);
        break;
    case CFG_BOOL:
        ok = parse_bool(v, (bool *)field);
        break;
    case CFG_DURATION:
        ok = lw_duration_parse(v, (int64_t *)field);
        break;
    case CFG_ENUM:
        ok = parse_enum(e, v, (int64_t *)field);
        break;
    }
    if (!ok) {
        char expected[160];
        describe_expected(e, expected, sizeof(expected));
        snprintf(err, errlen, "config: %s (%s) expects %s, got '%s'", e->key, origin, expected, v);
    }
    return ok;
}

/* ------------------------------ kafka.* passthrough ------------------------------ */

static void set_kafka_prop(lw_config *cfg, const char *prop, const char *value)
{
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        if (!strcmp(cfg->kafka_props[i].key, prop)) {
            free(cfg->kafka_props[i].value);
            cfg->kafka_props[i].value = strdup(value);
            return;
        }
    }
    cfg->kafka_props = realloc(cfg->kafka_props, (cfg->kafka_props_n + 1) * sizeof(lw_kv));
    cfg->kafka_props[cfg->kafka_props_n++] = (lw_kv){strdup(prop), strdup(value)};
}

/* ------------------------------ the JSON file ------------------------------ */

/* A JSON scalar as the text a flag would give; false for arrays, objects and null. */
static bool scalar_text(const json_t *v, char *out, size_t outlen)
{
    if (json_is_string(v))
        snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    return true;
}

/* A tenant starts as a copy of the defaults, its strings its own; its lists are parsed from
 * them once every layer is read. */
static void copy_tenant(lw_tenant_settings *dst, const lw_tenant_settings *src)
{
    *dst = *src;
    dst->lists = NULL;
    for (size_t i = 0; i < TABLE_N; i++) {
        if (table[i].per_tenant && table[i].type == CFG_STRING) {
            char **field = (char **)field_ptr(&table[i], NULL, dst);
            *field = strdup(*field);
        }
    }
}

static void free_tenant(lw_tenant_settings *ts)
{
    lw_tenant_lists_free(ts);
    for (size_t i = 0; i < TABLE_N; i++)
        if (table[i].per_tenant && table[i].type == CFG_STRING)
            free(*(char **)field_ptr(&table[i], NULL, ts));
}

static bool load_tenant(lw_config *cfg, const char *name, const json_t *obj, const char *origin,
                        char *err, size_t errlen)
{
    if (!json_is_object(obj) || strlen(name) >= sizeof(cfg->tenants[0].name)) {
        snprintf(err, errlen, "config: tenants.%s (%s) expects an object of per-tenant settings",
                 name, origin);
        return false;
    }
    cfg->tenants = realloc(cfg->tenants, (cfg->tenants_n + 1) * sizeof(lw_tenant_settings));
    lw_tenant_settings *ts = &cfg->tenants[cfg->tenants_n++];
    copy_tenant(ts, &cfg->tenant_defaults);
    snprintf(ts->name, sizeof(ts->name), "%s", name);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const cfg_entry *e = find_entry(key);
        char text[1024];
        if (!strncmp(key, "//", 2))
            continue; /* a comment */
        if (!e || !e->per_tenant) {
            snprintf(err, errlen, "config: tenants.%s.%s (%s) is not a per-tenant setting", name,
                     key, origin);
            return false;
        }
        if (!scalar_text(v, text, sizeof(text))) {
            snprintf(err, errlen, "config: tenants.%s.%s (%s) expects a scalar", name, key, origin);
            return false;
        }
        if (!set_value(e, field_ptr(e, cfg, ts), text, origin, err, errlen))
            return false;
    }
    return true;
}

static bool load_object(lw_config *cfg, const json_t *obj, const char *prefix, const char *origin,
                        char *err, size_t errlen);

static bool load_member(lw_config *cfg, const char *path, const json_t *v, const char *origin,
                        char *err, size_t errlen)
{
    const char *last = strrchr(path, '.');
    if (!strncmp(last ? last + 1 : path, "//", 2))
        return true; /* "//": "..." is a comment: JSON has none of its own */
    const cfg_entry *e = find_entry(path);
    char text[1024];
    if (e) {
        if (!scalar_text(v, text, sizeof(text))) {
            snprintf(err, errlen, "config: %s (%s) expects a scalar value", path, origin);
            return false;
        }
        return set_value(e, field_ptr(e, cfg, &cfg->tenant_defaults), text, origin, err, errlen);
    }
    if (!strcmp(path, "tenants") && json_is_object(v)) {
        /* read last, so a tenant inherits top-level values set later, by env or by flag */
        json_decref(cfg->tenants_json);
        cfg->tenants_json = json_incref((json_t *)v);
        return true;
    }
    if (json_is_object(v))
        return load_object(cfg, v, path, origin, err, errlen);
    if (!strncmp(path, "kafka.", 6) && scalar_text(v, text, sizeof(text))) {
        set_kafka_prop(cfg, path + 6, text);
        return true;
    }
    snprintf(err, errlen, "config: %s (%s) is not a known setting (see leakwatch --help)", path,
             origin);
    return false;
}

/* Nested objects are read as dotted keys: {"kafka": {"brokers": ...}} is "kafka.brokers". */
static bool load_object(lw_config *cfg, const json_t *obj, const char *prefix, const char *origin,
                        char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char path[512];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        if (!load_member(cfg, path, v, origin, err, errlen))
            return false;
    }
    return true;
}

static bool load_file(lw_config *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "config: cannot read %s: %s (line %d)", path, jerr.text, jerr.line);
        return false;
    }
    bool ok = json_is_object(root);
    if (!ok)
        snprintf(err, errlen, "config: %s must hold a JSON object", path);
    else
        ok = load_object(cfg, root, "", path, err, errlen);
    json_decref(root);
    return ok;
}

/* ------------------------------ environment and flags ------------------------------ */

static bool load_env(lw_config *cfg, char **envp, char *err, size_t errlen)
{
    for (char **ep = envp; ep && *ep; ep++) {
        if (strncmp(*ep, "LEAKWATCH_", 10) != 0)
            continue;
        const char *eq = strchr(*ep, '=');
        if (!eq)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *ep), *ep);
        const cfg_entry *e = NULL;
        for (size_t i = 0; i < TABLE_N && !e; i++) {
            char en[256];
            env_name(table[i].key, en, sizeof(en));
            if (!strcmp(en, name))
                e = &table[i];
        }
        if (e) {
            if (!set_value(e, field_ptr(e, cfg, &cfg->tenant_defaults), eq + 1, name, err, errlen))
                return false;
        } else if (!strncmp(name, "LEAKWATCH_KAFKA_", 16)) {
            /* librdkafka properties are dotted and lower-case: SECURITY_PROTOCOL. */
            char prop[256];
            size_t n = 0;
            for (const char *p = name + 16; *p && n + 1 < sizeof(prop); p++)
                prop[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
            prop[n] = '\0';
            set_kafka_prop(cfg, prop, eq + 1);
        } else {
            snprintf(err, errlen, "config: environment variable %s is not a known setting", name);
            return false;
        }
    }
    return true;
}

/* "--batch.size=10", "--batch.size 10", "--until-end" (a bare boolean), "-X prop=value". */
static bool load_flag(lw_config *cfg, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    if (!strcmp(arg, "-X")) {
        const char *kv = *i + 1 < argc ? argv[++*i] : "";
        const char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "config: -X expects kafka.property=value, got '%s'", kv);
            return false;
        }
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        set_kafka_prop(cfg, strncmp(key, "kafka.", 6) ? key : key + 6, eq + 1);
        return true;
    }
    if (strncmp(arg, "--", 2) != 0) {
        snprintf(err, errlen, "config: unexpected argument '%s'", arg);
        return false;
    }
    char key[256];
    const char *eq = strchr(arg, '=');
    snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - arg - 2) : (int)strlen(arg + 2), arg + 2);
    for (char *p = key; *p; p++)
        if (*p == '-')
            *p = '_';
    if (!strcmp(key, "config")) {
        if (!eq)
            ++*i;
        return true;
    }
    const cfg_entry *e = find_entry(key);
    const char *value = eq ? eq + 1 : NULL;
    if (!value && e && e->type == CFG_BOOL)
        value = "true";
    if (!value && *i + 1 < argc)
        value = argv[++*i];
    if (!value) {
        snprintf(err, errlen, "config: flag --%s needs a value", key);
        return false;
    }
    if (!e && !strncmp(key, "kafka.", 6)) {
        set_kafka_prop(cfg, key + 6, value);
        return true;
    }
    if (!e) {
        snprintf(err, errlen, "config: --%s is not a known setting (see leakwatch --help)", key);
        return false;
    }
    char origin[300];
    snprintf(origin, sizeof(origin), "flag --%s", key);
    return set_value(e, field_ptr(e, cfg, &cfg->tenant_defaults), value, origin, err, errlen);
}

static bool load_defaults(lw_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < TABLE_N; i++) {
        const cfg_entry *e = &table[i];
        if (!set_value(e, field_ptr(e, cfg, &cfg->tenant_defaults), e->def, "default", err, errlen))
            return false;
    }
    return true;
}

/* A time zone glibc would silently read as UTC is refused instead. */
static bool timezone_known(const char *tz)
{
    char path[300];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return !strcmp(tz, "UTC") || (*tz && !strstr(tz, "..") && access(path, R_OK) == 0);
}

/* Checks the settings of a tenant (or the defaults, name "") that need more than a type
 * check, and parses its lists. */
static bool prepare_tenant(lw_tenant_settings *ts, char *err, size_t errlen)
{
    char where[80], why[300];
    snprintf(where, sizeof(where), "%s%s%s", *ts->name ? "tenants." : "", ts->name,
             *ts->name ? "." : "");
    if (!timezone_known(ts->timezone)) {
        snprintf(err, errlen, "config: %stimezone expects an IANA time zone, got '%s'", where,
                 ts->timezone);
        return false;
    }
    if (!lw_tenant_lists_parse(ts, why, sizeof(why))) {
        snprintf(err, errlen, "config: %s%s", where, why);
        return false;
    }
    return true;
}

/* What run would refuse only when it connects, refused here: a Redis URL it cannot parse, an
 * http.listen it cannot bind to, a kafka.* property librdkafka does not know (so `leakwatch
 * config` and every command refuse what `run` refuses, before any connection). */
static bool validate_connections(const lw_config *cfg, char *err, size_t errlen)
{
    lw_redis r;
    char why[300];
    bool ok = lw_redis_parse_url(cfg->redis_url, &r, why, sizeof(why));
    free(r.password);
    if (!ok) {
        snprintf(err, errlen, "config: %s", why);
        return false;
    }
    if (*cfg->http_listen && !lw_http_listen_valid(cfg->http_listen)) {
        snprintf(err, errlen, "config: http.listen expects ipv4:port, got '%s'", cfg->http_listen);
        return false;
    }
    rd_kafka_conf_t *conf = lw_kafka_conf(cfg, err, errlen);
    if (!conf)
        return false;
    rd_kafka_conf_destroy(conf);
    return true;
}

static bool validate(lw_config *cfg, char *err, size_t errlen)
{
    int64_t ms;
    if (*cfg->replay_from && !lw_rfc3339_parse(cfg->replay_from, &ms)) {
        snprintf(err, errlen, "config: replay.from expects an RFC 3339 time, got '%s'",
                 cfg->replay_from);
        return false;
    }
    if (!*cfg->replay_output) {
        snprintf(err, errlen, "config: replay.output expects topics, none or a topic prefix");
        return false;
    }
    if (!prepare_tenant(&cfg->tenant_defaults, err, errlen))
        return false;
    for (size_t i = 0; i < cfg->tenants_n; i++)
        if (!prepare_tenant(&cfg->tenants[i], err, errlen))
            return false;
    if (!*cfg->topics_input) {
        snprintf(err, errlen, "config: topics.input expects at least one topic");
        return false;
    }
    if (!*cfg->kafka_brokers) {
        snprintf(err, errlen, "config: kafka.brokers expects host:port");
        return false;
    }
    return validate_connections(cfg, err, errlen);
}

static bool load_layers(lw_config *cfg, const char *path, char **envp, int argc, char **argv,
                        char *err, size_t errlen)
{
    if (!load_defaults(cfg, err, errlen))
        return false;
    if (path && !load_file(cfg, path, err, errlen))
        return false;
    if (!load_env(cfg, envp, err, errlen))
        return false;
    for (int i = 0; i < argc; i++)
        if (!load_flag(cfg, argc, argv, &i, err, errlen))
            return false;
    const char *name;
    json_t *t;
    json_object_foreach(cfg->tenants_json, name, t)
    {
        if (!load_tenant(cfg, name, t, path, err, errlen))
            return false;
    }
    return validate(cfg, err, errlen);
}

bool lw_config_load(lw_config *cfg, const char *path, char **envp, int argc, char **argv, char *err,
                    size_t errlen)
{
    if (load_layers(cfg, path, envp, argc, argv, err, errlen))
        return true;
    lw_config_free(cfg); /* a refused config leaves nothing allocated */
    return false;
}

void lw_config_free(lw_config *cfg)
{
    for (size_t i = 0; i < TABLE_N; i++) {
        if (table[i].type == CFG_STRING && !table[i].per_tenant)
            free(*(char **)field_ptr(&table[i], cfg, NULL));
    }
    free_tenant(&cfg->tenant_defaults);
    for (size_t i = 0; i < cfg->tenants_n; i++)
        free_tenant(&cfg->tenants[i]);
    free(cfg->tenants);
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    json_decref(cfg->tenants_json);
    memset(cfg, 0, sizeof(*cfg));
}

const lw_tenant_settings *lw_config_tenant(const lw_config *cfg, const char *tenant)
{
    for (size_t i = 0; i < cfg->tenants_n; i++)
        if (!strcmp(cfg->tenants[i].name, tenant))
            return &cfg->tenants[i];
    return &cfg->tenant_defaults;
}

/* ------------------------------ topics ------------------------------ */

/* Each derived type's topic: the TYPE rows of LW_DERIVED_TYPES. */
static const struct {
    const char *type;
    lw_topic topic;
} routes[] = {
#define TYPE_ROUTE(type, topic, schema) {type, LW_TOPIC_##topic},
    LW_DERIVED_TYPES(LW_DERIVED_SKIP, TYPE_ROUTE)
#undef TYPE_ROUTE
};

const char *lw_config_topic_for(const lw_config *cfg, const char *type)
{
    for (size_t i = 0; i < ARRAY_N(routes); i++)
        if (!strcmp(routes[i].type, type))
            return cfg->topic_of[routes[i].topic];
    return NULL;
}

static void prefix_topic(char **topic, const char *prefix)
{
    size_t len = strlen(prefix) + strlen(*topic) + 1;
    char *t = malloc(len);
    snprintf(t, len, "%s%s", prefix, *topic);
    free(*topic);
    *topic = t;
}

void lw_config_apply_replay_output(lw_config *cfg)
{
    if (!strcmp(cfg->replay_output, "topics"))
        return;
    if (!strcmp(cfg->replay_output, "none")) {
        cfg->publish_none = true;
        return;
    }
    for (int i = 0; i < LW_TOPIC__COUNT; i++)
        prefix_topic(&cfg->topic_of[i], cfg->replay_output);
    prefix_topic(&cfg->topic_dlq, cfg->replay_output);
}

/* The settings that name topics, in the table's order. */
typedef struct topic_setting {
    const char *key;
    const char *cleanup; /* the cleanup.policy the topic wants */
    int output;          /* its lw_topic; -1 for the inputs and the dead letters */
} topic_setting;

#define TOPIC_SETTING(id, key, def, cleanup, what) {key, #cleanup, LW_TOPIC_##id},
static const topic_setting topic_settings[] = {
    {"topics.input", "delete", -1},
    {"topics.dlq", "delete", -1},
    /* clang-format off */
    LW_DERIVED_TYPES(TOPIC_SETTING, LW_DERIVED_SKIP)
    /* clang-format on */
};
#undef TOPIC_SETTING

typedef void topic_fn(const topic_setting *s, const char *topic, size_t len, void *ctx);

/* Calls fn for each topic that cfg (NULL: the defaults) names; topics.input names several,
 * split as consumer.c splits them. */
static void each_topic(const lw_config *cfg, topic_fn *fn, void *ctx)
{
    for (size_t i = 0; i < ARRAY_N(topic_settings); i++) {
        const cfg_entry *e = find_entry(topic_settings[i].key);
        const char *value = cfg ? *(char *const *)field_ptr(e, (lw_config *)cfg, NULL) : e->def;
        for (const char *t = value; *t;) {
            t += strspn(t, ", ");
            size_t n = strcspn(t, ", ");
            if (n)
                fn(&topic_settings[i], t, n, ctx);
            t += n;
        }
    }
}

static void append_topic(const topic_setting *s, const char *topic, size_t len, void *ctx)
{
    lw_buf *out = ctx;
    lw_buf_appendf(out, "%s%.*s", out->len ? "," : "", (int)len, topic);
}

void lw_config_topic_list(const lw_config *cfg, lw_buf *out)
{
    each_topic(cfg, append_topic, out);
}

static void print_topic(const topic_setting *s, const char *topic, size_t len, void *ctx)
{
    FILE *out = ctx;
    const char *sep = "";
    fprintf(out, "%.*s\t%s\t%s\t", (int)len, topic, s->key, s->cleanup);
    for (size_t i = 0; i < ARRAY_N(routes); i++) {
        if ((int)routes[i].topic == s->output) {
            fprintf(out, "%s%s", sep, routes[i].type);
            sep = " ";
        }
    }
    fputc('\n', out);
}

void lw_config_print_topics(const lw_config *cfg, FILE *out)
{
    each_topic(cfg, print_topic, out);
}

/* ------------------------------ help and dump ------------------------------ */

void lw_config_print_help(FILE *out)
{
    for (size_t i = 0; i < TABLE_N; i++) {
        const cfg_entry *e = &table[i];
        char env[256];
        env_name(e->key, env, sizeof(env));
        fprintf(out, "  --%-28s %s%s\n  %-30s env %s, default '%s'\n", e->key, e->desc,
                e->per_tenant ? " (per tenant)" : "", "", env, e->def);
    }
    fprintf(out, "  --kafka.<property>             any librdkafka property, passed through\n"
                 "  -X <property>=<value>          the same, kcat style\n"
                 "  Per-tenant overrides live in the config file: "
                 "\"tenants\": {\"acme\": {\"lead.idle_after\": \"10m\"}}\n");
}

static json_t *value_json(const cfg_entry *e, const void *field)
{
    char text[32];
    switch (e->type) {
    case CFG_STRING:
        return json_string(*(char *const *)field);
    case CFG_INT:
        return json_integer(*(const int64_t *)field);
    case CFG_BOOL:
        return json_boolean(*(const bool *)field);
    case CFG_DURATION:
        lw_duration_format(*(const int64_t *)field, text);
        return json_string(text);
    case CFG_ENUM:
        return json_string(e->choices[*(const int64_t *)field]);
    }
    return json_null();
}

void lw_config_dump(const lw_config *cfg, FILE *out)
{
    json_t *root = json_object();
    for (size_t i = 0; i < TABLE_N; i++)
        json_object_set_new(
            root, table[i].key,
            value_json(&table[i], field_ptr(&table[i], (lw_config *)cfg,
                                            (lw_tenant_settings *)&cfg->tenant_defaults)));
    json_t *tenants = json_object();
    for (size_t t = 0; t < cfg->tenants_n; t++) {
        json_t *obj = json_object();
        for (size_t i = 0; i < TABLE_N; i++)
            if (table[i].per_tenant)
                json_object_set_new(
                    obj, table[i].key,
                    value_json(&table[i], field_ptr(&table[i], NULL, &cfg->tenants[t])));
        json_object_set_new(tenants, cfg->tenants[t].name, obj);
    }
    json_object_set_new(root, "tenants", tenants);
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        char key[300];
        snprintf(key, sizeof(key), "kafka.%s", cfg->kafka_props[i].key);
        json_object_set_new(root, key, json_string(cfg->kafka_props[i].value));
    }
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
}
