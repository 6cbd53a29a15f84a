/* fuzz_normalize.c — phones (phone.cc, libphonenumber) and e-mails (normalize.c): any text is
 * normalized; what comes out fits, and normalizing it again changes nothing. */
#include "leakwatch/leakwatch.h"

#include <string.h>

static void check_phone(const char *raw, const char *region)
{
    char out[LW_PHONE_MAX], again[LW_PHONE_MAX];
    if (!lw_phone_normalize(raw, region, out, sizeof(out))) {
        if (*out)
            abort();
        return;
    }
    if (out[0] != '+' || !lw_phone_normalize(out, NULL, again, sizeof(again)) || strcmp(out, again))
        abort();
}

static void check_email(const char *raw)
{
    char out[256], again[256];
    if (!lw_email_normalize(raw, out, sizeof(out))) {
        if (*out)
            abort();
        return;
    }
    if (!lw_email_normalize(out, again, sizeof(again)) || strcmp(out, again))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_phone(s, "KZ");
    check_phone(s, NULL);
    check_email(s);
    free(s);
    return 0;
}
