/* progress.c — the progress line of a replay on a terminal: "waiting for partitions" until
 * some are assigned, then events done, rate (since the first message), lag left and ETA,
 * rewritten in place once a second. Quiet when stderr is not a terminal (logs, CI). Every log
 * line goes through lw_progress_write, which clears the line first and draws it again below:
 * a log line and the progress line never share a line. */
#include "leakwatch/leakwatch.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* The line on screen, shared with the log lines of every thread. */
static pthread_mutex_t screen_mu = PTHREAD_MUTEX_INITIALIZER;
static char screen_line[160];
static bool screen_shown;

void lw_progress_start(lw_progress *p)
{
    *p = (lw_progress){.enabled = isatty(STDERR_FILENO) == 1};
}

void lw_progress_format(bool assigned, uint64_t done, int64_t lag, int64_t first_ms, int64_t now_ms,
                        char *out, size_t outlen)
{
    if (!assigned && done == 0) {
        snprintf(out, outlen, "replay: waiting for partitions");
        return;
    }
    double secs = first_ms > 0 ? (double)(now_ms - first_ms) / 1000.0 : 0;
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

void lw_progress_tick(lw_progress *p, bool assigned, uint64_t done, int64_t lag, int64_t first_ms)
{
    int64_t now = lw_monotonic_ms();
    if (!p->enabled || now < p->next_ms)
        return;
    p->next_ms = now + 1000;
    pthread_mutex_lock(&screen_mu);
    lw_progress_format(assigned, done, lag, first_ms, now, screen_line, sizeof(screen_line));
    fprintf(stderr, "\r%s\033[K", screen_line);
    fflush(stderr);
    screen_shown = true;
    pthread_mutex_unlock(&screen_mu);
}

void lw_progress_write(const char *data, size_t len)
{
    pthread_mutex_lock(&screen_mu);
    if (screen_shown)
        fputs("\r\033[K", stderr);
    fwrite(data, 1, len, stderr);
    if (screen_shown)
        fprintf(stderr, "%s", screen_line);
    fflush(stderr);
    pthread_mutex_unlock(&screen_mu);
}

void lw_progress_end(lw_progress *p)
{
    (void)p;
    pthread_mutex_lock(&screen_mu);
    if (screen_shown)
        fputc('\n', stderr);
    screen_shown = false;
    pthread_mutex_unlock(&screen_mu);
}
