/* input.c — one input message as the merge holds it: parsed and validated once (event.c),
 * turned into its FCALL at once (transition.c), the JSON freed. What the merge orders by
 * (time and id) and what the loop needs (tenant, type) are kept beside the command; a
 * rejected message keeps only why. The message itself stays for the dead letters and the
 * offsets. */
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

lw_input *lw_input_new(rd_kafka_message_t *msg, const lw_config *cfg)
{
    lw_input *in = calloc(1, sizeof(*in));
    if (!in)
        abort();
    in->msg = msg;
    in->offset = msg->offset;
    in->bytes = msg->len + msg->key_len + sizeof(*in);
    lw_event ev;
    if (!lw_event_parse(msg->payload, msg->len, (size_t)cfg->input_max_bytes, &ev, &in->why))
        return in;
    in->time_ms = ev.time_ms;
    keep_strings(in, &ev);
    lw_transition_argv(&ev, lw_config_tenant(cfg, ev.tenant), &in->cmd);
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
