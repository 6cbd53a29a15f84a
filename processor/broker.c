/* broker.c — `leakwatch broker`: librdkafka's mock cluster run as a local Kafka broker, so that
 * tests and demos need no JVM. It speaks the real Kafka protocol on 127.0.0.1; its data lives in
 * memory and is lost when the process ends. */
#include "leakwatch/leakwatch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct broker_opts {
    int brokers, partitions, port; /* port 0: no forwarder */
    const char *topics, *port_file;
    /* without --topics, every topic the settings name (config.c), so that consumers see
     * them before the first produce */
    lw_buf default_topics;
} broker_opts;

/* librdkafka 2.0.2's mock thread serves its op queue and only then drains its wake-up pipe, so
 * an op sent right after the previous one's reply can lose its wake-up and wait for the
 * thread's 1 s poll timeout (startup took up to 4 s). A short pause before each op lets the
 * thread get back to poll() first. */
static void mock_settle(void)
{
    usleep(2000);
}

/* Atomics because the forwarder thread reads `running` too; lock-free ones are signal-safe. */
static atomic_int running = 1;
static atomic_int want_down, want_up;

static void on_stop_signal(int sig)
{
    (void)sig;
    running = 0;
}

static void on_fault_signal(int sig)
{
    if (sig == SIGUSR1)
        want_down = 1;
    else
        want_up = 1;
}

/* ============================== options ================================== */

static bool parse_int(const char *flag, const char *s, int min, int max, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < min || v > max) {
        fprintf(stderr, "leakwatch broker: %s: expected an integer in %d..%d, got %s\n", flag, min,
                max, s ? s : "nothing");
        return false;
    }
    *out = (int)v;
    return true;
}

static bool need_value(const char *flag, const char *v)
{
    if (v && !*v)
        fprintf(stderr, "leakwatch broker: %s: expected a value\n", flag);
    return !v || *v;
}

/* Parses the topic list "a,b:1,c". With a cluster, creates the topics; without, only checks. */
static bool each_topic(const char *spec, int partitions, rd_kafka_mock_cluster_t *mc)
{
    char *copy = strdup(spec), *save = NULL;
    bool ok = true;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        int n = partitions;
        char *colon = strchr(t, ':');
        if (colon) {
            *colon = '\0';
            ok = parse_int("--topics", colon + 1, 1, 100000, &n);
        }
        if (ok && !*t) {
            fprintf(stderr, "leakwatch broker: --topics: empty topic name in \"%s\"\n", spec);
            ok = false;
        }
        if (ok && mc) {
            mock_settle();
            rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, t, n, 1);
            if (err) {
                lw_error("cannot create topic %s: %s", t, rd_kafka_err2str(err));
                ok = false;
            }
        }
    }
    free(copy);
    return ok;
}

enum { F_BROKERS, F_PARTITIONS, F_PORT, F_PORT_FILE, F_TOPICS, F__N };

static const lw_flag flags[F__N] = {
    [F_BROKERS] = {"--brokers", "N", "brokers in the cluster, 1..64 (default 1)"},
    [F_PARTITIONS] = {"--partitions", "N", "partitions of each topic created (default 3)"},
    [F_PORT] = {"--port", "N",
                "bootstrap on 127.0.0.1:N too (relayed to the brokers' ephemeral ports)"},
    [F_PORT_FILE] = {"--port-file", "FILE", "write the bootstrap servers to FILE once ready"},
    [F_TOPICS] = {"--topics", "T[:N],...",
                  "the topics to create (default: every topic the settings name)"},
};

/* The settings give the topics (topics.*) and the logs (log.*); the Kafka client settings are
 * checked like everywhere, but a mock cluster has no TLS or SASL to use them for. */
const lw_command lw_broker_command = {
    "broker",
    NULL,
    "the embedded Kafka broker (librdkafka's mock cluster, in memory, 127.0.0.1) for\n"
    "      development and tests; SIGUSR1/SIGUSR2 take its brokers down and up. Of the\n"
    "      settings it uses topics.* (the topics it creates) and log.*",
    flags,
    F__N,
    true,
};

