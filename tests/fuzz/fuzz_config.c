/* fuzz_config.c — the config file loader (config.c): any bytes as the JSON config file are
 * loaded (the validation of every setting included) or refused with the key named. */
#include "leakwatch/leakwatch.h"

#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fuzz_config.%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    lw_config cfg;
    char err[512] = "";
    if (lw_config_load(&cfg, path, NULL, 0, NULL, err, sizeof(err))) {
        FILE *null = fopen("/dev/null", "w");
        lw_config_dump(&cfg, null);
        fclose(null);
        lw_config_free(&cfg);
    } else if (strncmp(err, "config: ", 8) != 0) {
        abort(); /* a refusal always says what it refused */
    }
    unlink(path);
    return 0;
}
