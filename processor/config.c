/* config.c — every setting in one declarative table: defaults, validation, the JSON file,
 * LEAKWATCH_* environment variables, flags, --help and the dump all come from it. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* CFG_DECIMAL: a decimal number with at most 4 fractional digits, held as an integer of
 * ten-thousandths (0.4 -> 4000), so no rule computes with it in floating point. CFG_LIST:
 * kept comma separated; a JSON array of strings in the file. */
typedef enum {
    CFG_STRING,
    CFG_INT,
    CFG_BOOL,
    CFG_DURATION,
    CFG_ENUM,
    CFG_DECIMAL,
    CFG_LIST
} cfg_type;

typedef struct cfg_entry {
    const char *key;
    cfg_type type;
    const char *def;
    const char *desc;
    size_t offset;    /* into lw_config, or lw_tenant_settings when per_tenant */
    bool per_tenant;  /* may be overridden under "tenants": {"<name>": {...}} */
    int64_t min, max; /* CFG_INT; CFG_DECIMAL in ten-thousandths; CFG_DURATION: a min > 0 is the
                         least allowed */
    const char *const *choices; /* CFG_ENUM: NULL-terminated, stored as the index */
} cfg_entry;

static const char *const clock_choices[] = {"wall", "event", NULL};
static const char *const cluster_choices[] = {"auto", "on", "off", NULL}; /* lw_cluster_mode */
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_choices[] = {"logfmt", "json", NULL};
static const char *const rebuild_choices[] = {"refuse", "replay", NULL};

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
     "Redis 7: redis://[[user]:password@]host:port[/db] (user and password %XX-escaped; an "
     "ACL user gets AUTH user password)",
     G(redis_url), 0, 0, NULL},
    {"redis.timeout", CFG_DURATION, "5s", "Redis connect and command timeout", G(redis_timeout_ms),
     0, 0, NULL},
    {"state.rebuild", CFG_ENUM, "refuse",
     "Redis holds no state but the group ran before: refuse (stop, exit 4) or replay (rebuild "
     "from the earliest retained offsets)",
     G(state_rebuild), 0, 0, rebuild_choices},
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
    {"input.end_grace", CFG_DURATION, "500ms",
     "clock=event: how long a partition read to its end still holds back an event buffered "
     "after it (a live feed's next message may be older), and how long no input at all "
     "must arrive before the input counts as ended (0: a partition at its end holds nothing)",
     G(input.end_grace_ms), 0, 0, NULL},
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
    {"http.token", CFG_STRING, "",
     "bearer token every HTTP path but /healthz, /readyz and the dashboard's files requires "
     "(empty: none)",
     G(http_token), 0, 0, NULL},
    {"http.token_file", CFG_STRING, "",
     "a file holding http.token (its first line), instead of the setting", G(http_token_file), 0, 0,
     NULL},
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
    {"tenants.pattern", CFG_STRING, "[A-Za-z0-9._-]{1,64}",
     "tenant ids accepted (POSIX extended regular expression, anchored); others go to the "
     "dead-letter topic as invalid_tenant",
     G(tenants_pattern), 0, 0, NULL},
    {"tenants.allow", CFG_LIST, "",
     "the only tenants accepted (a list; empty: any the pattern matches); others go to the "
     "dead-letter topic as unknown_tenant",
     G(tenants_allow), 0, 0, NULL},
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
    {"deal.stages", CFG_STRING, "",
     "the funnel's stage order per pipeline: \"default=proposal,negotiation,contract;...\" "
     "(\\, a comma in a name; unlisted stages follow in the order first seen)",
     T(deal_stages), 0, 0, NULL},
    {"state.retention", CFG_DURATION, "400d",
     "how long an entity is kept after its last event (open deals and unresolved tasks: while "
     "open)",
     T(retention_ms), 86400000, 0, NULL},
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
    {"leak.margin", CFG_DECIMAL, "0.4",
     "the margin on revenue the leak estimate takes lost revenue at (0..1)", T(leak_margin_e4), 0,
     10000, NULL},
    {"leak.lifetime_purchases", CFG_DECIMAL, "1",
     "purchases a client makes in its lifetime: the leak estimate's lifetime value (1..1000)",
     T(leak_lifetime_e4), 10000, 10000000, NULL},
    {"leak.unanswered_after", CFG_DURATION, "24h",
     "a lead with no response at all this long counts as lost in the leak estimate",
     T(leak_unanswered_ms), 0, 0, NULL},
    {"leak.conversion_window", CFG_DURATION, "90d",
     "the leak estimate's conversion: won deals / leads over this trailing window",
     T(leak_window_ms), 0, 0, NULL},
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