static int parse_args(int argc, char **argv, broker_opts *o)
{
    *o = (broker_opts){.brokers = 1, .partitions = 3};
    const char *v[F__N], *operand = NULL;
    lw_config cfg;
    int rc = lw_command_parse(&lw_broker_command, argc, argv, v, &operand, &cfg);
    if (rc != LW_EXIT_OK)
        return rc;
    lw_config_topic_list(&cfg, &o->default_topics);
    lw_config_free(&cfg);
    o->topics = v[F_TOPICS] ? v[F_TOPICS] : o->default_topics.data;
    o->port_file = v[F_PORT_FILE];
    bool ok = (!v[F_BROKERS] || parse_int("--brokers", v[F_BROKERS], 1, 64, &o->brokers)) &&
              (!v[F_PARTITIONS] ||
               parse_int("--partitions", v[F_PARTITIONS], 1, 100000, &o->partitions)) &&
              (!v[F_PORT] || parse_int("--port", v[F_PORT], 1, 65535, &o->port)) &&
              need_value("--topics", v[F_TOPICS]) && need_value("--port-file", o->port_file);
    return ok && each_topic(o->topics, o->partitions, NULL) ? LW_EXIT_OK : LW_EXIT_CONFIG;
}

/* ============================== forwarder ================================ */

/* librdkafka 2.0.2's mock binds each broker to an ephemeral port and has no API to choose
 * one, so --port listens on the chosen port and relays each connection to a mock broker.
 * Only bootstrapping goes through here: metadata then sends clients to the brokers'
 * advertised ports directly. */

#define FWD_MAX_CONNS 64
#define FWD_MAX_UP    64

typedef struct forwarder {
    int listen_fd;
    int up_ports[FWD_MAX_UP]; /* the mock brokers, all on 127.0.0.1 */
    int up_n;
    int client[FWD_MAX_CONNS], upstream[FWD_MAX_CONNS];
    int n;
    pthread_t thread;
} forwarder;

