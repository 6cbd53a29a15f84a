/* event.c — one input message as a CloudEvents 1.0 event: parse, check the context
 * attributes, then the type's data fields against the type table below. Structured mode and
 * binary mode (its attributes read from the headers by binding.c) share every check. */
#include "leakwatch/leakwatch.h"

#include <string.h>

typedef enum {
    FIELD_ID, /* a string or an integer (CRMs use both) */
    FIELD_STRING,
    FIELD_TIME,  /* RFC 3339 */
    FIELD_MONEY, /* number or decimal string, at most 2 fractional digits */
    FIELD_CURRENCY,
    FIELD_COUNT,   /* a non-negative integer */
    FIELD_PHONE,   /* a string or an integer */
    FIELD_STRINGS, /* an array of strings or integers */
    FIELD_ENUM,
} field_kind;

typedef struct field_rule {
    const char *name;
    field_kind kind;
    const char *const *choices; /* FIELD_ENUM */
} field_rule;

static const char *const directions[] = {"inbound", "outbound", NULL};
static const char *const call_statuses[] = {"answered",  "missed", "busy",
                                            "no_answer", "failed", NULL};

/* Fields checked when present, per family. */
static const field_rule lead_fields[] = {
    {"lead_id", FIELD_ID, NULL},     {"manager_id", FIELD_ID, NULL},
    {"pipeline_id", FIELD_ID, NULL}, {"status", FIELD_STRING, NULL},
    {"channel", FIELD_STRING, NULL}, {"closed_reason", FIELD_STRING, NULL},
    {"name", FIELD_STRING, NULL},    {"phone", FIELD_PHONE, NULL},
    {"phones", FIELD_STRINGS, NULL}, {"email", FIELD_STRING, NULL},
    {"emails", FIELD_STRINGS, NULL}, {NULL, 0, NULL}};
static const field_rule call_fields[] = {{"call_id", FIELD_ID, NULL},
                                         {"direction", FIELD_ENUM, directions},
                                         {"status", FIELD_ENUM, call_statuses},
                                         {"phone", FIELD_PHONE, NULL},
                                         {"duration_s", FIELD_COUNT, NULL},
                                         {"manager_id", FIELD_ID, NULL},
                                         {"lead_id", FIELD_ID, NULL},
                                         {"deal_id", FIELD_ID, NULL},
                                         {NULL, 0, NULL}};
static const field_rule task_fields[] = {{"task_id", FIELD_ID, NULL},
                                         {"due_at", FIELD_TIME, NULL},
                                         {"manager_id", FIELD_ID, NULL},
                                         {"title", FIELD_STRING, NULL},
                                         {"kind", FIELD_STRING, NULL},
                                         {"deal_id", FIELD_ID, NULL},
                                         {"lead_id", FIELD_ID, NULL},
                                         {"contact_name", FIELD_STRING, NULL},
                                         {NULL, 0, NULL}};
static const field_rule deal_fields[] = {{"deal_id", FIELD_ID, NULL},
                                         {"amount", FIELD_MONEY, NULL},
                                         {"currency", FIELD_CURRENCY, NULL},
                                         {"stage", FIELD_STRING, NULL},
                                         {"manager_id", FIELD_ID, NULL},
                                         {"lead_id", FIELD_ID, NULL},
                                         {"contact_name", FIELD_STRING, NULL},
                                         {"loss_reason", FIELD_STRING, NULL},
                                         {NULL, 0, NULL}};

typedef struct type_rule {
    const char *type;
    lw_family family;
    const char *entity;      /* the entity id field, always required */
    const char *required[3]; /* further required fields of this type */
} type_rule;

static const type_rule types[] = {
    {"lead.created", LW_FAMILY_LEAD, "lead_id", {NULL}},
    {"lead.updated", LW_FAMILY_LEAD, "lead_id", {NULL}},
    {"lead.status_changed", LW_FAMILY_LEAD, "lead_id", {NULL}},
    {"lead.assigned", LW_FAMILY_LEAD, "lead_id", {NULL}},
    {"lead.closed", LW_FAMILY_LEAD, "lead_id", {NULL}},
    {"call.completed", LW_FAMILY_CALL, "call_id", {"direction", "status", NULL}},
    {"task.created", LW_FAMILY_TASK, "task_id", {"due_at", NULL}},
    {"task.updated", LW_FAMILY_TASK, "task_id", {NULL}},
    {"task.completed", LW_FAMILY_TASK, "task_id", {NULL}},
    {"task.deleted", LW_FAMILY_TASK, "task_id", {NULL}},
    {"deal.created", LW_FAMILY_DEAL, "deal_id", {NULL}},
    {"deal.updated", LW_FAMILY_DEAL, "deal_id", {NULL}},
    {"deal.stage_changed", LW_FAMILY_DEAL, "deal_id", {NULL}},
    {"deal.won", LW_FAMILY_DEAL, "deal_id", {NULL}},
    {"deal.lost", LW_FAMILY_DEAL, "deal_id", {"loss_reason", NULL}},
    {"deal.reopened", LW_FAMILY_DEAL, "deal_id", {NULL}},
};

