/* metrics.c — counters, gauges and histograms with labels, written by the processor loop
 * and read by the HTTP thread, rendered in the Prometheus text format. A small fixed
 * registry behind one mutex: updates are per batch or per event of note, not per byte.
 * Names follow the Prometheus conventions: snake_case, base units (seconds, bytes), a
 * counter ends in _total. The process_* families are read from /proc/self at each scrape,
 * as the client libraries' process collector does. */
#include "leakwatch/leakwatch.h"

#include <dirent.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SERIES_MAX  512
#define BUCKETS_MAX 12

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } series_kind;

typedef struct series {
    char name[64];
    char labels[200]; /* already formatted: type="lead.created",topic="crm.leads" */
    series_kind kind;
    double value; /* counter or gauge; the sum of a histogram */
    uint64_t count;
    uint64_t buckets[BUCKETS_MAX];
    bool used;
    bool hidden; /* left out by lw_metrics_set_all; shown again once set */
} series;

/* A value read at each scrape instead of being set: false when it cannot be read now. */
typedef bool (*read_fn)(double *value, char *labels, size_t size);

typedef struct family {
    const char *name, *help;
    series_kind kind;
    const double *bounds; /* a histogram's upper bounds, ascending */
    int nbounds;
    const char *const *zero; /* label sets shown at 0 until first counted */
    read_fn read;
} family;

static bool read_build_info(double *value, char *labels, size_t size);
static bool read_resident_memory(double *value, char *labels, size_t size);
static bool read_virtual_memory(double *value, char *labels, size_t size);
static bool read_cpu_seconds(double *value, char *labels, size_t size);
static bool read_start_time(double *value, char *labels, size_t size);
static bool read_open_fds(double *value, char *labels, size_t size);
static bool read_max_fds(double *value, char *labels, size_t size);

static const double batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 5000};
static const double seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,  0.1,    0.25,  1};
static const char *const no_labels[] = {"", NULL};
static const char *const rebalance_kinds[] = {"kind=\"assign\"", "kind=\"revoke\"", NULL};

#define COUNTER      .kind = KIND_COUNTER
#define GAUGE        .kind = KIND_GAUGE
#define HISTOGRAM(b) .kind = KIND_HISTOGRAM, .bounds = b, .nbounds = (int)(sizeof(b) / sizeof(b[0]))

