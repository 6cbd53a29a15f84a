/*
 * leakwatch — a stream processor that shows where sales money leaks.
 *
 * One header, prototypes grouped by the file that defines them (as in Redis's
 * server.h). Follow one event through the sections in order:
 *
 *   consumer.c   polls the input topics into a buffer per partition
 *   input.c      makes each message an input: read in the content mode its headers say
 *                (binding.c), validated as a CloudEvent (event.c) and turned into one
 *                FCALL of the Redis library (transition.c)
 *   merge.c      releases the inputs in event-time order across partitions
 *   dlq.c        sends what cannot be processed to the dead-letter topic
 *   redis.c      sends a batch's FCALLs in one pipelined round trip; each FCALL first
 *                fires its tenant's deadlines due before it (bounded by watermark.c);
 *                on a Redis Cluster cluster.c routes each to its shard
 *   timers.c     fires due deadlines of every tenant between batches
 *   outbox.c     drains the derived events the library appended to the outbox
 *   envelope.c   wraps each one as a structured-mode CloudEvent
 *   producer.c   writes it to its output topic; the outbox entry is acked on delivery
 *   run.c        is the loop that ties these together
 */
#ifndef LEAKWATCH_H
#define LEAKWATCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "leakwatch/keys.h" /* generated from processor/keys.tab */

#define LW_VERSION "0.1.0"

/* Exit codes (also listed by `leakwatch --help`). */
enum {
    LW_EXIT_OK = 0,         /* clean shutdown */
    LW_EXIT_RUNTIME = 1,    /* a fatal error while running (logged) */
    LW_EXIT_CONFIG = 2,     /* bad command line or configuration */
    LW_EXIT_DEPENDENCY = 3, /* a dependency is unusable (e.g. Redis without Functions) */
    LW_EXIT_AMNESIA = 4     /* Redis lost leakwatch's state while the group ran before (epoch.c) */
};

/* The longest tenant id (tenants.pattern may only narrow it; tenant_policy.c). */
#define LW_TENANT_MAX 64

/* ================================ log.c ================================== */

typedef enum { LW_LOG_DEBUG, LW_LOG_INFO, LW_LOG_WARN, LW_LOG_ERROR, LW_LOG_FATAL } lw_log_level;
typedef enum { LW_LOG_LOGFMT, LW_LOG_JSON } lw_log_format;

void lw_log_setup(lw_log_level level, lw_log_format format);
bool lw_log_enabled(lw_log_level level);
void lw_log(lw_log_level level, const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Each line carries the function and line it came from. */
#define lw_debug(...)                                                                              \
    do {                                                                                           \
        if (lw_log_enabled(LW_LOG_DEBUG))                                                          \
            lw_log(LW_LOG_DEBUG, __func__, __LINE__, __VA_ARGS__);                                 \
    } while (0)
#define lw_info(...)  lw_log(LW_LOG_INFO, __func__, __LINE__, __VA_ARGS__)
#define lw_warn(...)  lw_log(LW_LOG_WARN, __func__, __LINE__, __VA_ARGS__)
#define lw_error(...) lw_log(LW_LOG_ERROR, __func__, __LINE__, __VA_ARGS__)
/* Logs and exits with LW_EXIT_RUNTIME. */
#define lw_fatal(...)                                                                              \
    do {                                                                                           \
        lw_log(LW_LOG_FATAL, __func__, __LINE__, __VA_ARGS__);                                     \
        exit(LW_EXIT_RUNTIME);                                                                     \
    } while (0)

/* ================================ buf.c ================================== */

/* A growable byte buffer; always NUL-terminated. */
typedef struct lw_buf {
    char *data;
    size_t len, cap;
} lw_buf;

void lw_buf_reserve(lw_buf *b, size_t extra);

/* Inline: the Redis commands and the envelopes are written a few bytes at a time, hundreds of
 * appends an event; only growing the buffer is a call. */
static inline void lw_buf_append(lw_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap)
        lw_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}
