/* kafka.c — the librdkafka configuration shared by the consumer and the producer:
 * bootstrap servers, kafka.* properties passed through, logs and errors into log.c. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

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