static const family families[] = {
    {"leakwatch_build_info", "The version of leakwatch and of the libraries it runs with", GAUGE,
     .read = read_build_info},
    {"leakwatch_events_in_total", "Input events read, by type and topic", COUNTER},
    {"leakwatch_events_duplicate_total",
     "Input events dropped because their id was applied before (lw_event replied 0)", COUNTER,
     .zero = no_labels},
    {"leakwatch_events_late_total",
     "Events applied after a later one of another partition (out of event-time order)", COUNTER,
     .zero = no_labels},
    {"leakwatch_dead_letters_total", "Input sent to the dead-letter topic, by reason", COUNTER},
    {"leakwatch_derived_events_total", "Derived events delivered to Kafka, by type", COUNTER},
    {"leakwatch_delivery_failures_total",
     "Messages (derived events, dead letters) whose Kafka delivery report is an error", COUNTER,
     .zero = no_labels},
    {"leakwatch_timers_fired_total",
     "Deadlines fired by lw_fire between batches (those lw_event fires before an event are "
     "not counted)",
     COUNTER, .zero = no_labels},
    {"leakwatch_redis_reconnects_total",
     "Connections to Redis made again after the first (a lost connection, a restarted server)",
     COUNTER, .zero = no_labels},
    {"leakwatch_rebalances_total",
     "Consumer group rebalances seen by this instance, by kind (assign or revoke)", COUNTER,
     .zero = rebalance_kinds},
    {"leakwatch_batch_size", "Messages per processed batch", HISTOGRAM(batch_bounds)},
    {"leakwatch_redis_round_trip_seconds", "Duration of a pipelined Redis round trip",
     HISTOGRAM(seconds_bounds)},
    {"leakwatch_consumer_lag",
     "Messages of an assigned partition not yet committed: its high watermark less the "
     "group's committed offset (librdkafka's statistics, every statistics.interval.ms)",
     GAUGE},
    {"leakwatch_timers_pending", "Deadlines waiting to fire, all tenants", GAUGE},
    {"leakwatch_outbox_depth", "Derived events in the outbox streams, all tenants", GAUGE},
    {"leakwatch_event_clock_timestamp_seconds",
     "The clock deadlines fire by (wall or watermark), seconds since the Unix epoch", GAUGE},
    {"leakwatch_input_buffered_bytes", "Input held by the event-time merge, all partitions", GAUGE},
    {"process_resident_memory_bytes", "Resident memory size in bytes", GAUGE,
     .read = read_resident_memory},
    {"process_virtual_memory_bytes", "Virtual memory size in bytes", GAUGE,
     .read = read_virtual_memory},
    {"process_cpu_seconds_total", "User and system CPU time spent in seconds", COUNTER,
     .read = read_cpu_seconds},
    {"process_start_time_seconds", "Start time of the process since the Unix epoch in seconds",
     GAUGE, .read = read_start_time},
    {"process_open_fds", "Number of open file descriptors", GAUGE, .read = read_open_fds},
    {"process_max_fds", "Maximum number of open file descriptors", GAUGE, .read = read_max_fds},
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

/* The series of name{labels}, created on first use; NULL when the table is full or the
 * family is read at each scrape. Locked. */
static series *find(const char *name, const char *labels)
{
    uint32_t h = hash(name, labels);
    for (uint32_t i = 0; i < SERIES_MAX; i++) {
        series *s = &table[(h + i) % SERIES_MAX];
        if (!s->used) {
            const family *f = family_of(name);
            if (!f || f->read)
                return NULL;
            s->used = true;
            s->kind = f->kind;
            snprintf(s->name, sizeof(s->name), "%s", name);
            snprintf(s->labels, sizeof(s->labels), "%s", labels);
            return s;
        }
        if (!strcmp(s->name, name) && !strcmp(s->labels, labels)) {
            s->hidden = false;
            return s;
        }
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

void lw_metrics_set_all(const char *name, const char *const *labels, const double *values, size_t n)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SERIES_MAX; i++)
        if (table[i].used && !strcmp(table[i].name, name))
            table[i].hidden = true;
    for (size_t i = 0; i < n; i++) {
        series *s = find(name, labels[i]);
        if (s)
            s->value = values[i];
    }
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

/* Appends s to out at *at if it fits with room left for more (and the NUL). */
static bool put(char *out, size_t size, size_t *at, const char *s, size_t room)
{
    size_t n = strlen(s);
    if (*at + n + room >= size)
        return false;
    memcpy(out + *at, s, n + 1);
    *at += n;
    return true;
}

const char *lw_metrics_labels(char *out, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    size_t at = 0;
    out[0] = '\0';
    for (const char *name; (name = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        if ((at && !put(out, size, &at, ",", 0)) || !put(out, size, &at, name, 0) ||
            !put(out, size, &at, "=\"", 1))
            break;
        for (const char *v = value; *v; v++) {
            char esc[3] = {*v, '\0', '\0'};
            if (*v == '\\' || *v == '"' || *v == '\n')
                esc[0] = '\\', esc[1] = *v == '\n' ? 'n' : *v;
            if (!put(out, size, &at, esc, 1))
                break; /* cut, still quoted */
        }
        put(out, size, &at, "\"", 0);
    }
    va_end(ap);
    return out;
}

/* A sample's value: the shortest %g that reads back the same; NaN and ±Inf as spelled by
 * the format. */
static void put_value(lw_buf *out, double v)
{
    if (isnan(v) || isinf(v)) {
        lw_buf_appendf(out, "%s\n", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof(text), "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    lw_buf_appendf(out, "%s\n", text);
}

static void put_sample(lw_buf *out, const char *name, const char *suffix, const char *labels,
                       double v)
{
    lw_buf_appendf(out, "%s%s%s%s%s ", name, suffix, *labels ? "{" : "", labels,
                   *labels ? "}" : "");
    put_value(out, v);
}

static void render_series(lw_buf *out, const family *f, const series *s)
{
    if (f->kind != KIND_HISTOGRAM) {
        put_sample(out, f->name, "", s->labels, s->value);
        return;
    }
    const char *sep = *s->labels ? "," : "";
    for (int i = 0; i < f->nbounds; i++)
        lw_buf_appendf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, s->labels, sep,
                       f->bounds[i], (unsigned long long)s->buckets[i]);
    lw_buf_appendf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
                   (unsigned long long)s->count);
    put_sample(out, f->name, "_sum", s->labels, s->value);
    put_sample(out, f->name, "_count", s->labels, (double)s->count);
}

void lw_metrics_render(lw_buf *out)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < FAMILIES_N; i++) {
        const family *f = &families[i];
        lw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                       kinds[f->kind]);
        if (f->read) {
            double v;
            char labels[256] = "";
            if (f->read(&v, labels, sizeof(labels)))
                put_sample(out, f->name, "", labels, v);
            continue;
        }
        for (const char *const *z = f->zero; z && *z; z++)
            find(f->name, *z); /* shown at 0 until counted */
        for (size_t k = 0; k < SERIES_MAX; k++)
            if (table[k].used && !table[k].hidden && !strcmp(table[k].name, f->name))
                render_series(out, f, &table[k]);
    }
    pthread_mutex_unlock(&lock);
}