static void format_decimal(int64_t e4, char out[32])
{
    int n = snprintf(out, 32, "%lld.%04lld", (long long)(e4 / 10000), (long long)(e4 % 10000));
    while (out[n - 1] == '0')
        out[--n] = '\0';
    if (out[n - 1] == '.')
        out[n - 1] = '\0';
}

static void describe_expected(const cfg_entry *e, char *out, size_t outlen)
{
    switch (e->type) {
    case CFG_STRING:
        snprintf(out, outlen, "a string");
        break;
    case CFG_LIST:
        snprintf(out, outlen, "a list of strings (comma separated)");
        break;
    case CFG_INT:
        snprintf(out, outlen, "an integer in %lld..%lld", (long long)e->min, (long long)e->max);
        break;
    case CFG_BOOL:
        snprintf(out, outlen, "true or false");
        break;
    case CFG_DURATION:
        if (e->min > 0) {
            char least[32];
            lw_duration_format(e->min, least);
            snprintf(out, outlen, "a duration of at least %s", least);
        } else
            snprintf(out, outlen, "a duration like 250ms, 15s, 30m, 24h, 90d or 0");
        break;
    case CFG_DECIMAL: {
        char lo[32], hi[32];
        format_decimal(e->min, lo);
        format_decimal(e->max, hi);
        snprintf(out, outlen, "a decimal number in %s..%s, at most 4 digits after the point", lo,
                 hi);
        break;
    }
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

/* "0.4", "10", "0.0125": digits, at most 4 after the point, within the entry's bounds. */
static bool parse_decimal(const cfg_entry *e, const char *v, int64_t *out)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, frac_digits = 0;
    const char *p = v;
    for (; isdigit((unsigned char)*p) && digits < 12; p++, digits++)
        whole = whole * 10 + (*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p) && frac_digits < 4; p++, frac_digits++)
            frac = frac * 10 + (*p - '0');
    if (*p || (digits == 0 && frac_digits == 0))
        return false;
    for (int i = frac_digits; i < 4; i++)
        frac *= 10;
    int64_t x = whole * 10000 + frac;
    if (x < e->min || x > e->max)
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
    case CFG_LIST:
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
        ok = lw_duration_parse(v, (int64_t *)field) && *(int64_t *)field >= e->min;
        break;
    case CFG_ENUM:
        ok = parse_enum(e, v, (int64_t *)field);
        break;
    case CFG_DECIMAL:
        ok = parse_decimal(e, v, (int64_t *)field);
        break;
    }
    if (!ok) {
        char expected[160];
        describe_expected(e, expected, sizeof(expected));
        snprintf(err, errlen, "config: %s (%s) expects %s, got '%s'", e->key, origin, expected,
                 lw_redacted(e->key, v));
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

/* A JSON array of strings as a list setting's text: comma separated. */
static bool list_text(const json_t *v, char *out, size_t outlen)
{
    size_t i, n = 0;
    json_t *item;
    out[0] = '\0';
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (!s || strchr(s, ','))
            return false;
        n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", i ? "," : "", s);
    }
    return n < outlen;
}

/* A JSON scalar as the text a flag would give; false for arrays, objects and null. */
static bool scalar_text(const json_t *v, char *out, size_t outlen)
{
    if (json_is_string(v))
        snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_real(v)) /* 0.4 as "0.4", not its binary expansion */
        snprintf(out, outlen, "%.15g", json_real_value(v));
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
                        char *err, size_t errlen);

/* A member of "tenants" that names a setting (tenants.pattern, tenants.allow), not a tenant. */
static bool tenants_setting(const char *name)
{
    char key[80];
    snprintf(key, sizeof(key), "tenants.%s", name);
    return find_entry(key) != NULL;
}

static bool load_tenants_settings(lw_config *cfg, const json_t *tenants, const char *origin,
                                  char *err, size_t errlen)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)tenants, name, v)
    {
        char key[80];
        snprintf(key, sizeof(key), "tenants.%s", name);
        if (tenants_setting(name) && !load_member(cfg, key, v, origin, err, errlen))
            return false;
    }
    return true;
}

