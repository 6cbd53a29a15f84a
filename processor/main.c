/* main.c — the `leakwatch` command: subcommand dispatch, signals, exit codes. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

extern char **environ;

static void usage(FILE *out)
{
    fprintf(
        out,
        "leakwatch %s — where sales money leaks, from CRM event streams\n"
        "\n"
        "Usage:\n"
        "  leakwatch run [--config FILE] [--KEY VALUE | --KEY=VALUE]... [-X kafka.prop=value]\n"
        "  leakwatch replay [--replay.from RFC3339] [--KEY VALUE]...   a backfill: a group of its\n"
        "      own, the event clock, until the input's end; a progress line on a terminal\n"
        "  leakwatch broker [--partitions N] [--brokers N] [--port N] [--port-file FILE]\n"
        "  leakwatch produce FILE|- [--kafka.brokers H:P] [--topic T]   feed NDJSON events\n"
        "  leakwatch config [--config FILE] [--KEY VALUE]...   print the effective config\n"
        "  leakwatch config --kafka-properties   list the librdkafka properties\n"
        "  leakwatch topics [--config FILE] [--KEY VALUE]...   the topics read and written: "
        "topic,\n"
        "      setting, cleanup policy and derived types, tab separated\n"
        "  leakwatch --help | --version\n"
        "\n"
        "Every setting is read, in this order, from its default, the JSON config file,\n"
        "the environment (LEAKWATCH_ + KEY upper-cased, dots as underscores) and a flag.\n"
        "librdkafka properties pass through as kafka.<property> (env LEAKWATCH_KAFKA_...).\n"
        "\n"
        "Exit codes:\n"
        "  0  clean shutdown (SIGINT/SIGTERM, or --until-end reached the end)\n"
        "  1  fatal runtime error (logged)\n"
        "  2  bad command line or configuration (the key is named)\n"
        "  3  a dependency is unusable (e.g. Redis older than 7.0, without Functions)\n"
        "\n"
        "Settings:\n",
        LW_VERSION);
    lw_config_print_help(out);
}

static int load_config(lw_config *cfg, int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
    }
    char err[512];
    if (!lw_config_load(cfg, path, environ, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "leakwatch: %s\n", err);
        return LW_EXIT_CONFIG;
    }
    lw_log_setup((lw_log_level)cfg->log_level, (lw_log_format)cfg->log_format);
    return LW_EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
    lw_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != LW_EXIT_OK)
        return rc;
    rc = lw_run(&cfg, lw_signals_install()); /* the loop ends its batch, then stops in order */
    lw_config_free(&cfg);
    return rc;
}

/* A replay: the input from the beginning (or replay.from) into a consumer group of its
 * own, with the event clock, until every partition is read to its end. */
static int cmd_replay(int argc, char **argv)
{
    lw_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != LW_EXIT_OK)
        return rc;
    char group[300];
    snprintf(group, sizeof(group), "%s-replay-%lld", cfg.group_id, (long long)(lw_now_ms() / 1000));
    free(cfg.group_id);
    cfg.group_id = strdup(group);
    cfg.clock = LW_CLOCK_EVENT;
    cfg.until_end = true;
    lw_info("replay as consumer group %s%s%s", cfg.group_id, *cfg.replay_from ? " from " : "",
            cfg.replay_from);
    rc = lw_run(&cfg, lw_signals_install());
    lw_config_free(&cfg);
    return rc;
}

/* Loads the config and prints it with print: the whole of it, or its topics (for scripts that
 * create or read them). */
static int print_config(int argc, char **argv, void (*print)(const lw_config *, FILE *))
{
    lw_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != LW_EXIT_OK)
        return rc;
    print(&cfg, stdout);
    lw_config_free(&cfg);
    return LW_EXIT_OK;
}

static int cmd_config(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--kafka-properties")) {
            rd_kafka_conf_properties_show(stdout); /* every property kafka.* can set */
            return LW_EXIT_OK;
        }
    }
    return print_config(argc, argv, lw_config_dump);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LW_EXIT_CONFIG;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return LW_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("leakwatch %s\n", LW_VERSION);
        return LW_EXIT_OK;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return LW_EXIT_OK;
        }
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "broker"))
        return lw_broker_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "replay"))
        return cmd_replay(argc - 2, argv + 2);
    if (!strcmp(cmd, "produce"))
        return lw_produce_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "config"))
        return cmd_config(argc - 2, argv + 2);
    if (!strcmp(cmd, "topics"))
        return print_config(argc - 2, argv + 2, lw_config_print_topics);
    fprintf(stderr, "leakwatch: unknown command '%s' (try --help)\n", cmd);
    return LW_EXIT_CONFIG;
}