void lw_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(table, 0, sizeof(table));
    pthread_mutex_unlock(&lock);
}

/* ------------------------------ read at each scrape ------------------------------ */

static bool read_build_info(double *value, char *labels, size_t size)
{
    char hiredis[32];
    snprintf(hiredis, sizeof(hiredis), "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    lw_metrics_labels(labels, size, "version", LW_VERSION, "librdkafka", rd_kafka_version_str(),
                      "hiredis", hiredis, NULL);
    *value = 1;
    return true;
}

/* The fields of /proc/self/stat (proc(5)) the process_* families need. */
typedef struct self_stat {
    unsigned long utime, stime;   /* clock ticks */
    unsigned long long starttime; /* clock ticks after boot */
    unsigned long vsize;          /* bytes */
    long rss;                     /* pages */
} self_stat;

static bool read_self_stat(self_stat *st)
{
    char text[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the command name may hold spaces and parentheses */
    return p && sscanf(p + 1,
                       " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                       "%*d %*d %llu %lu %ld",
                       &st->utime, &st->stime, &st->starttime, &st->vsize, &st->rss) == 5;
}

static bool read_resident_memory(double *value, char *labels, size_t size)
{
    self_stat st;
    if (!read_self_stat(&st))
        return false;
    *value = (double)st.rss * (double)sysconf(_SC_PAGESIZE);
    return true;
}

static bool read_virtual_memory(double *value, char *labels, size_t size)
{
    self_stat st;
    if (!read_self_stat(&st))
        return false;
    *value = (double)st.vsize;
    return true;
}

static bool read_cpu_seconds(double *value, char *labels, size_t size)
{
    self_stat st;
    if (!read_self_stat(&st))
        return false;
    *value = (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

/* The boot time (btime of /proc/stat), Unix seconds; read once. Locked. */
static long long boot_time(void)
{
    static long long btime = -1;
    if (btime >= 0)
        return btime;
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    if (f)
        fclose(f);
    return btime;
}

static bool read_start_time(double *value, char *labels, size_t size)
{
    self_stat st;
    long long btime = boot_time();
    if (btime < 0 || !read_self_stat(&st))
        return false;
    *value = (double)btime + (double)st.starttime / (double)sysconf(_SC_CLK_TCK);
    return true;
}

static bool read_open_fds(double *value, char *labels, size_t size)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d); /* not the listing's own */
    closedir(d);
    *value = n;
    return true;
}

static bool read_max_fds(double *value, char *labels, size_t size)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    *value = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
    return true;
}