static int loopback_socket(int port, bool listening)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    int rc;
    if (listening) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        if (rc == 0)
            rc = listen(fd, 64);
    } else {
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The first broker that accepts: bootstrapping still works while some brokers are down. */
static int fwd_connect_upstream(const forwarder *f)
{
    for (int i = 0; i < f->up_n; i++) {
        int fd = loopback_socket(f->up_ports[i], false);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

static void fwd_accept(forwarder *f)
{
    int c = accept(f->listen_fd, NULL, NULL);
    if (c < 0)
        return;
    int u = f->n < FWD_MAX_CONNS ? fwd_connect_upstream(f) : -1;
    if (u < 0) {
        close(c); /* like a broker that is down: the client sees the connection drop */
        return;
    }
    f->client[f->n] = c;
    f->upstream[f->n] = u;
    f->n++;
}

/* Moves what is readable on `from` to `to`; false when either side is closed. Blocking
 * writes are fine here: both ends are on loopback and keep reading. */
static bool fwd_pump(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return n < 0 && errno == EINTR;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno != EINTR)
            return false;
        off += w > 0 ? w : 0;
    }
    return true;
}

static void fwd_close(forwarder *f, int i)
{
    close(f->client[i]);
    close(f->upstream[i]);
    f->n--;
    f->client[i] = f->client[f->n];
    f->upstream[i] = f->upstream[f->n];
}

static void *fwd_main(void *arg)
{
    forwarder *f = arg;
    struct pollfd pfd[1 + 2 * FWD_MAX_CONNS];
    while (running) {
        int n = f->n;
        pfd[0] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
        for (int i = 0; i < n; i++) {
            pfd[1 + 2 * i] = (struct pollfd){.fd = f->client[i], .events = POLLIN};
            pfd[2 + 2 * i] = (struct pollfd){.fd = f->upstream[i], .events = POLLIN};
        }
        if (poll(pfd, (nfds_t)(1 + 2 * n), 200) <= 0)
            continue;
        /* Backwards, so that fwd_close's swap only moves pairs already served. */
        for (int i = n - 1; i >= 0; i--) {
            bool ok = true;
            if (pfd[1 + 2 * i].revents)
                ok = fwd_pump(f->client[i], f->upstream[i]);
            if (ok && pfd[2 + 2 * i].revents)
                ok = fwd_pump(f->upstream[i], f->client[i]);
            if (!ok)
                fwd_close(f, i);
        }
        if (pfd[0].revents & POLLIN)
            fwd_accept(f);
    }
    while (f->n > 0)
        fwd_close(f, f->n - 1);
    close(f->listen_fd);
    return NULL;
}

/* bootstraps: "127.0.0.1:PORT,127.0.0.1:PORT,..." as the mock reports it. */
static bool fwd_start(forwarder *f, int port, const char *bootstraps)
{
    *f = (forwarder){.listen_fd = -1};
    for (const char *p = strchr(bootstraps, ':'); p && f->up_n < FWD_MAX_UP; p = strchr(p + 1, ':'))
        f->up_ports[f->up_n++] = atoi(p + 1);
    f->listen_fd = loopback_socket(port, true);
    if (f->listen_fd < 0) {
        lw_error("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        return false;
    }
    if (pthread_create(&f->thread, NULL, fwd_main, f) != 0) {
        lw_error("cannot start the port forwarder thread");
        close(f->listen_fd);
        return false;
    }
    return true;
}

/* ============================== faults ==================================== */

/* Sets broker id (0: every broker) up or down. The log line is what tests wait for. */
static void set_broker(rd_kafka_mock_cluster_t *mc, int nbrokers, int id, bool up)
{
    const char *state = up ? "up" : "down";
    if (id < 0 || id > nbrokers) {
        lw_warn("no broker %d (brokers are 1..%d)", id, nbrokers);
        return;
    }
    for (int b = id ? id : 1; b <= (id ? id : nbrokers); b++) {
        mock_settle();
        rd_kafka_resp_err_t err =
            up ? rd_kafka_mock_broker_set_up(mc, b) : rd_kafka_mock_broker_set_down(mc, b);
        if (err)
            lw_warn("broker %d: cannot set %s: %s", b, state, rd_kafka_err2str(err));
    }
    if (id)
        lw_info("broker %d is %s", id, state);
    else
        lw_info("brokers 1..%d are %s", nbrokers, state);
}

/* One line from stdin: "down [ID]", "up [ID]" (no ID: every broker) or "quit". */
static void run_command(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
    char word[16] = "";
    int id = 0;
    int n = sscanf(line, "%15s %d", word, &id);
    if (n < 1)
        return;
    if (!strcmp(word, "down") || !strcmp(word, "up"))
        set_broker(mc, nbrokers, id, !strcmp(word, "up"));
    else if (!strcmp(word, "quit"))
        running = 0;
    else
        lw_warn("unknown command \"%s\" (expected: down [ID], up [ID], quit)", word);
}

typedef struct line_reader {
    char buf[512];
    size_t len;
    bool open;
} line_reader;

/* Reads what stdin has and runs each complete line. EOF only stops the reading: tests start
 * the broker with stdin from /dev/null and it must keep serving. */
static void read_commands(line_reader *r, rd_kafka_mock_cluster_t *mc, int nbrokers)
{
    ssize_t n = read(STDIN_FILENO, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
    if (n <= 0) {
        if (n == 0 || errno != EINTR)
            r->open = false;
        return;
    }
    r->len += (size_t)n;
    r->buf[r->len] = '\0';
    char *start = r->buf, *nl;
    while ((nl = strchr(start, '\n'))) {
        *nl = '\0';
        run_command(mc, nbrokers, start);
        start = nl + 1;
    }
    r->len -= (size_t)(start - r->buf);
    memmove(r->buf, start, r->len);
    if (r->len == sizeof(r->buf) - 1)
        r->len = 0; /* an overlong line is not a command */
}

/* Runs until a stop signal or "quit": applies fault signals, serves stdin every ~100 ms. */
static void serve(rd_kafka_mock_cluster_t *mc, int nbrokers)
{
    line_reader r = {.open = !isatty(STDIN_FILENO)};
    while (running) {
        if (atomic_exchange(&want_down, 0))
            set_broker(mc, nbrokers, 0, false);
        if (atomic_exchange(&want_up, 0))
            set_broker(mc, nbrokers, 0, true);
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int rc = poll(&p, r.open ? 1 : 0, 100);
        if (rc > 0 && (p.revents & POLLNVAL))
            r.open = false;
        else if (rc > 0)
            read_commands(&r, mc, nbrokers);
    }
}

/* ============================== setup ==================================== */

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    lw_log_level l = level <= 3 ? LW_LOG_ERROR : level == 4 ? LW_LOG_WARN : LW_LOG_INFO;
    lw_log(l, __func__, __LINE__, "librdkafka %s: %s", fac, buf);
}

static rd_kafka_t *new_handle(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    /* Warnings and errors only: the mock is chatty about every connection otherwise. */
    if (rd_kafka_conf_set(conf, "log_level", "4", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        lw_error("librdkafka conf: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        lw_error("cannot create the librdkafka handle: %s", err);
    return rk;
}

/* Writes via FILE.tmp and rename, so that a reader never sees half a line. */
static bool write_port_file(const char *path, const char *bootstrap)
{
    lw_buf tmp = {0};
    lw_buf_appendf(&tmp, "%s.tmp", path);
    FILE *f = fopen(tmp.data, "w");
    bool ok = f && fprintf(f, "%s\n", bootstrap) > 0;
    ok = f && fclose(f) == 0 && ok;
    ok = ok && rename(tmp.data, path) == 0;
    if (!ok)
        lw_error("cannot write the port file %s: %s", path, strerror(errno));
    lw_buf_free(&tmp);
    return ok;
}

static void install_signals(void)
{
    /* No SA_RESTART: a signal should cut the 100 ms poll short. */
    struct sigaction stop = {.sa_handler = on_stop_signal};
    struct sigaction fault = {.sa_handler = on_fault_signal};
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGUSR1, &fault, NULL);
    sigaction(SIGUSR2, &fault, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Threads inherit the signal mask: blocking around their creation leaves every signal to the
 * main thread, whose poll() it interrupts. */
static void block_signals(bool block, sigset_t *saved)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(block ? SIG_BLOCK : SIG_SETMASK, block ? &all : saved, block ? saved : NULL);
}

/* Starts the forwarder (when asked), announces the bootstrap, then serves until stopped. */
static int announce_and_serve(const broker_opts *o, rd_kafka_mock_cluster_t *mc)
{
    const char *mock = rd_kafka_mock_cluster_bootstraps(mc);
    char bootstrap[64];
    forwarder fwd;
    if (o->port) {
        sigset_t saved;
        block_signals(true, &saved);
        bool ok = fwd_start(&fwd, o->port, mock);
        block_signals(false, &saved);
        if (!ok)
            return LW_EXIT_RUNTIME;
        snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", o->port);
    }
    const char *servers = o->port ? bootstrap : mock;
    int rc = LW_EXIT_RUNTIME;
    if (!o->port_file || write_port_file(o->port_file, servers)) {
        printf("bootstrap=%s\n", servers);
        fflush(stdout);
        lw_info("mock Kafka cluster ready: bootstrap=%s brokers=%d mock_listeners=%s", servers,
                o->brokers, mock);
        serve(mc, o->brokers);
        rc = LW_EXIT_OK;
    }
    if (o->port) {
        running = 0;
        pthread_join(fwd.thread, NULL);
    }
    return rc;
}

static int run_broker(const broker_opts *o)
{
    install_signals();
    rd_kafka_t *rk = new_handle();
    if (!rk)
        return LW_EXIT_RUNTIME;
    sigset_t saved;
    block_signals(true, &saved);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, o->brokers);
    block_signals(false, &saved);
    if (!mc) {
        lw_error("cannot start the mock cluster");
        rd_kafka_destroy(rk);
        return LW_EXIT_RUNTIME;
    }
    int rc = LW_EXIT_RUNTIME;
    if (each_topic(o->topics, o->partitions, mc))
        rc = announce_and_serve(o, mc);
    lw_info("stopping the mock Kafka cluster");
    mock_settle();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc;
}

int lw_broker_main(int argc, char **argv)
{
    broker_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc == LW_EXIT_OK)
        rc = run_broker(&o);
    lw_buf_free(&o.default_topics);
    return rc;
}
