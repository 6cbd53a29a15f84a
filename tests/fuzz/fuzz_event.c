/* fuzz_event.c — a structured-mode CloudEvent (event.c): any bytes are parsed and validated;
 * an accepted event must have every attribute the rest of the pipeline reads. */
#include "leakwatch/leakwatch.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lw_event ev;
    lw_reject why;
    if (lw_event_parse((const char *)data, size, 1 << 20, &ev, &why)) {
        if (!ev.id || !ev.type || !ev.source || !ev.tenant || !ev.data)
            abort();
        char scratch[32];
        lw_event_str(&ev, "lead_id", scratch);
        lw_event_free(&ev);
    } else if (why.reason == LW_REJECT_NONE || !*lw_reject_name(why.reason)) {
        abort(); /* a refusal always has a reason for the dead letter */
    }
    return 0;
}
