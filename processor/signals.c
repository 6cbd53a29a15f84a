/* signals.c — SIGINT and SIGTERM stop the processor. The handler only clears the run flag and
 * notes which signal came and when: the loop logs it and bounds the shutdown from that moment
 * (systemd and Kubernetes kill 30 s after SIGTERM). */
#include "leakwatch/leakwatch.h"

#include <signal.h>
#include <stdatomic.h>

static volatile int running = 1;
/* lock-free atomics are safe to write from a handler */
static atomic_int received;
static atomic_llong received_ms;

static void on_stop_signal(int sig)
{
    atomic_store(&received_ms, (long long)lw_monotonic_ms()); /* clock_gettime: signal-safe */
    atomic_store(&received, sig);
    running = 0;
}

volatile int *lw_signals_install(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &running;
}

int lw_signal_received(int64_t *at_ms)
{
    int sig = atomic_load(&received);
    if (sig && at_ms)
        *at_ms = (int64_t)atomic_load(&received_ms);
    return sig;
}

const char *lw_signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}
