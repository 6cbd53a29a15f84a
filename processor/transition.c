/* transition.c — a validated event becomes one FCALL of the Redis library:
 *
 *   FCALL lw_event 1 lw:{tenant}:outbox <tenant> <id> <type> <time_ms> <fire_before_ms>
 *         [<name> <value>]...
 *
 * Values arrive in Lua already normalized: ids as strings, times as Unix ms (name_ms),
 * money as integer minor units (amount_minor) with its currency. The input's trace context,
 * when it has one, is the pair "trace" (trace.c's joined form): what the event's handlers
 * emit carries it on, and it never enters a derived id. Every event carries the tenant's
 * state.retention (retention_ms) and, read from Kafka, its position (position and
 * next_offset: what Redis keeps of the state it keeps with the position). */
#include "leakwatch/leakwatch.h"

#include <string.h>

#define BOUND_ARG   8  /* the index of fire_before_ms in the FCALL */
#define BOUND_WIDTH 20 /* every int64 fits: "-9223372036854775808" */

/* Data fields passed through as strings when present. */
static const char *const text_fields[] = {
    "lead_id",      "call_id",       "task_id",     "deal_id",
    "manager_id",   "channel",       "status",      "direction",
    "stage",        "closed_reason", "loss_reason", "kind",
    "contact_name", "pipeline_id",   "title",       NULL};

static void add_pair(lw_argv *out, const char *name, const char *value)
{
    lw_argv_adds(out, name);
    lw_argv_adds(out, value);
}

static void add_pair_int(lw_argv *out, const char *name, int64_t value)
{
    lw_argv_adds(out, name);
    lw_argv_addi(out, value);
}

static void add_money(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out)
{
    int64_t minor;
    json_t *amount = json_object_get(ev->data, "amount");
    if (!amount || !lw_money_parse(amount, &minor))
        return;
    const char *currency = json_string_value(json_object_get(ev->data, "currency"));
    add_pair_int(out, "amount_minor", minor);
    add_pair(out, "currency", currency ? currency : ts->currency);
}

/* The local day and month of the event in the tenant's time zone: what loss totals and the
 * leak estimate count it in (the day), and the funnel's cohort (the month). */
static void add_local_period(const lw_event *ev, const lw_tenant_settings *ts, bool with_day,
                             lw_argv *out)
{
    char day[11], month[8];
    lw_local_period(ev->time_ms, ts->timezone, day, month);
    if (with_day)
        add_pair(out, "day", day);
    add_pair(out, "month", month);
}

/* A deal's stage limit and the funnel's stage order, and for a loss reason its class and
 * canonical name. */
static void add_deal_settings(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out)
{
    char scratch[32], key[256];
    const char *stage = lw_event_str(ev, "stage", scratch);
    if (stage)
        add_pair_int(out, "stalled_after_ms", lw_stage_limit_ms(ts, stage));
    if (stage && !lw_stage_limit_listed(ts, stage))
        add_pair(out, "stalled_learn", "1"); /* no limit of its own: the stage's p90 may do */
    if (ts->deal_stages && *ts->deal_stages)
        add_pair(out, "deal_stages", ts->deal_stages);
    const char *reason = json_string_value(json_object_get(ev->data, "loss_reason"));
    if (!reason)
        return;
    add_pair(out, "loss_class", lw_loss_classify(ts, reason, key, sizeof(key)));
    add_pair(out, "loss_key", key);
}

/* Whether the leak estimate (estimate.lua) counts the event: leads, calls that may be
 * untracked contacts, won deals. */
static bool leak_counted(const lw_event *ev)
{
    return !strcmp(ev->type, "lead.created") || !strcmp(ev->type, "call.completed") ||
           !strcmp(ev->type, "deal.won");
}

/* The local period an event counts in: the leak estimate's events and a deal's loss reason
 * by day and month, every deal event by month (the funnel's cohort). */
static void add_periods(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out)
{
    bool deal = ev->family == LW_FAMILY_DEAL;
    bool by_day =
        leak_counted(ev) || (deal && json_string_value(json_object_get(ev->data, "loss_reason")));
    if (by_day || deal)
        add_local_period(ev, ts, by_day, out);
}

/* The tenant's leak.* settings, on the events the leak estimate counts. */
static void add_leak_settings(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out)
{
    if (!leak_counted(ev))
        return;
    add_pair_int(out, "leak_margin", ts->leak_margin_e4);
    add_pair_int(out, "leak_lifetime", ts->leak_lifetime_e4);
    add_pair_int(out, "leak_window_ms", ts->leak_window_ms);
    add_pair(out, "leak_currency", ts->currency);
}

