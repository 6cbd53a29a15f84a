/* produce.c — `leakwatch produce FILE|-`: feeds an NDJSON file (or standard input) of
 * CloudEvents into the input topics, each to its family's topic (lead.* to crm.leads, ...)
 * with the entity id as the key, as an integration would. Lines that are not events go as
 * they are (to crm.leads, or --topic), which is how the dead-letter path is exercised. The
 * producer is the processor's, with its settings (kafka.*: TLS, SASL). */
#include "leakwatch/leakwatch.h"

#include <string.h>

static const struct {
    const char *prefix, *topic, *entity;
} families[] = {
    {"lead.", "crm.leads", "lead_id"},
    {"call.", "crm.calls", "call_id"},
    {"task.", "crm.tasks", "task_id"},
    {"deal.", "crm.deals", "deal_id"},
};

typedef struct produce_opts {
    const char *file, *topic;
} produce_opts;

enum { F_TOPIC, F__N };

static const lw_flag flags[F__N] = {
    [F_TOPIC] = {"--topic", "T", "every line to topic T (default: by its type's family)"},
};

const lw_command lw_produce_command = {
    "produce",
    "FILE|-",
    "NDJSON events from FILE (-: standard input) to the input topics, keyed by entity id",
    flags,
    F__N,
    true,
};

static int delivered, failed;

static void on_delivery(void *opaque, bool ok, const char *error, void *ctx)
{
    ok ? delivered++ : failed++;
}

/* The topic and key of one line: by its type and entity id when it is an event. */
static const char *route(const char *line, size_t len, const produce_opts *o, char *key,
                         size_t keylen)
{
    key[0] = '\0';
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *topic = o->topic ? o->topic : families[0].topic;
    for (size_t i = 0; type && i < sizeof(families) / sizeof(families[0]); i++) {
        if (strncmp(type, families[i].prefix, strlen(families[i].prefix)) != 0)
            continue;
        topic = o->topic ? o->topic : families[i].topic;
        json_t *id = json_object_get(json_object_get(ev, "data"), families[i].entity);
        if (json_is_string(id))
            snprintf(key, keylen, "%s", json_string_value(id));
        else if (json_is_integer(id))
            snprintf(key, keylen, "%lld", (long long)json_integer_value(id));
    }
    json_decref(ev);
    return topic;
}

int lw_produce_main(int argc, char **argv)
{
    produce_opts o = {0};
    const char *v[F__N];
    lw_config cfg;
    int rc = lw_command_parse(&lw_produce_command, argc, argv, v, &o.file, &cfg);
    if (rc != LW_EXIT_OK)
        return rc;
    o.topic = v[F_TOPIC];
    FILE *in = strcmp(o.file, "-") ? fopen(o.file, "r") : stdin;
    if (!in) {
        fprintf(stderr, "leakwatch produce: cannot open %s\n", o.file);
        lw_config_free(&cfg);
        return LW_EXIT_CONFIG;
    }
    char err[512];
    lw_producer *p = lw_producer_new(&cfg, on_delivery, NULL, err, sizeof(err));
    lw_config_free(&cfg);
    if (!p) {
        fprintf(stderr, "leakwatch produce: %s\n", err);
        if (in != stdin)
            fclose(in);
        return LW_EXIT_CONFIG;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int sent = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char key[256];
        const char *topic = route(line, (size_t)len, &o, key, sizeof(key));
        if (lw_producer_send(p, topic, *key ? key : NULL, strlen(key), line, (size_t)len, NULL, 0,
                             NULL))
            sent++;
        lw_producer_poll(p, 0);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    lw_producer_flush(p, 30000);
    lw_producer_destroy(p);
    lw_info("produced %d message(s): %d delivered, %d failed", sent, delivered, failed);
    return failed || delivered != sent ? LW_EXIT_RUNTIME : LW_EXIT_OK;
}
