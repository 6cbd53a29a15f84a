/* envelope.c — a derived event as a CloudEvents 1.0 JSON event, source "leakwatch". */
#include "leakwatch/leakwatch.h"

char *lw_envelope_build(const lw_outbox_entry *e)
{
    json_error_t jerr;
    json_t *data = json_loads(e->data, 0, &jerr);
    if (!json_is_object(data)) {
        lw_error("outbox entry %s (%s): data is not a JSON object: %s", e->stream_id, e->type,
                 data ? "" : jerr.text);
        json_decref(data);
        return NULL;
    }
    char time[32];
    lw_rfc3339_format(e->time_ms, time);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id",
                  e->id, "source", "leakwatch", "type", e->type, "time", time, "tenant", e->tenant,
                  "subject", e->key, "datacontenttype", "application/json", "data", data);
    if (!ev)
        return NULL;
    char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    return text;
}
