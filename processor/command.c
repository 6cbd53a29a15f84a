/* command.c — the command line of each subcommand: its own flags (one table parses them and
 * prints its --help) beside the settings, which every command that takes them reads with the
 * one loader of config.c: --config FILE, LEAKWATCH_*, --KEY VALUE and -X kafka properties. */
#include "leakwatch/leakwatch.h"

#include <string.h>

extern char **environ;

/* The index of cmd's own flag at argv[*i] (its value in values[]), -1 when it is none of
 * them, -2 when its value is missing. */
static int take_own(const lw_command *cmd, int argc, char **argv, int *i, const char **values)
{
    for (int f = 0; f < cmd->flags_n; f++) {
        const lw_flag *fl = &cmd->flags[f];
        size_t n = strlen(fl->name);
        if (strncmp(argv[*i], fl->name, n) != 0 || (argv[*i][n] && argv[*i][n] != '='))
            continue; /* "--port-file" is not "--port" */
        if (!fl->arg)
            values[f] = "";
        else if (argv[*i][n] == '=')
            values[f] = argv[*i] + n + 1;
        else if (*i + 1 < argc)
            values[f] = argv[++*i];
        else
            return -2;
        return f;
    }
    return -1;
}

/* The settings from the arguments that are no own flag: the file of --config, then the
 * environment, then the flags. */
static int load_settings(const lw_command *cmd, lw_config *cfg, int argc, char **argv)
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
        fprintf(stderr, "leakwatch %s: %s\n", cmd->name, err);
        return LW_EXIT_CONFIG;
    }
    lw_log_setup((lw_log_level)cfg->log_level, (lw_log_format)cfg->log_format);
    return LW_EXIT_OK;
}

int lw_command_parse(const lw_command *cmd, int argc, char **argv, const char **values,
                     const char **operand, lw_config *cfg)
{
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int nrest = 0, rc = LW_EXIT_OK;
    for (int f = 0; f < cmd->flags_n; f++)
        values[f] = NULL;
    for (int i = 0; i < argc && rc == LW_EXIT_OK; i++) {
        if (i == 0 && cmd->operand && (!strcmp(argv[0], "-") || argv[0][0] != '-')) {
            *operand = argv[0]; /* the operand comes first, as the usage shows */
            continue;
        }
        int f = take_own(cmd, argc, argv, &i, values);
        if (f == -2) {
            fprintf(stderr, "leakwatch %s: %s needs a value\n", cmd->name, argv[i]);
            rc = LW_EXIT_CONFIG;
        } else if (f == -1 && !cmd->settings) {
            fprintf(stderr, "leakwatch %s: unknown option %s (see leakwatch %s --help)\n",
                    cmd->name, argv[i], cmd->name);
            rc = LW_EXIT_CONFIG;
        } else if (f == -1)
            rest[nrest++] = argv[i];
    }
    if (rc == LW_EXIT_OK && cmd->operand && !*operand) {
        fprintf(stderr, "leakwatch %s: expects %s first (see leakwatch %s --help)\n", cmd->name,
                cmd->operand, cmd->name);
        rc = LW_EXIT_CONFIG;
    }
    if (rc == LW_EXIT_OK && cmd->settings)
        rc = load_settings(cmd, cfg, nrest, rest);
    free(rest);
    return rc;
}

void lw_command_usage(const lw_command *cmd, FILE *out)
{
    fprintf(out, "  leakwatch %s%s%s", cmd->name, cmd->operand ? " " : "",
            cmd->operand ? cmd->operand : "");
    for (int f = 0; f < cmd->flags_n; f++)
        fprintf(out, " [%s%s%s]", cmd->flags[f].name, cmd->flags[f].arg ? " " : "",
                cmd->flags[f].arg ? cmd->flags[f].arg : "");
    fprintf(out, "%s\n      %s\n", cmd->settings ? " [SETTINGS]" : "", cmd->what);
}

void lw_command_help(const lw_command *cmd, FILE *out)
{
    fprintf(out, "Usage:\n");
    lw_command_usage(cmd, out);
    if (cmd->flags_n)
        fprintf(out, "\nOptions:\n");
    for (int f = 0; f < cmd->flags_n; f++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s%s", cmd->flags[f].name, cmd->flags[f].arg ? " " : "",
                 cmd->flags[f].arg ? cmd->flags[f].arg : "");
        fprintf(out, "  %-30s %s\n", name, cmd->flags[f].desc);
    }
    if (cmd->settings) {
        fprintf(out, "\nSETTINGS, read in this order: the default, the JSON file of --config FILE, "
                     "the\nenvironment (LEAKWATCH_ + KEY upper-cased, dots as underscores), "
                     "a flag:\n");
        lw_config_print_help(out);
    }
    fprintf(out, "\nExit codes: 0 done, 1 runtime error, 2 bad command line or configuration, "
                 "3 unusable dependency,\n4 Redis came back empty (state.rebuild).\n");
}
