/* main.c — the `leakwatch` command: the subcommands (their tables, command.c parses and
 * documents them), dispatch and --help. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

static const lw_command run_command = {
    "run", NULL, "the processor: CRM events from Kafka, rules in Redis, derived events to Kafka",
    NULL,  0,    true,
};

static const lw_command replay_command = {
    "replay",
    NULL,
    "a backfill from replay.from: a group of its own, the event clock, until the end",
    NULL,
    0,
    true,
};

enum { F_KAFKA_PROPERTIES, F__N };

static const lw_flag config_flags[F__N] = {
    [F_KAFKA_PROPERTIES] = {"--kafka-properties", NULL,
                            "list the librdkafka properties kafka.* can set, instead"},
};

static const lw_command config_command = {
    "config",     NULL, "the effective configuration as JSON; refuses what run refuses (exit 2)",
    config_flags, F__N, true,
};

static const lw_command topics_command = {
    "topics",
    NULL,
    "the topics read and written: topic, setting, cleanup policy and "
    "derived types, tab separated",
    NULL,
    0,
    true,
};

static const lw_command *const commands[] = {
    &run_command,        &replay_command, &lw_broker_command,
    &lw_produce_command, &config_command, &topics_command,
};

#define COMMANDS_N (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "leakwatch %s — where sales money leaks, from CRM event streams\n\nUsage:\n",
            LW_VERSION);
    for (size_t i = 0; i < COMMANDS_N; i++)
        lw_command_usage(commands[i], out);
    fprintf(
        out,
        "  leakwatch [COMMAND] --help | --version\n"
        "\n"
        "SETTINGS are read, in this order, from their default, the JSON file of --config FILE,\n"
        "the environment (LEAKWATCH_ + KEY upper-cased, dots as underscores) and a flag\n"
        "(--KEY VALUE or --KEY=VALUE). librdkafka properties pass through as kafka.<property>\n"
        "(env LEAKWATCH_KAFKA_..., or -X property=value).\n"
        "\n"
        "Exit codes:\n"
        "  0  clean shutdown (SIGINT/SIGTERM, or --until-end reached the end)\n"
        "  1  fatal runtime error (logged)\n"
        "  2  bad command line or configuration (the key is named)\n"
        "  3  a dependency is unusable (e.g. Redis older than 7.0, without Functions, or\n"
        "     refusing the user, password or db of redis.url)\n"
        "  4  Redis holds no state (no epoch key) but the group ran before: it came back empty\n"
        "     (state.rebuild=replay rebuilds from the earliest retained offsets instead)\n"
        "\n"
        "Settings:\n");
    lw_config_print_help(out);
}

static int load_config(const lw_command *cmd, lw_config *cfg, int argc, char **argv)
{
    const char *v[F__N], *operand = NULL;
    return lw_command_parse(cmd, argc, argv, v, &operand, cfg);
}

static int cmd_run(int argc, char **argv)
{
    lw_config cfg;
    int rc = load_config(&run_command, &cfg, argc, argv);
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
    int rc = load_config(&replay_command, &cfg, argc, argv);
    if (rc != LW_EXIT_OK)
        return rc;
    char group[300];
    snprintf(group, sizeof(group), "%s-replay-%lld", cfg.group_id, (long long)(lw_now_ms() / 1000));
    free(cfg.group_id);
    cfg.group_id = strdup(group);
    cfg.clock = LW_CLOCK_EVENT;
    cfg.until_end = true;
    lw_config_apply_replay_output(&cfg);
    lw_info("replay as consumer group %s%s%s, output %s", cfg.group_id,
            *cfg.replay_from ? " from " : "", cfg.replay_from, cfg.replay_output);
    rc = lw_run(&cfg, lw_signals_install());
    if (cfg.replay_keep_group)
        lw_info("consumer group %s kept (replay.keep_group)", cfg.group_id);
    else
        lw_kafka_delete_group(&cfg, cfg.group_id, 10000);
    lw_config_free(&cfg);
    return rc;
}

/* Loads the config and prints it with print: the whole of it, or its topics (for scripts that
 * create or read them). */
static int print_config(const lw_command *cmd, int argc, char **argv,
                        void (*print)(const lw_config *, FILE *))
{
    lw_config cfg;
    const char *v[F__N], *operand = NULL;
    int rc = lw_command_parse(cmd, argc, argv, v, &operand, &cfg);
    if (rc != LW_EXIT_OK)
        return rc;
    if (cmd == &config_command && v[F_KAFKA_PROPERTIES])
        rd_kafka_conf_properties_show(stdout); /* every property kafka.* can set */
    else
        print(&cfg, stdout);
    lw_config_free(&cfg);
    return LW_EXIT_OK;
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
    const lw_command *command = NULL;
    for (size_t i = 0; i < COMMANDS_N && !command; i++)
        if (!strcmp(cmd, commands[i]->name))
            command = commands[i];
    if (!command) {
        fprintf(stderr, "leakwatch: unknown command '%s' (try --help)\n", cmd);
        return LW_EXIT_CONFIG;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            lw_command_help(command, stdout);
            return LW_EXIT_OK;
        }
    }
    if (command == &run_command)
        return cmd_run(argc - 2, argv + 2);
    if (command == &lw_broker_command)
        return lw_broker_main(argc - 2, argv + 2);
    if (command == &replay_command)
        return cmd_replay(argc - 2, argv + 2);
    if (command == &lw_produce_command)
        return lw_produce_main(argc - 2, argv + 2);
    if (command == &config_command)
        return print_config(command, argc - 2, argv + 2, lw_config_dump);
    return print_config(command, argc - 2, argv + 2, lw_config_print_topics);
}
