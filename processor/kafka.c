/* kafka.c — the librdkafka configuration shared by the consumer and the producer:
 * bootstrap servers, kafka.* properties passed through, logs and errors into log.c. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    lw_log_level l = level <= 3   ? LW_LOG_ERROR
                     : level == 4 ? LW_LOG_WARN
                     : level <= 6 ? LW_LOG_INFO
                                  : LW_LOG_DEBUG;
    lw_log(l, "librdkafka", 0, "%s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Transport errors repeat while a broker is down; librdkafka retries by itself, so they
 * are reported, not acted on. Fatal errors are picked up by the producer. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        lw_error("%s: fatal: %s", rd_kafka_name(rk), reason);
    else
        lw_warn("%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static bool set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return true;
    snprintf(err, errlen, "config: kafka.%s: %s", name, why);
    return false;
}

rd_kafka_conf_t *lw_kafka_conf(const lw_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = set(conf, "bootstrap.servers", cfg->kafka_brokers, err, errlen) &&
              set(conf, "client.id", "leakwatch", err, errlen) &&
              set(conf, "log_level", cfg->log_level == LW_LOG_DEBUG ? "7" : "4", err, errlen);
    for (size_t i = 0; ok && i < cfg->kafka_props_n; i++)
        ok = set(conf, cfg->kafka_props[i].key, cfg->kafka_props[i].value, err, errlen);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    return conf;
}

/* The DeleteGroups request itself; on failure why says why. */
static bool delete_group_now(const lw_config *cfg, const char *group, int timeout_ms, char *why,
                             size_t whylen)
{
    char err[512];
    rd_kafka_conf_t *conf = lw_kafka_conf(cfg, err, sizeof(err));
    if (!conf) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    rd_kafka_conf_set_log_cb(conf, NULL); /* the child's stderr is closed: no logs */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, whylen, "%s", err);
        return false;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof(err));
    rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(group);
    rd_kafka_DeleteGroups(rk, &dg, 1, opts, q);
    rd_kafka_DeleteGroup_destroy(dg);
    rd_kafka_AdminOptions_destroy(opts);

    bool ok = false;
    snprintf(why, whylen, "no answer within %d ms", timeout_ms);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev && rd_kafka_event_error(ev)) {
        snprintf(why, whylen, "%s", rd_kafka_event_error_string(ev));
    } else if (ev) {
        size_t n = 0;
        const rd_kafka_group_result_t **res =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
        const rd_kafka_error_t *e = n == 1 ? rd_kafka_group_result_error(res[0]) : NULL;
        if (n == 1 && !e)
            ok = true;
        else
            snprintf(why, whylen, "%s", e ? rd_kafka_error_string(e) : "no result");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return ok;
}

/* In a child process: librdkafka 2.0.2 aborts (rd_kafka_enq_once_del_source_return assertion,
 * librdkafka#3663) when the broker does not support the request, as its mock cluster does
 * not; the replay has finished by then and must still exit 0. */
bool lw_kafka_delete_group(const lw_config *cfg, const char *group, int timeout_ms)
{
    int fds[2];
    char why[512] = "";
    if (pipe(fds) != 0) {
        lw_warn("consumer group %s not deleted (best-effort): pipe: %s", group, strerror(errno));
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        bool ok = delete_group_now(cfg, group, timeout_ms, why, sizeof(why));
        ssize_t w = write(fds[1], why, strlen(why));
        (void)w;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        lw_warn("consumer group %s not deleted (best-effort): fork: %s", group, strerror(errno));
        return false;
    }
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(why) - 1 && (r = read(fds[0], why + len, sizeof(why) - 1 - len)) > 0)
        len += (size_t)r;
    why[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        lw_info("consumer group %s deleted", group);
        return true;
    }
    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why),
                 "the Admin client aborted (signal %d): the broker may not "
                 "support DeleteGroups",
                 WTERMSIG(status));
    lw_warn("consumer group %s not deleted (best-effort): %s", group, why);
    return false;
}
