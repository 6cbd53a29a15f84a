/* fuzz_money.c — amounts (money.c): any JSON value is parsed; an accepted amount printed and
 * read again is the same amount. */
#include "leakwatch/leakwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *values[2] = {json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL),
                         json_stringn_nocheck((const char *)data, size)};
    for (int i = 0; i < 2; i++) {
        int64_t minor, again;
        if (values[i] && lw_money_parse(values[i], &minor)) {
            char text[32];
            lw_money_format(minor, text);
            json_t *s = json_string(text);
            if (!lw_money_parse(s, &again) || again != minor)
                abort();
            json_decref(s);
        }
        json_decref(values[i]);
    }
    return 0;
}