/* Whether a ';'-separated list holds item exactly. */
static bool list_has(const lw_buf *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list->data; p && *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !memcmp(p, item, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Normalizes a string-or-number field and a list field of contacts (phone + phones[],
 * email + emails[]) into one ';'-separated list; garbage is left out, never an error. */
static void add_contacts(const lw_event *ev, const char *one, const char *many, bool phone,
                         const lw_tenant_settings *ts, lw_argv *out)
{
    lw_buf list = {0};
    json_t *items = json_array();
    json_t *single = json_object_get(ev->data, one);
    json_t *list_field = json_object_get(ev->data, many);
    if (single)
        json_array_append(items, single);
    if (json_is_array(list_field))
        json_array_extend(items, list_field);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        char raw[64], norm[320];
        const char *text = json_string_value(item);
        if (json_is_integer(item))
            snprintf(raw, sizeof(raw), "%lld", (long long)json_integer_value(item)), text = raw;
        bool ok = text && (phone ? lw_phone_normalize(text, ts->phone_region, norm, sizeof(norm))
                                 : lw_email_normalize(text, norm, sizeof(norm)));
        if (ok && !list_has(&list, norm))
            lw_buf_appendf(&list, "%s%s", list.len ? ";" : "", norm);
    }
    json_decref(items);
    if (list.len)
        add_pair(out, many, list.data);
    lw_buf_free(&list);
}

static void format_bound(int64_t ms, char out[BOUND_WIDTH + 1])
{
    snprintf(out, BOUND_WIDTH + 1, "%0*lld", BOUND_WIDTH, (long long)ms);
}

static void add_bound(lw_argv *out, int64_t ms)
{
    char text[BOUND_WIDTH + 1];
    format_bound(ms, text);
    lw_argv_add(out, text, BOUND_WIDTH);
}

void lw_transition_set_bound(lw_argv *cmd, int64_t fire_before_ms)
{
    char text[BOUND_WIDTH + 1];
    format_bound(fire_before_ms, text);
    memcpy(cmd->bytes.data + cmd->offsets[BOUND_ARG], text, BOUND_WIDTH);
}

/* The position after the event (lw_event records it in the tenant's positions hash). */
static void add_position(lw_argv *out, const lw_read_at *at)
{
    lw_buf field = {0};
    lw_position_field(&field, at->group, at->topic, at->partition);
    lw_argv_adds(out, "position");
    lw_argv_add(out, field.data, field.len);
    add_pair_int(out, "next_offset", at->next_offset);
    lw_buf_free(&field);
}

void lw_transition_argv(const lw_event *ev, const lw_tenant_settings *ts, lw_argv *out)
{
    lw_transition_argv_at(ev, ts, NULL, out);
}

void lw_transition_argv_at(const lw_event *ev, const lw_tenant_settings *ts, const lw_read_at *at,
                           lw_argv *out)
{
    lw_buf key = {0};
    lw_key(&key, LW_KEY_OUTBOX, ev->tenant);
    lw_argv_reset(out);
    lw_argv_adds(out, "FCALL");
    lw_argv_adds(out, "lw_event");
    lw_argv_adds(out, "1");
    lw_argv_add(out, key.data, key.len);
    lw_argv_adds(out, ev->tenant);
    lw_argv_adds(out, ev->id);
    lw_argv_adds(out, ev->type);
    lw_argv_addi(out, ev->time_ms);
    add_bound(out, INT64_MIN); /* nothing fires until set */
    lw_buf_free(&key);

    char scratch[32];
    for (const char *const *f = text_fields; *f; f++) {
        const char *v = lw_event_str(ev, *f, scratch);
        if (v)
            add_pair(out, *f, v);
    }
    int64_t due_ms;
    if (lw_rfc3339_parse(json_string_value(json_object_get(ev->data, "due_at")), &due_ms)) {
        add_pair_int(out, "due_ms", due_ms);
        char day[11], month[8]; /* the manager report counts an overdue task in its due month */
        lw_local_period(due_ms, ts->timezone, day, month);
        add_pair(out, "due_month", month);
    }
    add_money(ev, ts, out);
    if (ev->family == LW_FAMILY_DEAL)
        add_deal_settings(ev, ts, out);
    if (ev->family == LW_FAMILY_DEAL || ev->family == LW_FAMILY_TASK)
        add_pair_int(out, "no_next_step_ms", ts->no_next_step_ms);
    if (ev->family == LW_FAMILY_LEAD || ev->family == LW_FAMILY_CALL) {
        add_contacts(ev, "phone", "phones", true, ts, out);
        add_pair_int(out, "dedup_window_ms", ts->dedup_window_ms);
    }
    if (ev->family == LW_FAMILY_LEAD)
        add_contacts(ev, "email", "emails", false, ts, out);
    if (ev->family == LW_FAMILY_CALL)
        add_pair_int(out, "untracked_after_ms", ts->untracked_after_ms);
    if (!strcmp(ev->type, "lead.created")) {
        add_pair_int(out, "idle_after_ms", ts->lead_idle_ms);
        add_pair_int(out, "callback_after_ms", ts->lead_callback_ms);
        add_pair_int(out, "unanswered_after_ms", ts->leak_unanswered_ms);
    }
    add_periods(ev, ts, out);
    add_leak_settings(ev, ts, out);
    if (ev->trace[0])
        add_pair(out, "trace", ev->trace);
    if (ts->retention_ms > 0)
        add_pair_int(out, "retention_ms", ts->retention_ms);
    if (at)
        add_position(out, at);
    lw_argv_finish(out);
}
