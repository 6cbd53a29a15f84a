/* stats.c — counters of the processor, logged now and then and at exit. */
#include "leakwatch/leakwatch.h"

#include <sys/resource.h>

lw_stats lw_stats_g;

long lw_stats_peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static uint64_t dlq_total(void)
{
    uint64_t n = 0;
    for (int i = 0; i < LW_REJECT__COUNT; i++)
        n += lw_stats_g.dlq[i];
    return n;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void lw_stats_log(const lw_redis *r, const char *when)
{
    const lw_stats *s = &lw_stats_g;
    double secs = (double)(s->last_event_mono_ms - s->first_event_mono_ms) / 1000.0;
    double rate = secs > 0 ? (double)s->events_in / secs : 0;
    double rt = s->events_in ? (double)r->round_trips / (double)s->events_in : 0;
    lw_info("stats (%s): events_in=%llu applied=%llu duplicates=%llu dead_letters=%llu "
            "derived_out=%llu timers_fired=%llu batches=%llu rate_after_first=%.0f/s "
            "redis_round_trips=%llu per_event=%.4f cpu_s=%.2f peak_rss_kb=%ld",
            when, (unsigned long long)s->events_in, (unsigned long long)s->events_applied,
            (unsigned long long)s->events_duplicate, (unsigned long long)dlq_total(),
            (unsigned long long)s->derived_out, (unsigned long long)s->timers_fired,
            (unsigned long long)s->batches, rate, (unsigned long long)r->round_trips, rt,
            cpu_seconds(), lw_stats_peak_rss_kb());
}