static const field_rule *const family_fields[] = {lead_fields, call_fields, task_fields,
                                                  deal_fields};

static const char *const reject_names[LW_REJECT__COUNT] = {
    "none",          "too_large",     "not_json",    "not_cloudevent", "unknown_type",
    "missing_field", "invalid_field", "state_error", "invalid_tenant", "unknown_tenant",
};

const char *lw_reject_name(lw_reject_reason r)
{
    return r < LW_REJECT__COUNT ? reject_names[r] : "unknown";
}

static bool reject(lw_reject *why, lw_reject_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool reject(lw_reject *why, lw_reject_reason r, const char *fmt, ...)
{
    why->reason = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->detail, sizeof(why->detail), fmt, ap);
    va_end(ap);
    return false;
}

static const type_rule *find_type(const char *type)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(types[i].type, type))
            return &types[i];
    return NULL;
}

static bool is_id(const json_t *v)
{
    return (json_is_string(v) && json_string_length(v) > 0) || json_is_integer(v);
}

static bool in_choices(const char *const *choices, const char *s)
{
    for (; *choices; choices++)
        if (!strcmp(*choices, s))
            return true;
    return false;
}

static bool is_currency(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

static bool field_valid(const field_rule *r, const json_t *v)
{
    int64_t scratch;
    switch (r->kind) {
    case FIELD_ID:
    case FIELD_PHONE:
        return is_id(v);
    case FIELD_STRING:
        return json_is_string(v);
    case FIELD_TIME:
        return lw_rfc3339_parse(json_string_value(v), &scratch);
    case FIELD_MONEY:
        return lw_money_parse(v, &scratch);
    case FIELD_CURRENCY:
        return is_currency(v);
    case FIELD_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case FIELD_ENUM:
        return json_is_string(v) && in_choices(r->choices, json_string_value(v));
    case FIELD_STRINGS: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!is_id(item))
                return false;
        }
        return true;
    }
    }
    return false;
}

/* A required field given as null is as missing as an absent one. */
static bool present(json_t *data, const char *field)
{
    json_t *v = json_object_get(data, field);
    return v && !json_is_null(v);
}

static bool check_data(const type_rule *t, json_t *data, lw_reject *why)
{
    if (!present(data, t->entity))
        return reject(why, LW_REJECT_MISSING_FIELD, "data.%s is required by %s", t->entity,
                      t->type);
    for (int i = 0; t->required[i]; i++)
        if (!present(data, t->required[i]))
            return reject(why, LW_REJECT_MISSING_FIELD, "data.%s is required by %s", t->required[i],
                          t->type);
    for (const field_rule *r = family_fields[t->family]; r->name; r++) {
        json_t *v = json_object_get(data, r->name);
        if (v && !json_is_null(v) && !field_valid(r, v))
            return reject(why, LW_REJECT_INVALID_FIELD, "data.%s has a wrong type or format",
                          r->name);
    }
    return true;
}

static const char *string_attr(json_t *root, const char *name)
{
    const char *s = json_string_value(json_object_get(root, name));
    return s && *s ? s : NULL;
}

/* The tenant becomes a Redis Cluster hash tag: braces would break it. What else a tenant id
 * may hold is tenants.pattern's to say (tenant_policy.c, checked by input.c). */
static bool tenant_valid(const char *t)
{
    size_t n = strlen(t);
    return n > 0 && n <= LW_TENANT_MAX && !strpbrk(t, "{}\r\n");
}

/* How a reject names an attribute: by the ce_ header it came from in binary mode, so the
 * sender sees what to mend. */
static const char *label(const lw_event *ev, const char *name, char out[48])
{
    snprintf(out, 48, ev->binary ? "header ce_%s" : "attribute %s", name);
    return out;
}