void lw_buf_appendf(lw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lw_buf_vappendf(lw_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void lw_buf_reset(lw_buf *b);
void lw_buf_free(lw_buf *b);

/* A list of byte strings kept in one buffer: the argv of one Redis command. */
typedef struct lw_argv {
    lw_buf bytes;
    size_t *offsets, *lens;
    size_t n, cap;
    const char **ptrs; /* filled by lw_argv_finish() */
} lw_argv;

void lw_argv_add(lw_argv *a, const char *s, size_t len);
void lw_argv_adds(lw_argv *a, const char *s);
void lw_argv_addi(lw_argv *a, int64_t v);
/* Writes v in decimal at out (room for 20 characters, no NUL); returns the length: what
 * lw_argv_addi and the RESP counts (redis.c) write, without printf. */
size_t lw_format_int(int64_t v, char *out);
void lw_argv_finish(lw_argv *a);
void lw_argv_reset(lw_argv *a);
void lw_argv_free(lw_argv *a);

/* ================================ timeutil.c ============================= */

/* Parses RFC 3339 ("2026-11-22T09:00:00Z", fractions and offsets allowed) into Unix ms. */
bool lw_rfc3339_parse(const char *s, int64_t *out_ms);
/* Formats Unix ms as "2026-11-22T09:00:00.000Z" (or without millis when whole seconds). */
void lw_rfc3339_format(int64_t ms, char out[32]);
/* Parses a duration "250ms", "15s", "30m", "24h", "90d", or "0". */
bool lw_duration_parse(const char *s, int64_t *out_ms);
void lw_duration_format(int64_t ms, char out[32]);
/* The local day ("2026-11-22") and month ("2026-11") of ms in an IANA time zone. */
void lw_local_period(int64_t ms, const char *timezone, char day[11], char month[8]);
int64_t lw_now_ms(void);
int64_t lw_monotonic_ms(void);
int64_t lw_monotonic_us(void);

/* ================================ money.c ================================ */

/* Parses a JSON number or decimal string with at most 2 fractional digits into minor units.
 * Never goes through floating point for strings; numbers are taken from their JSON text. */
bool lw_money_parse(const json_t *v, int64_t *out_minor);
void lw_money_format(int64_t minor, char out[32]); /* "412560.00" */

/* ================================ config.c =============================== */

typedef struct lw_tenant_lists lw_tenant_lists;   /* loss_reason.c */
typedef struct lw_tenant_policy lw_tenant_policy; /* tenant_policy.c */

/* Settings that a tenant may override ("tenants": {"acme": {"lead.idle_after": "10m"}}). */
typedef struct lw_tenant_settings {
    char name[LW_TENANT_MAX + 1];
    int64_t lead_idle_ms;
    int64_t lead_callback_ms;
    char *currency;
    char *timezone; /* IANA; loss totals are per day and month in it */
    int64_t stalled_after_ms;
    char *stage_limits; /* "stage=duration;..." overriding stalled_after per stage */
    char *deal_stages;  /* "pipeline=stage,stage;..." the funnel's order (funnel_stages.c) */
    int64_t no_next_step_ms;
    char *loss_nontarget; /* "id=Name;..." reasons of each class */
    char *loss_manageable;
    char *loss_objective;
    char *phone_region; /* region of phone numbers written without + ("KZ", "RU") */
    int64_t dedup_window_ms;
    int64_t untracked_after_ms;
    int64_t retention_ms;   /* state.retention: an entity is kept this long after its last event */
    char *managers;         /* "id=Name;..." the dashboard's names of managers */
    char *crm_url_template; /* a deal's page in the CRM: "https://crm/deals/{deal_id}" */
    int64_t leak_margin_e4; /* leak.estimate: margin, in ten-thousandths (0.4 -> 4000) */
    int64_t leak_lifetime_e4;   /* lifetime purchases, in ten-thousandths */
    int64_t leak_unanswered_ms; /* a lead with no response this long is lost */
    int64_t leak_window_ms;     /* the trailing window of the observed conversion */
    lw_tenant_lists *lists;     /* stage_limits and loss_*, parsed once all layers are read */
} lw_tenant_settings;

typedef enum { LW_CLOCK_WALL, LW_CLOCK_EVENT } lw_clock_mode;
typedef enum { LW_REBUILD_REFUSE, LW_REBUILD_REPLAY } lw_rebuild_mode;
typedef enum { LW_CLUSTER_AUTO, LW_CLUSTER_ON, LW_CLUSTER_OFF } lw_cluster_mode;

typedef struct lw_kv {
    char *key, *value;
} lw_kv;

/* Settings of the input merge (merge.c, consumer.c). */
typedef struct lw_input_settings {
    int64_t buffer_bytes; /* buffered input, all partitions together */
    int64_t max_idle_ms;  /* clock=wall: how long an empty partition holds the merge */
    int64_t max_lead_ms;  /* how far events may be applied ahead of other instances */
    int64_t end_grace_ms; /* clock=event: how long a partition at its end holds a head */
} lw_input_settings;

/* The derived event types and the output topics they go to, in one table: a TOPIC row is a
 * topic setting, the TYPE rows after it the types written to that topic. The topics.* settings
 * of the outputs, lw_config_topic_for, the broker's topics and `leakwatch topics` (which
 * deploy/demo.sh and the check of docker-compose.yml read) all come from here.
 *   TOPIC(id, setting, default topic, cleanup policy, what it carries: for --help)
 *   TYPE(derived type, the id of its topic, its JSON Schema under schemas/)
 * Aggregates are compacted: the latest event per key is the current state. */
#define LW_DERIVED_TYPES(TOPIC, TYPE)                                                              \
    TOPIC(LEAD_DUPLICATES, "topics.lead_duplicates", "crm.leads.duplicates", delete,               \
          "lead.duplicate")                                                                        \
    TYPE("lead.duplicate", LEAD_DUPLICATES, "derived/lead.duplicate.json")                         \
    TOPIC(LEAD_RESPONSE_TIMES, "topics.lead_response_times", "crm.leads.response-times", delete,   \
          "lead.responded")                                                                        \
    TYPE("lead.responded", LEAD_RESPONSE_TIMES, "derived/lead.responded.json")                     \
    TOPIC(LEAD_CALLBACK, "topics.lead_callback", "crm.alerts.lead-callback", delete,               \
          "lead.callback_due")                                                                     \
    TYPE("lead.callback_due", LEAD_CALLBACK, "derived/lead.callback_due.json")                     \
    TOPIC(LEAD_IDLE, "topics.lead_idle", "crm.alerts.lead-idle", delete, "lead.idle")              \
    TYPE("lead.idle", LEAD_IDLE, "derived/lead.idle.json")                                         \
    TOPIC(UNTRACKED_CONTACTS, "topics.untracked_contacts", "crm.alerts.untracked-contacts",        \
          delete, "lead.untracked_contact")                                                        \
    TYPE("lead.untracked_contact", UNTRACKED_CONTACTS, "derived/lead.untracked_contact.json")      \
    TOPIC(TASK_OVERDUE, "topics.task_overdue", "crm.alerts.task-overdue", delete,                  \
          "task.overdue and task.overdue_resolved")                                                \
    TYPE("task.overdue", TASK_OVERDUE, "derived/task.overdue.json")                                \
    TYPE("task.overdue_resolved", TASK_OVERDUE, "derived/task.overdue_resolved.json")              \
    TOPIC(DEAL_AT_RISK, "topics.deal_at_risk", "crm.alerts.deal-at-risk", delete,                  \
          "deal.at_risk and deal.risk_cleared")                                                    \
    TYPE("deal.at_risk", DEAL_AT_RISK, "derived/deal.at_risk.json")                                \
    TYPE("deal.risk_cleared", DEAL_AT_RISK, "derived/deal.risk_cleared.json")                      \
    TOPIC(LOSS_TOTALS, "topics.loss_totals", "crm.agg.loss-totals", compact, "loss.totals")        \
    TYPE("loss.totals", LOSS_TOTALS, "derived/loss.totals.json")                                   \
    TOPIC(RISK_SUMMARY, "topics.risk_summary", "crm.agg.risk-summary", compact, "risk.summary")    \
    TYPE("risk.summary", RISK_SUMMARY, "derived/risk.summary.json")                                \
    TOPIC(RESPONSE_STATS, "topics.response_stats", "crm.agg.response-stats", compact,              \
          "response.stats")                                                                        \
    TYPE("response.stats", RESPONSE_STATS, "derived/response.stats.json")                          \
    TOPIC(LEAK_ESTIMATE, "topics.leak_estimate", "crm.agg.leak-estimate", compact,                 \
          "leak.estimate")                                                                         \
    TYPE("leak.estimate", LEAK_ESTIMATE, "derived/leak.estimate.json")                             \
    TOPIC(FUNNEL, "topics.funnel", "crm.agg.funnel", compact, "funnel.summary")                    \
    TYPE("funnel.summary", FUNNEL, "derived/funnel.summary.json")                                  \
    TOPIC(MANAGERS, "topics.managers", "crm.agg.managers", compact, "manager.report")              \
    TYPE("manager.report", MANAGERS, "derived/manager.report.json")

/* Passed for the kind of row a use of LW_DERIVED_TYPES does not need. */
#define LW_DERIVED_SKIP(...)

/* The output topics: LW_TOPIC_LEAD_DUPLICATES, ... (TOPIC rows, in order). */
#define LW_TOPIC_ENUM(id, ...) LW_TOPIC_##id,
typedef enum { LW_DERIVED_TYPES(LW_TOPIC_ENUM, LW_DERIVED_SKIP) LW_TOPIC__COUNT } lw_topic;
#undef LW_TOPIC_ENUM

typedef struct lw_config {
    char *kafka_brokers;
    char *group_id;
    char *topics_input; /* comma separated */
    char *topic_dlq;
    char *topic_of[LW_TOPIC__COUNT]; /* the output topics, set by their TOPIC row's setting */
    char *redis_url;
    int64_t redis_timeout_ms;
    int64_t state_rebuild; /* lw_rebuild_mode: what to do when Redis came back empty */
    int64_t redis_cluster; /* lw_cluster_mode */
    int64_t clock;         /* lw_clock_mode */
    int64_t clock_lateness_ms;
    int64_t batch_size;
    int64_t batch_timeout_ms;
    int64_t input_max_bytes;
    lw_input_settings input;
    int64_t timers_interval_ms;
    int64_t timers_batch;
    int64_t outbox_batch;
    int64_t outbox_claim_idle_ms;
    char *instance_id;
    int64_t log_level;  /* lw_log_level */
    int64_t log_format; /* lw_log_format */
    int64_t stats_interval_ms;
    bool until_end;
    int64_t shutdown_timeout_ms;
    char *http_listen; /* "" = no HTTP server */
    char *http_token;  /* bearer token of the HTTP API ("" = none; http.token_file read) */
    char *http_token_file;
    char *replay_from;      /* RFC 3339: newly assigned partitions start at this time ("" = no) */
    char *replay_output;    /* topics | none | a prefix of the output topics (replay only) */
    bool replay_keep_group; /* a replay leaves its consumer group when it ends */
    bool publish_none;      /* replay.output=none applied: no derived event, no dead letter */

    lw_tenant_settings tenant_defaults;
    lw_tenant_settings *tenants;
    size_t tenants_n;

    lw_kv *kafka_props; /* librdkafka properties passed through ("kafka.X" -> "X") */
    size_t kafka_props_n;

    json_t *tenants_json; /* the file's "tenants", applied once every layer is read */

    char *tenants_pattern;           /* tenants.pattern */
    char *tenants_allow;             /* tenants.allow, comma separated ("" = any) */
    lw_tenant_policy *tenant_policy; /* both, compiled once the layers are read */
} lw_config;

/* Loads defaults, then the JSON file (may be NULL), then LEAKWATCH_* from envp, then
 * flags (argv: "--key=value" or "--key value"; "-X prop=value" for librdkafka).
 * On error writes "config: <key>: <what was expected>, got <value>" into err and
 * returns false; the caller exits with LW_EXIT_CONFIG. */
bool lw_config_load(lw_config *cfg, const char *path, char **envp, int argc, char **argv, char *err,
                    size_t errlen);
void lw_config_free(lw_config *cfg);
/* The settings in force for a tenant (its overrides, or the defaults). */
const lw_tenant_settings *lw_config_tenant(const lw_config *cfg, const char *tenant);
/* The output topic of a derived event type, or NULL when the type is unknown. */
const char *lw_config_topic_for(const lw_config *cfg, const char *derived_type);
/* For a replay: replay.output=none sets publish_none; a prefix is put before every output
 * topic and the dead letters' topic; topics changes nothing. */
void lw_config_apply_replay_output(lw_config *cfg);
/* Appends every topic of cfg (NULL: of the defaults) comma separated: the inputs, the dead
 * letters, then the output topics in LW_DERIVED_TYPES order (the broker creates them). */
void lw_config_topic_list(const lw_config *cfg, lw_buf *out);
/* Prints one line per topic of cfg for `leakwatch topics`: the topic, the setting naming it,
 * its cleanup policy and the derived types written to it, tab separated (no types for the
 * inputs and the dead letters). */
void lw_config_print_topics(const lw_config *cfg, FILE *out);
/* Prints every setting: key, env name, default and description (for --help). */
void lw_config_print_help(FILE *out);
/* Prints the effective configuration as JSON. */
void lw_config_dump(const lw_config *cfg, FILE *out);

/* ================================ secret.c =============================== */

/* Whether a setting is a secret: its last part is password, token, secret or pem
 * (kafka.sasl.password, kafka.ssl.key.password, http.token, kafka.ssl.key.pem...). */
bool lw_secret_key(const char *key);
/* The URL with the password of its userinfo as "***" (redis://user:***@host:6379/0); a
 * thread-local buffer, valid until the next call on the thread. */
const char *lw_redact_url(const char *url);
/* A setting's value as it may be printed: "***" for a secret (empty stays empty), redis.url
 * redacted, anything else as it is. */
const char *lw_redacted(const char *key, const char *value);

/* ================================ loss_reason.c ========================== */

/* A tenant's list settings are parsed when the config is loaded, so that a deal event only
 * looks its stage and loss reason up. Names are matched trimmed and case-folded (ASCII and
 * Cyrillic), as the event's text is. */

typedef enum {
    LW_LOSS_NONTARGET,
    LW_LOSS_MANAGEABLE,
    LW_LOSS_OBJECTIVE,
    LW_LOSS__COUNT
} lw_loss_class;

/* One item of a loss.* list: "id=Name", or "id" alone (its own name). */
typedef struct lw_loss_reason {
    char *id;          /* as listed: the canonical reason it is counted as */
    char *name;        /* as listed (the id when none): what people read */
    char *id_folded;   /* "" matches nothing */
    char *name_folded; /* "" matches nothing */
} lw_loss_reason;

/* One item of deal.stage_limits: "stage=duration". */
typedef struct lw_stage_limit {
    char *stage_folded;
    int64_t ms;
} lw_stage_limit;

struct lw_tenant_lists {
    lw_loss_reason *loss[LW_LOSS__COUNT]; /* loss.nontarget, loss.manageable, loss.objective */
    size_t loss_n[LW_LOSS__COUNT];
    lw_stage_limit *stages; /* deal.stage_limits, in the order listed */
    size_t stages_n;
    lw_kv *managers; /* the managers setting: id -> name, in the order listed */
    size_t managers_n;
};

/* Parses the tenant's stage_limits and loss_* into ts->lists. On a bad item writes
 * "<key> expects ..., got '<item>'" into err and returns false; lists are freed either way
 * by lw_tenant_lists_free. */
bool lw_tenant_lists_parse(lw_tenant_settings *ts, char *err, size_t errlen);
void lw_tenant_lists_free(lw_tenant_settings *ts);
/* The class of a loss reason for a tenant: "nontarget", "manageable", "objective" or
 * "unclassified"; key gets the canonical reason (the listed id, or the reason as given). */
const char *lw_loss_classify(const lw_tenant_settings *ts, const char *reason, char *key,
                             size_t keylen);
/* How long a deal may stay in a stage: its entry in deal.stage_limits, or stalled_after. */
int64_t lw_stage_limit_ms(const lw_tenant_settings *ts, const char *stage);
/* Whether deal.stage_limits lists the stage (else the stall limit may be learned, funnel.lua). */
bool lw_stage_limit_listed(const lw_tenant_settings *ts, const char *stage);

/* ============================= funnel_stages.c ============================ */

/* Checks deal.stages ("pipeline=stage,stage,...;...", "\," a comma inside a name) and
 * replaces *spec with its normalized text (trimmed, empty items and names left out). On a bad
 * item writes "deal.stages expects ..., got '<item>'" into err and returns false. */
bool lw_funnel_stages_normalize(char **spec, char *err, size_t errlen);

/* ============================== funnel_api.c ============================= */

/* The body of /api/funnel: the summaries of the pipeline's month (period NULL: its latest),
 * one per currency, and every (pipeline, period, currency) among fields (the funnel_latest
 * hash: "<month>|<currency>|<pipeline>" -> the funnel.summary data, values[i] of fields[i]). */
json_t *lw_funnel_api_body(const char *tenant, const char *pipeline, const char *period,
                           const char *const *fields, const char *const *values, size_t n);

/* ============================ managers_api.c ============================= */

/* The body of /api/managers: the manager.report data of the month (NULL: the latest there
 * is), sorted by manager, and every month among fields (the mgr_latest hash:
 * "<month>|<manager_id>" -> the data, values[i] of fields[i]). */
json_t *lw_managers_api_body(const char *tenant, const char *month, const char *const *fields,
                             const char *const *values, size_t n);

/* ================================ trace.c ================================ */

/* W3C Trace Context passed from an input event to the events derived from it. The two values
 * travel through Redis as one string, "<traceparent>" or "<traceparent> <tracestate>". */
#define LW_TRACEPARENT_LEN 55  /* "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" */
#define LW_TRACESTATE_MAX  512 /* what W3C asks to propagate at least; longer is dropped */
#define LW_TRACE_MAX       (LW_TRACEPARENT_LEN + 1 + LW_TRACESTATE_MAX + 1)

bool lw_traceparent_valid(const char *s, size_t len);
bool lw_tracestate_valid(const char *s, size_t len);
/* Writes the joined form to out when parent is a valid traceparent (state, may be NULL, is
 * left out unless valid) and returns true; else out = "" and false. Values with lengths: a
 * header value is not a C string. */
bool lw_trace_join(const char *parent, size_t parent_len, const char *state, size_t state_len,
                   char out[LW_TRACE_MAX]);
/* The traceparent of a joined form copied to parent, *state pointing at its tracestate (NULL
 * when none); false (parent "", *state NULL) when trace is not one. */
bool lw_trace_split(const char *trace, char parent[LW_TRACEPARENT_LEN + 1], const char **state);

/* ================================ event.c ================================ */

typedef enum { LW_FAMILY_LEAD, LW_FAMILY_CALL, LW_FAMILY_TASK, LW_FAMILY_DEAL } lw_family;

/* Why an input message was refused; the name goes into the leakwatch.error header. */
typedef enum {
    LW_REJECT_NONE = 0,
    LW_REJECT_TOO_LARGE,
    LW_REJECT_NOT_JSON,
    LW_REJECT_NOT_CLOUDEVENT, /* missing/ill-typed context attribute or bad specversion */
    LW_REJECT_UNKNOWN_TYPE,
    LW_REJECT_MISSING_FIELD,  /* a required data field is absent */
    LW_REJECT_INVALID_FIELD,  /* a field has the wrong type or format */
    LW_REJECT_STATE_ERROR,    /* the Redis library refused to apply it */
    LW_REJECT_INVALID_TENANT, /* the tenant does not match tenants.pattern */
    LW_REJECT_UNKNOWN_TENANT, /* tenants.allow is set and does not list the tenant */
    LW_REJECT__COUNT
} lw_reject_reason;

const char *lw_reject_name(lw_reject_reason r); /* "not_json", "missing_field", ... */

typedef struct lw_event {
    json_t *root; /* owned; in binary mode built from the headers, with the value as data */
    const char *id, *type, *source, *tenant;
    int64_t time_ms;
    lw_family family;
    json_t *data;             /* borrowed from root */
    bool binary;              /* binary mode: the attributes came from ce_* headers */
    char trace[LW_TRACE_MAX]; /* the input's trace context, joined (trace.c); "" when none */
} lw_event;

typedef struct lw_reject {
    lw_reject_reason reason;
    char detail[200]; /* e.g. "data.lead_id is required by lead.created" */
} lw_reject;

/* Parses and validates one message value, a structured-mode event. On success fills ev
 * (free with lw_event_free); on failure fills why and returns false. max_bytes 0 means no
 * limit. ev->trace is left "" (binding.c reads it). */
bool lw_event_parse(const char *buf, size_t len, size_t max_bytes, lw_event *ev, lw_reject *why);
/* The same for a binary-mode message: buf is the data, attrs (a JSON object, taken over
 * whatever the outcome) the context attributes read from its headers. The same checks and
 * rejects, attributes named by their headers ("header ce_id is missing ..."). */
bool lw_event_parse_binary(const char *buf, size_t len, size_t max_bytes, json_t *attrs,
                           lw_event *ev, lw_reject *why);
void lw_event_free(lw_event *ev);
/* A data field as a string: strings as they are, integers printed; NULL when absent. */
const char *lw_event_str(const lw_event *ev, const char *field, char scratch[32]);

/* ================================ tenant_policy.c ======================== */

/* tenants.pattern (anchored POSIX ERE) and tenants.allow (comma separated; "" = any), compiled
 * once at load; NULL with "config: tenants.<key> ..." in err when either cannot be used. */
lw_tenant_policy *lw_tenant_policy_new(const char *pattern, const char *allow, char *err,
                                       size_t errlen);
/* LW_REJECT_NONE, LW_REJECT_INVALID_TENANT or LW_REJECT_UNKNOWN_TENANT. Thread-safe. */
lw_reject_reason lw_tenant_policy_check(const lw_tenant_policy *p, const char *tenant);
/* The same, why filled when refused. */
bool lw_tenant_policy_admit(const lw_tenant_policy *p, const char *tenant, lw_reject *why);
void lw_tenant_policy_free(lw_tenant_policy *p); /* NULL: nothing */

/* ================================ binding.c ============================== */

/* A Kafka message header: an input message's (borrowed from it; the value is not a C
 * string, and NULL for a null header) or one to produce (copied). */
typedef struct lw_header {
    const char *name;
    const void *value;
    size_t len;
} lw_header;

/* The media type of a structured-mode JSON event: the content-type header of every derived
 * message (the dead letters keep the original's headers). */
#define LW_STRUCTURED_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8"

typedef enum { LW_MODE_STRUCTURED, LW_MODE_BINARY } lw_content_mode;

/* Structured when content-type starts with application/cloudevents (case-insensitive),
 * binary when a ce_specversion header is there, structured otherwise. */
lw_content_mode lw_binding_mode(const lw_header *h, size_t n);
/* Parses and validates one input message in the mode its headers say (lw_event_parse or
 * lw_event_parse_binary; a ce_* header that repeats or is not UTF-8 is refused as
 * not_cloudevent) and fills ev->trace: the traceparent/tracestate headers if valid, else the
 * event's traceparent/tracestate attributes if valid. */
bool lw_binding_parse(const char *value, size_t len, const lw_header *h, size_t n, size_t max_bytes,
                      lw_event *ev, lw_reject *why);

/* ================================ transition.c =========================== */

/* Appends the FCALL that applies ev to the tenant's state:
 *   FCALL lw_event 1 lw:{tenant}:outbox <tenant> <id> <type> <time_ms> <fire_before_ms>
 *         <name> <value> ...
 * (the argument protocol is documented in processor/lua/event.lua; the pair "trace" is the
 * input's trace context, when it has one). fire_before_ms is INT64_MIN (nothing fires)
 * until set. */
void lw_transition_argv(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out);
/* Where an input was read: the position after it goes into its FCALL (lw_event records it
 * with the event, position.c reads it back on assignment). */
typedef struct lw_read_at {
    const char *group, *topic;
    int32_t partition;
    int64_t next_offset;
} lw_read_at;
/* The same, with the position after the event (at, or NULL for none). */
void lw_transition_argv_at(const lw_event *ev, const lw_tenant_settings *ts, const lw_read_at *at,
                           lw_argv *out);
/* Sets fire_before_ms of an FCALL made by lw_transition_argv, in place: the tenant's
 * deadlines due before it fire before the event applies. */
void lw_transition_set_bound(lw_argv *cmd, int64_t fire_before_ms);

/* ================================ keys.c ================================= */

/* out = a key of the shape LW_KEY_<NAME> (leakwatch/keys.h, from processor/keys.tab) with
 * its tenant and params: lw_key(&k, LW_KEY_OUTBOX, tenant). */
void lw_key(lw_buf *out, const char *shape, ...) __attribute__((format(printf, 2, 3)));

/* ================================ redis.c ================================ */

typedef struct redisContext redisContext;
typedef struct redisReply redisReply;

typedef struct lw_cluster lw_cluster;

typedef struct lw_redis {
    redisContext *ctx;    /* the server of redis.url (on a cluster: the seed, for keyless reads) */
    lw_cluster *cluster;  /* set when that server is a cluster node (redis.cluster) */
    int64_t cluster_mode; /* lw_cluster_mode */
    char host[256];
    int port;
    char *user;     /* an ACL user (AUTH user password); NULL: AUTH password, or none */
    char *password; /* NULL: no AUTH */
    int db;
    int64_t timeout_ms;
    uint64_t round_trips;
    uint64_t connects; /* successful connects; a change means a new connection, maybe a new
                          (emptied) server: what was written once must be written again */
    bool refused;      /* the last attempt's AUTH or SELECT was refused (not worth retrying) */
} lw_redis;

/* Parses redis://[[user]:password@]host[:port][/db] (user and password %XX-decoded; a
 * userinfo without ':' is a password). Free user and password with lw_redis_free_url. */
bool lw_redis_parse_url(const char *url, lw_redis *r, char *err, size_t errlen);
void lw_redis_free_url(lw_redis *r);
/* One attempt, no retry (the HTTP thread answers 503 instead of waiting). */
bool lw_redis_connect_once(lw_redis *r);
/* Connects, retrying with exponential backoff (100 ms .. 5 s) while *running; reports each
 * failed attempt. Returns false when stopped, or when the server refused the user, password
 * or db (r->refused, logged): retrying would not mend the configuration. */
bool lw_redis_connect(lw_redis *r, volatile int *running);
void lw_redis_close(lw_redis *r);
/* A connection to host:port with r's timeout and password (no SELECT); NULL with why. */
redisContext *lw_redis_dial(const lw_redis *r, const char *host, int port, char *why,
                            size_t whylen);
/* Sends n commands in one pipelined round trip; replies[i] gets each reply (free with
 * lw_redis_free_replies). Returns false on an I/O error (the connection is dropped and
 * must be re-established; the commands may or may not have been applied). */
bool lw_redis_pipeline(lw_redis *r, lw_argv *cmds, size_t n, redisReply **replies);
/* The same for commands that live in different places. */
bool lw_redis_pipeline_of(lw_redis *r, lw_argv *const *cmds, size_t n, redisReply **replies);
/* The same, but cmds[after..n) apply only after every one before them did: on one server
 * the pipeline keeps that order; on a cluster they go in a second round, once every shard
 * has answered the first, which is not sent when one of its replies is transient (false
 * then: retry the whole). */
bool lw_redis_pipeline_after(lw_redis *r, lw_argv *const *cmds, size_t n, size_t after,
                             redisReply **replies);
void lw_redis_free_replies(redisReply **replies, size_t n);
/* One command, one round trip. NULL on I/O error. */
redisReply *lw_redis_command(lw_redis *r, const char *fmt, ...);
/* The server's version as major*10000+minor*100+patch, or -1. */
int lw_redis_version(lw_redis *r);
/* An error reply worth retrying the command for (OOM, LOADING, a redirection, ...). */
bool lw_redis_transient_error(const char *msg);
/* One command in RESP (a pipeline is these, back to back). */
void lw_redis_put_command(lw_buf *out, const lw_argv *cmd);

/* ================================ cluster.c ============================== */

#define LW_CLUSTER_SLOTS 16384

/* The slot of a key: CRC16 (XMODEM) of its hash tag (the bytes between the first '{' and
 * the next '}', when not empty), else of the whole key, mod 16384. */
int lw_cluster_slot(const char *key, size_t len);
/* The argument a command is routed by (its first key), or -1 for a command with none. */
int lw_cluster_key_index(const lw_argv *cmd);
/* Reads the slot map through r->ctx and connects to every master; NULL with why. */
lw_cluster *lw_cluster_open(lw_redis *r, char *why, size_t whylen);
void lw_cluster_free(lw_cluster *c);
/* Sends cmds[from..to) as one pipeline per shard (all written, then all read), following
 * MOVED and ASK a few times; replies[from..to) get the replies. false on an I/O error. */
bool lw_cluster_pipeline(lw_cluster *c, lw_argv *const *cmds, size_t from, size_t to,
                         redisReply **replies);
/* A keyless command to every master: the first error, else the last reply. NULL on I/O
 * error. */
redisReply *lw_cluster_broadcast(lw_cluster *c, const lw_argv *cmd);
/* The shard (master node index) that owns key's slot by the map last read, -1 if none. */
int lw_cluster_shard_of(const lw_cluster *c, const char *key, size_t len);
/* The masters, "host:port" each, for logs and tests. */
size_t lw_cluster_masters(const lw_cluster *c);

/* ================================ position.c ============================= */

#define LW_POSITION_NONE (-1) /* Redis holds no position of the partition */

/* A partition of an input topic. */
typedef struct lw_partition_ref {
    const char *topic;
    int32_t partition;
} lw_partition_ref;

/* The field of a partition in lw:{tenant}:positions: "<group>:<topic>:<partition>". */
void lw_position_field(lw_buf *out, const char *group, const char *topic, int32_t partition);
/* Where a partition resumes from the positions recorded for it (one per tenant,
 * LW_POSITION_NONE where none; shard[i] the Redis Cluster shard of tenant i, all 0 on one
 * node): the highest within each shard, the lowest of those across the shards that hold
 * one (position.c says why); NONE if none. */
int64_t lw_position_resume(const int64_t *recorded, const int *shard, size_t n);
/* resume[i] for each of the n partitions from what Redis holds for the group (every tenant
 * of lw:tenants), LW_POSITION_NONE where it holds none. false on a Redis error. */
bool lw_positions_read(lw_redis *r, const char *group, const lw_partition_ref *parts, size_t n,
                       int64_t *resume);

/* ================================ epoch.c ================================ */

#define LW_EPOCH_ID_LEN 40

/* The epoch of the state one Redis holds (lw:{:epoch}). */
typedef struct lw_epoch {
    char id[LW_EPOCH_ID_LEN]; /* "" while none was seen */
    bool committed_fallback;  /* adopted from a leakwatch older than epochs: a partition with
                                 no position resumes at Kafka's committed offset, not at the
                                 beginning */
} lw_epoch;

typedef enum {
    LW_EPOCH_FOUND,
    LW_EPOCH_NONE,            /* no epoch, no state: a new Redis, or one that came back empty */
    LW_EPOCH_NONE_WITH_STATE, /* no epoch, tenants but no positions: a leakwatch older than
                                 epochs wrote it */
    LW_EPOCH_ERROR,           /* Redis did not answer */
} lw_epoch_found;

/* Reads the epoch into e. */
lw_epoch_found lw_epoch_read(lw_redis *r, lw_epoch *e);
/* Writes a new epoch unless one is there (adopted: over the state of a leakwatch older than
 * epochs), then reads it into e. false on a Redis error. */
bool lw_epoch_write(lw_redis *r, bool adopted, lw_epoch *e);

/* ================================ library.c ============================== */

/* The Redis Functions library: the files of processor/lua/ and the key builders of
 * processor/keys.tab, assembled at build time by cmake/lua_library.cmake and loaded with FUNCTION
 * LOAD REPLACE. */
typedef struct lw_lua_source {
    const char *name; /* file name, e.g. "lead.lua" */
    const char *sha1; /* of the source, for the log */
    long first_line;  /* its first line in the library */
} lw_lua_source;

extern const char lw_library_text[];
extern const lw_lua_source lw_lua_sources[]; /* in the library's order */
extern const size_t lw_lua_sources_n;

/* Loads the library; on a Redis without Functions says which version is needed.
 * Returns LW_EXIT_OK, LW_EXIT_DEPENDENCY, LW_LIBRARY_BROKEN (Redis could not compile or
 * register it: a bug, never retried) or LW_EXIT_RUNTIME (an I/O error or a passing
 * refusal such as LOADING: retry). */
#define LW_LIBRARY_BROKEN (-2)
int lw_library_load(lw_redis *r);
/* The source file and line of a library error ("stats.lua:35"). */
void lw_library_locate(const char *error, char *out, size_t outlen);

/* ================================ kafka.c ================================ */

typedef struct rd_kafka_conf_s rd_kafka_conf_t;

/* A librdkafka conf with bootstrap servers, the kafka.* passthrough properties, and the
 * log/error callbacks routed into log.c. NULL (err filled, naming the key) on a bad
 * property. */
rd_kafka_conf_t *lw_kafka_conf(const lw_config *cfg, char *err, size_t errlen);
/* Deletes a consumer group (no member left) with the Admin API, waiting at most timeout_ms.
 * Best-effort: a failure is logged as a warning and returns false. */
bool lw_kafka_delete_group(const lw_config *cfg, const char *group, int timeout_ms);

/* ================================ input.c ================================ */

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

/* One input message as the merge holds it. */
typedef struct lw_input {
    rd_kafka_message_t *msg; /* owned: the dead letters and the offsets need it */
    int64_t offset;
    lw_reject why;   /* why.reason != LW_REJECT_NONE: a dead letter, nothing else set */
    int64_t time_ms; /* event time */
    char *id, *type, *tenant;
    lw_argv cmd;           /* FCALL lw_event (transition.c) */
    size_t bytes;          /* what it takes in memory, for the buffer's bound */
    int64_t received_mono; /* when it was buffered (merge.c: the end grace) */
} lw_input;

/* Parses and validates msg and builds its FCALL; never NULL (a bad message is a reject). */
lw_input *lw_input_new(rd_kafka_message_t *msg, const lw_config *cfg);
void lw_input_free(lw_input *in);

/* ================================ merge.c ================================ */

/* One assigned partition: its buffered inputs in offset order and where it stands. */
typedef struct lw_merge_part {
    char topic[128];
    int32_t partition;
    lw_input **queue; /* a ring: queue[(head + i) % cap], i < n */
    size_t head, n, cap;
    size_t bytes;
    bool eof;                /* read to its end, nothing read since */
    bool ended;              /* eof, nothing buffered, and the input quiet for the grace */
    bool paused;             /* consumer.c: its buffer is full */
    int64_t frontier_ms;     /* the latest event time released (-1: none yet) */
    int64_t held_since_mono; /* since when it is empty */
    int64_t next_offset;     /* after the last input released (-1: none) */
    int64_t stored_offset;   /* what consumer.c stored last */
    bool mark_dirty;         /* its mark changed since written to Redis */
} lw_merge_part;

/* A partition revoked from this instance whose mark in Redis may still say "ended": until
 * the mark is written open again (watermark.c), it holds the merge at its frontier. */
typedef struct lw_released_part {
    char name[272]; /* "topic:partition" */
    int64_t frontier_ms;
} lw_released_part;

typedef struct lw_merge {
    lw_merge_part *parts;
    size_t n, cap;
    size_t bytes;            /* buffered, all partitions */
    int64_t applied_ms;      /* the latest event time released */
    uint64_t late;           /* events released older than applied_ms */
    int64_t end_grace_ms;    /* input.end_grace (0: a partition at its end holds nothing) */
    int64_t last_input_mono; /* when any partition last buffered an input */
    lw_released_part *released;
    size_t nreleased, released_cap;
    /* Other instances' partitions at their end (lw_merge_expect_others): a head at or after
     * the lowest of their frontiers passes them only once buffered for the grace and once
     * their owners confirmed the end after that. */
    bool others_ended;
    int64_t others_end_ms;
    int64_t others_confirmed_mono;
    /* A partition was assigned since the group's marks were last read: what this instance
     * knew of the others (before, it may not have known the topics at all) is stale, and
     * nothing is released until they are read again. */
    bool group_unread;
} lw_merge;

typedef enum {
    LW_MERGE_READY, /* *out is the next input */
    LW_MERGE_EMPTY, /* nothing buffered, and no partition can hold anything back */
    LW_MERGE_HELD,  /* a partition with nothing buffered may still deliver an older event */
    LW_MERGE_AHEAD  /* the next event is later than the limit, or waits for the other
                       instances to confirm their partitions' end */
} lw_merge_state;

lw_merge_part *lw_merge_add(lw_merge *m, const char *topic, int32_t partition, int64_t now_mono);
lw_merge_part *lw_merge_find(lw_merge *m, const char *topic, int32_t partition);
/* Frees what the partition has buffered (its new owner reads it again); it is released
 * (holds the merge at its frontier) until its mark is written open. */
void lw_merge_remove(lw_merge *m, const char *topic, int32_t partition);
/* What the group's marks say of other instances' partitions at their end: the lowest
 * frontier among them (INT64_MAX: none) and the oldest moment (monotonic, this host) an
 * owner confirmed its end. */
void lw_merge_expect_others(lw_merge *m, int64_t end_ms, int64_t confirmed_mono);
/* "topic:partition", a partition's name in the group's marks. */
void lw_merge_part_name(char *name, size_t size, const char *topic, int32_t partition);
void lw_merge_push(lw_merge *m, lw_merge_part *p, lw_input *in, int64_t now_mono);
void lw_merge_eof(lw_merge *m, lw_merge_part *p, int64_t now_mono);
/* Read to its end, nothing buffered, and no input at all for end_grace_ms: the input has
 * stopped, not merely paused between two messages of a live feed (what the watermark and
 * --until-end count as ended). As of the last lw_merge_settle. */
bool lw_merge_at_end(const lw_merge_part *p);
/* Brings every partition's "ended" up to now_mono (lw_merge_pop does it first). */
void lw_merge_settle(lw_merge *m, int64_t now_mono);
/* No event of p not released yet is older than this (assuming time order within p); -1
 * while nothing was read. */
int64_t lw_merge_frontier(const lw_merge_part *p);
/* The next input in order: (time, id, topic, partition) over the heads, a reject as soon as
 * it is a head. Events later than limit_ms wait; an empty partition holds the merge, unless
 * it has been empty for max_idle_ms (-1: it holds for ever). One read to its end but not
 * ended holds a head until the head was buffered end_grace_ms ago, and then moves its
 * frontier to that head: what it sends later that is older is late. */
lw_merge_state lw_merge_pop(lw_merge *m, int64_t limit_ms, int64_t max_idle_ms, int64_t now_mono,
                            lw_input **out);
/* Whether some partition's mark changed since it was written, or a released one's is still
 * to be written (watermark.c). */
bool lw_merge_marks_dirty(const lw_merge *m);
void lw_merge_free(lw_merge *m);

/* ================================ consumer.c ============================= */

/* How many partitions an input topic has (from the cluster's metadata). */
typedef struct lw_topic_size {
    char name[128];
    int32_t partitions;
} lw_topic_size;

typedef struct lw_consumer lw_consumer;

/* The consumer of the group, not yet in it; NULL with err filled ("config: ..." when a
 * setting is to blame). */
lw_consumer *lw_consumer_new(const lw_config *cfg, char *err, size_t errlen);
/* Joins the group on topics.input (after lw_consumer_set_resume: librdkafka 2.0.2 aborts
 * when a consumer closes in the middle of its first join). */
bool lw_consumer_subscribe(lw_consumer *c, char *err, size_t errlen);
/* Its partitions' buffered inputs: released from (merge.c), their marks kept (watermark.c). */
lw_merge *lw_consumer_merge(lw_consumer *c);
/* The input topics and their partition counts, as learnt at the latest assignment. */
const lw_topic_size *lw_consumer_topics(const lw_consumer *c, size_t *n);
/* Whether some partition is assigned to it now. */
bool lw_consumer_assigned(const lw_consumer *c);
/* Polls messages into the merge: waits up to timeout_ms for the first, then takes what is
 * there without waiting, at most max. Pauses partitions whose buffer is full and resumes
 * those with room again. Returns how many were buffered. */
size_t lw_consumer_fill(lw_consumer *c, int64_t timeout_ms, size_t max);
/* Stores the position after what the merge released (once that is durable); logs
 * partitions that were revoked meanwhile (their error is __STATE). */
void lw_consumer_store_offsets(lw_consumer *c);
/* Messages not yet read on the assigned partitions (from the cached high watermarks). */
int64_t lw_consumer_lag(lw_consumer *c);
/* True when every assigned partition is read to its end and released. */
bool lw_consumer_all_at_end(const lw_consumer *c);
/* Fills resume[i] for the n partitions being assigned with the offset each resumes at
 * (LW_POSITION_NONE: no opinion); false when it could not tell (stopping). */
typedef bool (*lw_resume_fn)(void *ctx, const lw_partition_ref *parts, size_t n, int64_t *resume);
/* Where newly assigned partitions start: where fn says (the positions Redis holds), else at
 * replay.from, else at the beginning when from_beginning (Redis has held positions since its
 * epoch), else at the group's committed offset (auto.offset.reset when none). */
void lw_consumer_set_resume(lw_consumer *c, lw_resume_fn fn, void *ctx, bool from_beginning);
/* Whether the group has committed an offset on some input partition: 1 yes, 0 no, -1 the
 * cluster could not tell (err filled). */
int lw_consumer_committed_before(lw_consumer *c, char *err, size_t errlen);
/* Leaves the group, committing the stored offsets, and frees c (NULL: nothing). */
void lw_consumer_close(lw_consumer *c);
/* The same, waiting at most timeout_ms for the group to be left and the stored offsets
 * committed; what is not committed by then is read again by the next owner. */
void lw_consumer_close_within(lw_consumer *c, int64_t timeout_ms);
/* The two halves of it: the group left (the partitions revoked, the merge kept), then the
 * consumer freed with its merge. */
void lw_consumer_leave(lw_consumer *c, int64_t timeout_ms);
void lw_consumer_free(lw_consumer *c);

/* ================================ producer.c ============================= */

typedef struct lw_producer lw_producer;

/* Called from lw_producer_poll for each delivery report: ok or not, with the opaque
 * passed to lw_producer_send. */
typedef void (*lw_delivery_fn)(void *opaque, bool ok, const char *error, void *ctx);

lw_producer *lw_producer_new(const lw_config *cfg, lw_delivery_fn fn, void *ctx, char *err,
                             size_t errlen);
/* Queues one message (copied); retries on a full queue by polling. false on a fatal
 * producer error (idempotence broken): the caller must stop. */
bool lw_producer_send(lw_producer *p, const char *topic, const void *key, size_t keylen,
                      const void *value, size_t len, const lw_header *hdrs, size_t nhdrs,
                      void *opaque);
typedef struct rd_kafka_headers_s rd_kafka_headers_t;
/* The same with librdkafka headers, whose ownership passes to the producer. */
bool lw_producer_send_headers(lw_producer *p, const char *topic, const void *key, size_t keylen,
                              const void *value, size_t len, rd_kafka_headers_t *headers,
                              void *opaque);
/* Serves delivery reports. */
void lw_producer_poll(lw_producer *p, int timeout_ms);
/* Number of messages not yet delivered. */
int lw_producer_outq(lw_producer *p);
bool lw_producer_fatal(lw_producer *p); /* a fatal error was raised */
void lw_producer_flush(lw_producer *p, int timeout_ms);
void lw_producer_destroy(lw_producer *p);

/* ================================ dlq.c ================================== */

/* Sends m to the dead-letter topic unchanged (key, value, headers) plus leakwatch.error,
 * leakwatch.topic, leakwatch.partition, leakwatch.offset. opaque is passed back by the
 * delivery report. */
bool lw_dlq_send(lw_producer *p, const char *dlq_topic, const rd_kafka_message_t *m,
                 const lw_reject *why, void *opaque);

/* ================================ envelope.c ============================= */

/* One outbox entry: what the library decided to emit. */
typedef struct lw_outbox_entry {
    char stream_id[32];                    /* Redis stream entry id */
    char *tenant, *type, *id, *key, *data; /* data: JSON object text */
    int64_t time_ms;
    char *trace; /* the trace context of the input event it came from (trace.c), or NULL */
} lw_outbox_entry;

/* The derived CloudEvent (JSON text, caller frees) for an outbox entry; with a trace, its
 * traceparent and tracestate extension attributes (CloudEvents distributed tracing). */
char *lw_envelope_build(const lw_outbox_entry *e);

/* ================================ tenants.c ============================== */

/* The tenants this instance knows of: from its own input and from lw:{tenants} in Redis,
 * where each instance adds the ones it sees (so every instance fires every tenant's
 * deadlines and drains every tenant's outbox). */
typedef struct lw_tenants lw_tenants;

lw_tenants *lw_tenants_new(void);
bool lw_tenants_add(lw_tenants *t, const char *name); /* true when new */
size_t lw_tenants_count(const lw_tenants *t);
/* The i-th tenant (i < lw_tenants_count), in the order first seen: a name keeps its index. */
const char *lw_tenants_name(const lw_tenants *t, size_t i);
/* Appends SADD lw:{tenants} for names not yet persisted; false when there are none. */
bool lw_tenants_persist_argv(lw_tenants *t, lw_argv *out);
void lw_tenants_persisted(lw_tenants *t);
/* The next lw_tenants_persist_argv writes every name again (after a reconnect: Redis may
 * have restarted empty). */
void lw_tenants_rewrite(lw_tenants *t);
/* Adds every tenant listed in lw:{tenants}. false on Redis I/O error. */
bool lw_tenants_refresh(lw_tenants *t, lw_redis *r);
void lw_tenants_free(lw_tenants *t); /* NULL: nothing */

/* ================================ outbox.c =============================== */

typedef struct lw_outbox lw_outbox;

lw_outbox *lw_outbox_new(lw_redis *r, lw_producer *p, const lw_config *cfg,
                         const lw_tenants *tenants);
/* Reads new entries of every tenant's outbox stream (and, at start and then now and then,
 * entries left pending by a crash) and produces them. Returns entries sent, -1 on Redis
 * I/O error. */
int lw_outbox_drain(lw_outbox *o);
/* After a reconnect: every stream's group is created again (a Redis that restarted empty
 * has none) and its pending entries re-read. */
void lw_outbox_reset_streams(lw_outbox *o);
/* Called by the delivery report of an outbox message. */
void lw_outbox_delivered(lw_outbox *o, lw_outbox_entry *e, bool ok);
/* Acks (XACK + XDEL) the delivered entries in one round trip. false on Redis I/O error. */
bool lw_outbox_ack(lw_outbox *o);
size_t lw_outbox_in_flight(const lw_outbox *o);
void lw_outbox_free(lw_outbox *o);

/* ================================ watermark.c ============================ */

/* What one partition of the group is known to stand at, as written in Redis. */
typedef struct lw_partition_mark {
    char topic[272]; /* "topic:partition" when read back from Redis (a topic name: <= 249) */
    int32_t partition;
    int64_t max_event_ms; /* its frontier: no event of it not applied yet is older; -1: unread */
    bool at_end;          /* read to its end and applied */
    int64_t confirmed_ms; /* at_end, another instance's: when its owner last said so (wall) */
} lw_partition_mark;

/* The event clock of PRODUCT.md §5 over the marks of every partition of the group:
 * the lowest max_event_ms of partitions not at their end; when all are at their end, the
 * highest; minus lateness. INT64_MIN while some unread partition has no event yet. */
int64_t lw_watermark_compute(const lw_partition_mark *marks, size_t n, int64_t lateness_ms);

/* Where the group stands, for this instance. */
typedef struct lw_group_clock {
    int64_t others_ms;     /* the lowest frontier of partitions this instance does not own and that
                              are not at their end; INT64_MAX when there are none */
    int64_t event_ms;      /* the group watermark (lw_watermark_compute over every partition) */
    bool all_at_end;       /* every partition of the group is read to its end */
    int64_t others_end_ms; /* the lowest frontier of other instances' partitions at
                              their end; INT64_MAX when there are none */
    int64_t others_confirmed_ms; /* the oldest confirmation of those ends (wall clock) */
} lw_group_clock;

/* How the group's marks are read. An end mark holds the wall time its owner last confirmed
 * it (renewed every lw_watermark_renew_ms); one not confirmed for end_lease_ms is taken as
 * open at its frontier: its owner may be gone, and whoever reads the partition next may
 * find more on it. */
typedef struct lw_clock_view {
    int64_t lateness_ms;
    int64_t now_wall_ms;
    int64_t end_lease_ms;
} lw_clock_view;

/* How often an instance confirms its partitions' ends, and how long a confirmation holds,
 * for an end grace of grace_ms. */
int64_t lw_watermark_renew_ms(int64_t grace_ms);
int64_t lw_watermark_lease_ms(int64_t grace_ms);

/* Appends to cmds the commands that write the merge's changed marks to Redis
 * (lw:clock:{<group>}:time and :end), then the two that read every mark back; returns how
 * many (at most max; the reads are the last two). */
size_t lw_watermark_argv(const lw_merge *m, const char *group, int64_t now_wall_ms, lw_argv *cmds,
                         size_t max);
/* After those commands succeeded: the marks written are clean, the released forgotten. */
void lw_watermark_written(lw_merge *m);
/* Marks the partitions at their end changed, so their ends are confirmed anew. */
void lw_watermark_renew(lw_merge *m);
/* Marks every mark changed, so all are written again (after a reconnect). */
void lw_watermark_rewrite(lw_merge *m);
/* A partition this instance took over starts from its previous owner's frontier (every
 * event older was applied), so a restart that finds nothing new to read keeps the clock
 * where it was. times: the reply of HGETALL lw:clock:{<group>}:time. */
void lw_watermark_adopt(lw_merge *m, const redisReply *times);
/* The group's clock from the replies of the two reads. Every partition of the input topics
 * counts: one without a mark was never read and holds everything; marks of other topics (no
 * longer read) are ignored; the merge's own partitions count as they are now. */
lw_group_clock lw_watermark_parse(const lw_merge *m, const lw_topic_size *topics, size_t ntopics,
                                  const redisReply *times, const redisReply *ends,
                                  const lw_clock_view *view);

/* ================================ timers.c =============================== */

/* Fires the deadlines due at now_ms for every known tenant (FCALL lw_fire per tenant, one
 * pipelined round trip). Returns the number fired (emitted gets the derived events
 * appended to outboxes), -1 on Redis I/O error. */
int64_t lw_timers_fire(lw_redis *r, const lw_tenants *t, int64_t now_ms, int64_t limit,
                       int64_t *emitted);
/* FCALL lw_flush for a tenant: its aggregates changed in a batch are published once, after
 * its last event of the batch. Reply: derived events emitted. */
void lw_timers_flush_argv(const char *tenant, lw_argv *out);

/* ================================ stats.c ================================ */

typedef struct lw_stats {
    uint64_t events_in;
    uint64_t events_applied;
    uint64_t events_duplicate; /* same event id applied before */
    uint64_t dlq[LW_REJECT__COUNT];
    uint64_t derived_out;
    uint64_t timers_fired;
    uint64_t batches;
    int64_t first_event_mono_ms, last_event_mono_ms;
} lw_stats;

extern lw_stats lw_stats_g;

void lw_stats_log(const lw_redis *r, const char *when);
long lw_stats_peak_rss_kb(void);

/* ================================ metrics.c ============================== */

/* Series are named by the families in metrics.c; labels come formatted
 * ("type=\"lead.created\",topic=\"crm.leads\""), by lw_metrics_labels when a value may
 * need escaping. Thread-safe. */
void lw_metrics_add(const char *name, const char *labels, double by);
void lw_metrics_set(const char *name, const char *labels, double value);
/* Sets the n series of a gauge family; the family's other series are no longer shown
 * (until set again): e.g. the lag of the partitions assigned now. */
void lw_metrics_set_all(const char *name, const char *const *labels, const double *values,
                        size_t n);
/* Formats labels from NULL-terminated name, value pairs into out, the values escaped
 * (\\, \", \n); a value too long for size is cut, still quoted. Returns out. */
const char *lw_metrics_labels(char *out, size_t size, ...) __attribute__((sentinel));
void lw_metrics_observe(const char *name, double value);
void lw_metrics_render(lw_buf *out); /* the Prometheus text format */
void lw_metrics_reset(void);

/* ================================ http.c ================================= */

typedef enum { LW_HEALTH_REDIS, LW_HEALTH_KAFKA, LW_HEALTH_PRODUCER } lw_health_check;
typedef struct lw_http lw_http;

/* The dashboard's files (processor/dashboard/), embedded at build time. */
typedef struct lw_asset {
    const char *path, *content_type, *bytes;
    size_t size;
} lw_asset;
extern const lw_asset lw_assets[];
extern const size_t lw_assets_n;

/* What /readyz answers: Redis reachable, partitions assigned, producer usable. */
void lw_health_set(lw_health_check check, bool ok);
/* Whether listen is an ipv4:port the server can be started on (config.c checks it at load). */
bool lw_http_listen_valid(const char *listen);
/* Starts the server on cfg->http_listen ("127.0.0.1:8080"); NULL with err filled. */
lw_http *lw_http_start(const lw_config *cfg, char *err, size_t errlen);
void lw_http_stop(lw_http *h);

/* ================================ progress.c ============================= */

typedef struct lw_progress {
    bool enabled;
    int64_t next_ms;
} lw_progress;

void lw_progress_start(lw_progress *p); /* enabled only when stderr is a terminal */
/* Draws the line (at most once a second): first_ms is the monotonic time of the first message
 * (0: none yet), the rate's start. */
void lw_progress_tick(lw_progress *p, bool assigned, uint64_t done, int64_t lag, int64_t first_ms);
/* "replay: waiting for partitions" until assigned (or some event done), then "replay: N
 * events, R/s, L left, ETA T". */
void lw_progress_format(bool assigned, uint64_t done, int64_t lag, int64_t first_ms, int64_t now_ms,
                        char *out, size_t outlen);
/* Writes a log line to stderr: the progress line shown is cleared first and drawn again
 * after it, so the two never share a line. */
void lw_progress_write(const char *data, size_t len);
/* Ends the line shown with a newline. */
void lw_progress_end(lw_progress *p);

/* ================================ run.c ================================== */

/* The processor: returns an exit code. running is cleared by the signal handler. */
int lw_run(const lw_config *cfg, volatile int *running);

/* ================================ signals.c ============================== */

/* Installs the SIGINT/SIGTERM handlers (SIGPIPE ignored); returns the run flag they clear. */
volatile int *lw_signals_install(void);
/* The stop signal received (0: none) and, when one was, its lw_monotonic_ms in *at_ms. */
int lw_signal_received(int64_t *at_ms);
const char *lw_signal_name(int sig); /* "SIGTERM" */

/* ================================ command.c ============================== */

/* A subcommand's own flag, beside the settings. */
typedef struct lw_flag {
    const char *name; /* "--port" */
    const char *arg;  /* what its value is ("N"); NULL: it takes none */
    const char *desc;
} lw_flag;

/* A subcommand: one table parses its command line and prints its --help. */
typedef struct lw_command {
    const char *name;    /* "broker" */
    const char *operand; /* "FILE|-": its first argument; NULL: none */
    const char *what;    /* one line for the usage */
    const lw_flag *flags;
    int flags_n;
    bool settings; /* takes --config, LEAKWATCH_*, --KEY VALUE and -X like run */
} lw_command;

/* Takes cmd's own flags into values (one per flag: NULL when absent, "" for a flag without
 * a value) and its operand, and loads the settings from the other arguments into cfg (when
 * cmd takes them; log.* applied). Returns an exit code, the error printed. */
int lw_command_parse(const lw_command *cmd, int argc, char **argv, const char **values,
                     const char **operand, lw_config *cfg);
void lw_command_usage(const lw_command *cmd, FILE *out); /* its lines of `leakwatch --help` */
void lw_command_help(const lw_command *cmd, FILE *out);  /* `leakwatch <cmd> --help` */

/* ================================ broker.c =============================== */

/* `leakwatch broker`: the embedded Kafka broker (librdkafka mock cluster). */
extern const lw_command lw_broker_command;
int lw_broker_main(int argc, char **argv);

/* ================================ produce.c ============================== */

/* `leakwatch produce FILE`: NDJSON events into the input topics, keyed by entity id. */
extern const lw_command lw_produce_command;
int lw_produce_main(int argc, char **argv);

/* ========================= phone.cc, normalize.c ========================= */

/* Normalized phones and e-mails are the dedup keys of leads. Both write a NUL-terminated string
 * to out and return true, or return false (out = "") for what is not a phone or an e-mail —
 * garbage is never an error of the event, the lead is then matched on what is left. */

/* E.164 ("+77011234567") of a valid number; default_region ("KZ", "RU", "IN"; NULL = none) is
 * used when it has no '+' (or 00). Extensions are dropped. Thread-safe (libphonenumber, C++);
 * out needs LW_PHONE_MAX bytes. */
#define LW_PHONE_MAX 17
bool lw_phone_normalize(const char *raw, const char *default_region, char *out, size_t outlen);

/* Trimmed and lower-cased; one '@', a non-empty local part, a dotted domain. For gmail.com and
 * googlemail.com (→ gmail.com) the dots and the +tag of the local part are dropped; elsewhere a
 * +tag is kept. */
bool lw_email_normalize(const char *raw, char *out, size_t outlen);

#endif /* LEAKWATCH_H */
