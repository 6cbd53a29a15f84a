/* producer.c — the idempotent producer for derived events and dead letters. Delivery
 * reports are handed back with the opaque of each message; a fatal error (idempotence
 * can no longer be guaranteed) is reported and stops the processor. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

struct lw_producer {
    rd_kafka_t *rk;
    lw_delivery_fn on_delivery;
    void *ctx;
};

static void on_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    lw_producer *p = opaque;
    const char *error = m->err ? rd_kafka_err2str(m->err) : NULL;
    if (m->err)
        lw_error("delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), error);
    p->on_delivery(m->_private, m->err == 0, error, p->ctx);
}

lw_producer *lw_producer_new(const lw_config *cfg, lw_delivery_fn fn, void *ctx, char *err,
                             size_t errlen)
{
    rd_kafka_conf_t *conf = lw_kafka_conf(cfg, err, errlen);
    if (!conf)
        return NULL;
    /* idempotence: no duplicates or reordering from retries. message.timeout.ms=0 retries
     * until delivered, so a broker outage delays derived events but never drops them. */
    static const char *const props[][2] = {
        {"enable.idempotence", "true"},
        {"message.timeout.ms", "0"},
        {"linger.ms", "5"},
        {"message.max.bytes", "104857600"},
    };
    char why[256];
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof(why))) {
            snprintf(err, errlen, "kafka producer: %s: %s", props[i][0], why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    lw_producer *p = calloc(1, sizeof(*p));
    p->on_delivery = fn;
    p->ctx = ctx;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf); /* kept by the caller when rd_kafka_new fails */
        snprintf(err, errlen, "kafka producer: %s", why);
        free(p);
        return NULL;
    }
    return p;
}

static rd_kafka_headers_t *make_headers(const lw_header *hdrs, size_t n)
{
    if (!n)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value, (ssize_t)hdrs[i].len);
    return h;
}

/* Takes ownership of headers (may be NULL). Polls while the local queue is full. */
bool lw_producer_send_headers(lw_producer *p, const char *topic, const void *key, size_t keylen,
                              const void *value, size_t len, rd_kafka_headers_t *headers,
                              void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (!err)
            return true;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !lw_producer_fatal(p)) {
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        lw_error("produce to %s: %s", topic, rd_kafka_err2str(err));
        if (headers)
            rd_kafka_headers_destroy(headers);
        return false;
    }
}

bool lw_producer_send(lw_producer *p, const char *topic, const void *key, size_t keylen,
                      const void *value, size_t len, const lw_header *hdrs, size_t nhdrs,
                      void *opaque)
{
    return lw_producer_send_headers(p, topic, key, keylen, value, len, make_headers(hdrs, nhdrs),
                                    opaque);
}

void lw_producer_poll(lw_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int lw_producer_outq(lw_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

bool lw_producer_fatal(lw_producer *p)
{
    char why[256];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(p->rk, why, sizeof(why));
    if (err)
        lw_error("producer fatal error %s: %s", rd_kafka_err2name(err), why);
    return err != 0;
}

void lw_producer_flush(lw_producer *p, int timeout_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    if (err)
        lw_warn("producer flush: %s, %d message(s) still queued", rd_kafka_err2str(err),
                rd_kafka_outq_len(p->rk));
}

/* What is still queued when the producer goes (a flush that timed out) is purged and its
 * delivery reports served: rd_kafka_destroy would drop the messages without one, and each
 * report frees its message's outbox entry, which stays unacked in Redis and is sent again
 * after the restart. */
static void purge_queued(lw_producer *p)
{
    if (rd_kafka_outq_len(p->rk) == 0)
        return;
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 20 && rd_kafka_outq_len(p->rk) > 0; i++)
        rd_kafka_poll(p->rk, 10);
}

void lw_producer_destroy(lw_producer *p)
{
    if (!p)
        return;
    purge_queued(p);
    rd_kafka_destroy(p->rk);
    free(p);
}
