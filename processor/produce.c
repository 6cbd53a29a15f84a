/* produce.c — `leakwatch produce FILE`: feeds an NDJSON file of CloudEvents into the input
 * topics, each to its family's topic (lead.* to crm.leads, ...) with the entity id as the
 * key, as an integration would. Lines that are not events go as they are (to crm.leads, or
 * --topic), which is how the dead-letter path is exercised. */
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
    const char *file, *brokers, *topic;
} produce_opts;

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

static bool parse_args(int argc, char **argv, produce_opts *o)
{
    o->brokers =
        getenv("LEAKWATCH_KAFKA_BROKERS") ? getenv("LEAKWATCH_KAFKA_BROKERS") : "127.0.0.1:9092";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--kafka.brokers") && i + 1 < argc)
            o->brokers = argv[++i];
        else if (!strncmp(argv[i], "--kafka.brokers=", 16))
            o->brokers = argv[i] + 16;
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            o->topic = argv[++i];
        else if (argv[i][0] != '-' && !o->file)
            o->file = argv[i];
        else {
            fprintf(stderr, "leakwatch produce: unexpected argument '%s'\n", argv[i]);
            return false;
        }
    }
    if (!o->file)
        fprintf(stderr, "leakwatch produce: which file? (leakwatch produce FILE|-)\n");
    return o->file != NULL;
}

int lw_produce_main(int argc, char **argv)
{
    produce_opts o = {0};
    if (!parse_args(argc, argv, &o))
        return LW_EXIT_CONFIG;
    FILE *in = strcmp(o.file, "-") ? fopen(o.file, "r") : stdin;
    if (!in) {
        fprintf(stderr, "leakwatch produce: cannot open %s\n", o.file);
        return LW_EXIT_CONFIG;
    }
    lw_config cfg = {.kafka_brokers = (char *)o.brokers, .log_level = LW_LOG_INFO};
    char err[512];
    lw_producer *p = lw_producer_new(&cfg, on_delivery, NULL, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "leakwatch produce: %s\n", err);
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
