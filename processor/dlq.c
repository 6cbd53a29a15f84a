/* dlq.c — dead letters: a message that cannot be processed goes to the dead-letter topic
 * unchanged (same key, value and headers) with headers saying why and where it came from. */
#include "leakwatch/leakwatch.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    rd_kafka_header_add(h, name, -1, value, -1);
}

bool lw_dlq_send(lw_producer *p, const char *dlq_topic, const rd_kafka_message_t *m,
                 const lw_reject *why, void *opaque)
{
    rd_kafka_headers_t *original = NULL;
    rd_kafka_headers_t *h = rd_kafka_message_headers(m, &original) == RD_KAFKA_RESP_ERR_NO_ERROR
                                ? rd_kafka_headers_copy(original)
                                : rd_kafka_headers_new(4);
    char text[256], number[32];
    snprintf(text, sizeof(text), "%s: %s", lw_reject_name(why->reason), why->detail);
    add_header(h, "leakwatch.error", text);
    add_header(h, "leakwatch.topic", rd_kafka_topic_name(m->rkt));
    snprintf(number, sizeof(number), "%d", (int)m->partition);
    add_header(h, "leakwatch.partition", number);
    snprintf(number, sizeof(number), "%lld", (long long)m->offset);
    add_header(h, "leakwatch.offset", number);
    lw_debug("dead letter %s[%d]@%lld: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
             (long long)m->offset, text);
    return lw_producer_send_headers(p, dlq_topic, m->key, m->key_len, m->payload, m->len, h,
                                    opaque);
}