static bool load_member(lw_config *cfg, const char *path, const json_t *v, const char *origin,
                        char *err, size_t errlen)
{
    const char *last = strrchr(path, '.');
    if (!strncmp(last ? last + 1 : path, "//", 2))
        return true; /* "//": "..." is a comment: JSON has none of its own */
    const cfg_entry *e = find_entry(path);
    char text[1024];
    if (e) {
        bool list = e->type == CFG_LIST && json_is_array(v);
        if (!(list ? list_text(v, text, sizeof(text)) : scalar_text(v, text, sizeof(text)))) {
            snprintf(err, errlen, "config: %s (%s) expects %s", path, origin,
                     list ? "an array of strings without commas" : "a scalar value");
            return false;
        }
        return set_value(e, field_ptr(e, cfg, &cfg->tenant_defaults), text, origin, err, errlen);
    }
    if (!strcmp(path, "tenants") && json_is_object(v)) {
        /* "tenants": {"pattern": ...} are settings now; the tenants are read last, so a tenant
         * inherits top-level values set later, by env or by flag */
        if (!load_tenants_settings(cfg, v, origin, err, errlen))
            return false;
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
    if (!lw_tenant_lists_parse(ts, why, sizeof(why)) ||
        !lw_funnel_stages_normalize(&ts->deal_stages, why, sizeof(why))) {
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
    lw_redis_free_url(&r);
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

/* A tenant given settings must be one whose events are accepted. */
static bool tenant_admitted(const lw_config *cfg, const char *name, char *err, size_t errlen)
{
    lw_reject_reason r = lw_tenant_policy_check(cfg->tenant_policy, name);
    if (r == LW_REJECT_NONE)
        return true;
    snprintf(err, errlen, "config: tenants.%s: the tenant %s", name,
             r == LW_REJECT_INVALID_TENANT ? "does not match tenants.pattern"
                                           : "is not in tenants.allow");
    return false;
}

/* http.token_file: its first line is http.token. Both set, an unreadable or empty file are
 * refused. */
static bool read_token_file(lw_config *cfg, char *err, size_t errlen)
{
    if (!*cfg->http_token_file)
        return true;
    if (*cfg->http_token) {
        snprintf(err, errlen, "config: http.token_file: http.token is set too; give one of them");
        return false;
    }
    FILE *f = fopen(cfg->http_token_file, "r");
    char line[1024] = "";
    bool ok = f && fgets(line, sizeof(line), f);
    if (f)
        fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || !*line) {
        snprintf(err, errlen, "config: http.token_file: cannot read a token from '%s'",
                 cfg->http_token_file);
        return false;
    }
    free(cfg->http_token);
    cfg->http_token = strdup(line);
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
    if (!prepare_tenant(&cfg->tenant_defaults, err, errlen) || !read_token_file(cfg, err, errlen))
        return false;
    cfg->tenant_policy =
        lw_tenant_policy_new(cfg->tenants_pattern, cfg->tenants_allow, err, errlen);
    if (!cfg->tenant_policy)
        return false;
    for (size_t i = 0; i < cfg->tenants_n; i++)
        if (!tenant_admitted(cfg, cfg->tenants[i].name, err, errlen) ||
            !prepare_tenant(&cfg->tenants[i], err, errlen))
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
        if (!tenants_setting(name) && !load_tenant(cfg, name, t, path, err, errlen))
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
    lw_tenant_policy_free(cfg->tenant_policy);
    for (size_t i = 0; i < TABLE_N; i++) {
        if ((table[i].type == CFG_STRING || table[i].type == CFG_LIST) && !table[i].per_tenant)
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
        fprintf(out, "  --%-28s %s%s%s\n  %-30s env %s, default '%s'\n", e->key, e->desc,
                e->per_tenant ? " (per tenant)" : "",
                lw_secret_key(e->key) ? " (secret: printed as ***)" : "", "", env,
                lw_redacted(e->key, e->def));
    }
    fprintf(
        out,
        "  --kafka.<property>             any librdkafka property, passed through (*.password,\n"
        "                                 *.secret, *.pem printed as ***)\n"
        "  -X <property>=<value>          the same, kcat style\n"
        "  Per-tenant overrides live in the config file: "
        "\"tenants\": {\"acme\": {\"lead.idle_after\": \"10m\"}}\n");
}

static json_t *list_json(const char *list)
{
    json_t *a = json_array();
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (len)
            json_array_append_new(a, json_stringn(s, len));
        s += len + (s[len] == ',');
    }
    return a;
}

static json_t *value_json(const cfg_entry *e, const void *field)
{
    char text[32];
    switch (e->type) {
    case CFG_STRING:
        return json_string(lw_redacted(e->key, *(char *const *)field));
    case CFG_LIST:
        return list_json(*(char *const *)field);
    case CFG_INT:
        return json_integer(*(const int64_t *)field);
    case CFG_BOOL:
        return json_boolean(*(const bool *)field);
    case CFG_DURATION:
        lw_duration_format(*(const int64_t *)field, text);
        return json_string(text);
    case CFG_ENUM:
        return json_string(e->choices[*(const int64_t *)field]);
    case CFG_DECIMAL:
        format_decimal(*(const int64_t *)field, text);
        return json_string(text);
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
        json_object_set_new(root, key, json_string(lw_redacted(key, cfg->kafka_props[i].value)));
    }
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
}
