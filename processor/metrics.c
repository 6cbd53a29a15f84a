/* metrics.c — counters, gauges and histograms with labels, written by the processor loop
 * and read by the HTTP thread, rendered in the Prometheus text format. A small fixed
 * registry behind one mutex: updates are per batch or per event of note, not per byte. */
#include "leakwatch/leakwatch.h"

#include <pthread.h>
#include <string.h>

#define SERIES_MAX  512
#define BUCKETS_MAX 12

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } series_kind;

typedef struct series {
    char name[64];
    char labels[160]; /* already formatted: type="lead.created",topic="crm.leads" */
    series_kind kind;
    double value; /* counter or gauge; the sum of a histogram */
    uint64_t count;
    uint64_t buckets[BUCKETS_MAX];
    bool used;
} series;

typedef struct family {
    const char *name, *help;
    series_kind kind;
    const double *bounds; /* histogram upper bounds */
    int nbounds;
} family;

static const double batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 5000};
static const double seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,  0.1,    0.25,  1};

static const family families[] = {
    {"leakwatch_events_in_total", "Input events read, by type and topic", KIND_COUNTER, NULL, 0},
    {"leakwatch_dead_letters_total", "Input sent to the dead-letter topic, by reason", KIND_COUNTER,
     NULL, 0},
    {"leakwatch_derived_events_total", "Derived events delivered to Kafka, by type", KIND_COUNTER,
     NULL, 0},
    {"leakwatch_batch_size", "Messages per processed batch", KIND_HISTOGRAM, batch_bounds, 8},
    {"leakwatch_redis_round_trip_seconds", "Duration of a pipelined Redis round trip",
     KIND_HISTOGRAM, seconds_bounds, 10},
    {"leakwatch_consumer_lag", "Messages not yet read, summed over assigned partitions", KIND_GAUGE,
     NULL, 0},
    {"leakwatch_timers_pending", "Deadlines waiting to fire, all tenants", KIND_GAUGE, NULL, 0},
    {"leakwatch_outbox_depth", "Derived events in the outbox streams, all tenants", KIND_GAUGE,
     NULL, 0},
    {"leakwatch_event_clock_ms", "The clock deadlines fire by (wall or watermark), Unix ms",
     KIND_GAUGE, NULL, 0},
    {"leakwatch_events_late_total",
     "Events applied after a later one of another partition (out of event-time order)",
     KIND_COUNTER, NULL, 0},
    {"leakwatch_input_buffered_bytes", "Input held by the event-time merge, all partitions",
     KIND_GAUGE, NULL, 0},
};
#define FAMILIES_N (sizeof(families) / sizeof(families[0]))

static series table[SERIES_MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const family *family_of(const char *name)
{
    for (size_t i = 0; i < FAMILIES_N; i++)
        if (!strcmp(families[i].name, name))
            return &families[i];
    return NULL;
}

static uint32_t hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (const char *p = b; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

/* The series of name{labels}, created on first use; NULL when the table is full. Locked. */
static series *find(const char *name, const char *labels)
{
    uint32_t h = hash(name, labels);
    for (uint32_t i = 0; i < SERIES_MAX; i++) {
        series *s = &table[(h + i) % SERIES_MAX];
        if (!s->used) {
            const family *f = family_of(name);
            if (!f)
                return NULL;
            s->used = true;
            s->kind = f->kind;
            snprintf(s->name, sizeof(s->name), "%s", name);
            snprintf(s->labels, sizeof(s->labels), "%s", labels);
            return s;
        }
        if (!strcmp(s->name, name) && !strcmp(s->labels, labels))
            return s;
    }
    return NULL;
}

void lw_metrics_add(const char *name, const char *labels, double by)
{
    pthread_mutex_lock(&lock);
    series *s = find(name, labels ? labels : "");
    if (s)
        s->value += by;
    pthread_mutex_unlock(&lock);
}

void lw_metrics_set(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&lock);
    series *s = find(name, labels ? labels : "");
    if (s)
        s->value = value;
    pthread_mutex_unlock(&lock);
}

void lw_metrics_observe(const char *name, double value)
{
    pthread_mutex_lock(&lock);
    series *s = find(name, "");
    const family *f = family_of(name);
    if (s && f) {
        s->value += value;
        s->count++;
        for (int i = 0; i < f->nbounds; i++)
            if (value <= f->bounds[i])
                s->buckets[i]++;
    }
    pthread_mutex_unlock(&lock);
}

static void render_series(lw_buf *out, const family *f, const series *s)
{
    const char *sep = *s->labels ? "," : "";
    if (f->kind != KIND_HISTOGRAM) {
        lw_buf_appendf(out, "%s%s%s%s %.17g\n", f->name, *s->labels ? "{" : "", s->labels,
                       *s->labels ? "}" : "", s->value);
        return;
    }
    for (int i = 0; i < f->nbounds; i++)
        lw_buf_appendf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, s->labels, sep,
                       f->bounds[i], (unsigned long long)s->buckets[i]);
    lw_buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
                   (unsigned long long)s->count);
    lw_buf_appendf(out, "%s_sum %.17g\n%s_count %llu\n", f->name, s->value, f->name,
                   (unsigned long long)s->count);
}

void lw_metrics_render(lw_buf *out)
{
    pthread_mutex_lock(&lock);
    for (size_t f = 0; f < FAMILIES_N; f++) {
        static const char *const kinds[] = {"counter", "gauge", "histogram"};
        lw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                       families[f].name, kinds[families[f].kind]);
        for (size_t i = 0; i < SERIES_MAX; i++)
            if (table[i].used && !strcmp(table[i].name, families[f].name))
                render_series(out, &families[f], &table[i]);
    }
    pthread_mutex_unlock(&lock);
}

void lw_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(table, 0, sizeof(table));
    pthread_mutex_unlock(&lock);
}
