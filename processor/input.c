/* input.c — one input message as the merge holds it: parsed and validated once, in the
 * content mode its headers say (binding.c, event.c), its tenant one tenants.pattern and
 * tenants.allow accept (tenant_policy.c), turned into its FCALL at once
 * (transition.c), the JSON freed. What the merge orders by (time and id) and what the loop
 * needs (tenant, type) are kept beside the command; a rejected message keeps only why. The
 * message itself stays for the dead letters and the offsets. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

/* id, type and tenant in one allocation */
static void keep_strings(lw_input *in, const lw_event *ev)
{
    size_t id = strlen(ev->id) + 1, type = strlen(ev->type) + 1, tenant = strlen(ev->tenant) + 1;
    char *s = malloc(id + type + tenant);
    if (!s)
        abort();
    in->id = memcpy(s, ev->id, id);
    in->type = memcpy(s + id, ev->type, type);
    in->tenant = memcpy(s + id + type, ev->tenant, tenant);
}

/* The message's headers as the binding reads them, borrowed from msg; NULL (n = 0) when it
 * has none, as messages mostly have not. */
static lw_header *headers_of(rd_kafka_message_t *msg, size_t *n)
{
    rd_kafka_headers_t *h;
    *n = 0;
    if (rd_kafka_message_headers(msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    size_t count = rd_kafka_header_cnt(h);
    lw_header *out = count ? malloc(count * sizeof(*out)) : NULL;
    if (count && !out)
        abort();
    for (; *n < count; (*n)++) {
        lw_header *x = &out[*n];
        if (rd_kafka_header_get_all(h, *n, &x->name, &x->value, &x->len))
            break;
    }
    return out;
}

static bool parse(rd_kafka_message_t *msg, const lw_config *cfg, lw_event *ev, lw_reject *why)
{
    size_t n;
    lw_header *headers = headers_of(msg, &n);
    bool ok =
        lw_binding_parse(msg->payload, msg->len, headers, n, (size_t)cfg->input_max_bytes, ev, why);
    free(headers);
    if (ok && !lw_tenant_policy_admit(cfg->tenant_policy, ev->tenant, why)) {
        lw_event_free(ev);
        return false;
    }
    return ok;
}

lw_input *lw_input_new(rd_kafka_message_t *msg, const lw_config *cfg)
{
    lw_input *in = calloc(1, sizeof(*in));
    if (!in)
        abort();
    in->msg = msg;
    in->offset = msg->offset;
    in->bytes = msg->len + msg->key_len + sizeof(*in);
    lw_event ev;
    if (!parse(msg, cfg, &ev, &in->why))
        return in;
    in->time_ms = ev.time_ms;
    keep_strings(in, &ev);
    lw_read_at at = {cfg->group_id, rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset + 1};
    lw_transition_argv_at(&ev, lw_config_tenant(cfg, ev.tenant), &at, &in->cmd);
    in->bytes += in->cmd.bytes.cap;
    lw_event_free(&ev);
    return in;
}

void lw_input_free(lw_input *in)
{
    if (!in)
        return;
    if (in->msg)
        rd_kafka_message_destroy(in->msg);
    free(in->id); /* type and tenant share its allocation */
    lw_argv_free(&in->cmd);
    free(in);
}
