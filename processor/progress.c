/* progress.c — the progress line of a replay on a terminal: events done, rate, lag left,
 * ETA, rewritten in place once a second. Quiet when stderr is not a terminal (logs, CI). */
#include "leakwatch/leakwatch.h"

#include <unistd.h>

void lw_progress_start(lw_progress *p)
{
    *p = (lw_progress){.enabled = isatty(STDERR_FILENO) == 1, .started_ms = lw_monotonic_ms()};
}

void lw_progress_format(const lw_progress *p, uint64_t done, int64_t lag, int64_t now_ms, char *out,
                        size_t outlen)
{
    double secs = (double)(now_ms - p->started_ms) / 1000.0;
    double rate = secs > 0 ? (double)done / secs : 0;
    char eta[32] = "–";
    if (rate > 0 && lag > 0) {
        long s = (long)((double)lag / rate + 0.5);
        snprintf(eta, sizeof(eta), "%ldm%02lds", s / 60, s % 60);
    } else if (lag == 0) {
        snprintf(eta, sizeof(eta), "0s");
    }
    snprintf(out, outlen, "replay: %llu events, %.0f/s, %lld left, ETA %s",
             (unsigned long long)done, rate, (long long)lag, eta);
}

void lw_progress_tick(lw_progress *p, uint64_t done, int64_t lag)
{
    int64_t now = lw_monotonic_ms();
    if (!p->enabled || now < p->next_ms)
        return;
    p->next_ms = now + 1000;
    char line[160];
    lw_progress_format(p, done, lag, now, line, sizeof(line));
    fprintf(stderr, "\r%s\033[K", line);
    p->shown = true;
}

void lw_progress_end(lw_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
}