static bool check_envelope(lw_event *ev, lw_reject *why)
{
    json_t *root = ev->root;
    char l[48];
    if (!json_is_object(root))
        return reject(why, LW_REJECT_NOT_CLOUDEVENT, "the event is not a JSON object");
    static const char *const required[] = {"specversion", "id", "type", "source", "time"};
    for (size_t i = 0; i < 5; i++)
        if (!string_attr(root, required[i]))
            return reject(why, LW_REJECT_NOT_CLOUDEVENT, "%s is missing or not a string",
                          label(ev, required[i], l));
    if (strcmp(string_attr(root, "specversion"), "1.0") != 0)
        return reject(why, LW_REJECT_NOT_CLOUDEVENT, "%s must be \"1.0\"",
                      label(ev, "specversion", l));
    ev->id = string_attr(root, "id");
    ev->type = string_attr(root, "type");
    ev->source = string_attr(root, "source");
    if (!lw_rfc3339_parse(string_attr(root, "time"), &ev->time_ms))
        return reject(why, LW_REJECT_NOT_CLOUDEVENT, "%s is not RFC 3339", label(ev, "time", l));
    json_t *tenant = json_object_get(root, "tenant");
    ev->tenant = tenant ? json_string_value(tenant) : "default";
    if (!ev->tenant || !tenant_valid(ev->tenant))
        return reject(why, LW_REJECT_NOT_CLOUDEVENT,
                      "%s must be a string of 1..64 characters without braces",
                      label(ev, "tenant", l));
    ev->data = json_object_get(root, "data");
    if (!json_is_object(ev->data))
        return reject(why, LW_REJECT_NOT_CLOUDEVENT,
                      ev->binary ? "the message value (data) is not a JSON object"
                                 : "attribute data is missing or not an object");
    return true;
}

/* ev->root: the whole event (structured mode), or in binary mode the attributes already in
 * ev->root with the value as their data. */
static bool load_root(const char *buf, size_t len, size_t max_bytes, lw_event *ev, lw_reject *why)
{
    if (max_bytes && len > max_bytes)
        return reject(why, LW_REJECT_TOO_LARGE, "%zu bytes, over the limit of %zu", len, max_bytes);
    if (ev->binary && len == 0) /* the binding's event without data */
        return reject(why, LW_REJECT_NOT_CLOUDEVENT, "the message has no value (data)");
    json_error_t jerr;
    /* a binary value is any JSON: a scalar is refused as not an object, as data would be */
    json_t *value =
        json_loadb(buf, len, JSON_REJECT_DUPLICATES | (ev->binary ? JSON_DECODE_ANY : 0), &jerr);
    if (!value)
        return reject(why, LW_REJECT_NOT_JSON, "%s%s at byte %d",
                      ev->binary ? "the message value (data): " : "", jerr.text, jerr.position);
    if (ev->binary)
        json_object_set_new(ev->root, "data", value);
    else
        ev->root = value;
    return true;
}

/* One path for both modes: the root is loaded, then checked as one CloudEvent. */
static bool parse(const char *buf, size_t len, size_t max_bytes, json_t *attrs, lw_event *ev,
                  lw_reject *why)
{
    memset(ev, 0, sizeof(*ev));
    why->reason = LW_REJECT_NONE;
    why->detail[0] = '\0';
    ev->root = attrs;
    ev->binary = attrs != NULL;
    bool ok = load_root(buf, len, max_bytes, ev, why) && check_envelope(ev, why);
    const type_rule *t = ok ? find_type(ev->type) : NULL;
    if (ok && !t)
        ok =
            reject(why, LW_REJECT_UNKNOWN_TYPE, "type %.100s is not one leakwatch knows", ev->type);
    if (ok)
        ok = check_data(t, ev->data, why);
    if (!ok) {
        lw_event_free(ev);
        return false;
    }
    ev->family = t->family;
    return true;
}

bool lw_event_parse(const char *buf, size_t len, size_t max_bytes, lw_event *ev, lw_reject *why)
{
    return parse(buf, len, max_bytes, NULL, ev, why);
}

bool lw_event_parse_binary(const char *buf, size_t len, size_t max_bytes, json_t *attrs,
                           lw_event *ev, lw_reject *why)
{
    return parse(buf, len, max_bytes, attrs, ev, why);
}

void lw_event_free(lw_event *ev)
{
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}

const char *lw_event_str(const lw_event *ev, const char *field, char scratch[32])
{
    json_t *v = json_object_get(ev->data, field);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(scratch, 32, "%lld", (long long)json_integer_value(v));
        return scratch;
    }
    return NULL;
}
